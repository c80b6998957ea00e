"""Rows shown as tables: text in a terminal, HTML in a notebook, DataFrames on demand.

Recordsets, ``env.sql()`` results and ``%%sql`` results show their first
:data:`DISPLAY_ROWS` rows and say how many there are. IPython calls
``_repr_pretty_`` (terminal) or ``_repr_html_`` (notebook), ptpython calls
``__pt_repr__``; ``repr()`` itself is left to each class. pandas and polars are
imported only by ``to_pandas()`` / ``to_polars()`` (``pip install 'devshell[dataframe]'``).
"""

from __future__ import annotations

import html
import shutil
from collections import namedtuple
from functools import lru_cache
from typing import Any, Iterable, Sequence

from ..errors import DevshellError

DISPLAY_ROWS = 50  #: rows shown before "… N more"
CELL_WIDTH = 40  #: characters of one value in the text table
DEFAULT_WIDTH = 120  #: the text table's width when there is no terminal to measure


@lru_cache(maxsize=256)
def row_type(names: tuple[str, ...]) -> type:
    """A named tuple for these column names (invalid or repeated names become _0, _1…)."""
    return namedtuple("Row", names, rename=True)  # type: ignore[misc]


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value).replace("\n", "\\n")
    return text if len(text) <= CELL_WIDTH else text[:CELL_WIDTH - 1] + "…"


def _html_cell(value: Any) -> str:
    if value is None:
        return '<td style="color: #888">NULL</td>'
    return f"<td>{html.escape(str(value))}</td>"


def terminal_width() -> int:
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def text_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], summary: str, width: int | None = None) -> str:
    """Columns ``a | b``, a rule, the rows, then *summary*; columns past *width* are left out and named."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    limit = width or terminal_width()
    shown, used = 0, 0
    for column_width in widths:
        if shown and used + 3 + column_width > limit:
            break
        used += (3 if shown else 0) + column_width
        shown += 1
    hidden = list(columns[shown:])
    lines = [" | ".join(name.ljust(w) for name, w in zip(columns[:shown], widths)).rstrip(),
             "-+-".join("-" * w for w in widths[:shown])]
    lines += [" | ".join(value.ljust(w) for value, w in zip(row[:shown], widths)).rstrip() for row in cells]
    if hidden:
        summary += f" ({len(hidden)} more column{'s' if len(hidden) != 1 else ''}: {', '.join(hidden)})"
    return "\n".join([*lines, summary])


def html_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], summary: str) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in columns)
    body = "".join("<tr>" + "".join(_html_cell(value) for value in row) + "</tr>" for row in rows)
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p>{html.escape(summary)}</p>")


def counted(count: int, noun: str, shown: int, more: bool = False) -> str:
    """``(3 rows)``, ``(120 records, 50 shown)``, ``(1000 rows fetched, more not fetched)``."""
    text = f"{count} {noun}{'s' if count != 1 else ''}"
    if more:
        return f"({text} fetched; the query has more)"
    return f"({text}, {shown} shown)" if shown < count else f"({text})"


def to_pandas(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
    try:
        import pandas
    except ImportError:
        raise DevshellError("pandas is not installed: pip install 'devshell[dataframe]' (or pandas)") from None
    return pandas.DataFrame.from_records([tuple(row) for row in rows], columns=list(columns))


def to_polars(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
    try:
        import polars
    except ImportError:
        raise DevshellError("polars is not installed: pip install 'devshell[dataframe]' (or polars)") from None
    return polars.DataFrame([tuple(row) for row in rows], schema=list(columns), orient="row",
                            infer_schema_length=None)


class TableDisplay:
    """Shows ``self`` as a table; subclasses give :meth:`_table` (columns, the rows shown, the summary)."""

    __slots__ = ()

    def _table(self) -> tuple[Sequence[str], Sequence[Sequence[Any]], str]:
        raise NotImplementedError

    def table(self, width: int | None = None) -> str:
        """The text table (what the terminal shows)."""
        columns, rows, summary = self._table()
        if not columns:
            return summary
        return text_table(columns, rows, summary, width)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.table() if not cycle else "...")

    def __pt_repr__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        columns, rows, summary = self._table()
        if not columns:
            return f"<p>{html.escape(summary)}</p>"
        return html_table(columns, rows, summary)


class SqlRows(TableDisplay, list):  # type: ignore[type-arg]
    """Rows of a query (named tuples) with their column names: a list that shows as a table."""

    def __init__(self, rows: Iterable[Any] = (), columns: Sequence[str] = (), status: str = "",
                 rowcount: int = -1) -> None:
        super().__init__(rows)
        self.columns = tuple(columns)
        self.status = status
        self.rowcount = rowcount

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self]

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (pandas is imported now, not before)."""
        return to_pandas(self.columns, self)

    def to_polars(self) -> Any:
        """The rows as a polars DataFrame (polars is imported now, not before)."""
        return to_polars(self.columns, self)

    def _summary(self) -> str:
        if not self.columns:
            return self.status or f"{self.rowcount} rows affected"
        return counted(len(self), "row", min(len(self), DISPLAY_ROWS))

    def _table(self) -> tuple[Sequence[str], Sequence[Sequence[Any]], str]:
        return self.columns, self[:DISPLAY_ROWS], self._summary()
