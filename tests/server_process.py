"""A real `devshell server` child process for the server tests, and the databases they serve."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import requests

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SERVER_ADDONS = FIXTURES / "addons_server"
READY_LINE = re.compile(r"serving (http://[^\s]+?:(\d+)/)")
#: the environment of a server that logs at debug level, which says when a long poll starts waiting
DEBUG_LOG = {"DEVSHELL_LOG_LEVEL": "debug"}
ADMIN_PASSWORD = "admin-pw"


class ServerProcess:
    """`python -m devshell server …` on a free port (port 0, read back from the startup report)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                 command: list[str] | None = None) -> None:
        if command is None:  # `devshell server ARGS` on the test addons, a free port, no cron threads
            command = [sys.executable, "-m", "devshell", "server", "--addons-path", str(SERVER_ADDONS), *args]
            if "--http-port" not in args:
                command += ["--http-port", "0"]
            if "--max-cron-threads" not in args:
                command += ["--max-cron-threads", "0"]
        self.command = command
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})}, cwd=cwd)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 20, start: int = 0, count: int = 1) -> re.Match[str]:
        """The *count*-th output line from index *start* on that matches *pattern* (the first by default)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matches = (found for found in map(regex.search, self.lines[start:]) if found)
                found = next(itertools.islice(matches, count - 1, None), None)
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"fewer than {count} line(s) matching {pattern!r}; output:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(min(remaining, 0.2))

    def wait_for_polls(self, channel: str, count: int = 1, timeout: float = 20) -> None:
        """Until *count* long polls of *channel* wait for a message (the server must log at debug: DEBUG_LOG)."""
        self.wait_for_line(rf"poll on \S+ of {re.escape(channel)}: waiting", timeout, count=count)

    def wait_ready(self, timeout: float = 30) -> "ServerProcess":
        self.url = self.wait_for_line(READY_LINE.pattern, timeout).group(1).rstrip("/")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/web/health", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError("server never answered /web/health:\n" + self.output)

    def signal(self, number: int) -> None:
        self.proc.send_signal(number)

    def wait(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def init_web_db(name: str, *modules: str) -> str:
    """Create *name* with base (+ *modules*, webtest by default) and the admin user."""
    from devshell.config import load_config
    from devshell.modules import init_database

    config = load_config(overrides={"addons_path": [str(SERVER_ADDONS)]})
    init_database(config, name, list(modules or ("webtest",)), admin_password=ADMIN_PASSWORD)
    return name


def started(*args: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """Fixture body: a ready server, stopped afterwards."""
    server = ServerProcess(*args, env=env)
    try:
        yield server.wait_ready()
    finally:
        server.stop()
