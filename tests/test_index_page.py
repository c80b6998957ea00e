"""The page at `/` (seen in headless Chromium), `start` printing a URL that exists and `--dev reload`, and a
server saying what it cannot serve: installed modules missing from the addons path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import run_devshell, served_database, unique_name
from debian_tools import ensure_tool
from headless import Browser
from server_process import SERVER_ADDONS, ServerProcess

NEW_ROUTE = '''

@addon.route("/{name}/ping", auth="public")
def ping(request):
    return "pong from the reloaded code"
'''


@pytest.fixture(scope="module")
def chromium() -> str:
    return ensure_tool("chromium", "chromium")


def test_start_prints_the_index_url_shown_in_a_browser_and_reloads_code(tmp_path: Path, address: Any,
                                                                        chromium: str) -> None:
    from devshell.db.admin import drop_database

    assert run_devshell("scaffold", "bookshop", str(tmp_path), "-t", "project").returncode == 0
    project, db = tmp_path / "bookshop", unique_name("index")
    server = ServerProcess(command=[sys.executable, "-m", "devshell", "start", "-d", db, "--http-port", "0",
                                    "--dev", "reload"], cwd=project)
    try:
        server.wait_ready(timeout=60)
        url = server.wait_for_line(r"^open:\s+(\S+)$").group(1)
        assert url == server.url + "/"  # the root: the index page, not a 404
        browser = Browser(chromium, url)
        try:
            text = browser.wait_for_text("bookshop")
            assert f"Database {db}" in text and "/bookshop/items" in text and "/web/health" in text
            links = browser.evaluate("Array.from(document.links).map(a => a.getAttribute('href'))")
            assert "/bookshop/items" in links and "/web/health" in links
            browser.evaluate("document.querySelector('a[href=\"/bookshop/items\"]').click()")
            browser.wait_for_text("[]")  # the module's JSON route, opened from the index: no items yet
        finally:
            browser.close()

        # --dev reload: a new route in the module's code is served after the automatic restart
        with (project / "addons" / "bookshop" / "__init__.py").open("a") as code:
            code.write(NEW_ROUTE.format(name="bookshop"))
        server.wait_for_line(r"changed: .*bookshop/__init__\.py", timeout=30)
        server.wait_for_line(r"serving http://", timeout=60, count=2)
        assert requests.get(server.url + "/bookshop/ping", timeout=10).text == "pong from the reloaded code"
        assert "/bookshop/ping" in requests.get(url, timeout=10).text
    finally:
        server.stop()
        drop_database(address, db, missing_ok=True)


def test_server_warns_about_installed_modules_missing_from_the_addons_path(address: Any, tmp_path: Path) -> None:
    with served_database(address, "gone") as db:  # webtest installed; the server below does not see its folder
        server = ServerProcess(command=[sys.executable, "-m", "devshell", "server", "-d", db, "--http-port", "0",
                                        "--max-cron-threads", "0"], cwd=tmp_path)
        try:
            server.wait_ready()
            expected = (f"database '{db}': installed module webtest not on the addons path: its routes answer 404 "
                        "and cron jobs do not run")
            startup = server.wait_for_line(r"WARNING devshell\.server\.modes\.foreground: (database .*)").group(1)
            assert startup.startswith(expected)
            assert server.output.index(startup) < server.output.index("serving http://")

            health = requests.get(server.url + "/web/health", timeout=10).json()
            assert health["status"] == "ok" and [warning[:len(expected)] for warning in health["warnings"]] == [expected]

            assert requests.get(server.url + "/webtest/hello", timeout=10).status_code == 404
            server.wait_for_line(r"WARNING .*GET /webtest/hello answered 404, maybe because database")

            index = requests.get(server.url + "/", timeout=10).text
            assert "not on the addons path: not served" in index and "installed module webtest" in index
            assert "\x1b[" not in server.output  # piped: plain text, no color codes
        finally:
            server.stop()


def test_no_warning_when_the_modules_are_there(db: str) -> None:
    from werkzeug.test import Client

    from devshell.config import load_config
    from devshell.server.web.application import Root

    app = Root(load_config(overrides={"addons_path": [str(SERVER_ADDONS)], "db_name": db}))
    try:
        client = Client(app)
        health = client.get("/web/health").get_json()
        assert health["status"] == "ok" and "warnings" not in health
        index = client.get(f"/?db={db}").get_data(as_text=True)
        assert "webtest" in index and 'href="/webtest/hello?db=' in index and 'class="warning"' not in index
    finally:
        app.close()
