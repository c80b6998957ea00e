"""Many machines, in-process: the shared signing secret and its rotation, readiness, db_maxconn, cron leases.

The cluster built from real processes is tests/test_cluster.py; these check the
same parts one at a time, with the WSGI application called directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from werkzeug.test import Client

from conftest import DATA_DIR, assert_one_line_error, query, run_devshell, served_database
from server_process import ADMIN_PASSWORD, SERVER_ADDONS

COOKIE = "devshell_session"


@pytest.fixture(scope="module")
def db(address: Any) -> Iterator[str]:
    with served_database(address, "machines") as name:
        yield name


def app_for(data_dir: Path, **settings: Any) -> Any:
    """The WSGI application as a server with its own data dir (a machine of its own) would run it."""
    from devshell.config import load_config
    from devshell.db.embedded import EmbeddedCluster
    from devshell.server.web.application import Root

    server = EmbeddedCluster(DATA_DIR).address()  # the session's PostgreSQL, as an external server
    where = {"db_host": server.host, "db_port": server.port, "db_user": server.user}
    return Root(load_config(overrides={"addons_path": [str(SERVER_ADDONS)], "data_dir": str(data_dir),
                                       **where, **settings}))


def login(client: Client, db: str) -> str:
    response = client.post("/web/login", json={"login": "admin", "password": ADMIN_PASSWORD, "db": db})
    assert response.status_code == 200, response.get_data(as_text=True)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def me(app: Any, cookie: str, db: str) -> int:
    """The status of ``/webtest/me`` (a route for logged-in users) on *db* with *cookie*.

    ``?db=`` binds the request when the cookie does not (a forged one): the cluster holds other databases.
    """
    client = Client(app)
    client.set_cookie(COOKIE, cookie)
    return client.get("/webtest/me", query_string={"db": db}).status_code


def test_machines_with_their_own_data_dirs_share_the_database_secret(db: str, address: Any,
                                                                     tmp_path: Path) -> None:
    (secrets,), = query(address, db, "SELECT count(*) FROM devshell_secret WHERE retired_at IS NULL")
    assert secrets == 1  # made by db init
    one, other = app_for(tmp_path / "one"), app_for(tmp_path / "two")
    try:
        cookie = login(Client(one), db)
        assert me(other, cookie, db) == 200
        assert me(other, cookie[:-2] + "xx", db) == 401  # a forged signature is still no session
        assert not (tmp_path / "one" / "server_secret").exists()  # no per-machine key was needed
    finally:
        one.close()
        other.close()


def test_secret_key_setting_signs_for_every_database_with_fallbacks(db: str, tmp_path: Path) -> None:
    old = app_for(tmp_path / "a", secret_key="first key")
    new = app_for(tmp_path / "b", secret_key="second key", secret_key_fallbacks=["first key"])
    other = app_for(tmp_path / "c", secret_key="unrelated")
    plain = app_for(tmp_path / "d")
    try:
        cookie = login(Client(old), db)
        client = Client(new)
        client.set_cookie(COOKIE, cookie)
        assert client.get("/webtest/me").status_code == 200  # a fallback key is accepted…
        resigned = client.get_cookie(COOKIE)
        assert resigned is not None and resigned.value != cookie  # …and the cookie signed again with the new one
        assert me(old, resigned.value, db) == 401
        assert me(other, cookie, db) == 401 and me(plain, cookie, db) == 401
    finally:
        for app in (old, new, other, plain):
            app.close()


def test_rotate_secret_keeps_sessions_unless_told_to_end_them(db: str, tmp_path: Path) -> None:
    app = app_for(tmp_path / "m")
    try:
        kept = login(Client(app), db)
        rotated = run_devshell("db", "rotate-secret", "-d", db)
        assert rotated.returncode == 0 and "the previous one is accepted until" in rotated.stdout, rotated.stderr
        assert me(app, kept, db) == 200
        ended = run_devshell("db", "rotate-secret", "-d", db, "--keep-hours", "0")
        assert ended.returncode == 0, ended.stderr
    finally:
        app.close()
    fresh = app_for(tmp_path / "m")  # a server reads the keys again (a running one within a minute)
    try:
        assert me(fresh, kept, db) == 401
    finally:
        fresh.close()


def test_rotate_secret_needs_a_devshell_database(new_db: str) -> None:
    line = assert_one_line_error(run_devshell("db", "rotate-secret", "-d", new_db), 1)
    assert "has no secret table" in line and f"devshell db init -d {new_db}" in line


def test_health_is_503_while_stopping_or_when_the_database_is_unreachable(db: str, tmp_path: Path) -> None:
    app = app_for(tmp_path / "h", db_name=db, db_maxconn=3)
    try:
        assert app.databases.pool(db).size == 3  # db_maxconn
        client = Client(app)
        assert client.get("/web/health").status_code == 200
        app.stopping = True
        answer = client.get("/web/health")
        assert answer.status_code == 503 and answer.get_json()["status"] == "stopping"
    finally:
        app.close()
    away = app_for(tmp_path / "h", db_name=db, db_host="127.0.0.1", db_port=1, db_user="nobody")
    try:
        answer = Client(away).get("/web/health")
        assert answer.status_code == 503 and answer.get_json()["status"] == "unavailable"
        assert "cannot reach" in answer.get_json()["reason"]
    finally:
        away.close()


def test_an_expired_lease_is_taken_over_and_its_late_runner_rolled_back(db: str, address: Any,
                                                                         tmp_path: Path) -> None:
    from devshell.db.connection import connect
    from devshell.messaging.cron_jobs import claim_due_job, finish_run

    app = app_for(tmp_path / "c")
    try:
        jobs = app.jobs_for(db)  # stores webtest.tick, due now
        conn = connect(address, db)
        try:
            with conn.cursor() as cr:
                first = claim_due_job(cr, jobs, "runner-a", 60)
                conn.commit()
                assert first is not None and claim_due_job(cr, jobs, "runner-b", 60) is None  # leased: not due
                conn.rollback()
                cr.execute("UPDATE devshell_cron SET claimed_until = now() - interval '1 second' WHERE id = %s",
                           (first.job_id,))  # runner-a stopped renewing: its lease ran out
                second = claim_due_job(cr, jobs, "runner-b", 60)
                conn.commit()
                assert second is not None and second.taken_over_from == "runner-a"
                cr.execute("INSERT INTO webtest_tick (source) VALUES ('late')")
                assert finish_run(cr, first, None) is False  # the late runner's work must be rolled back
                conn.rollback()
                assert finish_run(cr, second, None) is True
                conn.commit()
        finally:
            conn.close()
        runs = query(address, db, """SELECT claimed_by, outcome FROM devshell_cron_run
                                       WHERE cron_id = %s ORDER BY id""", (first.job_id,))
        assert runs == [("runner-a", "lost"), ("runner-b", "done")]
        assert query(address, db, "SELECT count(*) FROM webtest_tick WHERE source = 'late'") == [(0,)]
        (claimed, next_in), = query(address, db, """SELECT claimed_by, extract(epoch FROM nextcall - now())
                                                       FROM devshell_cron WHERE id = %s""", (first.job_id,))
        assert claimed is None and 3000 < next_in <= 3600  # released, next due one interval on
    finally:
        app.close()


def test_upstream_needs_host_and_port_and_the_proxy_flag() -> None:
    line = assert_one_line_error(run_devshell("server", "--print-proxy-config", "nginx", "--upstream", "a:b"), 2)
    assert "'a:b' is not HOST:PORT" in line
    line = assert_one_line_error(run_devshell("server", "--upstream", "127.0.0.2:8069"), 2)
    assert "--upstream goes with --print-proxy-config nginx" in line
