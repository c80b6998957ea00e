"""cloc: counts per module and language agree with the `cloc` tool on the same files; -p, -d, --json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import FIXTURES, ROOT, run_devshell, unique_name
from debian_tools import ensure_tool

#: this repository's own modules: devshell's base and the test fixture modules (broken ones left out)
MODULE_DIRS = [ROOT / "devshell" / "addons" / "base", *sorted((FIXTURES / "addons_library").iterdir()),
               FIXTURES / "addons_server" / "webtest", FIXTURES / "populate_addons" / "pop_shop",
               FIXTURES / "addons_cloc" / "cloc_sample"]
SAMPLE = FIXTURES / "addons_cloc" / "cloc_sample"


@pytest.fixture(scope="session")
def cloc_tool() -> str:
    return ensure_tool("cloc", "cloc")


def run_cloc(tool: str, *args: str) -> dict[str, Any]:
    result = subprocess.run([tool, "--json", "--skip-uniqueness", "--quiet", *args], capture_output=True,
                            text=True, timeout=120, check=True)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def report() -> Any:
    from devshell.cloc import cloc

    return cloc([str(path) for path in MODULE_DIRS])


def test_every_language_is_exercised(report: Any) -> None:
    assert {"Python", "SQL", "JavaScript", "CSS", "HTML", "XML", "Jinja Template"} <= set(report.languages)
    assert [module.name for module in report.modules] == sorted(path.name for path in MODULE_DIRS)


@pytest.mark.parametrize("folder", MODULE_DIRS, ids=lambda path: path.name)
def test_counts_match_the_cloc_tool(cloc_tool: str, report: Any, folder: Path) -> None:
    module = next(m for m in report.modules if m.path == folder)
    files = [str(folder / name) for name in module.files]
    by_file = run_cloc(cloc_tool, "--by-file", *files)
    for name, (language, counts) in module.files.items():
        theirs = by_file[str(folder / name)]
        assert (language, counts.blank, counts.comment, counts.code) == (
            theirs["language"], theirs["blank"], theirs["comment"], theirs["code"]), name
    by_language = run_cloc(cloc_tool, *files)
    for language, counts in module.languages.items():
        theirs = by_language[language]
        assert (counts.files, counts.blank, counts.comment, counts.code) == (
            theirs["nFiles"], theirs["blank"], theirs["comment"], theirs["code"]), language
    assert module.total.code == by_language["SUM"]["code"]


def test_cloc_exclude_and_empty_files(cloc_tool: str, report: Any) -> None:
    sample = next(m for m in report.modules if m.name == "cloc_sample")
    # cloc_exclude: a folder (static/lib) and a glob (data/generated_*.sql); cloc itself skips empty files
    assert "static/lib/vendor.js" not in sample.files and "data/generated_rows.sql" not in sample.files
    assert "__init__.py" not in sample.files
    everything = run_cloc(cloc_tool, "--by-file", str(SAMPLE))
    counted_by_cloc = {Path(name).relative_to(SAMPLE).as_posix() for name in everything
                       if name not in ("header", "SUM")}
    assert counted_by_cloc - set(sample.files) == {"static/lib/vendor.js", "data/generated_rows.sql"}


def test_cli_json_and_table(report: Any) -> None:
    args = [arg for path in MODULE_DIRS for arg in ("-p", str(path))]
    result = run_devshell("cloc", *args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total"] == report.total.as_dict()
    assert data["languages"]["Python"] == report.languages["Python"].as_dict()
    sample = next(m for m in data["modules"] if m["name"] == "cloc_sample")
    assert sample["languages"]["Jinja Template"] == {"files": 1, "blank": 0, "comment": 3, "code": 5}

    table = run_devshell("cloc", "-p", str(FIXTURES / "addons_library"))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["module", "language", "files", "blank", "comment", "code"]
    assert any(line.split()[:2] == ["library_base", "Python"] for line in lines)
    assert any(line.split()[:2] == ["total", "Python"] for line in lines)


@pytest.fixture
def library_db(address: Any) -> Iterator[str]:
    from devshell.config import load_config
    from devshell.db.admin import drop_database
    from devshell.modules import init_database

    name = unique_name("cloc")
    config = load_config(overrides={"addons_path": [str(FIXTURES / "addons_library")]})
    init_database(config, name, ["library"], admin_password="pw")
    yield name
    drop_database(address, name, missing_ok=True)


def test_modules_installed_in_a_database(library_db: str) -> None:
    result = run_devshell("cloc", "-d", library_db, "--json",
                          env={"DEVSHELL_ADDONS_PATH": str(FIXTURES / "addons_library")})
    assert result.returncode == 0, result.stderr
    names = [module["name"] for module in json.loads(result.stdout)["modules"]]
    assert names == ["base", "library", "library_base"]  # library_extra is on the path but not installed

    missing = run_devshell("cloc", "-d", library_db)  # the library modules are not on the default path
    assert missing.returncode == 0
    assert "module 'library' is installed but not on the addons path" in missing.stderr
    assert "base" in missing.stdout


def test_errors_are_one_line(tmp_path: Path, new_db: str) -> None:
    for args, expected in [(["-p", str(tmp_path / "nope")], "no such folder"),
                           (["-p", str(tmp_path)], "no module there"),
                           (["-d", new_db], "has no devshell modules installed"),
                           ([], "no modules to count")]:
        result = run_devshell("cloc", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert expected in result.stderr
