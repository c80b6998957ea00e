"""The environment: a connection, its cursor, the registry of models, and the transaction.

``devshell.connect("db")`` and the shell give the same :class:`Environment`:
``env.cr``, ``env.sql(...)``, ``env["film"]`` / ``env.film``, ``env.commit()``,
``env.rollback()``, ``env.savepoint()``. Nothing is committed unless asked; the
environment counts the data-changing statements run since the last commit or
rollback (``env.pending_writes``) so the shell can warn before throwing them away.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from psycopg2 import sql

from ..db.catalog import Catalog, QueryError, did_you_mean, reflect
from ..errors import DatabaseError, require_database
from .cursor import TrackedCursor, WriteCounter
from .display import SqlRows, row_type
from .models import Model
from .sql_echo import SqlEcho, enable_output

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from ..config import Config
    from ..db.connection import ServerAddress
    from ..messaging.bus import Bus
    from ..messaging.cron_jobs import CronControl

_savepoints = itertools.count(1)


class Registry:
    """What the database holds: its catalog and models (reflected once, lazily) and devshell's modules."""

    def __init__(self, env: "Environment", shared: dict[str, Catalog] | None = None) -> None:
        self._env = env
        self._shared = shared
        self._catalog: Catalog | None = shared.get(env.db) if shared is not None else None
        self._models: dict[str, Model] | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            with self._env.cr.quietly():  # devshell's own queries: not for the SQL echo
                self._catalog = reflect(self._env.cr)
            if self._shared is not None:
                self._shared[self._env.db] = self._catalog
        return self._catalog

    @property
    def models(self) -> Mapping[str, Model]:
        """Model name (the table's catalog key) -> model."""
        if self._models is None:
            self._models = {key: Model(self._env, table) for key, table in self.catalog.tables.items()}
        return self._models

    def model(self, name: str) -> Model:
        """The model of table *name*, or an error naming a close match."""
        return self.models[self.catalog.table(name).key]

    @property
    def modules(self) -> dict[str, str]:
        """Installed devshell modules and their versions ({} outside a devshell database)."""
        from ..modules import installed_modules

        with self._env.cr.quietly():
            return installed_modules(self._env.cr)

    def reload(self) -> None:
        """Reflect the database again (after DDL)."""
        self._catalog = None
        self._models = None
        if self._shared is not None:
            self._shared.pop(self._env.db, None)

    def __repr__(self) -> str:
        return f"<Registry of {self._env.db!r}: {len(self.models)} models>"


