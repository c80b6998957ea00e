"""Bus subscriptions: one thread per process hands new bus messages to every subscriber (WebSocket sessions).

A long poll reads the table itself each time it wakes; a subscriber instead
registers once and is handed the messages of its channels as they commit.
Subscribers of the same database and channels share one :class:`~.listener.Waiter`,
and those that have seen the same last id share one read, so a commit seen by
1,000 sockets of one channel costs one query. Every read goes through
:func:`~.bus.fetch_messages` with the subscriber's own last id, exactly what a
long poll of the same channels asks, so both kinds of client get the same
messages in the same order. Reads and deliveries all happen in the subscription
thread, one after the other: a subscriber's ``last`` never goes back and no
message is handed over twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Iterable

from .bus import MAX_MESSAGES, PG_CHANNEL, fetch_messages

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from .listener import Listener, Waiter

logger = logging.getLogger(__name__)

IDLE_WAKEUP = 30.0  #: the thread looks at its LISTEN connections at least this often
RETRY_AFTER = 1.0  #: after a failed read, the next try

Borrow = Callable[[str], ContextManager["PgConnection"]]  #: db -> a pooled connection, committed after the block


def encode(message: dict[str, Any]) -> str:
    """A bus message as the JSON text a client receives (encoded once, sent to every subscriber)."""
    return json.dumps(message, separators=(",", ":"), default=str)


class Subscriber:
    """One client's subscription: database, channels, the last id handed over, and where messages go.

    *deliver* receives lists of encoded messages (oldest first) in the subscription
    thread: it must not block (a session queues them).
    """

    def __init__(self, db: str, channels: Iterable[str], last: int,
                 deliver: Callable[[list[str]], None]) -> None:
        self.db = db
        self.channels = tuple(sorted(set(channels)))
        self.last = last
        self.deliver = deliver
        self.active = True

    @property
    def topic(self) -> tuple[str, tuple[str, ...]]:
        return self.db, self.channels


class _Topic:
    """The subscribers of one database and channel set, and the waiter that NOTIFY wakes for them."""

    def __init__(self, waiter: "Waiter") -> None:
        self.waiter = waiter
        self.subscribers: set[Subscriber] = set()
        self.read_at = 0.0  #: time.monotonic() when its last read started
        self.stale = False  #: its last read failed: read again soon


class Subscriptions:
    """The subscribers of this process and the thread that feeds them."""

    def __init__(self, listener: "Listener", borrow: Borrow) -> None:
        self.listener = listener
        self._borrow = borrow
        self._lock = threading.Lock()
        self._event = threading.Event()  #: shared by every topic's waiter: one thread waits on all
        self._topics: dict[tuple[str, tuple[str, ...]], _Topic] = {}
        self._new: list[Subscriber] = []
        self._thread: threading.Thread | None = None
        self.closed = False

    def __len__(self) -> int:
        with self._lock:
            return sum(len(topic.subscribers) for topic in self._topics.values())

    def subscribe(self, subscriber: Subscriber) -> None:
        """Hand *subscriber* what it missed (newer than its last id, or the recent ones for 0), then what comes.

        Raises :class:`~devshell.errors.DatabaseError` when the database cannot be listened to.
        """
        self.listener.listen(subscriber.db)  # connects (and may fail) here, not under the lock
        with self._lock:
            if self.closed:
                return
            topic = self._topics.get(subscriber.topic)
            if topic is None:
                waiter = self.listener.waiter(subscriber.db, PG_CHANNEL, subscriber.channels, event=self._event)
                topic = self._topics[subscriber.topic] = _Topic(waiter)
            topic.subscribers.add(subscriber)
            self._new.append(subscriber)  # registered first, read next: a commit in between still wakes us
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="devshell-subscriptions", daemon=True)
                self._thread.start()
        self._event.set()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            subscriber.active = False
            topic = self._topics.get(subscriber.topic)
            if topic is None:
                return
            topic.subscribers.discard(subscriber)
            if not topic.subscribers:
                del self._topics[subscriber.topic]
                self.listener.unregister(topic.waiter)

    def close(self) -> None:
        """Stop the thread (the subscribers themselves are closed by their sessions)."""
        with self._lock:
            self.closed = True
            thread = self._thread
            for topic in self._topics.values():
                self.listener.unregister(topic.waiter)
            self._topics.clear()
        self._event.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # -- the subscription thread ---------------------------------------------------------------------

    def _run(self) -> None:
        timeout = IDLE_WAKEUP
        while True:
            self._event.wait(timeout)
            self._event.clear()
            if self.closed:
                return
            with self._lock:
                new, self._new = self._new, []
                topics = list(self._topics.values())
            retry = self._read([subscriber for subscriber in new if subscriber.active])
            for topic in topics:
                if topic.stale or topic.waiter.woken_at > topic.read_at:
                    self._listen(topic.waiter.db)
                    topic.read_at = time.monotonic()  # before the read: a wake-up during it means read again
                    topic.stale = bool(self._read([subscriber for subscriber in list(topic.subscribers)
                                                   if subscriber.active]))
            if retry:
                with self._lock:
                    self._new.extend(retry)
            timeout = RETRY_AFTER if retry or any(topic.stale for topic in topics) else IDLE_WAKEUP

    def _listen(self, db: str) -> None:
        """LISTEN again when the connection was lost (the listener wakes the waiters of a dropped database)."""
        try:
            self.listener.listen(db)
        except Exception as exc:  # the next wake-up tries again
            logger.debug("cannot LISTEN on %s: %s", db, exc)

    def _read(self, subscribers: list[Subscriber]) -> list[Subscriber]:
        """Read and hand over what each of *subscribers* has not seen; those whose read failed."""
        groups: dict[tuple[str, tuple[str, ...], int], list[Subscriber]] = {}
        for subscriber in subscribers:
            groups.setdefault((subscriber.db, subscriber.channels, subscriber.last), []).append(subscriber)
        failed: list[Subscriber] = []
        for (db, channels, last), group in groups.items():
            try:
                while True:
                    with self._borrow(db) as conn, conn.cursor() as cr:
                        rows = fetch_messages(cr, list(channels), last)
                    if rows:
                        encoded = [encode(row) for row in rows]
                        last = rows[-1]["id"]
                        for subscriber in group:
                            if subscriber.active:
                                subscriber.last = last
                                subscriber.deliver(encoded)
                    if len(rows) < MAX_MESSAGES:
                        break
            except Exception as exc:
                logger.warning("reading the bus of %s for %d subscriber(s) failed: %s", db, len(group), exc)
                failed.extend(group)
        return failed
