"""PostgreSQL LISTEN for a whole server process: one thread, one connection per database.

The LISTEN connections go to the server's direct address (``db_direct_host``),
never through a transaction pooler, which would hand the listening session to
other clients between statements and lose the notifications.

Long-polling requests and cron threads register a :class:`Waiter` *before* they
look at the table they care about, then sleep on it; a NOTIFY on ``devshell_bus``
or ``devshell_cron`` wakes the waiters of that database whose keys match the
payload. Registering first means a commit that lands between "look" and "sleep"
still wakes the sleeper.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import DatabaseError

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from ..db.connection import ServerAddress

logger = logging.getLogger(__name__)

PG_CHANNELS = ("devshell_bus", "devshell_cron", "devshell_module")  # bus, cron, deployed modules
IDLE_WAKEUP = 30.0
Housekeeping = Callable[[str, "PgConnection"], None]


class Waiter:
    """Woken when a NOTIFY on *channel* of *db* carries one of *keys* (any payload when keys is None)."""

    def __init__(self, listener: "Listener", db: str, channel: str, keys: Iterable[str] | None,
                 event: threading.Event | None = None) -> None:
        self.listener = listener
        self.db = db
        self.channel = channel
        self.keys = None if keys is None else frozenset(keys)
        self.woken_at = 0.0  #: time.monotonic() of the last wake-up (a read started later sees its commit)
        self._event = event or threading.Event()  # shared when one thread waits on several databases

    def matches(self, payload: str) -> bool:
        return self.keys is None or not payload or payload in self.keys

    def wake(self) -> None:
        self.woken_at = time.monotonic()
        self._event.set()

    def wait(self, timeout: float | None) -> bool:
        """Sleep until woken or *timeout*; True when woken. Returns at once once the listener closed."""
        if not self.listener.closed:
            try:
                self.listener.listen(self.db)  # again, if its connection was lost meanwhile
            except DatabaseError:
                pass  # the database is unreachable: sleeping out the timeout is all we can do
        woken = self.listener.closed or self._event.wait(timeout)
        self._event.clear()
        return woken

    def __enter__(self) -> "Waiter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.unregister(self)


class Listener:
    """The process's LISTEN connections and the thread that reads them."""

    def __init__(self, address: "ServerAddress", *, housekeeping: Housekeeping | None = None,
                 housekeeping_interval: float = 600.0) -> None:
        self.address = address
        self.closed = False
        self._housekeeping = housekeeping
        self._housekeeping_interval = housekeeping_interval
        self._last_housekeeping: dict[str, float] = {}
        self._lock = threading.Lock()
        self._conns: dict[str, PgConnection] = {}
        self._waiters: dict[tuple[str, str], set[Waiter]] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None

    def waiter(self, db: str, channel: str, keys: Iterable[str] | None = None, *,
               event: threading.Event | None = None) -> Waiter:
        """Register a waiter (use it as a context manager so it is unregistered)."""
        if channel not in PG_CHANNELS:
            raise ValueError(f"not a devshell notification channel: {channel!r}")
        self.listen(db)
        waiter = Waiter(self, db, channel, keys, event)
        with self._lock:
            self._waiters.setdefault((db, channel), set()).add(waiter)
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        with self._lock:
            group = self._waiters.get((waiter.db, waiter.channel))
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[(waiter.db, waiter.channel)]

    def listen(self, db: str) -> None:
        """Make sure *db* is listened to before returning (connecting in the caller's thread)."""
        if db in self._conns:
            return
        if self.closed:
            raise DatabaseError("the server is stopping")
        from ..db.connection import connect

        conn = connect(self.address.direct, db, autocommit=True)  # a transaction pooler would drop NOTIFYs
        with conn.cursor() as cr:
            for channel in PG_CHANNELS:
                cr.execute(f"LISTEN {channel}")  # constant names, nothing from a user
        with self._lock:
            if db in self._conns or self.closed:
                conn.close()
                return
            self._conns[db] = conn
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="devshell-listener", daemon=True)
                self._thread.start()
        self._poke()

    def wake_all(self) -> None:
        with self._lock:
            waiters = [waiter for group in self._waiters.values() for waiter in group]
        for waiter in waiters:
            waiter.wake()

    def close(self) -> None:
        """Stop the thread, close the connections and wake every waiter (they return at once)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            thread = self._thread
        self._poke()
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()
        self.wake_all()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- the listening thread ----------------------------------------------------------------------

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a wake-up is pending anyway) or closed

    def _run(self) -> None:
        while not self.closed:
            with self._lock:
                conns = dict(self._conns)
            try:
                watched: list[Any] = [self._wake_r, *conns.values()]  # psycopg2 connections have fileno()
                readable, _, _ = select.select(watched, [], [], IDLE_WAKEUP)
            except Exception:  # a connection closed under us: forget it, look again
                for db, conn in conns.items():
                    if conn.closed:
                        self._drop(db, conn)
                continue
            if self._wake_r in readable:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except (BlockingIOError, OSError):
                    pass
            for db, conn in conns.items():
                if conn in readable:
                    self._read(db, conn)
            self._tidy(conns)

    def _read(self, db: str, conn: "PgConnection") -> None:
        import psycopg2

        try:
            conn.poll()
        except psycopg2.Error as exc:
            logger.warning("lost the LISTEN connection to %s (%s); reconnecting on the next wait", db,
                            str(exc).strip())
            self._drop(db, conn)
            return
        notifies, conn.notifies[:] = list(conn.notifies), []
        for notify in notifies:
            self._dispatch(db, notify.channel, notify.payload)

    def _dispatch(self, db: str, channel: str, payload: str) -> None:
        with self._lock:
            waiters = [waiter for waiter in self._waiters.get((db, channel), ()) if waiter.matches(payload)]
        for waiter in waiters:
            waiter.wake()

    def _drop(self, db: str, conn: "PgConnection") -> None:
        with self._lock:
            if self._conns.get(db) is conn:
                del self._conns[db]
            waiters = [w for (name, _), group in self._waiters.items() if name == db for w in group]
        conn.close()
        for waiter in waiters:  # they look again, and listen again through a new connection
            waiter.wake()

    def _tidy(self, conns: dict[str, "PgConnection"]) -> None:
        if self._housekeeping is None:
            return
        now = time.monotonic()
        for db, conn in conns.items():
            if now - self._last_housekeeping.get(db, 0.0) < self._housekeeping_interval:
                continue
            self._last_housekeeping[db] = now
            try:
                self._housekeeping(db, conn)
            except Exception as exc:  # housekeeping must never stop the listener
                logger.warning("housekeeping on %s failed: %s", db, exc)
