"""HTTP sessions: rows of the base module's ``devshell_session`` table, named by a signed cookie.

The cookie holds ``<db>.<sid>.<signature>``: the signature (HMAC-SHA256) covers
the database too, so a session is bound to the database it was opened on and a
forged or edited cookie is simply no session. Sessions live in PostgreSQL, and so
does the key: the ``secret_key`` setting when set, else the database's own secret
(:mod:`devshell.db.signing_keys`), else, for a database whose base module predates
it, the data dir's ``server_secret`` file. So every process and machine serving a
database accepts the same cookies, and a rotated key keeps its sessions valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager

from ...db.signing_keys import KeyRing
from ...errors import DevshellError

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from ...config import Config

logger = logging.getLogger(__name__)

COOKIE_NAME = "devshell_session"
LIFETIME_SECONDS = 7 * 24 * 3600
SECRET_FILE = "server_secret"
SECRET_BYTES = 32
KEYS_TTL = 60.0  #: seconds a database's key ring is cached (a cookie that fails to verify reads it again)
Borrow = Callable[[str], ContextManager["PgConnection"]]


def load_secret(data_dir: Path) -> bytes:
    """The server's secret key, generated once under the data dir (mode 0600) and kept."""
    path = data_dir / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    except ValueError:
        raise DevshellError(f"{path} does not hold a hex secret key: delete it to generate a new one") from None
    except OSError as exc:
        raise DevshellError(f"cannot read the secret key {path}: {exc.strerror}") from None
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
        try:
            os.link(temporary, path)  # never replaces a key another process wrote first
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        return bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        raise DevshellError(f"cannot write the secret key {path}: {exc.strerror}") from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SigningKeys:
    """The key ring of each database: ``secret_key`` (+ fallbacks), else the database's secret, else the file.

    A database's ring is cached KEYS_TTL seconds; :meth:`ring` with *fresh* reads it
    again (a cookie signed with a key rotated in meanwhile).
    """

    def __init__(self, config: "Config", borrow: Borrow) -> None:
        setting = config.get("secret_key")
        fallbacks = tuple(key.encode() for key in config.get("secret_key_fallbacks") or ())
        self.fixed = KeyRing(setting.encode(), fallbacks) if setting else None
        self._data_dir = config.data_dir
        self._borrow = borrow
        self._cache: dict[str, tuple[float, KeyRing]] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def ring(self, db: str, *, fresh: bool = False) -> KeyRing:
        if self.fixed is not None:
            return self.fixed
        cached = self._cache.get(db)
        if cached is not None and not fresh and time.monotonic() - cached[0] < KEYS_TTL:
            return cached[1]
        from ...db.signing_keys import read_keys

        with self._borrow(db) as conn, conn.cursor() as cr:
            ring = read_keys(cr)
        if ring is None:
            ring = KeyRing(load_secret(self._data_dir))
            if db not in self._warned:
                self._warned.add(db)
                logger.warning("database %s has no devshell_secret table (not a devshell database, or its base "
                               "module predates 1.2.0): its session cookies are signed with %s, valid on this "
                               "machine only (update it: devshell db init -d %s, or set secret_key)", db,
                               self._data_dir / SECRET_FILE, db)
        with self._lock:
            self._cache[db] = (time.monotonic(), ring)
        return ring


@dataclass(frozen=True)
class SignedCookie:
    """A session cookie's parts; ``current`` when its signature is the current key's (else re-sign it)."""

    db: str
    sid: str
    signature: str
    current: bool = True


