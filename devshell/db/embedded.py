"""The embedded PostgreSQL cluster: a private server under the project's data dir.

It is built from the PostgreSQL binaries already on the machine (:mod:`.binaries`),
started on demand, reused across runs and keeps its data. When devshell runs as
root, the cluster belongs to an unprivileged account, and its folder may sit in
the temp dir (:mod:`.cluster_home`).

Layout under ``<data_dir>/pg`` (owned by the account running the server)::

    data/         PGDATA
    run/          the unix socket (a short folder in /tmp when the path is too long)
    server.log    PostgreSQL's log
    cluster.json  superuser, password (for TCP clients) and the port in use
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..config import Config
from ..errors import DevshellError
from .binaries import find_bindir
from .cluster_home import ClusterHome, RunAs
from .connection import ServerAddress
from .postmaster import alive, is_postmaster_of, pid_in, works_in

if TYPE_CHECKING:
    import subprocess

# Only the reading side (status, address) is on every command's path: the modules that
# initialise, start and stop a cluster (subprocess, shutil, secrets…) are imported there.

SUPERUSER = "devshell"


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    pid: int | None
    port: int | None
    root: Path

    def describe(self) -> str:
        if not self.running:
            return f"embedded PostgreSQL: stopped ({self.root})"
        return f"embedded PostgreSQL: running, pid {self.pid}, port {self.port} ({self.root})"


class EmbeddedCluster:
    """A private PostgreSQL cluster under a devshell data dir."""

    def __init__(self, data_dir: str | os.PathLike[str], *, bindir: str | None = None,
                 os_user: str = "postgres") -> None:
        self.data_dir = Path(data_dir).absolute()
        self._configured_bindir = bindir
        self.home = ClusterHome(self.data_dir, RunAs.for_cluster(os_user))

    @classmethod
    def from_config(cls, config: Config) -> "EmbeddedCluster":
        return cls(config.data_dir, bindir=config["pg_bindir"], os_user=config["embedded_os_user"])

    @property
    def run_as(self) -> RunAs:
        """The account the cluster's processes run under."""
        return self.home.run_as

    @property
    def root(self) -> Path:
        """The cluster's folder: ``<data_dir>/pg``, or one in the temp dir (see :class:`ClusterHome`)."""
        return self.home.root

    # -- paths ---------------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @property
    def meta_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def socket_dir(self) -> Path:
        return self.home.socket_dir

    @property
    def bindir(self) -> Path:
        return find_bindir(self._configured_bindir)

    @property
    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").is_file() and self.meta_file.is_file()

    def _meta(self) -> dict[str, object]:
        return json.loads(self.meta_file.read_text())

    def _write_meta(self, meta: dict[str, object]) -> None:
        tmp = self.meta_file.with_suffix(".tmp")
        self.home.write_private(tmp, json.dumps(meta, indent=2))
        tmp.replace(self.meta_file)

    # -- helpers -------------------------------------------------------------------------
    def _run(self, *args: str, input: str | None = None, timeout: float = 120,
             new_session: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a server binary as the cluster's account, with a clean, fixed environment."""
        import subprocess

        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        if not self.run_as.is_self:
            env["HOME"] = str(self.root)
        user: int | None = None
        group: int | None = None
        extra_groups: list[int] | None = None
        if not self.run_as.is_self:
            user, group, extra_groups = self.run_as.uid, self.run_as.gid, []
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]], input=input, capture_output=True, text=True,
            env=env, cwd=str(self.root), timeout=timeout, start_new_session=new_session,
            user=user, group=group, extra_groups=extra_groups,
        )

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise init/start/stop between devshell processes sharing this data dir."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.data_dir / ".pg.lock", "a")
        except OSError as exc:
            raise DevshellError(
                f"the data dir {self.data_dir} is not writable ({exc.strerror}): "
                "set DEVSHELL_DATA_DIR or data_dir to a folder you can write"
            ) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # -- life cycle ----------------------------------------------------------------------
    def init(self) -> None:
        """Create the cluster once; a run killed half way leaves nothing that looks initialised."""
        import secrets
        import shutil

        if self.initialized:
            return
        bindir = self.bindir  # fail early, before any folder is made
        self.home.makedirs(self.root)
        self.home.warn_in_temp()
        if self.pgdata.exists():  # left by an interrupted init
            shutil.rmtree(self.pgdata)
        password = secrets.token_urlsafe(24)
        pwfile = self.root / ".pwfile"
        self.home.write_private(pwfile, password + "\n")
        base = ["initdb", "-D", str(self.pgdata), "-U", SUPERUSER, "--auth-local=trust",
                "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8"]
        try:
            result = self._run(*base, "--locale=C.UTF-8")
            if result.returncode != 0:
                shutil.rmtree(self.pgdata, ignore_errors=True)
                result = self._run(*base, "--locale=C")
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise DevshellError(f"initdb ({bindir}) failed: {last}")
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write("\n# devshell: settings rewritten at each start\ninclude_if_exists = 'devshell.conf'\n")
        self._write_meta({"superuser": SUPERUSER, "password": password, "port": None})

    def status(self) -> ClusterStatus:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return ClusterStatus(False, None, None, self.root)
        if not is_postmaster_of(pid, self.pgdata):  # gone, or its pid now belongs to another process
            return ClusterStatus(False, None, None, self.root)
        return ClusterStatus(True, pid, port, self.root)

    def _clear_stale_locks(self) -> None:
        """Remove lock files naming a pid that another program now has (before a start, under our lock).

        After a crash or a reboot the pid in ``postmaster.pid`` (and in the socket's
        lock file) may belong to an unrelated live process, and PostgreSQL then
        refuses to start. A dead pid is left to PostgreSQL, which also checks its
        shared memory; so is any case where a process still works in the data dir
        (a server's surviving backend).
        """
        pid_file = self.pgdata / "postmaster.pid"
        pid = pid_in(pid_file)
        if pid is None or not alive(pid) or is_postmaster_of(pid, self.pgdata) or works_in(self.pgdata):
            return
        pid_file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
                if pid_in(lock) == pid:
                    lock.unlink(missing_ok=True)

    def start(self) -> ClusterStatus:
        """Start the server; a second start while it runs is an error (use :meth:`ensure_running`)."""
        with self._lock():
            current = self.status()
            if current.running:
                raise DevshellError(
                    f"the embedded PostgreSQL server is already running (pid {current.pid}, port {current.port})"
                )
            return self._start()

    def ensure_running(self) -> ClusterStatus:
        """Start the server if needed (on demand) and return its status."""
        current = self.status()
        if current.running:
            return current
        with self._lock():
            current = self.status()
            return current if current.running else self._start()

    def _start(self) -> ClusterStatus:
        if self.initialized:
            self.home.makedirs(self.root)  # checked again at each start: ownership, no link
            self.home.warn_in_temp()
        self.init()
        meta = self._meta()
        port = meta.get("port")
        if not isinstance(port, int) or not _port_free(port):
            port = _free_port()
        socket_dir = self.socket_dir
        self.home.makedirs(socket_dir)
        settings = {
            "port": str(port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(socket_dir),
            "synchronous_commit": "off",
            "max_connections": "200",
        }
        conf = self.pgdata / "devshell.conf"
        self.home.write_private(conf, "".join(f"{k} = '{v.replace(chr(39), chr(39) * 2)}'\n"
                                              for k, v in settings.items()))
        if not self.logfile.is_file():
            self.home.write_private(self.logfile, "")
        self._clear_stale_locks()
        result = self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.logfile), "-w", "-t", "60",
                           "start", new_session=True)
        if result.returncode != 0:
            raise DevshellError(f"the embedded PostgreSQL server did not start: {self._last_log_line()}")
        meta["port"] = port
        self._write_meta(meta)
        return self.status()

    def stop(self) -> bool:
        """Stop the server (fast shutdown); False when it was not running."""
        with self._lock():
            if not self.status().running:
                return False
            result = self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop")
            if result.returncode != 0:
                raise DevshellError(f"the embedded PostgreSQL server did not stop: {result.stderr.strip()}")
            return True

    def _last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = [line for line in self.logfile.read_text(errors="replace").splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return "see " + str(self.logfile)

    # -- clients -------------------------------------------------------------------------
    def address(self, tcp: bool = False) -> ServerAddress:
        """How clients reach the running cluster: the unix socket, or loopback TCP with a password."""
        meta = self._meta()
        status = self.status()
        recorded = meta.get("port")
        port = status.port or (recorded if isinstance(recorded, int) else None)
        if tcp:
            return ServerAddress(host="127.0.0.1", port=port, user=SUPERUSER,
                                 password=str(meta["password"]), embedded=True)
        return ServerAddress(host=str(self.socket_dir), port=port, user=SUPERUSER, embedded=True)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
