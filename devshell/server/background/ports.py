"""Who listens on a TCP port: the answer a "port in use" error needs to be actionable.

Linux keeps listening sockets in ``/proc/net/tcp{,6}`` (state ``0A``) with their
inode; a process holds the socket when one of its ``/proc/PID/fd`` links reads
``socket:[INODE]``. Processes of other users cannot be looked into without
privileges, so ``ss -ltnp`` is asked as well when it is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN = "0A"
_SS_PROCESS = re.compile(r'\("([^"]*)",pid=(\d+),fd=\d+\)')


@dataclass(frozen=True)
class PortHolder:
    """A process that holds a listening socket."""

    pid: int
    command: str

    def describe(self) -> str:
        mine = " (this process)" if self.pid == os.getpid() else ""
        return f"pid {self.pid}{mine}: {self.command}" if self.command else f"pid {self.pid}{mine}"


def listening_inodes(port: int | None = None) -> dict[int, int]:
    """Inode -> port of every listening TCP socket (on *port* only, when given)."""
    found: dict[int, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != TCP_LISTEN:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if port is None or local_port == port:
                found[int(fields[9])] = local_port
    return found


def socket_inodes(pid: int | str = "self") -> set[int]:
    """The inodes of the sockets process *pid* has open (empty when we may not look)."""
    inodes: set[int] = set()
    fd_dir = PROC / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listening_ports(pid: int | str = "self") -> set[int]:
    """The TCP ports process *pid* listens on."""
    listening = listening_inodes()
    return {listening[inode] for inode in socket_inodes(pid) if inode in listening}


def _command_line(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:200]


def port_holders(port: int) -> list[PortHolder]:
    """The processes listening on TCP *port* that we can find."""
    wanted = set(listening_inodes(port))
    holders: dict[int, PortHolder] = {}
    if wanted:
        for entry in PROC.iterdir():
            if entry.name.isdigit() and socket_inodes(entry.name) & wanted:
                pid = int(entry.name)
                holders[pid] = PortHolder(pid, _command_line(pid))
    if not holders:
        for pid, name in _ss_holders(port):
            holders[pid] = PortHolder(pid, _command_line(pid) or name)
    return sorted(holders.values(), key=lambda holder: holder.pid)


def _ss_holders(port: int) -> list[tuple[int, str]]:
    """``ss -ltnp`` for *port*: (pid, process name) pairs, when ss is installed and allowed to tell."""
    ss = shutil.which("ss")
    if ss is None:
        return []
    try:
        output = subprocess.run([ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True,
                                timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [(int(pid), name) for name, pid in _SS_PROCESS.findall(output)]


def describe_port_user(port: int) -> str:
    """"pid 1234: python -m http.server" (several joined by "; "), or a hint when nobody can be named."""
    holders = port_holders(port)
    if holders:
        return "; ".join(holder.describe() for holder in holders)
    if listening_inodes(port):
        return "a process devshell may not look into (another user's: try `sudo ss -ltnp`)"
    return "a process that already released it, or a connection in TIME_WAIT"
