"""start: `devshell start --demo` in an empty folder serves a populated demo whose page shows bus messages live."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from conftest import run_devshell, unique_name
from debian_tools import ensure_tool
from headless import Browser
from server_process import DEBUG_LOG, ServerProcess


def devshell_start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> ServerProcess:
    return ServerProcess(command=[sys.executable, "-m", "devshell", "start", "--http-port", "0", *args], cwd=cwd,
                         env=env)


@pytest.fixture(scope="session")
def chromium() -> str:
    return ensure_tool("chromium", "chromium")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, address: Any) -> Iterator[tuple[ServerProcess, Path, str]]:
    """`devshell start --demo` in a new empty folder (its name makes the database name)."""
    from devshell.db.admin import drop_database

    folder = tmp_path_factory.mktemp("demos") / unique_name("demo")
    folder.mkdir()
    server = devshell_start("--demo", cwd=folder, env=DEBUG_LOG)  # debug: the Site says when it resolves and scans
    try:
        server.wait_ready(timeout=90)
        yield server, folder, folder.name
    finally:
        server.stop()
        drop_database(address, folder.name, missing_ok=True)


def test_demo_in_an_empty_folder_is_served(demo: tuple[ServerProcess, Path, str], address: Any) -> None:
    server, folder, db = demo
    assert (folder / "devshell.toml").is_file() and (folder / "addons" / "library" / "__manifest__.py").is_file()
    health = requests.get(server.url + "/web/health")
    assert health.status_code == 200 and health.json()["mode"] == "threaded"

    output = server.output
    assert f"database {db} (created)" in output
    assert "installed library 1.0.0" in output
    assert re.search(r"populated \d+ rows in 4 tables", output)
    assert re.search(r"admin login: admin, password: \S+ \(shown once\)", output)
    assert f"open:  {server.url}/library" in output
    assert f"shell: devshell shell -d {db}" in output  # run from the folder it was started in

    page = requests.get(server.url + "/library")
    assert page.status_code == 200
    assert re.search(r"<strong>40</strong> books", page.text)  # the manifest's populate size for "small"
    assert requests.get(server.url + "/library/static/src/live.js").status_code == 200
    books = requests.get(server.url + "/library/books").json()
    assert len(books) == 40 and all(book["author"] for book in books)

    # the printed shell command works from that folder
    shell = run_devshell("shell", "-d", db, "-c", "print(env.library_loan.search_count(), Book.search_count())",
                         cwd=folder)  # Book: a name the module adds to the shell
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.split()[-2:] == ["30", "40"]


def test_demo_resolves_the_server_and_scans_the_addons_path_once(demo: tuple[ServerProcess, Path, str]) -> None:
    """Finding the project, init, populate, the demo check and the server share one Site."""
    server, _folder, _db = demo
    assert requests.get(server.url + "/library").status_code == 200  # the app has loaded its modules too
    output = server.output
    assert len(re.findall(r"devshell\.site: database server resolved", output)) == 1, output
    assert len(re.findall(r"devshell\.modules\.discovery: addons path scanned", output)) == 1, output


def test_demo_page_shows_a_bus_message_sent_afterwards(demo: tuple[ServerProcess, Path, str], chromium: str) -> None:
    import devshell

    server, folder, db = demo
    browser = Browser(chromium, server.url + "/library")
    try:
        shown = browser.wait_for_text("listening")  # the page loaded and its long-polling loop runs
        marker = f"hello from the shell {unique_name('msg')}"
        assert marker not in shown
        with devshell.connect(db) as env:
            env.bus.send("library", {"text": marker})
            env.commit()
        text = browser.wait_for_text(marker, timeout=20)
        assert "40\nbooks" in text
    finally:
        browser.close()


def test_start_again_keeps_the_database(demo: tuple[ServerProcess, Path, str], address: Any) -> None:
    _server, folder, db = demo
    again = devshell_start(cwd=folder)  # no --demo: the project in the folder is found and served
    try:
        again.wait_ready(timeout=60)
        assert f"database {db}" in again.output.splitlines()
        assert "(created)" not in again.output and "populated" not in again.output
        assert requests.get(again.url + "/library").status_code == 200
    finally:
        again.stop()


def test_start_a_scaffolded_project_and_a_module(tmp_path: Path, address: Any) -> None:
    from devshell.db.admin import drop_database

    assert run_devshell("scaffold", "bookshop", str(tmp_path), "-t", "project").returncode == 0
    db = unique_name("bookshop")
    project = devshell_start("-d", db, cwd=tmp_path / "bookshop")
    try:
        project.wait_ready(timeout=60)
        assert "installed bookshop 0.1.0" in project.output
        assert requests.get(project.url + "/bookshop/items").json() == []
    finally:
        project.stop()
    # a module outside any project: its folder becomes the addons path
    assert run_devshell("scaffold", "pamphlet", str(tmp_path / "loose")).returncode == 0
    module_db = unique_name("lone")
    module = devshell_start("--path", str(tmp_path / "loose" / "pamphlet"), "-d", module_db, cwd=tmp_path)
    try:
        module.wait_ready(timeout=60)
        assert f"module {tmp_path / 'loose'}: modules pamphlet" in module.output
        assert "installed pamphlet 0.1.0" in module.output
        assert (f"shell: cd {tmp_path / 'loose'} && DEVSHELL_ADDONS_PATH={tmp_path / 'loose' / 'pamphlet'} "
                f"devshell shell -d {module_db}") in module.output
        assert requests.get(module.url + "/pamphlet/items").status_code == 200
    finally:
        module.stop()
        for name in (db, module_db):
            drop_database(address, name, missing_ok=True)


def test_start_in_an_empty_folder_without_demo(tmp_path: Path) -> None:
    result = run_devshell("start", cwd=tmp_path)
    assert result.returncode == 2
    assert "no devshell project or module at" in result.stderr and "devshell start --demo" in result.stderr
    assert list(tmp_path.iterdir()) == []
