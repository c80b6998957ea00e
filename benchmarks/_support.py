"""What the real-time benchmarks share: a client process driven line by line, and a server seen through /proc.

Imported by benchmarks/longpolling_bench.py and benchmarks/websocket_bench.py (run as
scripts, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path


class LineClient:
    """A client process (*source*, written to *script*) that answers one line per command line it reads."""

    def __init__(self, what: str, script: Path, source: str, *args: str) -> None:
        script.write_text(source)
        self.what = what  #: what it is called when it dies ("the WebSocket client died")
        self.proc = subprocess.Popen([sys.executable, str(script), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise SystemExit(f"the {self.what} died")
        return answer.strip()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(30)
        self.proc.stdout.close()


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_held(pid: int, fds: int, timeout: float = 40) -> None:
    """Until the server holds *fds* descriptors and its CPU has gone quiet (every poll read and waiting)."""
    deadline = time.monotonic() + timeout
    while open_fds(pid) < fds:
        if time.monotonic() > deadline:
            raise SystemExit(f"the server holds {open_fds(pid)} descriptors, expected {fds}")
        time.sleep(0.1)
    before = cpu_ticks(pid)
    while True:
        time.sleep(0.5)
        now = cpu_ticks(pid)
        if now - before <= 2 or time.monotonic() > deadline:
            return
        before = now


def settle(pid: int) -> None:
    """Until the server has closed the connections its clients closed (its descriptor count is steady)."""
    count = open_fds(pid)
    while True:
        time.sleep(0.5)
        now = open_fds(pid)
        if now == count:
            return
        count = now


def publish(db: str, channel: str, message: object) -> float:
    """Send *message* on the bus and commit; the monotonic time of the commit."""
    import devshell

    env = devshell.connect(db)
    try:
        env.bus.send(channel, message)
        env.commit()
        return time.monotonic()
    finally:
        env.close()
