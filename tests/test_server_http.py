"""The HTTP application over real HTTP: a `devshell server` child process on loopback."""

from __future__ import annotations

import socket
import uuid
from typing import Iterator

import pytest
import requests

from server_process import ADMIN_PASSWORD, ServerProcess, init_web_db, started


@pytest.fixture(scope="module")
def dbs(address) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Two devshell databases with the webtest module: webaX and webbX."""
    from devshell.db.admin import drop_database
    from devshell.db.connection import connect
    from devshell.users import create_user

    suffix = uuid.uuid4().hex[:8]
    a, b = init_web_db(f"weba{suffix}"), init_web_db(f"webb{suffix}")  # valid host labels (%d)
    conn = connect(address, a)
    with conn, conn.cursor() as cr:
        create_user(cr, "alice", "alice-pw")  # not an admin
    conn.close()
    yield a, b
    for name in (a, b):
        drop_database(address, name, missing_ok=True)


@pytest.fixture(scope="module")
def server(dbs) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    a, b = dbs
    yield from started("--dbfilter", f"{a}|{b}")


def login(server: ServerProcess, db: str, user: str = "admin", password: str = ADMIN_PASSWORD,
          **extra: str) -> requests.Session:
    http = requests.Session()
    response = http.post(server.url + "/web/login", json={"login": user, "password": password, "db": db, **extra})
    assert response.status_code == 200, response.text
    return http


def test_health_reports_mode_and_pid(server: ServerProcess) -> None:
    response = requests.get(server.url + "/web/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mode": "threaded", "pid": server.proc.pid}


def test_public_module_route_needs_a_database(server: ServerProcess, dbs: tuple[str, str]) -> None:
    a, _b = dbs
    assert requests.get(server.url + f"/webtest/hello?db={a}").text == "hello"
    # two databases are visible and none is named: the module's route has no database to run on
    assert requests.get(server.url + "/webtest/hello").status_code == 404
    assert requests.get(server.url + f"/webtest/item/42?db={a}").json() == {"id": 42}


def test_login_user_route_and_logout(server: ServerProcess, dbs: tuple[str, str]) -> None:
    a, _b = dbs
    anonymous = requests.get(server.url + f"/webtest/me?db={a}")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == 401

    http = requests.Session()
    response = http.post(server.url + "/web/login", json={"login": "admin", "password": ADMIN_PASSWORD, "db": a})
    assert response.status_code == 200
    assert response.json()["login"] == "admin" and response.json()["is_admin"] is True
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    me = http.get(server.url + "/webtest/me")  # the session binds the database: no ?db= needed
    assert me.status_code == 200
    assert me.json()["db"] == a and me.json()["uid"] == response.json()["uid"]
    assert http.get(server.url + "/webtest/admin").json() == {"admin": True}

    stale = dict(http.cookies)
    assert http.post(server.url + "/web/logout").status_code == 200
    assert http.get(server.url + f"/webtest/me?db={a}").status_code == 401
    # the old cookie, replayed after logout, is no session and is removed
    replay = requests.get(server.url + f"/webtest/me?db={a}", cookies=stale)
    assert replay.status_code == 401
    assert "devshell_session=;" in replay.headers.get("Set-Cookie", "")


def test_admin_route_refuses_other_users(server: ServerProcess, dbs: tuple[str, str]) -> None:
    http = login(server, dbs[0], "alice", "alice-pw")
    assert http.get(server.url + "/webtest/me").status_code == 200
    assert http.get(server.url + "/webtest/admin").status_code == 403


def test_bad_credentials_give_no_hint(server: ServerProcess, dbs: tuple[str, str]) -> None:
    a, _b = dbs
    wrong_password = requests.post(server.url + "/web/login", json={"login": "admin", "password": "x", "db": a})
    no_such_user = requests.post(server.url + "/web/login", json={"login": "nobody", "password": "x", "db": a})
    assert wrong_password.status_code == no_such_user.status_code == 401
    assert wrong_password.json() == no_such_user.json()
    assert "Set-Cookie" not in wrong_password.headers


def test_forged_and_foreign_cookies_are_no_session(server: ServerProcess, dbs: tuple[str, str]) -> None:
    a, b = dbs
    http = login(server, a)
    value = http.cookies["devshell_session"]
    encoded_db, sid, signature = value.split(".")
    forged = f"{encoded_db}.{sid}.{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}"
    response = requests.get(server.url + f"/webtest/me?db={a}", cookies={"devshell_session": forged})
    assert response.status_code == 401
    assert "devshell_session=;" in response.headers["Set-Cookie"]
    garbage = requests.get(server.url + f"/webtest/me?db={a}", cookies={"devshell_session": "garbage"})
    assert garbage.status_code == 401
    # a valid session of database a is no session on database b
    assert requests.get(server.url + f"/webtest/me?db={b}", cookies={"devshell_session": value}).status_code == 401
    assert requests.get(server.url + f"/webtest/me?db={a}", cookies={"devshell_session": value}).status_code == 200


def test_an_expired_session_is_no_session(server: ServerProcess, dbs: tuple[str, str], address) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect

    a, _b = dbs
    http = login(server, a)
    assert http.get(server.url + "/webtest/me").status_code == 200
    sid = http.cookies["devshell_session"].split(".")[1]
    conn = connect(address, a)
    with conn, conn.cursor() as cr:
        cr.execute("UPDATE devshell_session SET expires_at = now() - interval '1 second' WHERE sid = %s", (sid,))
    conn.close()
    expired = http.get(server.url + f"/webtest/me?db={a}")
    assert expired.status_code == 401
    assert "devshell_session=;" in expired.headers["Set-Cookie"]


def test_locale_from_session_then_accept_language(server: ServerProcess, dbs: tuple[str, str]) -> None:
    a, _b = dbs
    url = server.url + f"/web/session?db={a}"
    assert requests.get(url).json()["locale"] == "en_US"
    assert requests.get(url, headers={"Accept-Language": "fr-ch, fr;q=0.9, en;q=0.8"}).json()["locale"] == "fr_CH"
    assert requests.get(url, headers={"Accept-Language": "de;q=0.5, pt-br"}).json()["locale"] == "pt_BR"
    http = login(server, a, lang="nl_BE")
    assert http.get(url, headers={"Accept-Language": "fr"}).json()["locale"] == "nl_BE"
    assert http.post(server.url + "/webtest/lang", json={"lang": "it-IT"}).json() == {"locale": "it_IT"}
    assert http.get(server.url + "/webtest/me", headers={"Accept-Language": "fr"}).json()["locale"] == "it_IT"


def test_not_found_as_json_and_html(server: ServerProcess) -> None:
    as_json = requests.get(server.url + "/no/such/page", headers={"Accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.headers["Content-Type"] == "application/json"
    assert as_json.json()["error"]["code"] == 404
    as_html = requests.get(server.url + "/no/such/page", headers={"Accept": "text/html"})
    assert as_html.status_code == 404
    assert as_html.headers["Content-Type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in as_html.text


def test_method_not_allowed(server: ServerProcess) -> None:
    response = requests.get(server.url + "/web/login")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.json()["error"]["code"] == 405  # a JSON route answers in JSON


def test_malformed_and_non_json_bodies(server: ServerProcess, dbs: tuple[str, str]) -> None:
    url = server.url + f"/webtest/echo?db={dbs[0]}"
    assert requests.post(url, json={"x": [1, 2]}).json() == {"got": {"x": [1, 2]}, "db": dbs[0]}
    malformed = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert "malformed JSON" in malformed.json()["error"]["message"]
    form = requests.post(url, data={"x": "1"})
    assert form.status_code == 415


def test_oversized_body_is_413(server: ServerProcess, dbs: tuple[str, str]) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /webtest/echo?db={dbs[0]} HTTP/1.1\r\nHost: {host}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{}").encode())
        head = sock.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413")


def test_server_errors_hide_the_traceback(server: ServerProcess, dbs: tuple[str, str]) -> None:
    response = requests.get(server.url + f"/webtest/boom?db={dbs[0]}")
    assert response.status_code == 500
    assert "exploded" not in response.text and "Traceback" not in response.text
    server.wait_for_line("RuntimeError: webtest exploded on purpose")  # but the log has it


def test_static_files_of_modules(server: ServerProcess) -> None:
    response = requests.get(server.url + "/webtest/static/hello.txt")
    assert response.status_code == 200
    assert response.text == "hello from webtest static\n"
    assert requests.get(server.url + "/webtest/static/../__init__.py").status_code == 404
    assert requests.get(server.url + "/webtest/static/%2e%2e/__init__.py").status_code == 404
    assert requests.get(server.url + "/nomodule/static/hello.txt").status_code == 404


def test_route_transaction_is_committed(server: ServerProcess, dbs: tuple[str, str], address) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect

    created = requests.post(server.url + f"/webtest/tick?db={dbs[0]}", json={}).json()["id"]
    conn = connect(address, dbs[0])
    with conn, conn.cursor() as cr:
        cr.execute("SELECT source FROM webtest_tick WHERE id = %s", (created,))
        assert cr.fetchone() == ("http",)
    conn.close()


def test_database_list_is_filtered(server: ServerProcess, dbs: tuple[str, str]) -> None:
    assert requests.get(server.url + "/web/database/list").json() == sorted(dbs)


def test_dbfilter_isolates_databases(dbs: tuple[str, str]) -> None:
    """`%d`: each subdomain sees its own database and never the other one."""
    a, b = dbs
    with_filter = started("--dbfilter", "%d")
    server = next(with_filter)
    try:
        port = server.url.rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}"
        host_a, host_b = {"Host": f"{a}.example.test:{port}"}, {"Host": f"www.{b}.example.test"}
        assert requests.get(url + "/web/session", headers=host_a).json()["db"] == a
        assert requests.get(url + "/web/session", headers=host_b).json()["db"] == b
        assert requests.get(url + "/web/database/list", headers=host_a).json() == [a]
        assert requests.get(url + f"/webtest/hello?db={b}", headers=host_a).status_code == 404
        assert requests.get(url + f"/web/health?db={b}", headers=host_a).status_code == 404
        login_b = requests.post(url + "/web/login", headers=host_a,
                                json={"login": "admin", "password": ADMIN_PASSWORD, "db": b})
        assert login_b.status_code == 404 and "Set-Cookie" not in login_b.headers
        # a session opened on b cannot be carried over to a's host
        session_b = requests.post(url + "/web/login", headers=host_b,
                                  json={"login": "admin", "password": ADMIN_PASSWORD, "db": b})
        assert session_b.status_code == 200
        cookie = {"devshell_session": session_b.cookies["devshell_session"]}
        assert requests.get(url + "/webtest/me", headers=host_b, cookies=cookie).json()["db"] == b
        on_a = requests.get(url + "/webtest/me", headers=host_a, cookies=cookie)
        assert on_a.status_code == 401
        assert requests.get(url + "/web/session", headers={"Host": "other.example.test"}).json()["db"] is None
    finally:
        with_filter.close()
