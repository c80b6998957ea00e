"""HTTP sessions: rows of the base module's ``devshell_session`` table, named by a signed cookie.

The cookie holds ``<db>.<sid>.<signature>``: the signature (HMAC-SHA256 with the
server's secret key) covers the database too, so a session is bound to the
database it was opened on and a forged or edited cookie is simply no session.
Sessions live in PostgreSQL, so several server processes (or machines sharing
the secret key) see the same ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import DevshellError

COOKIE_NAME = "devshell_session"
LIFETIME_SECONDS = 7 * 24 * 3600
SECRET_FILE = "server_secret"
SECRET_BYTES = 32


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


class CookieSigner:
    """Signs and checks session cookie values; anything that does not verify is None."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _signature(self, db: str, sid: str) -> str:
        message = db.encode("utf-8") + b"\x00" + sid.encode("ascii")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def sign(self, db: str, sid: str) -> str:
        return f"{_b64(db.encode('utf-8'))}.{sid}.{self._signature(db, sid)}"

    def unsign(self, value: str | None) -> tuple[str, str] | None:
        """(db, sid) for a cookie this server signed, else None."""
        if not value or value.count(".") != 2:
            return None
        encoded_db, sid, signature = value.split(".")
        try:
            db = _unb64(encoded_db).decode("utf-8")
            sid.encode("ascii")
        except (binascii.Error, UnicodeError, ValueError):
            return None
        if not hmac.compare_digest(signature, self._signature(db, sid)):
            return None
        return db, sid


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
