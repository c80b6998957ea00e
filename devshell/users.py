"""Users of a devshell database (the base module's ``devshell_user`` table) and their passwords.

Passwords are hashed with scrypt from the standard library and stored in a
self-describing form, ``scrypt$n$r$p$salt$hash`` (base64), so the cost can be
raised later without breaking existing hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from .errors import DevshellError, UsageError

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
HASH_BYTES = 32
SALT_BYTES = 16
#: a valid hash of a random password, checked against when the login does not exist (same timing)
_DUMMY_HASH: str | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r + 1024 * 1024, dklen=HASH_BYTES)


def hash_password(password: str) -> str:
    """A salted scrypt hash of *password* in the ``scrypt$n$r$p$salt$hash`` format."""
    if not password:
        raise UsageError("a password cannot be empty")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when *password* matches *stored* (compared in constant time); False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or not 1 < int(n) <= 2**20:  # refuse costs nobody here would have chosen
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def generate_password() -> str:
    """A random password that is easy to copy from a terminal."""
    return secrets.token_urlsafe(12)


def create_user(cr: Any, login: str, password: str, *, name: str | None = None, is_admin: bool = False) -> int:
    """Insert a user and return its id; an existing login is an error."""
    if not login or not login.strip():
        raise UsageError("a login cannot be empty")
    cr.execute(
        """INSERT INTO devshell_user (login, name, password_hash, is_admin) VALUES (%s, %s, %s, %s)
           ON CONFLICT (login) DO NOTHING RETURNING id""",
        (login, name or login, hash_password(password), is_admin),
    )
    row = cr.fetchone()
    if row is None:
        raise DevshellError(f"user {login!r} already exists")
    return int(row[0])


def set_password(cr: Any, login: str, password: str) -> None:
    """Replace the password of *login*."""
    cr.execute("UPDATE devshell_user SET password_hash = %s WHERE login = %s", (hash_password(password), login))
    if cr.rowcount == 0:
        raise DevshellError(f"user {login!r} does not exist")


def user_id(cr: Any, login: str) -> int | None:
    cr.execute("SELECT id FROM devshell_user WHERE login = %s", (login,))
    row = cr.fetchone()
    return None if row is None else int(row[0])


def check_password(cr: Any, login: str, password: str) -> int | None:
    """The id of the active user *login* when *password* is right, else None."""
    global _DUMMY_HASH
    cr.execute("SELECT id, password_hash FROM devshell_user WHERE login = %s AND active", (login,))
    row = cr.fetchone()
    if row is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(generate_password())
        verify_password(password, _DUMMY_HASH)  # spend the same time as for a real login
        return None
    return int(row[0]) if verify_password(password, row[1]) else None


# -- the server-level deploy password (the ``deploy_password`` setting) ------------------------------

HASH_PREFIX = "scrypt$"


def deploy_password_state(stored: str | None) -> str:
    """How the ``deploy_password`` setting guards deploy: ``disabled``, ``hash``, ``invalid hash`` or ``plain``."""
    if not stored:
        return "disabled"
    if stored.startswith(HASH_PREFIX):
        return "hash" if stored.count("$") == 5 else "invalid hash"
    return "plain"


def check_deploy_password(password: str, stored: str | None) -> bool:
    """True when *password* is the server's deploy password (*stored*: a scrypt hash, or the password itself).

    A hash is never accepted as the password: knowing the configured value is
    not enough when it is a hash.
    """
    state = deploy_password_state(stored)
    if state in ("disabled", "invalid hash") or not password or stored is None:
        return False
    if state == "hash":
        return verify_password(password, stored)
    return hmac.compare_digest(password.encode("utf-8"), stored.encode("utf-8"))
