"""A PostgreSQL server seen from outside: is this pid the server of that data dir?

A ``postmaster.pid`` outlives a crash or a reboot, and its pid may then belong to
any other process: a live pid alone does not mean the cluster runs. These checks
read Linux's /proc (elsewhere a live pid is all there is to go on).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def pid_in(lock_file: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file, or None."""
    try:
        return int(lock_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Whether *pid* exists (a process of another account counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def works_in(folder: Path) -> bool:
    """Whether any process we can see has *folder* as its working folder (Linux; False elsewhere)."""
    try:
        target = os.stat(folder)
    except OSError:
        return False
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(cwd), target):
                return True
    return False


def is_postmaster_of(pid: int, pgdata: Path) -> bool:
    """Whether *pid* is a running PostgreSQL server of *pgdata* (a live pid alone may be a reused one).

    The postmaster works in its data dir (it changes into it at start), which
    ``/proc/PID/cwd`` shows; where /proc is missing (not Linux) a live pid counts.
    """
    if not alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").is_dir():
        return True
    try:
        here = os.stat(proc / "cwd")
    except FileNotFoundError:
        return False
    except PermissionError:  # another account's process: its command line is readable
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            return True
        return os.fsencode(str(pgdata)) in arguments
    try:
        return os.path.samestat(here, os.stat(pgdata))
    except OSError:
        return False
