"""Server logs: colored level and time on a terminal (a real pseudo-terminal), plain text when piped."""

from __future__ import annotations

import os
import re
import signal
import sys
from typing import Any

import pexpect
import requests

from server_process import SERVER_ADDONS

SERVER = ["-m", "devshell", "server", "--addons-path", str(SERVER_ADDONS), "--http-port", "0",
          "--max-cron-threads", "0"]
DIM, GREEN, RESET = "\x1b[2m", "\x1b[32m", "\x1b[0m"


def spawn_on_a_terminal(env: dict[str, str] | None = None) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, SERVER, env={**os.environ, "TERM": "xterm", **(env or {})},
                         encoding="utf-8", timeout=60, dimensions=(40, 200))


def stop(child: pexpect.spawn) -> None:
    child.kill(signal.SIGTERM)
    child.expect(pexpect.EOF, timeout=30)
    child.close()


def test_logs_are_colored_on_a_terminal(cluster: Any) -> None:
    child = spawn_on_a_terminal()
    try:
        child.expect(r"serving (http://\S+?)/")
        url = child.match.group(1)
        report = child.before + child.after
        line = next(line for line in report.splitlines() if "devshell.server.modes.foreground: serving" in line)
        assert re.match(rf"{re.escape(DIM)}\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}}{re.escape(RESET)} \d+ "
                        rf"{re.escape(GREEN)}INFO{re.escape(RESET)} devshell", line.lstrip("\r")), repr(line)
        assert requests.get(url + "/web/health", timeout=10).status_code == 200
        child.expect(r'"GET /web/health HTTP/1\.1" 200')  # the access log goes through the same handler
        access = child.before.splitlines()[-1] if child.before.splitlines() else child.before
        assert f"{GREEN}INFO{RESET}" in access, repr(access)
    finally:
        stop(child)


def test_no_color_on_a_terminal_with_no_color_set(cluster: Any) -> None:
    """(Piped output is checked by test_index_page's warning test: plain text there too.)"""
    child = spawn_on_a_terminal({"NO_COLOR": "1"})
    try:
        child.expect(r"serving http://")
        assert "\x1b[" not in child.before and " INFO devshell" in child.before
    finally:
        stop(child)
