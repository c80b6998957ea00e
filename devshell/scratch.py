"""Private scratch folders that a killed process does not leave behind for good.

A :func:`scratch_folder` is removed when its block ends, whatever the reason. A
process killed with SIGKILL cannot do that, so the folder is locked (``flock``
on the folder itself) for as long as its process lives, and every new scratch
folder of the same prefix first removes the ones nobody holds any more: the
next deploy cleans up what a killed one left in ``/tmp``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator


def _open_locked(path: Path, *, wait: bool) -> int | None:
    """A descriptor of the folder *path* holding its exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def remove_abandoned(prefix: str, parent: Path) -> list[Path]:
    """Remove our folders ``parent/prefix*`` whose process is gone (nobody holds their lock)."""
    removed = []
    for candidate in parent.glob(prefix + "*"):
        try:
            info = candidate.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue  # not ours, or not a folder (a symlink is never followed)
            fd = _open_locked(candidate, wait=False)
        except OSError:
            continue
        if fd is None:
            continue  # in use
        try:
            if os.path.samestat(os.fstat(fd), candidate.lstat()):
                shutil.rmtree(candidate, ignore_errors=True)
                removed.append(candidate)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def scratch_folder(prefix: str, parent: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """A new private folder ``parent/prefix<random>`` (default parent: the temp dir), removed after the block."""
    where = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    remove_abandoned(prefix, where)
    # Made under another name, locked, then renamed: a sweeper never sees it unlocked.
    making = Path(tempfile.mkdtemp(prefix=f".{prefix}", dir=where))
    fd = _open_locked(making, wait=True)
    assert fd is not None
    try:
        path = where / (prefix + making.name[len(prefix) + 1:])
        os.rename(making, path)
    except BaseException:
        os.close(fd)
        shutil.rmtree(making, ignore_errors=True)
        raise
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
