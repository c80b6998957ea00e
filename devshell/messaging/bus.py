"""The message bus: ``devshell_bus`` rows plus a NOTIFY, read by long-polling clients.

Sending inserts the message and issues ``pg_notify`` in the sender's
transaction, so both happen on commit or not at all. Readers always read the
table (never the notification payload, which only says which channel moved),
so a client that was away gets everything newer than its ``last`` id.

Channels are public (anyone who may poll the database reads them) except the
private ones, named by a reserved first part (SECURITY.md):

- ``user.<uid>`` and ``user.<uid>.<topic>``: only a session logged in as user ``uid``;
- ``session.<key>`` and ``session.<key>.<topic>``: only the session whose key
  (:func:`session_key`, a digest of its secret id) is ``key``.

:func:`readable_channels` is the one rule, used by every way of reading the bus
(long polling, WebSocket). Only server-side code sends, so it alone writes to
private channels: :func:`user_channel` and :func:`session_channel` name them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import UsageError

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from .listener import Listener

logger = logging.getLogger(__name__)

PG_CHANNEL = "devshell_bus"
MAX_POLL_TIMEOUT = 50.0
RECENT_SECONDS = 50  #: what ``last = 0`` returns: the messages of the last RECENT_SECONDS
KEEP_SECONDS = 3600  #: messages older than this are deleted by the listener's housekeeping
MAX_MESSAGES = 1000  #: per poll; the client polls again from the last id it got
MAX_CHANNELS = 256
MAX_CHANNEL_LENGTH = 1000
MAX_PAYLOAD_KEY = 7000  #: NOTIFY payloads are limited to 8000 bytes; longer channel names wake everyone


PRIVATE_SCOPES = ("user", "session")  #: first parts of a channel name that make it private


def session_key(session_id: str) -> str:
    """The public name of a session on the bus: a digest of its id (the id itself is a secret)."""
    return hashlib.sha256(b"devshell-bus\x00" + session_id.encode("utf-8")).hexdigest()[:32]


def user_channel(uid: int, topic: str = "") -> str:
    """The private channel of user *uid* (``user.<uid>``, or ``user.<uid>.<topic>``)."""
    return f"user.{int(uid)}" + (f".{topic}" if topic else "")


def session_channel(session_id: str, topic: str = "") -> str:
    """The private channel of one session (``session.<key>``, or ``session.<key>.<topic>``)."""
    return f"session.{session_key(session_id)}" + (f".{topic}" if topic else "")


def is_private(channel: str) -> bool:
    return channel.split(".", 1)[0] in PRIVATE_SCOPES


def readable_channels(channels: Iterable[str], user_id: int | None, session_id: str | None) -> list[str]:
    """The *channels* a reader may read: the public ones, plus the private ones of its user and session.

    *user_id* and *session_id* are those of the reader's authenticated session on
    the database polled (None for an anonymous reader). The order is kept.
    """
    own_user = None if user_id is None else str(user_id)
    own_session = session_key(session_id) if session_id else None
    readable = []
    for channel in channels:
        scope, _, rest = channel.partition(".")
        if scope in PRIVATE_SCOPES:
            owner = rest.split(".", 1)[0]
            if not owner or owner != (own_user if scope == "user" else own_session):
                continue
        readable.append(channel)
    return readable


def _payload_for(channel: str) -> str:
    return channel if len(channel.encode("utf-8")) <= MAX_PAYLOAD_KEY else ""


class Bus:
    """Publish messages in *env*'s transaction: ``Bus(env).send("chat", {"text": "hi"})``.

    *env* is anything with a ``cr`` (an Environment, a server request).
    """

    def __init__(self, env: Any) -> None:
        self.env = env

    def send(self, channel: str, message: Any) -> int:
        """Queue *message* (JSON-serialisable) on *channel*; delivered when the transaction commits."""
        if not isinstance(channel, str) or not channel:
            raise UsageError(f"a bus channel must be a non-empty string, got {channel!r}")
        cr = self.env.cr
        cr.execute("INSERT INTO devshell_bus (channel, message) VALUES (%s, %s) RETURNING id",
                   (channel, json.dumps(message, default=str)))
        message_id = int(cr.fetchone()[0])
        cr.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, _payload_for(channel)))
        return message_id


def fetch_messages(cr: Any, channels: list[str], last: int, limit: int = MAX_MESSAGES) -> list[dict[str, Any]]:
    """Messages on *channels* newer than *last* (the recent ones when *last* is 0), oldest first.

    Long polls and WebSocket subscriptions both read through here: same messages, same order.
    """
    if last > 0:
        cr.execute("""SELECT id, channel, message, created_at FROM devshell_bus
                       WHERE channel = ANY(%s) AND id > %s ORDER BY id LIMIT %s""", (channels, last, limit))
    else:
        cr.execute("""SELECT id, channel, message, created_at FROM devshell_bus
                       WHERE channel = ANY(%s) AND created_at > now() - make_interval(secs => %s)
                       ORDER BY id LIMIT %s""", (channels, RECENT_SECONDS, limit))
    # "sent": when the message was sent (its transaction's time), ISO 8601 with the offset
    return [{"id": row[0], "channel": row[1], "message": row[2], "sent": row[3].isoformat() if row[3] else None}
            for row in cr.fetchall()]


def collect_old_messages(db: str, conn: "PgConnection") -> None:
    """Delete messages older than KEEP_SECONDS (run now and then by the listener, autocommit)."""
    with conn.cursor() as cr:
        cr.execute("SELECT to_regclass('devshell_bus') IS NOT NULL")
        row = cr.fetchone()
        if row is not None and row[0]:
            cr.execute("DELETE FROM devshell_bus WHERE created_at < now() - make_interval(secs => %s)",
                       (KEEP_SECONDS,))


def parse_poll(payload: Any) -> tuple[list[str], int, float]:
    """(channels, last, timeout) from a poll's JSON body; a ValueError says what is wrong."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object: {\"channels\": [...], \"last\": 0, \"timeout\": 30}")
    channels = payload.get("channels", [])
    if not isinstance(channels, list) or not all(
            isinstance(c, str) and c and len(c) <= MAX_CHANNEL_LENGTH and "\x00" not in c for c in channels):
        raise ValueError(f"'channels' must be a list of non-empty strings (at most {MAX_CHANNEL_LENGTH} "
                         "characters, no NUL)")
    if len(channels) > MAX_CHANNELS:
        raise ValueError(f"at most {MAX_CHANNELS} channels per poll")
    last = payload.get("last", 0)
    if isinstance(last, bool) or not isinstance(last, int) or not 0 <= last < 2**63:
        raise ValueError("'last' must be an integer >= 0 (the id of the last message received)")
    timeout = payload.get("timeout", MAX_POLL_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or (
            isinstance(timeout, float) and not math.isfinite(timeout)):  # NaN would make the wait endless
        raise ValueError("'timeout' must be a finite number of seconds")
    return list(dict.fromkeys(channels)), last, float(min(max(timeout, 0), MAX_POLL_TIMEOUT))


class SharedReads:
    """Polls asking the same question (database, channels, last id) share one query.

    One NOTIFY wakes every poll of a channel at once; the first to read queries the
    table, and the others take its answer, but only when that query started after
    they were woken (or registered): a read begun earlier might predate the commit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[Any, ...], _Read] = {}

    def read(self, key: tuple[Any, ...], since: float, read: Callable[[], list[dict[str, Any]]]
             ) -> list[dict[str, Any]]:
        with self._lock:
            shared = self._latest.get(key)
            if shared is None or shared.started < since:
                shared, mine = _Read(), True
                self._latest[key] = shared
            else:
                mine = False
        if not mine:
            shared.done.wait()
            if shared.error is None:
                return list(shared.result)
            return read()  # the shared query failed: fail (or succeed) on our own
        try:
            shared.result = read()
            return shared.result
        except BaseException as exc:
            shared.error = exc
            raise
        finally:
            shared.done.set()
            with self._lock:
                if self._latest.get(key) is shared:
                    del self._latest[key]


class _Read:
    def __init__(self) -> None:
        self.started = time.monotonic()  #: before the query: its snapshot is later than this
        self.done = threading.Event()
        self.result: list[dict[str, Any]] = []
        self.error: BaseException | None = None


def poll(listener: "Listener", db: str, read: Callable[[], list[dict[str, Any]]], channels: Iterable[str],
         timeout: float, stopping: Callable[[], bool] = lambda: False, *, shared: SharedReads | None = None,
         last: int = 0) -> list[dict[str, Any]]:
    """Messages from *read* at once if any, else the first ones to arrive within *timeout*.

    *read* must not hold a database connection after it returns: a waiting poll
    holds a thread and a waiter, never a connection. With *shared*, polls of the
    same channels and *last* id share their reads.
    """
    deadline = time.monotonic() + timeout
    channels = list(channels)
    key = (db, tuple(sorted(channels)), last)
    with listener.waiter(db, PG_CHANNEL, channels) as waiter:
        since = 0.0  # the first read is our own
        while True:
            messages = shared.read(key, since, read) if shared is not None and since else read()
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0 or stopping() or listener.closed:
                return messages
            logger.debug("poll on %s of %s: waiting up to %.1f s", db, ", ".join(channels), remaining)
            waiter.wait(remaining)
            since = waiter.woken_at
