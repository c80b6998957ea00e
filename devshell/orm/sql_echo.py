"""The SQL echo: each statement an environment runs, on one line with its parameters and duration.

``devshell shell --log-sql``, ``env.log_sql(True)`` and ``%devshell sql-log on``
switch it on for one environment at run time; the lines go to the
``devshell.sql`` logger at INFO, which writes them on stderr unless the
application gave that logger a handler of its own. ``devshell --debug`` sets the
logger to DEBUG, which logs the statements of every environment (a server's too).
What devshell runs for itself (catalog reflection at startup, the REPL's
savepoints) is hidden: the cursor runs it quietly.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

#: the SQL echo is a channel users switch on by name, not a module's logger
SQL_LOGGER = "devshell.sql"
sql_log = logging.getLogger(SQL_LOGGER)

TEXT_LIMIT = 2000  #: characters of a statement shown (a create() of many rows is one long INSERT)
PARAMS_LIMIT = 300  #: characters of its parameters shown


@dataclass
class SqlEcho:
    """The echo of one cursor: statements faster than *min_ms* milliseconds are left out."""

    min_ms: float = 0.0

    def wants(self, milliseconds: float) -> bool:
        return milliseconds >= self.min_ms


class _CurrentStderr(logging.Handler):
    """Writes on whatever ``sys.stderr`` is at the time (a Jupyter kernel replaces it per cell)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break the statement it reports
            self.handleError(record)


def enable_output() -> None:
    """Make INFO lines of ``devshell.sql`` visible: a stderr handler unless the logger has one already."""
    if not sql_log.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        sql_log.addHandler(handler)
        sql_log.propagate = False  # the root logger (a server's log) does not print them a second time
    if sql_log.getEffectiveLevel() > logging.INFO:
        sql_log.setLevel(logging.INFO)


def one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def describe(milliseconds: float, statement: str, params: Any = None, *, many: int | None = None,
             failed: bool = False) -> str:
    """``SQL  1.23 ms  SELECT … WHERE "id" = 42``: one line, whatever the statement (*params*, when given,
    follow as ``-- params (42,)``)."""
    line = f"SQL {milliseconds:8.2f} ms  {one_line(statement, TEXT_LIMIT)}"
    if many is not None:
        line += f"  -- {many} parameter sets" if many >= 0 else "  -- executemany"
    elif params is not None:
        line += f"  -- params {one_line(repr(params), PARAMS_LIMIT)}"
    if failed:
        line += "  -- failed"
    return line
