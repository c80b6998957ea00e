"""The embedded PostgreSQL cluster: a private server under the project's data dir.

It is built from the PostgreSQL binaries already on the machine, started on
demand, reused across runs and keeps its data. PostgreSQL refuses to run as
root, so when devshell runs as root the cluster belongs to an unprivileged
account (``embedded_os_user``, ``postgres`` by default).

Layout under ``<data_dir>/pg`` (owned by the account running the server)::

    data/         PGDATA
    run/          the unix socket (a short folder in /tmp when the path is too long)
    server.log    PostgreSQL's log
    cluster.json  superuser, password (for TCP clients) and the port in use
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pwd
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..config import Config
from ..console import warn
from ..errors import DevshellError
from .connection import ServerAddress
from .postmaster import alive, is_postmaster_of, pid_in, works_in

if TYPE_CHECKING:
    import subprocess

# Only the reading side (status, address) is on every command's path: the modules that
# initialise, start and stop a cluster (subprocess, shutil, secrets…) are imported there.

SUPERUSER = "devshell"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
SOCKET_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes on Linux, fewer elsewhere
INSTALL_HINT = (
    "install them (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; "
    "macOS: brew install postgresql) or set pg_bindir / DEVSHELL_PG_BINDIR to their folder"
)


def _has_server_binaries(folder: str | os.PathLike[str]) -> bool:
    return all(os.access(os.path.join(folder, name), os.X_OK) for name in REQUIRED_BINARIES)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def find_bindir(configured: str | None = None) -> Path:
    """Locate initdb/pg_ctl/postgres: configured folder, PATH, ``pg_config --bindir``, Debian's layout."""
    import glob
    import shutil
    import subprocess

    if configured:
        if _has_server_binaries(configured):
            return Path(configured)
        raise DevshellError(f"PostgreSQL server binaries not found in pg_bindir {configured}: {INSTALL_HINT}")
    candidates: list[str] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(os.path.dirname(os.path.realpath(on_path)))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(out.stdout.strip())
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
                    "/opt/homebrew/opt/postgresql*/bin", "/usr/local/opt/postgresql*/bin"):
        candidates.extend(sorted(glob.glob(pattern), key=_version_key, reverse=True))
    for folder in candidates:
        if folder and _has_server_binaries(folder):
            return Path(folder)
    raise DevshellError(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}")


