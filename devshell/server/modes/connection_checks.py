"""Startup checks of a server's database connections: LISTEN through a pooler, and max_connections.

- A transaction pooler (PgBouncer's ``pool_mode = transaction``) hands a LISTEN to
  whichever server connection is free and takes it back after the statement: the
  notifications are lost, so long polls wait out their timeout, cron its sleep and
  deploys their resync. When the database server is not the embedded one, the
  startup NOTIFYs a probe channel through the pooled address and checks that a
  LISTEN on the direct address (``db_direct_host``, else the same) hears it.
- ``db_maxconn`` connections per database and process, plus a LISTEN connection,
  times the processes of the mode, may exceed what PostgreSQL accepts
  (``max_connections`` less its reserved slots): the report says so before it happens.
"""

from __future__ import annotations

import logging
import secrets
import select
import time
from typing import TYPE_CHECKING

from ...errors import DevshellError

if TYPE_CHECKING:
    from ...config import Config
    from ...db.connection import ServerAddress
    from ...site import Site

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0  #: seconds a probe NOTIFY may take to arrive (it takes milliseconds when it does)


def listen_hears_notify(address: "ServerAddress", db: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when a NOTIFY sent through *address* reaches a LISTEN on ``address.direct`` within *timeout*."""
    from ...db.connection import connect

    channel = f"devshell_probe_{secrets.token_hex(6)}"
    listening = connect(address.direct, db, autocommit=True)
    try:
        with listening.cursor() as cr:
            cr.execute(f"LISTEN {channel}")  # a name made here, nothing from a user
        sender = connect(address, db, autocommit=True)
        try:
            with sender.cursor() as cr:
                cr.execute("SELECT pg_notify(%s, 'probe')", (channel,))
        finally:
            sender.close()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            select.select([listening], [], [], left)
            listening.poll()
            if any(notify.channel == channel for notify in listening.notifies):
                return True
        return False
    finally:
        listening.close()


def processes_of(config: "Config", mode: str) -> int:
    """Processes of one server that open their own connections: prefork's workers, gevent and cron processes."""
    if mode == "prefork":
        return config["workers"] + 1 + config["max_cron_threads"]
    return 1


def connection_warnings(site: "Site", mode: str) -> list[str]:
    """What the startup report warns about this server's database connections (nothing when all is well)."""
    from ...db.connection import MAINTENANCE_DB
    from ..web.databases import parse_names

    config, address = site.config, site.address
    names = parse_names(config["db_name"])
    warnings = []
    if not address.embedded:
        try:
            if not listen_hears_notify(address, names[0] if names else MAINTENANCE_DB):
                where = address.direct.location()
                warnings.append(
                    f"LISTEN on {where} does not hear NOTIFY: {where} looks like a transaction pooler (PgBouncer "
                    "pool_mode = transaction), so long polls, WebSockets, cron triggers and deploys wait for "
                    "their timeouts; set db_direct_host / db_direct_port to the PostgreSQL server itself")
        except DevshellError as exc:
            logger.debug("LISTEN probe skipped: %s", exc.message)
    try:
        capacity = _connection_capacity(address)
    except DevshellError as exc:
        logger.debug("max_connections not checked: %s", exc.message)
        return warnings
    processes, databases = processes_of(config, mode), max(len(names), 1)
    per_process = 1 if address.pooled else config["db_maxconn"] + 1  # through a pooler, only LISTEN goes direct
    needed = processes * databases * per_process
    if needed > capacity:
        what = "LISTEN" if address.pooled else f"db_maxconn {config['db_maxconn']} + 1 LISTEN"
        warnings.append(
            f"this server may open {needed} connections to PostgreSQL ({processes} process(es) x {databases} "
            f"database(s) x {what}), more than the {capacity} it accepts (max_connections less reserved slots), "
            "before counting other machines: lower db_maxconn or workers, or pool the connections (docs/deploy.md)")
    return warnings


def _connection_capacity(address: "ServerAddress") -> int:
    """Connections PostgreSQL accepts from ordinary roles: max_connections less the reserved slots."""
    from ...db.connection import MAINTENANCE_DB, connect

    conn = connect(address.direct, MAINTENANCE_DB, autocommit=True)
    try:
        with conn.cursor() as cr:
            cr.execute("""SELECT current_setting('max_connections')::int
                                 - current_setting('superuser_reserved_connections')::int""")
            row = cr.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()
