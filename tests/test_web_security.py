"""What the HTTP side refuses (SECURITY.md), over real HTTP to a real `devshell server` child process.

Cross-site posts, private bus channels read by someone else, password guessing,
non-finite JSON numbers, bodies a route cannot use, and a table of bad requests
that must all be answered 4xx with a JSON error, never 500. Throttling tests send
from other loopback addresses (127.0.0.x) so that each attacker is an address of
its own.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from typing import Any, Iterator

import pytest
import requests

from conftest import query, served_database
from server_process import ADMIN_PASSWORD, ServerProcess, started

TRUSTED = "https://app.example.test"
ALICE, BOB, VICTIM = ("alice", "alice-pw"), ("bob", "bob-pw"), ("victim", "victim-pw")


@pytest.fixture(scope="module")
def db(address: Any) -> Iterator[str]:
    from devshell.db.connection import connect
    from devshell.users import create_user

    with served_database(address, "sec") as name:
        conn = connect(address, name)
        with conn, conn.cursor() as cr:
            for login, password in (ALICE, BOB, VICTIM):
                create_user(cr, login, password)
        conn.close()
        yield name


@pytest.fixture(scope="module")
def server(db: str) -> Iterator[ServerProcess]:
    yield from started("-d", db, env={"DEVSHELL_TRUSTED_ORIGINS": TRUSTED})


def log_in(server: ServerProcess, user: tuple[str, str] = ("admin", ADMIN_PASSWORD)) -> requests.Session:
    session = requests.Session()
    response = session.post(server.url + "/web/login", json={"login": user[0], "password": user[1]})
    assert response.status_code == 200, response.text
    return session


def assert_json_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"] == "application/json", response.headers
    error = response.json()["error"]
    assert error["code"] == status
    return error


def ticks(address: Any, db: str) -> int:
    return query(address, db, "SELECT count(*) FROM webtest_tick")[0][0]


# -- 2. cross-site requests ---------------------------------------------------------------------------

EVIL = "http://evil.example"


def test_cross_site_posts_are_refused(server: ServerProcess, db: str, address: Any) -> None:
    admin = log_in(server)
    tick = server.url + "/webtest/tick"
    before = ticks(address, db)
    for headers in ({"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, {"Origin": EVIL}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site", "Origin": EVIL}):
        error = assert_json_error(admin.post(tick, json={}, headers=headers), 403)
        assert "cross-site request refused" in error["message"]
    assert ticks(address, db) == before  # nothing ran

    # a login forced from another site opens no session; a forced logout closes none
    forced = requests.post(server.url + "/web/login", json={"login": "admin", "password": ADMIN_PASSWORD},
                           headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert_json_error(forced, 403)
    assert "Set-Cookie" not in forced.headers
    assert_json_error(admin.post(server.url + "/web/logout", headers={"Origin": EVIL}), 403)
    assert admin.get(server.url + "/web/session").json()["login"] == "admin"

    # the server's own pages, trusted origins, and clients that are not browser pages go through
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert admin.post(tick, json={}, headers=own).status_code == 200
    assert admin.post(tick, json={}, headers={"Origin": server.url}).status_code == 200
    assert admin.post(tick, json={}, headers={"Origin": TRUSTED, "Sec-Fetch-Site": "cross-site"}).status_code == 200
    assert admin.post(tick, json={}, headers={"Sec-Fetch-Site": "none"}).status_code == 200
    assert admin.post(tick, json={}).status_code == 200
    assert ticks(address, db) == before + 5
    # reading is not changing state: a cross-site GET is answered
    assert admin.get(server.url + "/webtest/me", headers={"Origin": EVIL}).status_code == 200


# -- 3. private bus channels ----------------------------------------------------------------------

def send(db: str, *messages: tuple[str, Any]) -> None:
    import devshell

    env = devshell.connect(db)
    try:
        for channel, message in messages:
            env.bus.send(channel, message)
        env.commit()
    finally:
        env.close()


def poll(http: Any, server: ServerProcess, channels: list[str], last: int = 0) -> requests.Response:
    return http.post(server.url + "/longpolling/poll", json={"channels": channels, "last": last, "timeout": 0},
                     timeout=20)


def test_private_channels_are_read_by_their_own_user_and_session_only(server: ServerProcess, db: str) -> None:
    from devshell.messaging.bus import user_channel

    alice, bob = log_in(server, ALICE), log_in(server, BOB)
    mine = alice.get(server.url + "/web/session").json()
    user_chan, session_chan = mine["channels"]["user"], mine["channels"]["session"]
    assert user_chan == user_channel(mine["uid"]) and session_chan.startswith("session.")
    public = f"chat-{uuid.uuid4().hex[:6]}"
    admin = log_in(server)
    admin_chan = f"user.{admin.get(server.url + '/web/session').json()['uid']}.private"  # the user.1.private
    send(db, (user_chan, {"token": "s3cr3t"}), (session_chan, "for this tab only"), (public, "hello all"),
         (admin_chan, {"token": "admin-secret"}))

    for reader, channels in [(requests, [admin_chan]), (bob, [admin_chan]),
                             *[(reader, channels) for reader in (requests, bob, admin)  # even the administrator
                               for channels in ([user_chan], [session_chan], [public, user_chan])]]:
        response = poll(reader, server, channels)
        assert_json_error(response, 403)
        assert "s3cr3t" not in response.text and "admin-secret" not in response.text
    assert [m["message"] for m in poll(admin, server, [admin_chan]).json()] == [{"token": "admin-secret"}]
    assert [m["message"] for m in poll(alice, server, [user_chan, public]).json()] == [{"token": "s3cr3t"},
                                                                                       "hello all"]
    assert [m["message"] for m in poll(alice, server, [session_chan]).json()] == ["for this tab only"]
    # another session of the same user reads the user's channel, not the first session's
    second = log_in(server, ALICE)
    assert [m["message"] for m in poll(second, server, [user_chan]).json()] == [{"token": "s3cr3t"}]
    assert_json_error(poll(second, server, [session_chan]), 403)
    # public channels stay open to anyone
    assert [m["message"] for m in poll(requests, server, [public]).json()] == ["hello all"]


# -- 4. login throttling ----------------------------------------------------------------------------

def login_from(server: ServerProcess, source: str, login: str, password: str) -> http.client.HTTPResponse:
    """POST /web/login from the loopback address *source* (an attacker of its own)."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    try:
        conn.request("POST", "/web/login", json.dumps({"login": login, "password": password}),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


def test_guessing_is_throttled_without_locking_the_real_user_out(server: ServerProcess, db: str,
                                                                 address: Any) -> None:
    from devshell.server.web.login_throttle import ADDRESS_FREE, LOGIN_FREE, PAIR_FREE

    login, password = VICTIM
    assert login_from(server, "127.0.0.1", login, password).status == 200  # the real user's usual address
    # one attacker, one login: PAIR_FREE failures, then 429, even with the right password (never checked)
    statuses = [login_from(server, "127.0.0.2", login, "guess").status for _ in range(PAIR_FREE + 1)]
    assert statuses == [401] * PAIR_FREE + [429]
    throttled = login_from(server, "127.0.0.2", login, password)
    assert throttled.status == 429 and int(throttled.getheader("Retry-After")) > 0
    assert login_from(server, "127.0.0.1", login, password).status == 200
    # many addresses, one login: past LOGIN_FREE failures, unknown addresses wait; the real user does not
    sources = [f"127.0.0.{n}" for n in range(3, 3 + LOGIN_FREE // (PAIR_FREE - 1) + 1)]
    statuses = [login_from(server, source, login, "guess").status for source in sources for _ in range(PAIR_FREE - 1)]
    assert set(statuses) <= {401, 429} and statuses[-1] == 429
    assert login_from(server, "127.0.0.30", login, password).status == 429
    assert login_from(server, "127.0.0.1", login, password).status == 200
    # one address, many logins (spraying): past ADDRESS_FREE failures, that address waits
    names = [f"nobody{n}" for n in range(ADDRESS_FREE)]
    assert {login_from(server, "127.0.0.40", name, "guess").status for name in names} == {401}
    assert login_from(server, "127.0.0.40", "admin", ADMIN_PASSWORD).status == 429
    # the counts live in PostgreSQL, where every server process sees them
    counted = query(address, db, """SELECT sum(failures) FROM devshell_login_attempt
                                     WHERE scope = 'login' AND login = %s""", (login,))[0][0]
    assert counted >= LOGIN_FREE


# -- 6. non-finite numbers, 14. bodies a route cannot use -----------------------------------------

def raw_post(server: ServerProcess, path: str, body: bytes | str, content_type: str = "application/json",
             **headers: str) -> requests.Response:
    return requests.post(server.url + path, data=body, timeout=20,
                         headers={"Content-Type": content_type, "Accept": "application/json", **headers})


def test_a_poll_with_a_non_finite_timeout_is_refused_at_once(server: ServerProcess) -> None:
    for number in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = '{"channels": ["chat"], "last": 0, "timeout": %s}' % number
        error = assert_json_error(raw_post(server, "/longpolling/poll", body), 400)  # never a wait without end
        assert "non-finite" in error["message"]
    # and the server still answers polls that wait
    assert requests.post(server.url + "/longpolling/poll", json={"channels": ["chat"], "timeout": 0}).json() == []


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("body", ["[]", '"x"', "null", "1", "true", DEEP, '{"login": NaN, "password": "x"}'])
def test_login_answers_400_to_a_body_it_cannot_use(server: ServerProcess, body: str) -> None:
    error = assert_json_error(raw_post(server, "/web/login", body), 400)
    assert error["message"]


# -- the HTTP half of the fuzz test ------------------------------------------------------------------

LOGIN, POLL = "/web/login", "/longpolling/poll"
#: (method, path, content type, body, extra headers, expected status)
BAD_REQUESTS: list[tuple[str, str, str | None, bytes | str, dict[str, str], int]] = [
    ("POST", LOGIN, "application/json", "[]", {}, 400),
    ("POST", LOGIN, "application/json", '"x"', {}, 400),
    ("POST", LOGIN, "application/json", "null", {}, 400),
    ("POST", LOGIN, "application/json", "1", {}, 400),
    ("POST", LOGIN, "application/json", "{" * 50_000, {}, 400),
    ("POST", LOGIN, "application/json", '{"a":' * 50_000 + "1" + "}" * 50_000, {}, 400),
    ("POST", LOGIN, "application/json", '{"login": "admin", "password": Infinity}', {}, 400),
    ("POST", LOGIN, "application/json", '{"login": "admin", "password": 1e999}', {}, 400),
    ("POST", LOGIN, "application/json", '{"login": %s, "password": "x"}' % ("7" * 5000), {}, 400),
    ("POST", LOGIN, "application/json", b"\xff\xfe{\x00", {}, 400),
    ("POST", LOGIN, "application/json", "{not json", {}, 400),
    ("POST", LOGIN, "application/json", "{}", {}, 400),
    ("POST", LOGIN, "application/json", '{"login": ["admin"], "password": "x"}', {}, 400),
    ("POST", LOGIN, "application/json", '{"login": "admin", "password": "x", "db": 5}', {}, 400),
    ("POST", LOGIN, "application/json", '{"login": "ad\\u0000min", "password": "x"}', {}, 400),
    ("POST", LOGIN, "application/json", '{"login": "admin", "password": "x", "db": "x\\u0000"}', {}, 400),
    ("POST", LOGIN, "application/json", '{"login": "%s", "password": "x"}' % ("a" * 10_000), {}, 400),
    ("POST", LOGIN, "application/json", '{"login": "admin", "password": "x", "db": "no_such_db"}', {}, 404),
    ("POST", LOGIN, "application/x-www-form-urlencoded", "login=admin&password=x", {}, 415),
    ("POST", LOGIN, "text/plain", '{"login": "admin", "password": "x"}', {}, 415),
    ("POST", LOGIN, "application/json", '{"login": "admin", "password": "x"}', {"Origin": EVIL}, 403),
    ("GET", LOGIN, None, "", {}, 405),
    ("PUT", LOGIN, "application/json", "{}", {}, 405),
    ("POST", "/web/logout", "application/json", "[]", {}, 400),
    ("POST", POLL, "application/json", "[]", {}, 400),
    ("POST", POLL, "application/json", '{"channels": "chat"}', {}, 400),
    ("POST", POLL, "application/json", '{"channels": [1]}', {}, 400),
    ("POST", POLL, "application/json", '{"channels": [""]}', {}, 400),
    ("POST", POLL, "application/json", '{"channels": ["%s"]}' % ("c" * 5000), {}, 400),
    ("POST", POLL, "application/json", '{"channels": ["a\\u0000b"]}', {}, 400),
    ("POST", POLL, "application/json", json.dumps({"channels": [f"c{n}" for n in range(300)]}), {}, 400),
    ("POST", POLL, "application/json", '{"channels": ["chat"], "last": -1}', {}, 400),
    ("POST", POLL, "application/json", '{"channels": ["chat"], "last": 1.5}', {}, 400),
    ("POST", POLL, "application/json", '{"channels": ["chat"], "last": %d}' % 2**64, {}, 400),
    ("POST", POLL, "application/json", '{"channels": ["chat"], "timeout": "soon"}', {}, 400),
    ("POST", POLL, "application/json", '{"channels": ["chat"], "timeout": -Infinity}', {}, 400),
    ("POST", POLL, "application/json", '{"channels": ["user.1"], "timeout": 0}', {}, 403),
    ("POST", POLL + "?db=no_such_db", "application/json", '{"channels": ["chat"]}', {}, 404),
    ("POST", POLL + "?db=x%00y", "application/json", '{"channels": ["chat"]}', {}, 404),
    ("POST", "/webtest/echo", "application/json", '"x"', {}, 400),
    ("POST", "/webtest/lang", "application/json", '{"lang": "fr"}', {}, 401),
    ("POST", "/devshell/deploy", "multipart/form-data; boundary=x", "--x--\r\n", {}, 401),
    ("GET", "/webtest/me", None, "", {"Cookie": "devshell_session=garbage"}, 401),
    ("GET", "/webtest/me", None, "", {"Cookie": "devshell_session=" + "a." * 2000}, 401),
    ("GET", "/webtest/item/not-a-number", None, "", {}, 404),
    ("GET", "/no/such/page", None, "", {}, 404),
    ("GET", "/web/session?db=" + "d" * 500, None, "", {}, 404),
    ("DELETE", "/web/session", None, "", {}, 405),
]


def test_bad_http_requests_get_a_4xx_json_error_never_a_500(server: ServerProcess) -> None:
    assert len(BAD_REQUESTS) >= 30
    start = len(server.lines)
    wrong = []
    for method, path, content_type, body, headers, status in BAD_REQUESTS:
        sent = {"Accept": "application/json", **headers}
        if content_type:
            sent["Content-Type"] = content_type
        response = requests.request(method, server.url + path, data=body or None, headers=sent, timeout=30)
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if (response.status_code, code, response.headers.get("Content-Type")) != (status, status, "application/json"):
            wrong.append((method, path[:60], str(body)[:40], response.status_code, response.text[:120]))
    assert not wrong, "\n".join(map(str, wrong))
    assert "Traceback" not in "\n".join(server.lines[start:])
