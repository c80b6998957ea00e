"""The cron runner: threads that lease and run the due jobs of every cron database.

The job table (declaring, leasing, recording, triggering) is
:mod:`devshell.messaging.cron_jobs`; this is the part that runs jobs in a server
process: claim a lease (committed at once), run the job in its own transaction
while a :class:`LeaseKeeper` renews the lease, then commit the job's work with
its record if the lease is still ours. A failing job is logged, its error stored
in ``last_error``, and it runs again at its next due time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import traceback
from typing import TYPE_CHECKING, Any, Callable, ContextManager

from ...errors import DevshellError
from ...messaging.cron_jobs import PG_CHANNEL, Claim, claim_due_job, finish_run, renew_lease, seconds_until_due

if TYPE_CHECKING:
    from ...addon import Cron
    from ...messaging.listener import Listener, Waiter
    from ..web.databases import Databases

logger = logging.getLogger(__name__)

MAX_SLEEP = 60.0
MIN_SLEEP = 0.5  #: a due job leased to another runner is looked at again after this
DEFAULT_LEASE = 60.0

JobsFor = Callable[[str], "dict[str, Cron]"]
Guard = Callable[[str], ContextManager[Any]]


class LeaseLost(DevshellError):
    """Another runner took the job over (our lease expired): the job's work is rolled back."""


def runner_name() -> str:
    """``host:pid:thread:random``: who holds a lease, unique to each claim."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}:{secrets.token_hex(3)}"


class LeaseKeeper:
    """A thread renewing *claim*'s lease every third of its length while the job runs."""

    def __init__(self, databases: "Databases", db: str, claim: Claim, lease: float) -> None:
        self.databases = databases
        self.db = db
        self.claim = claim
        self.lease = lease
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devshell-cron-lease", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self.lease / 3):
            try:
                with self.databases.borrow(self.db) as conn, conn.cursor() as cr:
                    renewed = renew_lease(cr, self.claim, self.lease)
            except Exception as exc:  # the database is away: try again, the lease may still hold
                logger.warning("cron %s on %s: lease not renewed: %s", self.claim.name, self.db, exc)
                continue
            if not renewed:
                self.lost = True
                logger.warning("cron %s on %s: the lease was taken over by another runner", self.claim.name, self.db)
                return


def run_next_job(databases: "Databases", db: str, jobs: "dict[str, Cron]", guard: Guard | None = None) -> bool:
    """Lease and run one due job of *db*; False when none of *jobs* is due (or all are leased to others).

    *guard* (``guard(description)``, a context manager) brackets the job: prefork's
    cron processes apply their time limits there.
    """
    if not jobs:
        return False
    lease = float(databases.config.get("cron_lease_seconds") or DEFAULT_LEASE)
    with databases.borrow(db) as conn, conn.cursor() as cr:  # the claim commits at once
        claim = claim_due_job(cr, jobs, runner_name(), lease)
    if claim is None:
        return False
    if claim.taken_over_from is not None:
        logger.warning("cron %s on %s: taken over from %s, whose lease expired", claim.name, db,
                       claim.taken_over_from)
    with LeaseKeeper(databases, db, claim, lease):
        with guard(f"{claim.name} on {db}") if guard is not None else contextlib.nullcontext():
            _execute(databases, db, jobs[claim.name], claim)
    return True


def _execute(databases: "Databases", db: str, job: "Cron", claim: Claim) -> None:
    """Run *job* in its own transaction, committed with its record while the lease is ours; record a failure."""
    from ...orm import Environment

    logger.info("cron %s on %s: running", job.name, db)
    try:
        with databases.borrow(db) as conn:
            env = Environment(conn, db, databases.config)
            try:
                job.function(env)
                with conn.cursor() as cr:
                    if not finish_run(cr, claim, None):
                        raise LeaseLost(f"cron {job.name} on {db}: lease lost, its work rolled back")
            except BaseException:
                conn.rollback()
                raise
            finally:
                env.cr.close()
    except LeaseLost as exc:
        logger.warning("%s", exc.message)
    except Exception as exc:
        logger.exception("cron %s on %s failed; it runs again at its next due time", job.name, db)
        with databases.borrow(db) as conn, conn.cursor() as cr:
            if not finish_run(cr, claim, "".join(traceback.format_exception(exc))):
                logger.warning("cron %s on %s: lease lost, the failure not recorded", job.name, db)
    else:
        logger.info("cron %s on %s: done", job.name, db)


def sleep_until_due(databases: "Databases", db: str, jobs: "dict[str, Cron]") -> float:
    """How long to sleep before the next of *jobs* is due or a lease expires (MAX_SLEEP when none is scheduled)."""
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
