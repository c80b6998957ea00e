"""``%%sql`` underneath: ``:name`` parameters taken from the namespace, rows fetched lazily, shown as tables.

A ``:name`` outside string literals, quoted identifiers, dollar quotes and
comments becomes the psycopg2 placeholder ``%(name)s`` and the value of ``name``
is passed as a parameter (never pasted into the SQL); ``::`` stays a cast.

A query that returns rows runs through a server-side cursor and only its first
rows are fetched (the ``sql_autolimit`` setting, ``--limit N``): a query over
ten million rows returns at once instead of filling the kernel's memory.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import DevshellError, UsageError
from ..orm.display import DISPLAY_ROWS, SqlRows, row_type

if TYPE_CHECKING:
    from ..orm import Environment

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ROW_QUERIES = frozenset({"select", "with", "values", "table"})
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


class SqlError(DevshellError):
    """The database refused a statement; shown as its message, without a Python traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"SqlError: {self.message}"]


def _quoted_end(query: str, start: int, quote: str, backslashes: bool) -> int:
    """The index just past the literal or identifier opened at *start*."""
    index = start + 1
    while index < len(query):
        char = query[index]
        if backslashes and char == "\\":
            index += 2
            continue
        if char == quote:
            if query[index + 1:index + 2] == quote:  # doubled quote: an escaped one
                index += 2
                continue
            return index + 1
        index += 1
    return len(query)


def _comment_end(query: str, start: int) -> int:
    """The index just past the (nestable) block comment opened at *start*."""
    depth, index = 0, start
    while index < len(query):
        pair = query[index:index + 2]
        if pair == "/*":
            depth, index = depth + 1, index + 2
        elif pair == "*/":
            depth, index = depth - 1, index + 2
            if depth == 0:
                return index
        else:
            index += 1
    return len(query)


def _skipped_end(query: str, index: int) -> int | None:
    """Where a literal, identifier, dollar quote or comment starting at *index* ends (None: none starts)."""
    char, pair = query[index], query[index:index + 2]
    word_before = index > 0 and (query[index - 1].isalnum() or query[index - 1] in "_$")
    if char == "'":
        escaped = index > 0 and query[index - 1] in "eE" and not (index > 1 and query[index - 2].isalnum())
        return _quoted_end(query, index, "'", escaped)
    if char == '"':
        return _quoted_end(query, index, '"', False)
    if pair == "--":
        newline = query.find("\n", index)
        return len(query) if newline < 0 else newline
    if pair == "/*":
        return _comment_end(query, index)
    if char == "$" and not word_before:
        tag = _DOLLAR_TAG.match(query, index)
        if tag:
            close = query.find(tag.group(), tag.end())
            return len(query) if close < 0 else close + len(tag.group())
    return None


def bind_parameters(query: str, namespace: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(*query* with ``:name`` turned into ``%(name)s``, the values) — or (*query*, None) without any."""
    pieces: list[str] = []
    values: dict[str, Any] = {}
    index = 0
    while index < len(query):
        end = _skipped_end(query, index)
        if end is not None:
            pieces.append(query[index:end].replace("%", "%%"))
            index = end
            continue
        char = query[index]
        if char == ":" and query[index + 1:index + 2] == ":":
            pieces.append("::")
            index += 2
            continue
        name = _NAME.match(query, index + 1) if char == ":" else None
        if name is not None:
            key = name.group()
            if key not in namespace:
                raise UsageError(f"no variable {key!r} for the parameter :{key} (define it first; a cast is "
                                 "written ::type)")
            values[key] = namespace[key]
            pieces.append(f"%({key})s")
            index = name.end()
            continue
        pieces.append("%%" if char == "%" else char)
        index += 1
    return ("".join(pieces), values) if values else (query, None)


def returns_rows(query: str) -> bool:
    """One SELECT / WITH / VALUES / TABLE statement (what a server-side cursor can run)."""
    index, first_word, statements = 0, "", 1
    while index < len(query):
        end = _skipped_end(query, index)
        if end is not None:
            index = end
            continue
        char = query[index]
        if char == ";":
            statements += 1
        elif not char.isspace() and char != "(":
            if statements > 1:
                return False  # something after a semicolon: several statements
            if not first_word:
                word = _NAME.match(query, index)
                first_word = word.group().lower() if word else char
        index += 1
    return first_word in _ROW_QUERIES


class SqlResult(SqlRows):
    """The rows of a ``%%sql`` cell (named tuples), the columns and the status line; shown as a table.

    ``more`` is True when the query had rows past the limit, which were not fetched.
    """

    def __init__(self, rows: Sequence[Any] = (), columns: Sequence[str] = (), status: str = "", rowcount: int = -1,
                 more: bool = False) -> None:
        super().__init__(rows, columns, status, rowcount)
        self.more = more

    def _summary(self) -> str:
        if self.columns and self.more:
            shown = f", {DISPLAY_ROWS} shown" if len(self) > DISPLAY_ROWS else ""
            return (f"({len(self)} rows fetched{shown}; the query has more: %%sql --limit N fetches N, "
                    "--limit 0 all)")
        return super()._summary()

    def __repr__(self) -> str:
        return self.table()


def run_sql(env: "Environment", query: str, namespace: Mapping[str, Any], limit: int = 0) -> SqlResult:
    """Run *query* on *env*'s cursor inside a savepoint: a failed statement leaves the transaction usable.

    With *limit* > 0, a query returning rows is read through a server-side cursor
    and at most *limit* rows are fetched.
    """
    import psycopg2

    text, params = bind_parameters(query, namespace)
    cr = env.cr
    try:
        with env.savepoint():
            if limit > 0 and returns_rows(text) and _declare(env, text, params):
                return _fetch_cursor(env, limit)
            cr.execute(text, params)
            columns = [column.name for column in cr.description] if cr.description else []
            rows = _named_rows(columns, cr.fetchall()) if columns else []
            return SqlResult(rows, columns, cr.statusmessage or "", cr.rowcount)
    except psycopg2.Error as exc:
        message = (exc.pgerror or str(exc)).strip().removeprefix("ERROR:").strip()
        raise SqlError(message) from None


_CURSOR = "devshell_sql_cursor"


def _declare(env: "Environment", text: str, params: dict[str, Any] | None) -> bool:
    """DECLARE a cursor for the query; False when PostgreSQL refuses (a data-modifying WITH): run it plainly."""
    import psycopg2
    from psycopg2 import sql

    declare = sql.SQL("DECLARE {} NO SCROLL CURSOR FOR ").format(sql.Identifier(_CURSOR)) + sql.SQL(text)
    try:
        with env.savepoint():
            env.cr.execute(declare, params)
    except psycopg2.Error:
        return False
    return True


def _fetch_cursor(env: "Environment", limit: int) -> SqlResult:
    from psycopg2 import sql

    cr = env.cr
    cr.execute(sql.SQL("FETCH FORWARD {} FROM {}").format(sql.Literal(limit + 1), sql.Identifier(_CURSOR)))
    columns = [column.name for column in cr.description] if cr.description else []
    fetched = cr.fetchmany(limit + 1)
    cr.execute(sql.SQL("CLOSE {}").format(sql.Identifier(_CURSOR)))
    more = len(fetched) > limit
    rows = _named_rows(columns, fetched[:limit])
    return SqlResult(rows, columns, f"SELECT {len(rows)}", len(rows), more=more)


def _named_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> list[Any]:
    row = row_type(tuple(columns))
    return [row(*values) for values in rows]
