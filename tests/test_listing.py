"""`devshell modules` and `devshell routes`: the addons path, what a database has installed, every route."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import run_devshell
from server_process import SERVER_ADDONS

ADDONS = ("--addons-path", str(SERVER_ADDONS))


def table(output: str) -> list[list[str]]:
    """The rows of a printed table (header first), split on runs of two spaces or more."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.strip()]


def test_modules_on_the_path_and_in_a_database(db: str, new_db: str) -> None:
    listed = run_devshell("modules", *ADDONS)
    assert listed.returncode == 0, listed.stderr
    rows = table(listed.stdout)
    assert rows[0] == ["module", "version", "path"]
    assert ["webtest", "1.0", str(SERVER_ADDONS / "webtest")] in rows
    assert [row[0] for row in rows[1:]] == sorted(row[0] for row in rows[1:]) and "base" in rows[1][0]

    installed = table(run_devshell("modules", *ADDONS, "-d", db).stdout)
    assert installed[0] == ["module", "version", "state", "path"]
    assert ["webtest", "1.0", "installed", str(SERVER_ADDONS / "webtest")] in installed

    # the same database seen from a project without the webtest folder: installed, but its code is missing
    elsewhere = table(run_devshell("modules", "-d", db).stdout)
    assert ["webtest", "-", "installed, not on the addons path", "-"] in elsewhere

    empty = table(run_devshell("modules", *ADDONS, "-d", new_db).stdout)  # a database without devshell's tables
    assert all(row[2] == "not installed" for row in empty[1:])

    missing = run_devshell("modules", "-d", "no_such_database_here")
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_routes_with_methods_auth_and_module(db: str, new_db: str) -> None:
    listed = run_devshell("routes", *ADDONS)
    assert listed.returncode == 0, listed.stderr
    rows = table(listed.stdout)
    assert rows[0] == ["path", "methods", "auth", "type", "module", "endpoint"]
    assert ["/web/health", "GET", "public", "json", "devshell",
            "devshell.server.web.builtin_routes:health"] in rows
    assert ["/webtest/echo", "POST", "public", "json", "webtest", "devshell_addons.webtest:echo"] in rows
    assert ["/webtest/admin", "GET", "admin", "json", "webtest", "devshell_addons.webtest:admin_only"] in rows
    assert ["/", "GET", "public", "http", "devshell", "devshell.server.web.index_page:index"] in rows
    assert [row[0] for row in rows[1:]] == sorted(row[0] for row in rows[1:])

    served = [row[0] for row in table(run_devshell("routes", *ADDONS, "-d", db).stdout)]
    assert "/webtest/item/<int:item_id>" in served
    not_installed = [row[0] for row in table(run_devshell("routes", *ADDONS, "-d", new_db).stdout)]
    assert "/web/login" in not_installed and not any(path.startswith("/webtest") for path in not_installed)


@pytest.mark.parametrize("command", ["modules", "routes"])
def test_a_broken_module_is_a_warning(command: str, tmp_path: Any) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "__manifest__.py").write_text("{'name': 'Broken', 'version': 1.0,\n")  # not a dict literal
    (broken / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    result = run_devshell(command, "--addons-path", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("devshell: warning: ") and "broken" in result.stderr
    assert "Traceback" not in result.stderr
