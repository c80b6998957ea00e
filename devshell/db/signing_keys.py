"""Each database's secret for signing session cookies: made by ``db init``, rotated by ``db rotate-secret``.

Rows of the base module's ``devshell_secret`` table. One is current (``retired_at``
is null): new cookies are signed with it. A rotation retires it and makes a new
one; a retired secret is still accepted until its ``expires_at``, so the sessions
it signed stay valid meanwhile (servers sign them again with the new secret when
they are next used). Every machine serving the database reads the same rows, so a
session opened on one machine is valid on all of them, and a machine that starts
with an empty data dir logs nobody out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import DatabaseError

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

    from .connection import ServerAddress

TABLE = "devshell_secret"
SECRET_BYTES = 32
#: how long a rotated secret stays accepted by default: a session's lifetime, so no session ends early
DEFAULT_KEEP_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class KeyRing:
    """The key that signs new cookies and the former ones still accepted."""

    current: bytes
    fallbacks: tuple[bytes, ...] = ()


def has_table(cr: "PgCursor") -> bool:
    """False for a database whose base module predates database secrets (before 1.2.0)."""
    cr.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
    row = cr.fetchone()
    return bool(row and row[0])


def ensure_secret(cr: "PgCursor") -> bool:
    """Make a current secret unless there is one; True when this call made it (commit to keep it)."""
    cr.execute("""INSERT INTO devshell_secret (secret)
                  SELECT %s WHERE NOT EXISTS (SELECT 1 FROM devshell_secret WHERE retired_at IS NULL)
                  ON CONFLICT DO NOTHING""", (secrets.token_hex(SECRET_BYTES),))
    return bool(cr.rowcount)


def read_keys(cr: "PgCursor", *, create: bool = True) -> KeyRing | None:
    """The database's key ring; None when it has no secret table (or no secret and not *create*)."""
    if not has_table(cr):
        return None
    for _attempt in range(2):
        cr.execute("""SELECT secret, retired_at IS NULL FROM devshell_secret
                       WHERE retired_at IS NULL OR expires_at > now()
                       ORDER BY retired_at IS NULL DESC, id DESC""")
        rows = cr.fetchall()
        if rows and rows[0][1]:
            current, *older = (bytes.fromhex(secret) for secret, _current in rows)
            return KeyRing(current, tuple(older))
        if not create:
            return None
        ensure_secret(cr)  # a database updated to base 1.2.0 without db init: made on first use
    return None


def rotate(cr: "PgCursor", keep_seconds: int = DEFAULT_KEEP_SECONDS) -> datetime | None:
    """Retire the current secret (accepted *keep_seconds* more) and make a new one; the old one's end.

    Secrets retired before stay accepted no longer than that either (0 ends every
    session); those past their end are deleted. None when there was no current
    secret (one is made).
    """
    cr.execute("""UPDATE devshell_secret SET expires_at = least(expires_at, now() + make_interval(secs => %s))
                   WHERE retired_at IS NOT NULL""", (keep_seconds,))
    cr.execute("""UPDATE devshell_secret SET retired_at = now(), expires_at = now() + make_interval(secs => %s)
                   WHERE retired_at IS NULL RETURNING expires_at""", (keep_seconds,))
    row = cr.fetchone()
    cr.execute("DELETE FROM devshell_secret WHERE expires_at <= now()")
    ensure_secret(cr)
    return row[0] if row else None


def rotate_secret(address: "ServerAddress", db: str, keep_seconds: int = DEFAULT_KEEP_SECONDS) -> datetime | None:
    """``devshell db rotate-secret``: :func:`rotate` on *db*, committed."""
    from .connection import connect

    conn = connect(address, db)
    try:
        with conn.cursor() as cr:
            if not has_table(cr):
                raise DatabaseError(f"database {db!r} has no secret table: its base module predates it "
                                    f"(update it: devshell db init -d {db})")
            ended = rotate(cr, keep_seconds)
        conn.commit()
        return ended
    finally:
        conn.close()
