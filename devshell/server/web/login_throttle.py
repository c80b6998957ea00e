"""Login throttling: failed passwords slow their sender down without locking the real user out.

Failures are counted in the database's ``devshell_login_attempt`` table, per
login and client address (an IPv6 client counts as its /64), so every server
process and machine on the database shares the counts. Three limits:

- one login from one address: PAIR_FREE failures, then each new attempt waits,
  FIRST_DELAY doubled per further failure up to MAX_DELAY;
- one address, any login: ADDRESS_FREE failures within WINDOW, then the same
  backoff for the logins this address never logged in with (password spraying);
- one login, any address: LOGIN_FREE failures within WINDOW from addresses it never
  logged in from, then those addresses wait (a distributed attack).

An address a login once succeeded from is *known* to it: only the first limit
applies there, so an attacker elsewhere cannot lock the real user out. A throttled
attempt is answered 429 (with Retry-After) before the password is even looked at,
and is not counted. A success clears the pair's count.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from typing import TYPE_CHECKING, Callable, TypeVar

from werkzeug.exceptions import TooManyRequests

if TYPE_CHECKING:
    from typing import Any

    from .request import Request

logger = logging.getLogger(__name__)

T = TypeVar("T")
PAIR_FREE = 5
ADDRESS_FREE = 20
LOGIN_FREE = 20
FIRST_DELAY = 15.0  #: seconds
MAX_DELAY = 900.0
WINDOW = 3600  #: seconds after which failures are forgotten
KNOWN_DAYS = 180  #: an address unused this long by a login is no longer known to it
TABLE = "devshell_login_attempt"
_warned: set[str] = set()


def client_address(request: "Request") -> str:
    """The client's address as counted: IPv4 as is, IPv6 as its /64 network (one subscriber's share)."""
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return raw[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def backoff(failures: int, free: int) -> float:
    """Seconds to wait after the last of *failures* failures when *free* are allowed without waiting."""
    if failures < free:
        return 0.0
    return min(FIRST_DELAY * 2.0 ** min(failures - free, 32), MAX_DELAY)


def _available(cr: "Any", db: str) -> bool:
    cr.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
    if cr.fetchone()[0]:
        return True
    if db not in _warned:
        _warned.add(db)
        logger.warning("login throttling is off on %s: its base module predates it "
                       "(update it: devshell db init -d %s)", db, db)
    return False


def wait_seconds(cr: "Any", scope: str, login: str, address: str) -> float:
    """How long *address* must still wait before trying *login* again (0: it may try now)."""
    cr.execute("""SELECT failures, extract(epoch FROM now() - last_failure), succeeded_at IS NOT NULL
                    FROM devshell_login_attempt WHERE scope = %s AND login = %s AND address = %s""",
               (scope, login, address))
    row = cr.fetchone()
    waits = [0.0]
    if row is not None and row[1] is not None:
        waits.append(backoff(row[0], PAIR_FREE) - float(row[1]))
    if row is not None and row[2]:
        return max(waits)  # a known address: only its own count applies
    cr.execute("""SELECT coalesce(sum(failures), 0), extract(epoch FROM now() - max(last_failure))
                     FROM devshell_login_attempt WHERE scope = %s AND address = %s
                      AND last_failure > now() - make_interval(secs => %s)""", (scope, address, WINDOW))
    failures, since = cr.fetchone()
    if since is not None:
        waits.append(backoff(int(failures), ADDRESS_FREE) - float(since))
    cr.execute("""SELECT coalesce(sum(failures), 0), extract(epoch FROM now() - max(last_failure))
                     FROM devshell_login_attempt WHERE scope = %s AND login = %s AND succeeded_at IS NULL
                      AND last_failure > now() - make_interval(secs => %s)""", (scope, login, WINDOW))
    failures, since = cr.fetchone()
    if since is not None:
        waits.append(backoff(int(failures), LOGIN_FREE) - float(since))
    return max(waits)


def record_failure(cr: "Any", scope: str, login: str, address: str) -> None:
    """Count a failure (a count older than WINDOW starts again), and forget failures past WINDOW."""
    cr.execute("""INSERT INTO devshell_login_attempt AS t (scope, login, address, failures, last_failure)
                   VALUES (%s, %s, %s, 1, now())
                   ON CONFLICT (scope, login, address) DO UPDATE
                      SET failures = CASE WHEN t.last_failure < now() - make_interval(secs => %s)
                                          THEN 1 ELSE t.failures + 1 END,
                          last_failure = now()""", (scope, login, address, WINDOW))
    cr.execute("""DELETE FROM devshell_login_attempt
                   WHERE last_failure < now() - make_interval(secs => %s) AND succeeded_at IS NULL""", (WINDOW,))


def record_success(cr: "Any", scope: str, login: str, address: str) -> None:
    """Clear the pair's count and remember that *login* is known from *address*."""
    cr.execute("""INSERT INTO devshell_login_attempt AS t (scope, login, address, failures, succeeded_at)
                   VALUES (%s, %s, %s, 0, now())
                   ON CONFLICT (scope, login, address) DO UPDATE SET failures = 0, succeeded_at = now()""",
               (scope, login, address))
    cr.execute("""DELETE FROM devshell_login_attempt WHERE succeeded_at < now() - make_interval(days => %s)""",
               (KNOWN_DAYS,))


def guarded_attempt(request: "Request", scope: str, login: str, check: Callable[[], T | None]) -> T | None:
    """Run *check* (a password check: None means wrong) unless *login* is throttled from this client.

    A throttled client gets 429 at once. A failure is committed before returning
    None, so the caller's error (which rolls its transaction back) keeps the count.
    """
    cr, db = request.cr, request.require_db()
    if not _available(cr, db):
        return check()
    address = client_address(request)
    wait = wait_seconds(cr, scope, login, address)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        logger.warning("%s of %r on %s from %s throttled for %d s", scope, login, db, address, seconds)
        raise TooManyRequests(f"too many failed attempts: try again in {seconds} s", retry_after=seconds)
    result = check()
    if result is None:
        record_failure(request.cr, scope, login, address)
        request.release(commit=True)
    else:
        record_success(request.cr, scope, login, address)
    return result
