"""Processes seen from outside (Linux /proc) for the gevent and prefork tests, and a prefork server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from conftest import eventually
from server_process import ServerProcess


def alive(pid: int) -> bool:
    """True while *pid* runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def children(pid: int) -> list[int]:
    """The live child processes of *pid*."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def workers(server: ServerProcess) -> list[int]:
    """gunicorn's workers: the grandchildren of the prefork master (its other children have none)."""
    return sorted(worker for child in children(server.proc.pid) for worker in children(child))


def gevent_child(server: ServerProcess) -> int:
    return next(pid for pid in children(server.proc.pid) if "devshell.server.modes.gevent_entry" in cmdline(pid))


def prefork(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
    """A ready prefork server (ports 0) whose first two workers are up."""
    server = ServerProcess("--gevent-port", "0", *args, env=env).wait_ready()
    eventually(lambda: len(workers(server)) >= 2, message="workers never started:\n" + server.output)
    return server


def longpolling_url(server: ServerProcess) -> str:
    """The gevent process's URL, from the prefork master's startup report."""
    return server.wait_for_line(r"long polling: (http://\S+?)/ ").group(1)


def publish(db: str, channel: str, message: Any) -> float:
    """Send one bus message from a separate connection; the commit time."""
    import devshell

    env = devshell.connect(db)
    try:
        env.bus.send(channel, message)
        committed = time.monotonic()
        env.commit()
        return committed
    finally:
        env.close()