class Environment:
    """A database connection with a cursor, its models and its transaction."""

    def __init__(self, conn: "PgConnection", db: str, config: "Config | None" = None, *,
                 catalogs: dict[str, Catalog] | None = None) -> None:
        """*catalogs*, when given, is a cache shared between environments (db name -> reflected catalog),
        so a server reflects each database once rather than per request."""
        self.conn = conn
        self.db = db
        self.config = config
        self._writes = WriteCounter()
        self.cr = conn.cursor(cursor_factory=TrackedCursor)
        self.cr.writes = self._writes
        self.registry = Registry(self, catalogs)

    @property
    def bus(self) -> "Bus":
        """Publish on the long-polling bus: ``env.bus.send(channel, message)``, delivered on commit."""
        from ..messaging.bus import Bus

        return Bus(self)

    @property
    def cron(self) -> "CronControl":
        """The database's cron jobs: ``env.cron.trigger(name)`` runs one now."""
        from ..messaging.cron_jobs import CronControl

        return CronControl(self)

    # -- SQL and the transaction ----------------------------------------------------------
    def sql(self, query: str | sql.Composable, params: Any = None) -> Any:
        """Run *query*: its rows (named tuples in a list that shows as a table, with ``.to_pandas()``) when it
        returns rows, else the number of rows it touched."""
        self.cr.execute(query, params)
        if self.cr.description is None:
            return self.cr.rowcount
        columns = tuple(column.name for column in self.cr.description)
        row = row_type(columns)
        return SqlRows([row(*values) for values in self.cr.fetchall()], columns, self.cr.statusmessage or "",
                       self.cr.rowcount)

    def log_sql(self, on: bool = True, min_ms: float | None = None) -> None:
        """Echo each statement this environment runs, with its parameters and duration, on stderr (or stop).

        *min_ms* leaves out statements faster than that many milliseconds (default:
        the ``log_sql_min_ms`` setting).
        """
        if not on:
            self.cr.echo = None
            return
        if min_ms is None:
            min_ms = self.config["log_sql_min_ms"] if self.config is not None else 0
        self.cr.echo = SqlEcho(float(min_ms))
        enable_output()

    @property
    def logging_sql(self) -> bool:
        return self.cr.echo is not None

    @property
    def pending_writes(self) -> int:
        """Data-changing statements run since the last commit or rollback."""
        return self._writes.count

    @pending_writes.setter
    def pending_writes(self, count: int) -> None:
        """Set back after a rollback to a savepoint taken outside :meth:`savepoint` (the REPL's)."""
        self._writes.count = count

    def commit(self) -> None:
        """Commit the transaction; an error when an SQL error had aborted it (nothing would be committed).

        PostgreSQL answers the COMMIT of an aborted transaction with a ROLLBACK and
        no error, so code that caught the SQL error would believe its writes kept.
        """
        from psycopg2.extensions import TRANSACTION_STATUS_INERROR

        if self.conn.info.transaction_status == TRANSACTION_STATUS_INERROR:
            self.rollback()
            raise DatabaseError("nothing was committed: an SQL error aborted the transaction and the code went on "
                                "(the error was caught); every write of the transaction is rolled back. Wrap a "
                                "statement that may fail in `with env.savepoint():` to keep the rest")
        self.conn.commit()
        self._writes.count = 0
        self._writes.ends += 1

    def rollback(self) -> None:
        self.conn.rollback()
        self._writes.count = 0
        self._writes.ends += 1

    @property
    def transactions_ended(self) -> int:
        """How many times the transaction ended (commit or rollback): a REPL's savepoint is gone when it moved."""
        return self._writes.ends

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: released on success, rolled back to on an exception (which goes on)."""
        name = sql.Identifier(f"devshell_savepoint_{next(_savepoints)}")
        before = self._writes.count, self._writes.ends
        with self.cr.quietly():  # bookkeeping: not for the SQL echo
            self.cr.execute(sql.SQL("SAVEPOINT {}").format(name))
        try:
            yield
        except BaseException:
            with self.cr.quietly():
                self.cr.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(name))
            self._writes.count, self._writes.ends = before
            raise
        with self.cr.quietly():
            self.cr.execute(sql.SQL("RELEASE SAVEPOINT {}").format(name))

    def close(self) -> None:
        """Close the cursor and the connection; uncommitted work is discarded."""
        if not self.conn.closed:
            self.cr.close()
            self.conn.close()

    def __enter__(self) -> "Environment":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- models ----------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Model:
        if not isinstance(name, str):
            raise QueryError(f"env[...] takes a table name (a string such as 'film' or 'public.film'), not {name!r}")
        return self.registry.model(name)

    def __getattr__(self, name: str) -> Model:
        registry = self.__dict__.get("registry")
        if registry is None or name.startswith("_"):
            raise AttributeError(name)
        model = registry.models.get(name)
        if model is None:
            hint = did_you_mean(name, registry.models)
            raise AttributeError(f"'Environment' has no attribute {name!r} and the database has no table "
                                 f"{name!r}{hint}; for other names use env[{name!r}]")
        return model

    def __dir__(self) -> list[str]:
        names = [name for name in self.registry.models if name.isidentifier()]
        return sorted(set(super().__dir__()) | set(names))

    def _ipython_key_completions_(self) -> list[str]:
        """``env["fi<TAB>`` completes table names (IPython's protocol; the ptpython shell uses it too)."""
        return sorted(self.registry.models)

    def __repr__(self) -> str:
        return f"<Environment db={self.db!r}>"


def connect(db: str | None = None, *, config: "Config | None" = None,
            address: "ServerAddress | None" = None) -> Environment:
    """An environment bound to database *db* (default: the configured ``db_name``).

    *address* skips resolving the server again when the caller already did.
    """
    from ..config import load_config
    from ..db.connection import connect as open_connection, resolve_server

    config = config if config is not None else load_config()
    name = require_database(db or config["db_name"])  # before any cluster is started for it
    conn = open_connection(address or resolve_server(config), name)
    return Environment(conn, name, config)
