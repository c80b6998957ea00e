"""Where the embedded cluster lives, and the account it belongs to.

PostgreSQL refuses to run as root, so when devshell runs as root the cluster
belongs to an unprivileged account (``embedded_os_user``, ``postgres`` by
default: :class:`RunAs`). Its folder is ``<data_dir>/pg`` when that account can
reach it, else a fixed folder in the temp dir (:class:`ClusterHome`). Folders and
private files are made for that account without following a symbolic link or
taking over another account's folder planted at a predictable path in /tmp.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from ..console import warn
from ..errors import DevshellError

SOCKET_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes on Linux, fewer elsewhere


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


class ClusterHome:
    """The folder of a data dir's cluster (:attr:`root`), its socket folder, and how things are made in them."""

    def __init__(self, data_dir: Path, run_as: RunAs) -> None:
        self.data_dir = data_dir
        self.run_as = run_as
        self.root = self._choose_root()

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

    def warn_in_temp(self) -> None:
        """Say that the cluster's data is in the temp dir, which a reboot may empty, and how to avoid it."""
        if self.in_temp:
            warn(f"the embedded PostgreSQL of {self.data_dir} keeps its data in {self.root}: the account "
                 f"{self.run_as.name!r} that runs it cannot enter {self.data_dir}; a temp folder may be emptied "
                 "at reboot, so give that account access (chmod o+x on the folders above) or set data_dir")

    @property
    def socket_dir(self) -> Path:
        folder = self.root / "run"
        if len(str(folder)) + len("/.s.PGSQL.65535") <= SOCKET_PATH_MAX:
            return folder
        return _temp_dir() / f"devshell-{_digest(str(self.root))}"

    def write_private(self, path: Path, text: str) -> None:
        """Write *path* afresh (mode 0600, the cluster's account), never through a symbolic link planted there."""
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            if not self.run_as.is_self:
                os.fchown(handle.fileno(), self.run_as.uid, self.run_as.gid)

    def makedirs(self, path: Path, mode: int = 0o700) -> None:
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


def _temp_dir() -> Path:
    import tempfile

    return Path(tempfile.gettempdir())


def _digest(key: str) -> str:
    """A short, stable name for *key* (socket folders, clusters of unreachable data dirs)."""
    import hashlib

    return hashlib.sha1(key.encode()).hexdigest()[:12]
