"""The cron job table ``devshell_cron``: declaring jobs, claiming a due one, triggering one now.

A runner claims one due job with ``SELECT … FOR UPDATE SKIP LOCKED`` and keeps
the row locked while the job runs in a transaction of its own; another thread,
process or machine skips the locked row, and once the claim commits the job is
no longer due. ``CronControl(env).trigger(name)`` makes a job due now and
NOTIFYs the runners. Running the jobs is the server's part
(:mod:`devshell.server.modes.cron_runner`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..errors import DevshellError

if TYPE_CHECKING:
    from ..addon import Cron

PG_CHANNEL = "devshell_cron"
MAX_ERROR_CHARS = 10_000  #: the end of a failed job's traceback kept in ``last_error``


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


def claim_due_job(cr: Any, names: Iterable[str]) -> tuple[int, str] | None:
    """(id, name) of one due job among *names*, its row locked until *cr*'s transaction ends.

    None when none is due, or when every due one is locked by another runner.
    """
    cr.execute("""SELECT id, name FROM devshell_cron
                   WHERE active AND nextcall <= now() AND name = ANY(%s)
                   ORDER BY nextcall, id LIMIT 1 FOR UPDATE SKIP LOCKED""", (sorted(names),))
    row = cr.fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def record_run(cr: Any, job_id: int, error: str | None) -> None:
    """Reschedule a claimed job one interval from now, keeping *error* (None when it succeeded)."""
    if error is not None:
        error = error[-MAX_ERROR_CHARS:]
    cr.execute("""UPDATE devshell_cron
                     SET lastcall = now(), nextcall = now() + make_interval(secs => interval_seconds),
                         last_error = %s
                   WHERE id = %s""", (error, job_id))


def seconds_until_due(cr: Any, names: Iterable[str]) -> float | None:
    """Seconds until the next of *names* is due (negative when overdue); None when none is scheduled."""
    cr.execute("""SELECT extract(epoch FROM min(nextcall) - now()) FROM devshell_cron
                   WHERE active AND name = ANY(%s)""", (sorted(names),))
    value = cr.fetchone()[0]
    return None if value is None else float(value)
