"""The environment's cursor: it counts data-changing statements and can echo SQL.

The shell warns before throwing away uncommitted writes, so every statement's
status is read as it completes (``WriteCounter``). With an echo set
(``env.log_sql(True)``), or the ``devshell.sql`` logger at DEBUG (``--debug``),
each statement is logged with its parameters and time (see :mod:`.sql_echo`);
what devshell runs for itself goes through :meth:`TrackedCursor.quietly`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Any, Iterator

import psycopg2.extensions
from psycopg2 import sql

from .sql_echo import SQL_LOGGER, SqlEcho, describe, sql_log

__all__ = ["SQL_LOGGER", "TrackedCursor", "WriteCounter"]

#: first word of cursor.statusmessage -> the statement changed data or schema
WRITE_COMMANDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "CREATE", "ALTER", "DROP",
                            "GRANT", "REVOKE", "COMMENT", "REFRESH", "SECURITY", "IMPORT", "CLUSTER", "REINDEX"})
ROW_COMMANDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})  # count only when rows changed
_COPY_OUT = re.compile(r"\bTO\s+STDOUT\b", re.IGNORECASE)


class WriteCounter:
    """How many data-changing statements ran since the last commit or rollback, and how many transactions ended.

    ``ends`` lets a REPL tell whether the statement it ran committed or rolled back
    (its savepoint is then gone).
    """

    __slots__ = ("count", "ends")

    def __init__(self) -> None:
        self.count = 0
        self.ends = 0


def with_parameters(query: Any, context: Any) -> Any:
    """*query* as psycopg2 must see it when parameters come with it.

    With parameters, psycopg2 reads every ``%`` of the statement as a placeholder,
    also inside a quoted name (``"pct%col"``) or a literal that ``psycopg2.sql``
    composed in: those are doubled here, while the ``%s`` of the SQL parts stay.
    A plain string is the caller's own text and is left as it is.
    """
    if not isinstance(query, sql.Composable):
        return query
    if isinstance(query, sql.Composed):
        return "".join(with_parameters(part, context) for part in query.seq)
    text = query.as_string(context)
    return text if isinstance(query, (sql.SQL, sql.Placeholder)) else text.replace("%", "%%")


class TrackedCursor(psycopg2.extensions.cursor):
    """A cursor that counts writes and, when echoing (or ``devshell.sql`` is at DEBUG), logs each statement."""

    writes: WriteCounter | None = None
    echo: SqlEcho | None = None  #: this cursor's statements are echoed (``env.log_sql(True)``)
    _quiet = 0

    def execute(self, query: Any, vars: Any = None) -> None:
        with self._observed(query, vars):
            super().execute(query if vars is None else with_parameters(query, self), vars)
        self._count(self.statusmessage or "", self.rowcount)

    def executemany(self, query: Any, vars_list: Any) -> None:
        with self._observed(query, many=len(vars_list) if hasattr(vars_list, "__len__") else -1):
            super().executemany(with_parameters(query, self), vars_list)
        self._count(self.statusmessage or "", self.rowcount)

    def copy_from(self, *args: Any, **kwargs: Any) -> None:
        with self._observed("COPY FROM (copy_from)"):
            super().copy_from(*args, **kwargs)
        self._count("COPY", self.rowcount)

    def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> None:
        with self._observed(sql):
            super().copy_expert(sql, file, size)
        text = sql if isinstance(sql, str) else sql.as_string(self)
        if not _COPY_OUT.search(text):
            self._count("COPY", self.rowcount)

    @contextlib.contextmanager
    def quietly(self) -> Iterator[None]:
        """Statements run inside are never echoed: devshell's own (catalog reflection, REPL savepoints)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    @contextlib.contextmanager
    def _observed(self, query: Any, params: Any = None, many: int | None = None) -> Iterator[None]:
        echo = self.echo
        debug = sql_log.isEnabledFor(logging.DEBUG)
        if (echo is None and not debug) or self._quiet:
            yield
            return
        start, failed = time.perf_counter(), False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            milliseconds = (time.perf_counter() - start) * 1000
            if debug or echo is None or echo.wants(milliseconds):
                sql_log.log(logging.DEBUG if echo is None else logging.INFO, "%s",
                            self._describe(milliseconds, query, params, many, failed))

    def _describe(self, milliseconds: float, query: Any, params: Any, many: int | None, failed: bool) -> str:
        """The statement as PostgreSQL received it, parameters in place (copy it into psql); when it failed,
        or ran once per parameter set, the statement as written and its parameters."""
        if not failed and many is None and self.query:
            return describe(milliseconds, self.query.decode(errors="replace"))
        text = query.as_string(self) if hasattr(query, "as_string") else \
            query.decode(errors="replace") if isinstance(query, bytes) else str(query)
        return describe(milliseconds, text, params, many=many, failed=failed)

    def _count(self, status: str, rowcount: int) -> None:
        if self.writes is None:
            return
        command = status.split(" ", 1)[0].upper()
        if command in ("COMMIT", "ROLLBACK"):  # (ROLLBACK TO SAVEPOINT too: env.savepoint() restores both)
            self.writes.count = 0
            self.writes.ends += 1
        elif command == "COPY" or (command in WRITE_COMMANDS and not (command in ROW_COMMANDS and rowcount == 0)):
            self.writes.count += 1
