"""Conditions checked before devshell does real work (seed: the server's startup checks).

Each check is a small function so the CLI, the servers and the notebook API can
call exactly the ones they need.
"""

from __future__ import annotations

import csv
import errno
import os
import time
from pathlib import Path
from types import TracebackType

from .console import warn
from .errors import DevshellError, UsageError

CSV_FIELD_SIZE_LIMIT = 500 * 1024 * 1024
REFUSED_DB_USER = "postgres"


def force_utc() -> None:
    """Run the process in UTC so timestamps never depend on the machine's zone."""
    os.environ["TZ"] = "UTC"
    if hasattr(time, "tzset"):
        time.tzset()


def raise_csv_field_limit() -> None:
    """Allow CSV fields up to 500 MiB (module data files can hold large blobs)."""
    csv.field_size_limit(CSV_FIELD_SIZE_LIMIT)


def process_defaults() -> None:
    """The checks every devshell process runs first."""
    force_utc()
    raise_csv_field_limit()


def check_db_user(user: str | None) -> None:
    """Refuse the ``postgres`` superuser: devshell works with a role of its own."""
    if user == REFUSED_DB_USER:
        raise UsageError(
            "refusing to use the database user 'postgres': "
            "create a role of your own (createuser --createdb NAME) and set PGUSER or db_user to it"
        )


def is_loopback(interface: str) -> bool:
    """True for addresses that only this machine can reach."""
    import ipaddress
    import socket

    host = interface.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def check_root(interface: str, allow_root: bool) -> str | None:
    """Apply the root policy to a server about to bind *interface*.

    Returns a warning to show (root on loopback, or allowed explicitly), ``None``
    when not root, and raises when root would serve a reachable address.
    """
    if not is_root():
        return None
    if is_loopback(interface):
        return f"running as root; tolerated because the server only listens on {interface}"
    if allow_root:
        return f"running as root on {interface or 'all interfaces'} (--allow-root)"
    raise DevshellError(
        f"refusing to run as root on {interface or 'all interfaces'}: "
        "run as an unprivileged user, bind 127.0.0.1, or pass --allow-root"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Pidfile:
    """A pidfile written at start and removed at exit; a live one refuses a second start."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.pid: int | None = None

    def read(self) -> int | None:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def create(self, pid: int | None = None) -> None:
        pid = os.getpid() if pid is None else pid
        if not self.path.parent.is_dir():  # a typo must not make folders (as root, anywhere): refuse it
            raise UsageError(f"cannot write the pidfile {self.path}: the folder {self.path.parent} does not exist "
                             "(create it first, or choose another --pidfile)")
        for _attempt in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                other = self.read()
                if other is not None and other != pid and _pid_alive(other):
                    raise DevshellError(
                        f"already running with pid {other} (pidfile {self.path}); stop it first"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            except OSError as exc:
                raise DevshellError(f"cannot write the pidfile {self.path}: {exc.strerror}") from None
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{pid}\n")
            self.pid = pid
            return
        raise DevshellError(f"cannot take the pidfile {self.path}: another process keeps creating it")

    def remove(self) -> None:
        """Remove the file, but only while it still names our process."""
        if self.pid is not None and self.read() == self.pid:
            try:
                self.path.unlink()
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    warn(f"cannot remove {self.path}: {exc.strerror}")
        self.pid = None

    def __enter__(self) -> "Pidfile":
        self.create()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()
