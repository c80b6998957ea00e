"""The one dispatcher: help everywhere, one-line usage errors, lazy imports, completion, plugins."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import click
import pytest

from conftest import FIXTURES, assert_one_line_error, run_devshell

HEAVY_MODULES = ("IPython", "faker", "gevent", "gunicorn", "psycopg2", "rich", "jinja2")



def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of the built-in tree, walked through click itself."""
    from devshell.cli import cli

    found: list[tuple[str, ...]] = []

    def walk(command: click.Command, ctx: click.Context, path: tuple[str, ...]) -> None:
        found.append(path)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"{' '.join(path + (name,))} is listed but does not load"
                walk(sub, click.Context(sub, info_name=name, parent=ctx), path + (name,))

    walk(cli, click.Context(cli, info_name="devshell"), ())
    return found


def run_many(argvs: list[tuple[str, ...]], env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda argv: run_devshell(*argv, env=env), argvs))


def test_help_lists_the_builtin_commands() -> None:
    result = run_devshell("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: devshell")
    listed = result.stdout.split("Commands:", 1)[1]
    for name in ("config", "db", "help"):
        assert f"\n  {name} " in listed
    assert result.stderr == ""


def test_no_command_runs_the_server(cluster) -> None:  # type: ignore[no-untyped-def]
    """Seed behaviour: `devshell` alone is `devshell server`."""
    import requests
    from server_process import ServerProcess

    server = ServerProcess(command=[sys.executable, "-m", "devshell"],
                           env={"DEVSHELL_HTTP_PORT": "0", "DEVSHELL_MAX_CRON_THREADS": "0"})
    try:
        server.wait_ready()
        health = requests.get(server.url + "/web/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        server.stop()


def test_dash_h_and_help_on_every_command() -> None:
    paths = command_paths()
    assert ("db", "server", "status") in paths and ("db", "create") in paths and ("config",) in paths
    results = run_many([(*path, "-h") for path in paths] + [("help", *path) for path in paths])
    dash_h, via_help = results[: len(paths)], results[len(paths):]
    for path, short, long in zip(paths, dash_h, via_help):
        usage = " ".join(("Usage: devshell", *path))
        assert short.returncode == 0, (path, short.stderr)
        assert short.stdout.startswith(usage), (path, short.stdout)
        assert "-h, --help" in short.stdout, path
        assert long.returncode == 0, (path, long.stderr)
        assert long.stdout == short.stdout, path


def test_help_db_create_shows_its_options() -> None:
    result = run_devshell("help", "db", "create")
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: devshell db create")
    assert "-d, --database NAME" in result.stdout and "--template" in result.stdout


def test_version() -> None:
    from devshell import __version__

    result = run_devshell("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"devshell, version {__version__}"


@pytest.mark.parametrize("argv, mentions", [
    (("nosuchcommand",), "nosuchcommand"),
    (("--nosuchflag",), "--nosuchflag"),
    (("db", "nosuchcommand"), "nosuchcommand"),
    (("db", "list", "--nosuchflag"), "--nosuchflag"),
    (("db", "server", "start", "--nosuchflag"), "--nosuchflag"),
    (("config", "--nosuchflag"), "--nosuchflag"),
    (("config", "no_such_key"), "no_such_key"),
    (("help", "nosuchcommand"), "nosuchcommand"),
    (("help", "config", "extra"), "extra"),
    (("db", "create"), "database"),
    (("db", "copy", "only_one"), "SOURCE TARGET"),
])
def test_usage_errors_are_one_line_exit_2(argv: tuple[str, ...], mentions: str) -> None:
    line = assert_one_line_error(run_devshell(*argv), 2)
    assert line.startswith("devshell: error: ")
    assert mentions in line
    assert "-h" in line or argv[0] == "db"  # click's errors point at the command's help


def test_help_imports_nothing_heavy() -> None:
    """Like click's tests/test_imports.py: what does `devshell --help` pull into sys.modules?"""
    script = (
        "import sys\n"
        "from devshell.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        f"heavy = [name for name in {HEAVY_MODULES!r} if name in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Commands:" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "HEAVY="


def test_import_devshell_is_light() -> None:
    script = f"import sys, devshell; print(sorted(set({HEAVY_MODULES!r} + ('click',)) & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def complete(words: str, cword: int, env: dict[str, str] | None = None) -> list[str]:
    """Ask click's bash completion, exactly as the shell function generated by bash_source does."""
    full = {"_DEVSHELL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword), **(env or {})}
    result = run_devshell(env=full)
    assert result.returncode == 0, result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]  # nothing: one empty line


def test_completion_of_commands_and_subcommands() -> None:
    assert complete("devshell d", 1) == ["db", "deploy"]
    assert complete("devshell db s", 2) == ["server"]
    assert complete("devshell db server st", 3) == ["start", "status", "stop"]
    assert "--database" in complete("devshell db create --", 3)


def test_completion_script_is_generated() -> None:
    result = run_devshell(env={"_DEVSHELL_COMPLETE": "bash_source"})
    assert result.returncode == 0
    assert "_DEVSHELL_COMPLETE=bash_complete" in result.stdout
    assert "complete " in result.stdout and "devshell" in result.stdout


# -- plugins from the entry-point group devshell.commands ---------------------------------------

@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tests/fixtures/plugin_pkg installed with pip into a folder of its own (put on PYTHONPATH)."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"  # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(FIXTURES / "plugin_pkg", source)
    target = work / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert list(target.glob("devshell_hello_plugin-*.dist-info"))
    return str(target)


@pytest.fixture
def broken_plugin_path(tmp_path: Path) -> Iterator[str]:
    """An installed distribution whose entry points fail: an import error, a non-command, a clash."""
    dist = tmp_path / "devshell_broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: devshell-broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[devshell.commands]\n"
        "broken = devshell_broken_plugin:cli\n"
        "notacommand = devshell_not_a_command:cli\n"
        "db = devshell_not_a_command:cli\n"
    )
    (tmp_path / "devshell_broken_plugin.py").write_text("raise ImportError('this plugin is broken on purpose')\n")
    (tmp_path / "devshell_not_a_command.py").write_text("cli = 42\n")
    yield str(tmp_path)


def test_plugin_command_is_listed_and_runs(plugin_path: str) -> None:
    env = {"PYTHONPATH": plugin_path}
    help_result = run_devshell("--help", env=env)
    assert help_result.returncode == 0, help_result.stderr
    assert "\n  hello " in help_result.stdout and "Say hello (a plugin command)." in help_result.stdout
    result = run_devshell("hello", "--name", "plugin", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello, plugin!\n"
    assert run_devshell("help", "hello", env=env).stdout.startswith("Usage: devshell hello")
    assert complete("devshell hel", 1, env=env) == ["hello", "help"]
    assert run_devshell("hello", env={}).returncode == 2  # not installed: no such command


def test_broken_plugin_warns_and_builtins_keep_working(plugin_path: str, broken_plugin_path: str,
                                                       address: object) -> None:
    env = {"PYTHONPATH": os.pathsep.join([plugin_path, broken_plugin_path])}
    help_result = run_devshell("--help", env=env)
    assert help_result.returncode == 0
    warnings = help_result.stderr.strip().splitlines()
    assert len(warnings) == 2, help_result.stderr
    assert all(line.startswith("devshell: warning: plugin command") for line in warnings)
    assert any("'broken'" in line and "broken on purpose" in line for line in warnings)
    assert any("'notacommand'" in line and "not a click command" in line for line in warnings)
    assert "\n  hello " in help_result.stdout and "\n  db " in help_result.stdout
    assert "broken" not in help_result.stdout

    listed = run_devshell("db", "list", env=env)  # a plugin named "db" does not replace the built-in
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""

    broken = run_devshell("broken", env=env)
    assert broken.returncode == 2
    assert "broken on purpose" in broken.stderr and "No such command 'broken'" in broken.stderr
    assert "Traceback" not in broken.stderr


# -- daily use: server flags alone, misspelt commands, completion of values ----------------------

def test_server_flags_without_a_command_run_the_server(cluster) -> None:  # type: ignore[no-untyped-def]
    """Like `odoo-bin --http-port 8080`: server flags given first mean `devshell server`."""
    import requests
    from server_process import ServerProcess

    server = ServerProcess(command=[sys.executable, "-m", "devshell", "--debug", "--http-port", "0",
                                    "--max-cron-threads=0", "--mode", "threaded"])
    try:
        server.wait_ready()
        assert requests.get(server.url + "/web/health", timeout=10).json()["mode"] == "threaded"
        assert "cron threads: 0" in server.output  # every flag reached the server command
    finally:
        server.stop()
    line = assert_one_line_error(run_devshell("--http-prot", "0"), 2)  # not a server flag: the root's error
    assert "No such option '--http-prot'" in line and "'devshell -h'" in line


@pytest.mark.parametrize("typed, meant", [("shel", "shell"), ("serve", "server"), ("populte", "populate"),
                                          ("scafold", "scaffold"), ("modles", "modules")])
def test_misspelt_commands_get_a_suggestion(typed: str, meant: str) -> None:
    line = assert_one_line_error(run_devshell(typed), 2)
    assert line == f"devshell: error: No such command '{typed}'. Did you mean '{meant}'? (see 'devshell -h')"


def test_completion_of_database_names_and_templates(new_db: str) -> None:  # type: ignore[no-untyped-def]
    prefix = new_db[:-3]
    assert new_db in complete(f"devshell shell -d {prefix}", 3)
    assert new_db in complete(f"devshell db psql --database {prefix}", 4)
    assert complete("devshell shell -d no_such_prefix_", 3) == []
    assert complete("devshell scaffold shop -t ", 4) == ["module", "project", "demo"]
    assert complete("devshell scaffold shop --template p", 4) == ["project"]
