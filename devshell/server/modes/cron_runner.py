"""The cron runner: threads that claim and run the due jobs of every cron database.

The job table (declaring, claiming with ``SKIP LOCKED``, triggering) is
:mod:`devshell.messaging.cron_jobs`; this is the part that runs jobs in a server
process. A failing job is logged, its error stored in ``last_error``, and it
runs again at its next interval.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from typing import TYPE_CHECKING, Any, Callable, ContextManager

from ...messaging.cron_jobs import PG_CHANNEL, claim_due_job, record_run, seconds_until_due

if TYPE_CHECKING:
    from ...addon import Cron
    from ...messaging.listener import Listener, Waiter
    from ..web.databases import Databases

logger = logging.getLogger(__name__)

MAX_SLEEP = 60.0
MIN_SLEEP = 0.5  #: a due job locked by another runner is looked at again after this

JobsFor = Callable[[str], "dict[str, Cron]"]
Guard = Callable[[str], ContextManager[Any]]


def run_next_job(databases: "Databases", db: str, jobs: "dict[str, Cron]", guard: Guard | None = None) -> bool:
    """Claim and run one due job of *db*; False when none of *jobs* is due (or all are being run).

    *guard* (``guard(description)``, a context manager) brackets the job: prefork's
    cron processes apply their time limits there.
    """
    if not jobs:
        return False
    with databases.borrow(db) as lock_conn, lock_conn.cursor() as cr:
        claimed = claim_due_job(cr, jobs)
        if claimed is None:
            return False
        job_id, name = claimed
        with guard(f"{name} on {db}") if guard is not None else contextlib.nullcontext():
            error = _execute(databases, db, jobs[name])
        record_run(cr, job_id, error)
    return True


def _execute(databases: "Databases", db: str, job: "Cron") -> str | None:
    """Run *job* in its own transaction; the error text when it failed, else None."""
    from ...orm import Environment

    logger.info("cron %s on %s: running", job.name, db)
    try:
        with databases.borrow(db) as conn:
            env = Environment(conn, db, databases.config)
            try:
                job.function(env)
            except BaseException:
                conn.rollback()
                raise
            finally:
                env.cr.close()
    except Exception as exc:
        logger.exception("cron %s on %s failed; it runs again at its next interval", job.name, db)
        return "".join(traceback.format_exception(exc))
    return None


def sleep_until_due(databases: "Databases", db: str, jobs: "dict[str, Cron]") -> float:
    """How long to sleep before the next of *jobs* is due (MAX_SLEEP when none is scheduled)."""
    with databases.borrow(db) as conn, conn.cursor() as cr:
        value = seconds_until_due(cr, jobs)
    return MAX_SLEEP if value is None else min(max(value, MIN_SLEEP), MAX_SLEEP)


class CronService:
    """*threads* runner threads going over the cron databases, woken early by ``trigger``."""

    def __init__(self, databases: "Databases", listener: "Listener", jobs_for: JobsFor,
                 cron_databases: Callable[[], list[str]], threads: int, guard: Guard | None = None) -> None:
        self.databases = databases
        self.guard = guard
        self.listener = listener
        self.jobs_for = jobs_for
        self.cron_databases = cron_databases
        self.threads = threads
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._wakes: list[threading.Event] = []

    def start(self) -> None:
        for number in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"devshell-cron-{number}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the runners to stop and wait for their current job; True when they all stopped."""
        self._stop.set()
        for wake in self._wakes:
            wake.set()
        for thread in self._workers:
            thread.join(timeout)
        alive = [thread for thread in self._workers if thread.is_alive()]
        self._workers = alive
        return not alive

    def _run(self) -> None:
        wake = threading.Event()
        self._wakes.append(wake)
        waiters: dict[str, Waiter] = {}
        try:
            while not self._stop.is_set():
                sleep = MAX_SLEEP
                for db in self.cron_databases():
                    if self._stop.is_set():
                        break
                    try:
                        sleep = min(sleep, self._run_database(db, waiters, wake))
                    except Exception as exc:  # one broken database must not stop the others
                        logger.warning("cron on %s skipped: %s", db, exc)
                wake.wait(sleep)
                wake.clear()
        finally:
            for waiter in waiters.values():
                waiter.listener.unregister(waiter)

    def _run_database(self, db: str, waiters: "dict[str, Waiter]", wake: threading.Event) -> float:
        jobs = self.jobs_for(db)
        if not jobs:
            return MAX_SLEEP
        if db not in waiters:  # registered before looking, so a trigger from now on wakes us
            waiters[db] = self.listener.waiter(db, PG_CHANNEL, event=wake)
        while not self._stop.is_set() and run_next_job(self.databases, db, jobs, self.guard):
            pass
        return sleep_until_due(self.databases, db, jobs)
