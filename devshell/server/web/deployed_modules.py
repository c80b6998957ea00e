"""Deployed modules on this machine: the archives stored in the databases, unpacked under ``<data_dir>/addons``.

The database is the source of truth (``devshell_module_archive``). Every server
process runs a :class:`DeployWatcher`: it listens for ``NOTIFY devshell_module``
on the databases it was told to serve (``-d``) and on those holding deployed
modules, looks at all it serves every minute, unpacks archives whose
sha256 differs from the copy in its data dir (once per data dir, under a file
lock, swapped in by rename), then makes its application load the new code. Two
machines each with their own data dir thus end up serving the same modules.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ...errors import DevshellError
from .module_archive import extract_archive, inspect_archive

if TYPE_CHECKING:
    from .application import Root

logger = logging.getLogger(__name__)

PG_CHANNEL = "devshell_module"
ARCHIVE_TABLE = "devshell_module_archive"
RESYNC_SECONDS = 60.0
UNLIMITED = 1 << 62


def stored_archives(cr: Any) -> dict[str, str]:
    """{module name: sha256} of the archives stored in the database ({} before any deploy)."""
    cr.execute("SELECT to_regclass(%s) IS NOT NULL", (ARCHIVE_TABLE,))
    if not cr.fetchone()[0]:
        return {}
    cr.execute("SELECT name, sha256 FROM devshell_module_archive ORDER BY name")
    return {name: sha for name, sha in cr.fetchall()}


def fetch_archive(cr: Any, name: str) -> bytes:
    cr.execute("SELECT archive FROM devshell_module_archive WHERE name = %s", (name,))
    return bytes(cr.fetchone()[0])


class DeployedFolder:
    """``<data_dir>/addons`` (the last entry of the addons path) and its bookkeeping in ``<data_dir>/deployed``."""

    def __init__(self, data_dir: Path) -> None:
        self.addons = data_dir / "addons"
        self.state = data_dir / "deployed"
        self.index_file = self.state / "index.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise the processes sharing this data dir (prefork workers, several servers)."""
        self.state.mkdir(parents=True, exist_ok=True)
        with (self.state / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def index(self) -> dict[str, str]:
        """{module name: sha256} of the modules unpacked here."""
        try:
            data = json.loads(self.index_file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_index(self, index: dict[str, str]) -> None:
        temporary = self.index_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(index, indent=1, sort_keys=True))
        os.replace(temporary, self.index_file)

    def unpack(self, name: str, sha: str, data: bytes) -> bool:
        """Put the archive's module in place unless this data dir has it already; True when it changed."""
        with self.locked():
            index = self.index()
            if index.get(name) == sha and (self.addons / name).is_dir():
                return False
            archive = inspect_archive(data, max_bytes=UNLIMITED, max_unpacked=UNLIMITED)  # checked again
            if archive.name != name:
                raise DevshellError(f"the archive stored for module {name!r} holds {archive.name!r}")
            staging = Path(tempfile.mkdtemp(prefix="incoming-", dir=self.state))
            try:
                fresh = extract_archive(archive, staging)
                self.addons.mkdir(parents=True, exist_ok=True)
                current = self.addons / name
                if current.exists():
                    current.rename(staging / "previous")
                fresh.rename(current)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            index[name] = sha
            self._write_index(index)
            return True


class DeployWatcher:
    """Keeps one server process's deployed modules in step with its databases."""

    def __init__(self, app: "Root") -> None:
        self.app = app
        self.folder = DeployedFolder(app.config.data_dir)
        self.loaded = self.folder.index()  #: what this process's modules were (or will first be) loaded from
        self.deployed_to: set[str] = set()  #: databases holding deployed modules: listened to
        self._sync_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="devshell-deploy-watcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def candidates(self) -> list[str]:
        """The databases this process serves (``-d``, else every database the filter lets through)."""
        try:
            return self.app.cron_databases()
        except DevshellError as exc:
            logger.warning("deployed modules not checked: %s", exc.message)
            return []

    def sync(self, dbs: Iterable[str] | None = None) -> list[str]:
        """Unpack what the databases hold and this data dir lacks; reload the application if this process's
        modules changed. Returns the names of the modules reloaded."""
        import psycopg2

        from ...db.connection import connect
        from ...modules.loader import forget_module

        with self._sync_lock:
            stored: dict[str, str] = {}
            for db in self.candidates() if dbs is None else dbs:
                try:  # a short connection: no pool left behind on databases nobody deploys to
                    conn = connect(self.app.address, db, autocommit=True)
                    try:
                        with conn.cursor() as cr:
                            archives = stored_archives(cr)
                            for name, sha in archives.items():
                                if name in stored:  # the first database (by name) wins on this machine
                                    if stored[name] != sha:
                                        logger.warning("module %s is deployed differently in %s: kept the "
                                                        "other", name, db)
                                    continue
                                stored[name] = sha
                                if self.folder.index().get(name) != sha and self.folder.unpack(
                                        name, sha, fetch_archive(cr, name)):
                                    logger.info("deployed module %s unpacked from %s", name, db)
                    finally:
                        conn.close()
                except (DevshellError, psycopg2.Error, OSError) as exc:
                    logger.warning("deployed modules of %s not synced: %s", db,
                                    getattr(exc, "message", None) or exc)
                    continue
                if archives:
                    self.deployed_to.add(db)
            changed = sorted(name for name, sha in stored.items() if self.loaded.get(name) != sha)
            if changed:
                for name in changed:
                    forget_module(name)
                    self.loaded[name] = stored[name]
                logger.info("reloading modules: %s deployed", ", ".join(changed))
                self.app.reload()
            return changed

    def _listen(self, waiters: dict[str, Any]) -> bool:
        """LISTEN on the databases named with ``-d`` and those with deployed modules; True if any is new.

        Other databases are looked at every RESYNC_SECONDS only: a LISTEN connection
        to every database of a shared server would not scale.
        """
        added = False
        for db in [*self.app.databases.names, *sorted(self.deployed_to)]:
            if db not in waiters:
                try:
                    waiters[db] = self.app.listener.waiter(db, PG_CHANNEL, event=self._wake)
                    added = True
                except DevshellError:
                    continue
        return added

    def _run(self) -> None:
        waiters: dict[str, Any] = {}
        try:
            self._listen(waiters)  # registered before looking, so a deploy from now on wakes us
            while not self._stop.is_set():
                self.sync()
                if self._listen(waiters) and not self._stop.is_set():
                    self.sync(list(waiters))  # what was deployed while we were not listening yet
                self._wake.wait(RESYNC_SECONDS)
                self._wake.clear()
        except Exception:  # never take the server down; the next start tries again
            logger.exception("the deployed-modules watcher stopped")
        finally:
            for waiter in waiters.values():
                waiter.listener.unregister(waiter)
