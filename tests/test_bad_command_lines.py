"""Bad command lines (issue 14, items 15-16 and the CLI half of the fuzz test): one line, exit 1 or 2, no traceback.

The lines come from the tables below (at least 100). Each runs through
``devshell.cli.main``, the function the ``devshell`` console script calls, in a
process of its own: a driver process imports devshell once and forks one child
per line (stdout and stderr to files, a deadline, the child's process group
killed if it is still running then), so a hundred lines cost seconds and a line
that is wrongly accepted cannot take the test run with it. Values that would
start something unbounded if they were accepted (``--workers 10**20``) are only
given with ``--print-proxy-config``, which exits before anything starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES

HUGE = "99999999999999999999"
MODULE = str(FIXTURES / "addons_server" / "webtest")

#: server flags and values each refused (exit 2) before anything is bound
SERVER_FLAGS: dict[str, list[str]] = {
    "--http-port": ["-1", "70000", "65536", "abc", "1.5", ""],
    "--gevent-port": ["-5", "70000", "port"],
    "--workers": ["-1", "257", "many"],
    "--max-cron-threads": ["-1", "65", "x"],
    "--limit-request": ["-1", str(2**31), "x"],
    "--limit-memory-soft": ["-1", str(2**51), "x"],
    "--limit-memory-hard": ["-1", "1", "1000", str(2**51), "x"],
    "--limit-time-cpu": ["-1", "10000000", "x"],
    "--limit-time-real": ["-1", "10000000", "x"],
    "--dbfilter": ["(", "%h[", "[", "*", "a{2,1}", "(?P<", "\\"],
    "--mode": ["fast", ""],
    "--dev": ["bogus"],
    "--print-proxy-config": ["apache"],
    "--pidfile": ["{missing}/x.pid"],
    "--addons-path": ["{missing}"],
}

#: DEVSHELL_* variables holding values no setting accepts: `devshell config` and `devshell server` refuse them
BAD_ENVIRONMENT: dict[str, list[str]] = {
    "DEVSHELL_WORKERS": ["-3", "abc", HUGE],
    "DEVSHELL_HTTP_PORT": ["70000", "-1"],
    "DEVSHELL_GEVENT_PORT": ["65536"],
    "DEVSHELL_MAX_CRON_THREADS": ["1000"],
    "DEVSHELL_LIMIT_TIME_REAL": ["-5"],
    "DEVSHELL_LIMIT_MEMORY_HARD": ["12"],
    "DEVSHELL_DB_PORT": ["0", "70000"],
    "DEVSHELL_MODE": ["fast"],
    "DEVSHELL_DBFILTER": ["("],
    "DEVSHELL_LOG_LEVEL": ["loud"],
    "DEVSHELL_LIST_DB": ["maybe"],
    "DEVSHELL_DB_SSLMODE": ["bogus"],
}

DEPLOY_URLS = ["http://[::1", "http://127.0.0.1:99999", "http:// /", "ftp://x", "http://", "http://:80",
               "http://a b/", "http://127.0.0.1:-1", "http://[::1]:99999", "http://127.0.0.1:abc",
               "http://127.0.0.1:0", "http://exa mple.com"]


def cases(db: str, tmp: Path) -> list[tuple[list[str], dict[str, str], int | None]]:
    """(argv, environment, expected exit code or None for 1 or 2), generated from the tables."""
    found: list[tuple[list[str], dict[str, str], int | None]] = []
    server = ["server", "-d", db, "--http-port", "0", "--gevent-port", "0", "--max-cron-threads", "0"]
    missing = str(tmp / "missing")  # a folder that does not exist (and must not be created)
    for flag, values in SERVER_FLAGS.items():
        for value in values:
            found.append(([*server, flag, value.replace("{missing}", missing)], {}, 2))
    # what would start without bound if it were accepted: refused before the proxy config is even printed
    for flag in ("--workers", "--max-cron-threads"):
        found.append(([*server, flag, HUGE, "--print-proxy-config", "nginx"], {}, 2))
    found += [
        ([*server, "--mode", "gevent", "--gevent-port", "-5"], {}, 2),
        ([*server, "--workers", "1", "--limit-memory-hard", "300000000"], {}, 2),
        ([*server, "--workers", "2", "--mode", "threaded"], {}, 2),
        (["server", "-d", "nosuchdb_h14", "--http-port", "0", "--max-cron-threads", "0"], {}, 1),
        (["server", "-d", "nosuchdb_h14", "--http-port", "0", "--gevent-port", "0", "--workers", "1"], {}, 1),
        (["server", "-d", "nosuchdb_h14", "--mode", "gevent", "--gevent-port", "0"], {}, 1),
        ([*server, "--bogus-flag"], {}, 2),
    ]
    for variable, values in BAD_ENVIRONMENT.items():
        for value in values:
            found.append((["config"], {variable: value}, 2))
    for value in ("-3", HUGE):
        found.append(([*server, "--print-proxy-config", "nginx"], {"DEVSHELL_WORKERS": value}, 2))
    secrets = {"DEVSHELL_PASSWORD": "pw", "DEVSHELL_DEPLOY_PASSWORD": "deploy-pw"}
    for url in DEPLOY_URLS:
        found.append((["deploy", MODULE, url, "-d", db], secrets, 2))
    found += [
        (["deploy", f"{missing}/module", "-d", db], secrets, 2),
        (["deploy", str(tmp), "-d", db], secrets, 2),  # not a module
        (["deploy", MODULE], secrets, 2),  # no database
    ]
    read_only = "/proc" if os.geteuid() == 0 else str(tmp / "read-only")
    found += [
        (["scaffold", "mymod", read_only], {}, None),
        (["scaffold", "mymod", "/sys/kernel"], {}, None),
        (["scaffold", "mymod", "/dev/null"], {}, None),
        (["scaffold", "mymod", "/etc/hostname"], {}, 2),
        (["scaffold", "1abc", str(tmp)], {}, None),
        (["scaffold", "my mod", str(tmp)], {}, None),
        (["scaffold", "class", str(tmp)], {}, None),
        (["scaffold", "mymod", str(tmp), "-t", "nosuchtemplate"], {}, None),
        (["scaffold"], {}, None),
    ]
    found += [
        (["db", "create"], {}, 2),
        (["db", "create", "-d", "a", "b"], {}, 2),
        (["db", "drop", "nosuchdb_h14"], {}, 1),
        (["db", "copy", "onlyone"], {}, 2),
        (["db", "copy", "nosuchdb_h14", "copy_h14"], {}, 1),
        (["db", "dump", "-d", "nosuchdb_h14", str(tmp / "x.dump")], {}, 1),
        (["db", "dump", "-d", db, f"{missing}/dir/x.dump"], {}, None),
        (["db", "dump"], {}, 2),
        (["db", "restore", "-d", "restored_h14", f"{missing}.dump"], {}, 2),
        (["db", "restore", "-d", "restored_h14"], {}, 2),
        (["db", "restore", "-d", db, MODULE + "/__init__.py"], {}, 1),  # exists already
        (["db", "init"], {}, 2),
        (["db", "init", "-d", db, "-i", "nosuchmodule"], {}, None),
        (["db", "init", "-d", db, "--addons-path", missing], {}, 2),
        (["db", "server", "bogus"], {}, 2),
        (["db", "bogus"], {}, 2),
        (["shell", "-d", "nosuchdb_h14", "-c", "1"], {}, 1),
        (["shell", "-d", db, "-i", "bogus", "-c", "1"], {}, 2),
        (["shell", "-d", db, str(tmp / "missing_script.py")], {}, 2),
        (["shell", "-c", "1"], {}, 2),
        (["populate", "-d", "nosuchdb_h14"], {}, 1),
        (["populate", "-d", db, "--size", "huge"], {}, 2),
        (["populate", "-d", db, "--size", "-5"], {}, 2),
        (["populate", "-d", db, "--seed", "abc"], {}, 2),
        (["populate"], {}, 2),
        (["cloc", "-p", missing], {}, None),
        (["cloc", "--bogus"], {}, 2),
        (["kernel", "install"], {}, 2),
        (["kernel", "bogus"], {}, 2),
        (["config", "--bogus"], {}, 2),
        (["config", "bogus"], {}, 2),
        (["help", "nosuchcommand"], {}, 2),
        (["help", "db", "nosuch"], {}, 2),
        (["nosuchcommand"], {}, 2),
        (["shel"], {}, 2),
        (["start", "--path", missing], {}, 2),
        (["--bogus"], {}, 2),
        (["-x"], {}, 2),
    ]
    return found


#: forks one child per line from one interpreter that imported devshell once; prints a JSON list of results
DRIVER = r'''
import json, os, shutil, signal, sys, tempfile, time, traceback
import devshell.cli
from devshell.cli import main
for name in ("server", "db", "shell", "deploy", "scaffold", "config", "populate", "cloc", "kernel", "start"):
    __import__(f"devshell.commands.{name}")
cases, deadline = json.load(sys.stdin), float(sys.argv[1])
results = []
folder = tempfile.mkdtemp(prefix="h14-cli-")
for index, (argv, environment) in enumerate(cases):
    out, err = os.path.join(folder, f"{index}.out"), os.path.join(folder, f"{index}.err")
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.setpgid(0, 0)
            os.environ.update(environment)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
            os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    end = time.monotonic() + deadline
    status = None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
        elif time.monotonic() > end:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "still running"
        else:
            time.sleep(0.01)
    with open(out, errors="replace") as o, open(err, errors="replace") as e:
        results.append({"code": status, "stdout": o.read(), "stderr": e.read()})
shutil.rmtree(folder, ignore_errors=True)
json.dump(results, sys.stdout)
'''


def run_lines(lines: list[tuple[list[str], dict[str, str]]], cwd: Path, deadline: float = 30) -> list[dict[str, Any]]:
    result = subprocess.run([sys.executable, "-c", DRIVER, str(deadline)], input=json.dumps(lines), cwd=cwd,
                            capture_output=True, text=True, timeout=60 + deadline * len(lines))
    assert result.returncode == 0, result.stderr
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers


def test_a_hundred_bad_command_lines_get_one_line_each(new_db: str, tmp_path: Path) -> None:
    (tmp_path / "read-only").mkdir(mode=0o555)
    table = cases(new_db, tmp_path)
    assert len(table) >= 100
    answers = run_lines([(argv, environment) for argv, environment, _code in table], tmp_path)
    failures = []
    for (argv, environment, expected), answer in zip(table, answers):
        code, stderr = answer["code"], answer["stderr"]
        lines = stderr.strip().splitlines()
        ok = (code == expected if expected is not None else code in (1, 2)) and "Traceback" not in stderr \
            and len(lines) == 1 and lines[0].startswith("devshell: error: ")
        if not ok:
            failures.append(f"{' '.join(f'{k}={v}' for k, v in environment.items())} devshell {' '.join(argv)}"
                            f" -> exit {code} (expected {expected or '1 or 2'}):\n{stderr}{answer['stdout'][-300:]}")
    assert not failures, f"{len(failures)} of {len(table)} lines:\n\n" + "\n\n".join(failures)
    assert not list(tmp_path.glob("mymod*")) and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["server", "--pidfile", "{missing}/x.pid", "--http-port", "0", "--max-cron-threads", "0"],
     "the folder {missing} does not exist"),
    (["server", "--http-port", "70000"], "http_port must be between 0 and 65535, not 70000"),
    (["server", "--workers", HUGE, "--print-proxy-config", "nginx"], "workers must be between 0 and 256"),
    (["server", "--max-cron-threads", "99999999999", "--print-proxy-config", "nginx"],
     "max_cron_threads must be between 0 and 64"),
    (["server", "--dbfilter", "%h["], "dbfilter"),
])
def test_each_refusal_says_what_is_wrong(argv: list[str], fragment: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    [answer] = run_lines([([arg.replace("{missing}", str(missing)) for arg in argv], {})], tmp_path)
    fragment = fragment.replace("{missing}", str(missing))
    assert answer["code"] == 2 and fragment in answer["stderr"], answer
    assert answer["stdout"] == ""  # nothing printed, nothing started


def test_counts_and_sizes_are_bounded_in_every_layer(tmp_path: Path) -> None:
    """Files, the environment and start_server's keywords go through the same bounds as the command line
    (checked on the configuration only: nothing is started)."""
    from devshell.config import load_config
    from devshell.errors import ConfigError

    (tmp_path / "devshell.toml").write_text("workers = 100000\n")
    with pytest.raises(ConfigError, match="workers must be between 0 and 256, not 100000") as raised:
        load_config(cwd=tmp_path, environ={})
    assert raised.value.exit_code == 2 and "devshell.toml" in raised.value.message
    (tmp_path / "devshell.toml").write_text("max_cron_threads = 8\n")
    assert load_config(cwd=tmp_path, environ={})["max_cron_threads"] == 8
    with pytest.raises(ConfigError, match=r"\$DEVSHELL_MAX_CRON_THREADS: max_cron_threads must be between"):
        load_config(cwd=tmp_path, environ={"DEVSHELL_MAX_CRON_THREADS": "99999999999"})
    base = load_config(cwd=tmp_path, environ={})
    for key, value in (("workers", 10**20), ("http_port", -1), ("limit_memory_hard", 1), ("dbfilter", "(")):
        with pytest.raises(ConfigError, match=f"start_server --{key.replace('_', '-')}"):
            base.with_overrides({key: value}, source="start_server")
