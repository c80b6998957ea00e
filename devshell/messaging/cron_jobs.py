"""The cron job table ``devshell_cron``: declaring jobs, leasing a due one, recording its run, triggering one now.

A runner claims a due job by committing a lease on its row (``claimed_by``,
``claimed_until``) in a short transaction of its own: other runners, on any
machine, skip a job whose lease has not expired. The job then runs with no lock
held and no claim transaction open (nothing pins a pooled connection but the
job's own work); the runner renews the lease while it runs, and the job's
transaction commits only if the lease is still its own, together with the run's
record. A runner that dies stops renewing: once its lease expires the job is due
again and the next runner takes it over (marking the dead run ``lost``). Every
run leaves a row in ``devshell_cron_run``. ``CronControl(env).trigger(name)``
makes a job due now and NOTIFYs the runners. Running the jobs is the server's part
(:mod:`devshell.server.modes.cron_runner`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import DevshellError

if TYPE_CHECKING:
    from ..addon import Cron

PG_CHANNEL = "devshell_cron"
MAX_ERROR_CHARS = 10_000  #: the end of a failed job's traceback kept in ``last_error``
RUN_HISTORY = 1000  #: runs kept per job in ``devshell_cron_run``


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
        """Every job of the database with its schedule, its current lease and last error."""
        cr = self.env.cr
        cr.execute("""SELECT name, module, function, interval_seconds, nextcall, lastcall, active, last_error,
                             claimed_by, claimed_until
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


@dataclass(frozen=True)
class Claim:
    """A committed lease on one due job: the job, the due time it runs for, and its run's row."""

    job_id: int
    name: str
    due_at: datetime
    runner: str  #: ``claimed_by``: unique to this claim
    run_id: int
    taken_over_from: str | None = None  #: the runner whose lease had expired, if any


def claim_due_job(cr: Any, names: Iterable[str], runner: str, lease_seconds: float) -> Claim | None:
    """Lease one due job among *names* to *runner*; commit *cr*'s transaction to make the claim count.

    None when none is due, or when every due one is leased to a live runner (or
    being claimed right now: ``SKIP LOCKED``).
    """
    cr.execute("""WITH due AS (
                      SELECT id, claimed_by AS previous FROM devshell_cron
                       WHERE active AND nextcall <= now() AND name = ANY(%s)
                         AND (claimed_until IS NULL OR claimed_until < now())
                       ORDER BY nextcall, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                  UPDATE devshell_cron c SET claimed_by = %s, claimed_until = now() + make_interval(secs => %s)
                    FROM due WHERE c.id = due.id
                  RETURNING c.id, c.name, c.nextcall, due.previous""", (sorted(names), runner, lease_seconds))
    row = cr.fetchone()
    if row is None:
        return None
    job_id, name, due_at, previous = row
    if previous is not None:  # its runner died (or stalled) with the job unfinished
        cr.execute("""UPDATE devshell_cron_run SET outcome = 'lost', error = %s
                       WHERE cron_id = %s AND claimed_by = %s AND outcome = 'running'""",
                   (f"the lease of {previous} expired before the run finished", job_id, previous))
    cr.execute("""INSERT INTO devshell_cron_run (cron_id, due_at, claimed_by) VALUES (%s, %s, %s)
                  RETURNING id""", (job_id, due_at, runner))
    return Claim(int(job_id), str(name), due_at, runner, int(cr.fetchone()[0]), previous)


def renew_lease(cr: Any, claim: Claim, lease_seconds: float) -> bool:
    """Push the lease back by *lease_seconds*; False when it is no longer this claim's."""
    cr.execute("""UPDATE devshell_cron SET claimed_until = now() + make_interval(secs => %s)
                   WHERE id = %s AND claimed_by = %s""", (lease_seconds, claim.job_id, claim.runner))
    return bool(cr.rowcount)


def finish_run(cr: Any, claim: Claim, error: str | None) -> bool:
    """Record the run (*error* None: it succeeded), release the lease and schedule the next due time.

    Locks the job's row first and checks the lease is still this claim's: False,
    with nothing written, when another runner took the job over meanwhile (roll
    the job's work back then). The next due time keeps the job's cadence (due
    times that passed while it ran are skipped), unless the job was triggered or
    rescheduled meanwhile.
    """
    cr.execute("SELECT 1 FROM devshell_cron WHERE id = %s AND claimed_by = %s FOR UPDATE",
               (claim.job_id, claim.runner))
    if cr.fetchone() is None:
        return False
    if error is not None:
        error = error[-MAX_ERROR_CHARS:]
    cr.execute("""UPDATE devshell_cron
                     SET lastcall = now(), last_error = %s, claimed_by = NULL, claimed_until = NULL,
                         nextcall = CASE WHEN nextcall <> %s THEN nextcall
                                         ELSE nextcall + make_interval(secs => interval_seconds * (1 + floor(
                                              extract(epoch FROM now() - nextcall) / interval_seconds))) END
                   WHERE id = %s""", (error, claim.due_at, claim.job_id))
    cr.execute("""UPDATE devshell_cron_run SET finished_at = clock_timestamp(), outcome = %s, error = %s
                   WHERE id = %s""", ("failed" if error is not None else "done", error, claim.run_id))
    cr.execute("""DELETE FROM devshell_cron_run WHERE cron_id = %s AND id <= (
                      SELECT id FROM devshell_cron_run WHERE cron_id = %s ORDER BY id DESC OFFSET %s LIMIT 1)""",
               (claim.job_id, claim.job_id, RUN_HISTORY))
    return True


def seconds_until_due(cr: Any, names: Iterable[str]) -> float | None:
    """Seconds until the next of *names* is due or its lease expires (negative when overdue); None when none is."""
    cr.execute("""SELECT extract(epoch FROM min(CASE WHEN claimed_until > now() THEN greatest(nextcall, claimed_until)
                                                     ELSE nextcall END) - now())
                    FROM devshell_cron WHERE active AND name = ANY(%s)""", (sorted(names),))
    value = cr.fetchone()[0]
    return None if value is None else float(value)
