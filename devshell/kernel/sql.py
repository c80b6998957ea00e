"""``%%sql`` underneath: ``:name`` parameters taken from the namespace, and results shown as tables.

A ``:name`` outside string literals, quoted identifiers, dollar quotes and
comments becomes the psycopg2 placeholder ``%(name)s`` and the value of ``name``
is passed as a parameter (never pasted into the SQL); ``::`` stays a cast.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import DevshellError, UsageError

if TYPE_CHECKING:
    from ..orm import Environment

DISPLAY_ROWS = 50
CELL_WIDTH = 40
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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


class SqlResult(list):  # type: ignore[type-arg]
    """The rows of a ``%%sql`` cell (named tuples), with the columns and the status line; shown as a table."""

    def __init__(self, rows: Sequence[Any], columns: Sequence[str], status: str, rowcount: int) -> None:
        super().__init__(rows)
        self.columns = tuple(columns)
        self.status = status
        self.rowcount = rowcount

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self]

    def _summary(self) -> str:
        if not self.columns:
            return self.status or f"{self.rowcount} rows affected"
        more = f", {DISPLAY_ROWS} shown" if len(self) > DISPLAY_ROWS else ""
        return f"({len(self)} row{'s' if len(self) != 1 else ''}{more})"

    def __repr__(self) -> str:
        if not self.columns:
            return self._summary()
        rows = [[_cell(value) for value in row] for row in self[:DISPLAY_ROWS]]
        widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(self.columns)]
        lines = [" | ".join(name.ljust(width) for name, width in zip(self.columns, widths)),
                 "-+-".join("-" * width for width in widths)]
        lines += [" | ".join(value.ljust(width) for value, width in zip(row, widths)) for row in rows]
        return "\n".join([*lines, self._summary()])

    def _repr_html_(self) -> str:
        if not self.columns:
            return f"<p>{html.escape(self._summary())}</p>"
        head = "".join(f"<th>{html.escape(name)}</th>" for name in self.columns)
        body = "".join("<tr>" + "".join(_html_cell(value) for value in row) + "</tr>"
                       for row in self[:DISPLAY_ROWS])
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>{html.escape(self._summary())}</p>")


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value).replace("\n", "\\n")
    return text if len(text) <= CELL_WIDTH else text[:CELL_WIDTH - 1] + "…"


def _html_cell(value: Any) -> str:
    if value is None:
        return '<td style="color: #888">NULL</td>'
    return f"<td>{html.escape(str(value))}</td>"


def run_sql(env: "Environment", query: str, namespace: Mapping[str, Any]) -> SqlResult:
    """Run *query* on *env*'s cursor inside a savepoint: a failed statement leaves the transaction usable."""
    import psycopg2

    text, params = bind_parameters(query, namespace)
    cr = env.cr
    try:
        with env.savepoint():
            cr.execute(text, params)
            columns = [column.name for column in cr.description] if cr.description else []
            rows = _named_rows(columns, cr.fetchall()) if columns else []
            status, rowcount = cr.statusmessage or "", cr.rowcount
    except psycopg2.Error as exc:
        message = (exc.pgerror or str(exc)).strip().removeprefix("ERROR:").strip()
        raise SqlError(message) from None
    return SqlResult(rows, columns, status, rowcount)


def _named_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> list[Any]:
    from collections import namedtuple

    row = namedtuple("Row", columns, rename=True)  # type: ignore[misc]
    return [row(*values) for values in rows]
