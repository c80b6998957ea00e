"""A prefork cron process: one cron runner, the worker limits around each job, recycled like a worker.

Forked by the prefork master (see :mod:`.prefork_children`); it stops on
SIGTERM, when the master is gone, or after a job that left it over
``limit_memory_soft`` (the master then starts a fresh one).
"""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...site import Site
    from .supervision import Heartbeat

logger = logging.getLogger(__name__)


def run_cron(site: "Site", heartbeat: "Heartbeat", master: int) -> int:
    """The body of a cron process: run jobs until SIGTERM, the master's death, or the soft memory limit."""
    from ..web.application import Root
    from .cron_runner import CronService
    from .limits import ProcessLimits
    from .signals import STOP_SIGNALS, SignalQueue
    from .supervision import WATCHDOG_INTERVAL, Watchdog, die_with_parent

    config = site.config
    die_with_parent(parent=master)
    limits = ProcessLimits(config, what="cron job", fail_request_on_cpu_limit=False, dump_signal=signal.SIGQUIT)
    limits.install()
    signals = SignalQueue(signals=STOP_SIGNALS)
    app = Root(site)
    cron = CronService(app.databases, app.listener, app.jobs_for, app.cron_databases, 1, guard=limits.activity)
    watchdog = Watchdog(signals, parent_pid=master, heartbeat=heartbeat)
    cron.start()
    logger.info("cron process %d ready", os.getpid())
    try:
        while True:
            event = signals.get(timeout=WATCHDOG_INTERVAL)
            watchdog.check()
            if event in STOP_SIGNALS:
                break
            memory = limits.over_soft_memory() if not limits.busy else None
            if memory is not None:
                logger.info("cron process %d: virtual memory %d MiB is over limit_memory_soft: recycled",
                            os.getpid(), memory // 2**20)
                break
    finally:
        finished = cron.stop(config["limit_time_real"] or None)
        app.close()
    return 0 if finished else 1
