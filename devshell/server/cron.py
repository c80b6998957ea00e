"""Cron: jobs declared by modules, stored in ``devshell_cron``, run by any number of runners.

A runner claims one due job with ``SELECT … FOR UPDATE SKIP LOCKED`` and keeps
the row locked while the job runs in a transaction of its own; another thread,
process or machine skips the locked row, and once the claim commits the job is
no longer due. A failing job is logged, its error stored in ``last_error``, and
it runs again at its next interval. ``CronControl(env).trigger(name)`` makes a
job due now and NOTIFYs the runners.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterable

from ..errors import DevshellError

if TYPE_CHECKING:
    from ..addon import Cron
    from .dbbind import Databases
    from .listener import Listener, Waiter

_logger = logging.getLogger("devshell.server.cron")

PG_CHANNEL = "devshell_cron"
MAX_SLEEP = 60.0
MIN_SLEEP = 0.5  #: a due job locked by another runner is looked at again after this
MAX_ERROR_CHARS = 10_000

JobsFor = Callable[[str], "dict[str, Cron]"]
Guard = Callable[[str], ContextManager[Any]]


class CronControl:
    """Cron jobs seen from an environment: ``env.cron.trigger("library.cleanup")``."""

    def __init__(self, env: Any) -> None:
        self.env = env

    def trigger(self, name: str) -> None:
        """Make job *name* due now; runners are woken when the transaction commits."""
        cr = self.env.cr
        cr.execute("UPDATE devshell_cron SET nextcall = now() WHERE name = %s AND active", (name,))
        if cr.rowcount == 0:
            raise DevshellError(f"no active cron job named {name!r} in database {self.env.db!r}")
        cr.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, name))

    def jobs(self) -> list[dict[str, Any]]:
        """Every job of the database with its schedule and last error."""
        cr = self.env.cr
        cr.execute("""SELECT name, module, function, interval_seconds, nextcall, lastcall, active, last_error
                        FROM devshell_cron ORDER BY name""")
        names = [column.name for column in cr.description]
        return [dict(zip(names, row)) for row in cr.fetchall()]


def sync_jobs(cr: Any, jobs: Iterable["Cron"]) -> None:
    """Store the declared jobs (new ones are due now; schedules and ``active`` of known ones are kept)."""
    for job in jobs:
        cr.execute(
            """INSERT INTO devshell_cron (name, module, function, interval_seconds)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET module = EXCLUDED.module, function = EXCLUDED.function,
                                                interval_seconds = EXCLUDED.interval_seconds""",
            (job.name, job.module, job.target, job.interval),
        )


def run_next_job(databases: "Databases", db: str, jobs: "dict[str, Cron]", guard: Guard | None = None) -> bool:
    """Claim and run one due job of *db*; False when none of *jobs* is due (or all are being run).

    *guard* (``guard(description)``, a context manager) brackets the job: prefork's
    cron processes apply their time limits there.
    """
    if not jobs:
        return False
    with databases.borrow(db) as lock_conn, lock_conn.cursor() as cr:
        cr.execute("""SELECT id, name FROM devshell_cron
                       WHERE active AND nextcall <= now() AND name = ANY(%s)
                       ORDER BY nextcall, id LIMIT 1 FOR UPDATE SKIP LOCKED""", (sorted(jobs),))
        row = cr.fetchone()
        if row is None:
            return False
        job_id, name = row
        with guard(f"{name} on {db}") if guard is not None else contextlib.nullcontext():
            error = _execute(databases, db, jobs[name])
        cr.execute("""UPDATE devshell_cron
                         SET lastcall = now(), nextcall = now() + make_interval(secs => interval_seconds),
                             last_error = %s
                       WHERE id = %s""", (error, job_id))
    return True


def _execute(databases: "Databases", db: str, job: "Cron") -> str | None:
    """Run *job* in its own transaction; the error text when it failed, else None."""
    from ..env import Environment

    _logger.info("cron %s on %s: running", job.name, db)
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
        _logger.exception("cron %s on %s failed; it runs again at its next interval", job.name, db)
        text = "".join(traceback.format_exception(exc))
        return text[-MAX_ERROR_CHARS:]
    return None


def seconds_until_due(databases: "Databases", db: str, jobs: "dict[str, Cron]") -> float:
    """How long until the next of *jobs* is due (MAX_SLEEP when none is scheduled)."""
    with databases.borrow(db) as conn, conn.cursor() as cr:
        cr.execute("""SELECT extract(epoch FROM min(nextcall) - now()) FROM devshell_cron
                       WHERE active AND name = ANY(%s)""", (sorted(jobs),))
        value = cr.fetchone()[0]
    return MAX_SLEEP if value is None else min(max(float(value), MIN_SLEEP), MAX_SLEEP)


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
                        _logger.warning("cron on %s skipped: %s", db, exc)
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
        return seconds_until_due(self.databases, db, jobs)
