"""A prefork master SIGKILLed while gunicorn still spawns takes every process with it (issue 14, item 9).

Every process of the server inherits a marker in its environment, so the test
finds all of them in /proc, whoever their parent is by then (gunicorn's arbiter,
its workers, workers still booting, the gevent and cron processes).
"""

from __future__ import annotations

import os
import re
import signal
import uuid
from pathlib import Path

from conftest import assert_one_line_error, eventually, run_devshell
from process_tree import alive, cmdline
from server_process import ServerProcess

MARKER = "DEVSHELL_TEST_TREE"  #: not a setting: read by nothing but this test
WORKERS = 48  #: gunicorn spawns them one by one with a random pause: the kill lands while it spawns


def marked(value: str) -> list[int]:
    """The live processes whose environment holds ``MARKER=value``."""
    needle = f"{MARKER}={value}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes().split(b"\0") and alive(int(environ.parent.name)):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_a_master_killed_while_gunicorn_spawns_takes_every_child_with_it(db: str) -> None:
    value = uuid.uuid4().hex
    server = ServerProcess("-d", db, "--workers", str(WORKERS), "--gevent-port", "0", "--max-cron-threads", "1",
                           "--limit-time-real", "10", env={MARKER: value})
    try:
        server.wait_for_line(r"Booting worker with pid: \d+", timeout=60)  # gunicorn has begun spawning
        server.proc.kill()
        server.proc.wait(10)
        survivors = eventually(lambda: not marked(value) or None, timeout=60,
                               message="outlived their master: " + ", ".join(cmdline(pid) for pid in marked(value)))
        assert survivors
        server._reader.join(timeout=30)  # every writer of the output pipe is gone: it ends
        booted = len(re.findall(r"Booting worker with pid", server.output))
        assert booted < WORKERS, f"gunicorn went on spawning after its master died:\n{server.output}"
    finally:
        for pid in marked(value):
            os.kill(pid, signal.SIGKILL)
        server.stop()


def test_a_hard_memory_limit_below_what_a_worker_needs_is_refused_before_any_fork(db: str) -> None:
    """`--workers 1 --limit-memory-hard 1` used to fill the log with MemoryErrors (item 16)."""
    for limit, words in (("1", "below what a worker needs"), ("300000000", "below what a worker needs")):
        result = run_devshell("server", "-d", db, "--workers", "1", "--http-port", "0", "--gevent-port", "0",
                              "--limit-memory-hard", limit)
        assert words in assert_one_line_error(result, 2)
