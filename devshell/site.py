"""A configuration resolved once: the database server and the modules on the addons path.

Every command used to resolve the server and scan the addons path for itself, so
one ``devshell start --demo`` did each four times. A :class:`Site` does each at
most once, on first use: a command that needs neither (``scaffold``, ``--help``)
never starts the embedded cluster nor reads a folder. Init, populate, start, cloc,
the shell, the WSGI application and the deploy route receive one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .errors import require_database

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from .config import Config
    from .db.connection import ServerAddress
    from .modules.discovery import Module

logger = logging.getLogger(__name__)

#: the settings that say where the database server is (a change means resolving it again)
SERVER_SETTINGS = frozenset({"db_host", "db_port", "db_user", "db_password", "db_sslmode", "data_dir", "pg_bindir",
                             "embedded_os_user", "db_direct_host", "db_direct_port"})
#: the settings that say where modules are found
ADDONS_SETTINGS = frozenset({"addons_path", "data_dir"})


class Site:
    """The project a configuration describes, resolved lazily and once.

    ``address`` is the database server (the embedded cluster started if needed,
    the database user checked); ``addons`` holds the folders searched for modules
    and what they hold (``addons_paths``, ``modules``). *addons_path* replaces the
    configured folders (like ``--addons-path``).
    """

    def __init__(self, config: "Config", *, addons_path: Sequence[str] | None = None) -> None:
        from .modules.discovery import AddonsPath

        self.config = config
        self.addons = AddonsPath(config, addons_path)
        self._address: ServerAddress | None = None

    @classmethod
    def of(cls, target: "Site | Config | None" = None) -> "Site":
        """*target* itself when it is a Site, else a Site for that configuration (default: loaded from the cwd)."""
        if isinstance(target, Site):
            return target
        if target is None:
            from .config import load_config

            target = load_config()
        return cls(target)

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "command line") -> "Site":
        """A Site for the configuration with *overrides* on top, sharing what they leave alone.

        The server stays resolved unless a setting that locates it changes, and the
        modules stay scanned unless the addons path (or the data dir) changes.
        """
        changed = {key for key, value in overrides.items() if value is not None}
        site = Site(self.config.with_overrides(overrides, source))
        if not changed & SERVER_SETTINGS:
            site._address = self._address
        if not changed & ADDONS_SETTINGS:
            site.addons = self.addons
        return site

    @property
    def db_name(self) -> str | None:
        """The configured database (``-d``, ``db_name``, ``PGDATABASE``), if any."""
        name = self.config["db_name"]
        return str(name) if name else None

    def require_database(self) -> str:
        """The configured database, or the one usage error for a missing one (checked before any server starts)."""
        return require_database(self.db_name)

    @property
    def address(self) -> "ServerAddress":
        """The database server, resolved on first use (and the embedded cluster started if it is the one)."""
        if self._address is None:
            from .db.connection import resolve_server

            self._address = resolve_server(self.config)
            logger.debug("database server resolved: %s", self._address.describe())
        return self._address

    def connect(self, dbname: str | None = None, *, autocommit: bool = False) -> "PgConnection":
        """A psycopg2 connection to *dbname* (default: the configured database) on this site's server."""
        from .db.connection import connect

        return connect(self.address, dbname or self.require_database(), autocommit=autocommit)

    @property
    def addons_paths(self) -> list[Path]:
        """The folders searched for modules, in order: built-in, configured, deployed."""
        return self.addons.paths

    @property
    def modules(self) -> "dict[str, Module]":
        """``{name: Module}`` on the addons path, scanned on first use."""
        return self.addons.modules

    def rescan(self) -> "dict[str, Module]":
        """Scan the addons path again (a module was deployed or changed on disk) and return the modules."""
        return self.addons.rescan()

    def __repr__(self) -> str:
        return f"<Site {self.config.base_dir}>"
