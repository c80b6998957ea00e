"""Messaging over PostgreSQL, below the ORM: the bus, the LISTEN thread and the cron job table.

The environment publishes through :class:`Bus` and triggers jobs through
:class:`CronControl`; the servers wait on the :class:`~.listener.Listener` and
run the jobs (``devshell.server.modes.cron_runner``). Nothing here imports the
ORM or the server.
"""

from __future__ import annotations

from .bus import Bus as Bus
from .cron_jobs import CronControl as CronControl

__all__ = ["Bus", "CronControl"]