@dataclass(frozen=True)
class RunAs:
    """The account the cluster's processes run under."""

    uid: int
    gid: int
    name: str

    @classmethod
    def for_cluster(cls, os_user: str) -> "RunAs":
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            return cls(entry.pw_uid, entry.pw_gid, entry.pw_name)
        try:
            entry = pwd.getpwnam(os_user)
        except KeyError:
            raise DevshellError(
                f"devshell runs as root, and PostgreSQL refuses root: the account {os_user!r} that should run "
                "the embedded cluster does not exist; create it (useradd --system postgres) "
                "or set embedded_os_user / DEVSHELL_EMBEDDED_OS_USER"
            ) from None
        if entry.pw_uid == 0:
            raise DevshellError(f"embedded_os_user {os_user!r} is root; name an unprivileged account")
        return cls(entry.pw_uid, entry.pw_gid, entry.pw_name)

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    def can_reach(self, path: Path) -> bool:
        """Whether this account may traverse every folder above *path*."""
        if self.is_self:
            return True
        groups = set(os.getgrouplist(self.name, self.gid))
        for folder in list(path.parents)[::-1]:
            try:
                st = folder.stat()
            except FileNotFoundError:
                return True  # devshell creates the rest, traversable (0o755 or 0o700 owned by the account)
            except OSError:
                return False
            if st.st_uid == self.uid:
                ok = st.st_mode & stat.S_IXUSR
            elif st.st_gid in groups:
                ok = st.st_mode & stat.S_IXGRP
            else:
                ok = st.st_mode & stat.S_IXOTH
            if not ok:
                return False
        return True


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
        self.run_as = RunAs.for_cluster(os_user)
        self.root = self._choose_root()

    @classmethod
    def from_config(cls, config: Config) -> "EmbeddedCluster":
        return cls(config.data_dir, bindir=config["pg_bindir"], os_user=config["embedded_os_user"])

    def _choose_root(self) -> Path:
        preferred = self.data_dir / "pg"
        if self.run_as.can_reach(preferred):
            return preferred
        # Root in a folder the cluster's account cannot enter (e.g. under /root): keep the
        # cluster in a fixed place derived from the data dir, so it is still found and reused.
        # Its parent folder belongs to root and only root writes there (see _secure_parent).
        return _temp_dir() / f"devshell-pg-{self.run_as.name}" / _digest(str(self.data_dir))

    @property
    def in_temp(self) -> bool:
        """True when the cluster lives in the temp dir, because its account cannot reach the data dir."""
        return self.root != self.data_dir / "pg"

    def _warn_in_temp(self) -> None:
        if self.in_temp:
            warn(f"the embedded PostgreSQL of {self.data_dir} keeps its data in {self.root}: the account "
                 f"{self.run_as.name!r} that runs it cannot enter {self.data_dir}; a temp folder may be emptied "
                 "at reboot, so give that account access (chmod o+x on the folders above) or set data_dir")

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
        folder = self.root / "run"
        if len(str(folder)) + len("/.s.PGSQL.65535") <= SOCKET_PATH_MAX:
            return folder
        return _temp_dir() / f"devshell-{_digest(str(self.root))}"

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
        self._write_private(tmp, json.dumps(meta, indent=2))
        tmp.replace(self.meta_file)

    # -- helpers -------------------------------------------------------------------------
    def _chown(self, path: Path) -> None:
        if not self.run_as.is_self:
            os.chown(path, self.run_as.uid, self.run_as.gid, follow_symlinks=False)

    def _write_private(self, path: Path, text: str) -> None:
        """Write *path* afresh (mode 0600, the cluster's account), never through a symbolic link planted there."""
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            if not self.run_as.is_self:
                os.fchown(handle.fileno(), self.run_as.uid, self.run_as.gid)

    def _makedirs(self, path: Path, mode: int = 0o700) -> None:
        """Create *path* (and the data dir above it) for the cluster's account, never through a symbolic link."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self.in_temp:
                _secure_parent(self.root.parent)
            path.mkdir(parents=True, exist_ok=True, mode=mode)
            self._claim(path, mode)
        except OSError as exc:
            raise DevshellError(
                f"the data dir {self.data_dir} is not writable ({exc.strerror}): "
                "set DEVSHELL_DATA_DIR or data_dir to a folder you can write"
            ) from None

    def _claim(self, path: Path, mode: int) -> None:
        """Give the folder *path* its mode and the cluster's account, refusing a link or another account's folder.

        The folder is opened without following links and changed through that
        descriptor, so a link planted at a predictable path in /tmp cannot make
        root chmod or chown something else.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise DevshellError(f"{path} is not a folder (a symbolic link or a file): remove it; devshell "
                                    "never changes the owner of what a link points to") from None
            raise
        try:
            owner = os.fstat(fd).st_uid
            if owner not in (os.geteuid(), self.run_as.uid):
                raise DevshellError(f"{path} belongs to another account (uid {owner}): remove it, or set data_dir "
                                    "to a folder the embedded cluster can own")
            os.fchmod(fd, mode)
            if not self.run_as.is_self:
                os.fchown(fd, self.run_as.uid, self.run_as.gid)
        finally:
            os.close(fd)

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
        self._makedirs(self.root)
        self._warn_in_temp()
        if self.pgdata.exists():  # left by an interrupted init
            shutil.rmtree(self.pgdata)
        password = secrets.token_urlsafe(24)
        pwfile = self.root / ".pwfile"
        self._write_private(pwfile, password + "\n")
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
            self._makedirs(self.root)  # checked again at each start: ownership, no link
            self._warn_in_temp()
        self.init()
        meta = self._meta()
        port = meta.get("port")
        if not isinstance(port, int) or not _port_free(port):
            port = _free_port()
        socket_dir = self.socket_dir
        self._makedirs(socket_dir)
        settings = {
            "port": str(port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(socket_dir),
            "synchronous_commit": "off",
            "max_connections": "200",
        }
        conf = self.pgdata / "devshell.conf"
        self._write_private(conf, "".join(f"{k} = '{v.replace(chr(39), chr(39) * 2)}'\n" for k, v in settings.items()))
        if not self.logfile.is_file():
            self._write_private(self.logfile, "")
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


def _secure_parent(folder: Path) -> None:
    """Make *folder* (the temp dir's ``devshell-pg-<account>``) ours and writable by us alone, or refuse.

    Anyone may create that predictable name in /tmp first: a symbolic link, or a
    folder of their own in which they could swap the cluster's folder for a link.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o755)
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise DevshellError(f"{folder} is not a folder (a symbolic link or a file someone put there): remove it; "
                            "devshell keeps the embedded cluster of an unreachable data dir there")
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise DevshellError(f"{folder} belongs to another account (uid {info.st_uid}) or others may write in it: "
                            "remove it; devshell keeps the embedded cluster of an unreachable data dir there")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchmod(fd, 0o755)  # whatever the umask: the cluster's account passes through
    finally:
        os.close(fd)


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




def _temp_dir() -> Path:
    import tempfile

    return Path(tempfile.gettempdir())


def _digest(key: str) -> str:
    """A short, stable name for *key* (socket folders, clusters of unreachable data dirs)."""
    import hashlib

    return hashlib.sha1(key.encode()).hexdigest()[:12]
