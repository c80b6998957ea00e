"""Cron: claims with SKIP LOCKED (in-process runners), failures, and a trigger reaching a real server."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from conftest import served_database
from server_process import SERVER_ADDONS, started


@pytest.fixture
def db(address) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A served database per test (the job tables and tick counts start empty)."""
    with served_database(address, "cron") as name:
        yield name


@pytest.fixture
def app():  # type: ignore[no-untyped-def]
    from devshell.config import load_config
    from devshell.server import Root

    root = Root(load_config(overrides={"addons_path": [str(SERVER_ADDONS)]}))
    yield root
    root.close()


def ticks(address, db: str) -> int:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect

    conn = connect(address, db)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT count(*) FROM webtest_tick WHERE source = 'cron'")
            return int(cr.fetchone()[0])
    finally:
        conn.close()


def job_row(address, db: str, name: str) -> tuple:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect

    conn = connect(address, db)
    try:
        with conn.cursor() as cr:
            cr.execute("""SELECT lastcall IS NOT NULL, extract(epoch FROM nextcall - now()), last_error
                            FROM devshell_cron WHERE name = %s""", (name,))
            return cr.fetchone()
    finally:
        conn.close()


def test_two_runners_at_once_run_a_job_once(app, db: str, address) -> None:  # type: ignore[no-untyped-def]
    from devshell.server.modes.cron_runner import run_next_job

    jobs = app.jobs_for(db)  # stores the module's job, due now
    assert list(jobs) == ["webtest.tick"]
    start = threading.Barrier(2)
    results: list[bool] = []

    def runner() -> None:
        start.wait()
        results.append(run_next_job(app.databases, db, jobs))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [False, True]
    assert ticks(address, db) == 1
    ran, next_in, error = job_row(address, db, "webtest.tick")
    assert ran and 3500 < next_in <= 3600 and error is None
    assert run_next_job(app.databases, db, jobs) is False  # no longer due


def test_a_failing_job_is_recorded_and_rescheduled(app, db: str, address) -> None:  # type: ignore[no-untyped-def]
    from devshell.addon import Cron
    from devshell.messaging.cron_jobs import sync_jobs
    from devshell.server.modes.cron_runner import run_next_job

    def explode(env) -> None:  # type: ignore[no-untyped-def]
        env.cr.execute("INSERT INTO webtest_tick (source) VALUES ('cron')")
        raise ValueError("cron job exploded")

    job = Cron("webtest", "webtest.explode", explode, 120)
    with app.databases.borrow(db) as conn, conn.cursor() as cr:
        sync_jobs(cr, [job])
    assert run_next_job(app.databases, db, {job.name: job}) is True
    ran, next_in, error = job_row(address, db, job.name)
    assert ran and 100 < next_in <= 120
    assert "ValueError: cron job exploded" in error
    assert ticks(address, db) == 0  # the job's own transaction was rolled back


def test_trigger_wakes_the_cron_threads_of_a_server(db: str, address) -> None:  # type: ignore[no-untyped-def]
    import devshell
    from devshell.errors import DevshellError

    with_cron = started("-d", db, "--max-cron-threads", "2")
    server = next(with_cron)
    try:
        deadline = time.monotonic() + 10
        while ticks(address, db) < 1 and time.monotonic() < deadline:  # new jobs are due at once
            time.sleep(0.05)
        assert ticks(address, db) == 1
        env = devshell.connect(db)
        try:
            with pytest.raises(DevshellError, match="no active cron job named 'nope'"):
                env.cron.trigger("nope")
            env.rollback()
            env.cron.trigger("webtest.tick")
            triggered = time.monotonic()
            env.commit()
        finally:
            env.close()
        while ticks(address, db) < 2 and time.monotonic() - triggered < 5:
            time.sleep(0.02)
        assert ticks(address, db) == 2
        assert time.monotonic() - triggered < 2.0  # woken by NOTIFY, not by its hour-long interval
        server.wait_for_line("cron webtest.tick on .*: running")
    finally:
        with_cron.close()
