"""The environment's cursor: it counts data-changing statements and can echo SQL.

The shell warns before throwing away uncommitted writes, so every statement's
status is read as it completes (``WriteCounter``). With the ``devshell.sql`` logger
at DEBUG (the shell's SQL logging flag turns it on), each statement is logged with
its time.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Any, Iterator

import psycopg2.extensions

#: the SQL echo is a channel users switch on by name, not a module's logger
SQL_LOGGER = "devshell.sql"
sql_log = logging.getLogger(SQL_LOGGER)

#: first word of cursor.statusmessage -> the statement changed data or schema
WRITE_COMMANDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "CREATE", "ALTER", "DROP",
                            "GRANT", "REVOKE", "COMMENT", "REFRESH", "SECURITY", "IMPORT", "CLUSTER", "REINDEX"})
ROW_COMMANDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})  # count only when rows changed
_COPY_OUT = re.compile(r"\bTO\s+STDOUT\b", re.IGNORECASE)


class WriteCounter:
    """How many data-changing statements ran since the last commit or rollback."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class TrackedCursor(psycopg2.extensions.cursor):
    """A cursor that counts writes and, with ``devshell.sql`` at DEBUG, logs each statement and its time."""

    writes: WriteCounter | None = None

    def execute(self, query: Any, vars: Any = None) -> None:
        with self._observed(query):
            super().execute(query, vars)
        self._count(self.statusmessage or "", self.rowcount)

    def executemany(self, query: Any, vars_list: Any) -> None:
        with self._observed(query):
            super().executemany(query, vars_list)
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
    def _observed(self, query: Any) -> Iterator[None]:
        if not sql_log.isEnabledFor(logging.DEBUG):
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            text = self.query.decode(errors="replace") if self.query else str(query)
            sql_log.debug("%.2f ms  %s", (time.perf_counter() - start) * 1000, text)

    def _count(self, status: str, rowcount: int) -> None:
        if self.writes is None:
            return
        command = status.split(" ", 1)[0].upper()
        if command in ("COMMIT", "ROLLBACK"):
            self.writes.count = 0
        elif command == "COPY" or (command in WRITE_COMMANDS and not (command in ROW_COMMANDS and rowcount == 0)):
            self.writes.count += 1