class CookieSigner:
    """Signs and checks session cookie values with each database's keys; what does not verify is None."""

    def __init__(self, keys: SigningKeys | bytes) -> None:
        self.keys = keys
        self._key = keys if isinstance(keys, bytes) else b""

    def _ring(self, db: str, fresh: bool = False) -> KeyRing:
        return self.keys.ring(db, fresh=fresh) if isinstance(self.keys, SigningKeys) else KeyRing(self._key)

    @staticmethod
    def _signature(key: bytes, db: str, sid: str) -> str:
        message = db.encode("utf-8") + b"\x00" + sid.encode("ascii")
        return _b64(hmac.new(key, message, hashlib.sha256).digest())

    def sign(self, db: str, sid: str) -> str:
        return f"{_b64(db.encode('utf-8'))}.{sid}.{self._signature(self._ring(db).current, db, sid)}"

    @staticmethod
    def parse(value: str | None) -> SignedCookie | None:
        """The parts of a well-formed cookie value, not verified yet; None for anything else."""
        if not value or value.count(".") != 2:
            return None
        encoded_db, sid, signature = value.split(".")
        try:
            db = _unb64(encoded_db).decode("utf-8")
            sid.encode("ascii")
        except (binascii.Error, UnicodeError, ValueError):
            return None
        return SignedCookie(db, sid, signature)

    def verify(self, cookie: SignedCookie) -> SignedCookie | None:
        """*cookie* when one of its database's keys signed it (the ring read again once on a miss), else None."""
        for fresh in (False, True):
            ring = self._ring(cookie.db, fresh)
            for key in (ring.current, *ring.fallbacks):
                if hmac.compare_digest(cookie.signature, self._signature(key, cookie.db, cookie.sid)):
                    return SignedCookie(cookie.db, cookie.sid, cookie.signature, current=key == ring.current)
            if not isinstance(self.keys, SigningKeys) or self.keys.fixed is not None:
                break
        return None

    def unsign(self, value: str | None) -> tuple[str, str] | None:
        """(db, sid) for a cookie signed with one of its database's keys, else None."""
        cookie = self.parse(value)
        verified = self.verify(cookie) if cookie is not None else None
        return None if verified is None else (verified.db, verified.sid)


@dataclass
class Session:
    """An open session: who is logged in (``uid``) on which database, plus free-form ``data``."""

    sid: str
    db: str
    uid: int | None = None
    login: str | None = None
    is_admin: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    modified: bool = False
    refresh: bool = False  #: past half its lifetime: its expiry is pushed back when saved

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.modified = True


def load_session(cr: Any, db: str, sid: str) -> Session | None:
    """The live session *sid* of *db* (its user active), or None when it expired or never existed."""
    cr.execute(
        """SELECT s.uid, u.login, coalesce(u.is_admin, false), s.data,
                  s.expires_at < now() + make_interval(secs => %s)
             FROM devshell_session s LEFT JOIN devshell_user u ON u.id = s.uid
            WHERE s.sid = %s AND s.db = %s AND s.expires_at > now() AND (s.uid IS NULL OR u.active)""",
        (LIFETIME_SECONDS / 2, sid, db),
    )
    row = cr.fetchone()
    if row is None:
        return None
    uid, login, is_admin, data, refresh = row
    return Session(sid, db, uid, login, bool(is_admin), dict(data or {}), refresh=bool(refresh))


def create_session(cr: Any, db: str, uid: int | None, data: dict[str, Any] | None = None) -> Session:
    """A new session row (expired rows are collected on the way: logins are rare enough)."""
    collect_expired(cr)
    sid = secrets.token_urlsafe(32)
    cr.execute(
        """INSERT INTO devshell_session (sid, uid, db, data, expires_at)
           VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s))""",
        (sid, uid, db, json.dumps(data or {}), LIFETIME_SECONDS),
    )
    cr.execute("SELECT login, is_admin FROM devshell_user WHERE id = %s", (uid,))
    row = cr.fetchone()
    login, is_admin = row if row else (None, False)
    return Session(sid, db, uid, login, bool(is_admin), dict(data or {}))


def save_session(cr: Any, session: Session) -> None:
    """Write back changed data, and push the expiry back once the session is past half its life."""
    if not (session.modified or session.refresh):
        return
    cr.execute(
        """UPDATE devshell_session SET data = %s, expires_at = now() + make_interval(secs => %s)
            WHERE sid = %s AND db = %s""",
        (json.dumps(session.data), LIFETIME_SECONDS, session.sid, session.db),
    )
    session.modified = session.refresh = False


def delete_session(cr: Any, session: Session) -> None:
    cr.execute("DELETE FROM devshell_session WHERE sid = %s AND db = %s", (session.sid, session.db))


def collect_expired(cr: Any) -> int:
    """Delete expired sessions; returns how many."""
    cr.execute("DELETE FROM devshell_session WHERE expires_at <= now()")
    return int(cr.rowcount)
