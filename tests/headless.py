"""Headless Chromium driven through the Chrome DevTools protocol over a pipe (--remote-debugging-pipe).

No websocket client needed: Chromium reads commands on its fd 3 and writes
answers on fd 4, each a JSON message ended by a NUL byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]


class Browser:
    """One Chromium showing *url*; :meth:`evaluate` runs JavaScript in the page."""

    def __init__(self, binary: str, url: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="devshell-chromium-"))
        to_chromium_r, self._write = os.pipe()
        self._read, from_chromium_w = os.pipe()
        # numbers above 9 for the shell's redirections, so that they cannot collide with fds 3 and 4
        child_in = fcntl.fcntl(to_chromium_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_chromium_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chromium_r)
        os.close(from_chromium_w)
        self.log = self.profile / "chromium.log"
        command = [binary, *FLAGS, f"--user-data-dir={self.profile}", url]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", f'exec "$@" 3<&{child_in} 4>&{child_out} {child_in}<&- {child_out}>&-', "bash",
                 *command], pass_fds=(child_in, child_out), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # its own process group: close() ends chromium's helpers too
                env={**os.environ, "TMPDIR": str(self.profile)})  # its temporary files go with the profile
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._next_id = 0
        self.session = ""

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 15.0) -> dict[str, Any]:
        """Send one command and wait for its answer (events in between are skipped)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._next_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return dict(answer["result"])
            ready, _, _ = select.select([self._read], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"chromium did not answer {method} in {timeout} s:\n" + self.log.read_text())
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise EOFError("chromium exited:\n" + self.log.read_text())
            self._buffer += chunk

    def attach(self) -> str:
        """Attach to the page target (the one tab): later calls run in it."""
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(target for target in targets if target["type"] == "page")
        self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        return self.session

    def evaluate(self, expression: str) -> Any:
        if not self.session:
            self.attach()
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           session=self.session)
        return result["result"].get("value")

    def text(self) -> str:
        """What the page shows: ``document.body.innerText``."""
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def wait_for_text(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never showed {needle!r}; it shows:\n{text}")
            time.sleep(0.1)

    def close(self) -> None:
        """Stop chromium and its helper processes (the group it leads), then remove the profile."""
        group = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        deadline = time.monotonic() + 5
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        os.close(self._write)
        os.close(self._read)
        shutil.rmtree(self.profile, ignore_errors=True)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
