"""CHECKs devshell cannot read, evaluated by PostgreSQL on candidate rows before they are loaded.

The expression (as ``pg_get_constraintdef`` printed it; a domain's ``VALUE``
replaced by its column) runs over the candidates passed as text arrays and cast
to the columns' types; rows for which it is false are generated again. The probe
has its own autocommit connection: generation runs while the load's connection
is busy with COPY, and the expression needs no table, only the row's values.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from psycopg2 import sql

from .builder import PopulateError
from .constraints import OpaqueCheck
from .expressions import replace_value_keyword
from .tableplan import TablePlan
from .sqltypes import ValueType

if TYPE_CHECKING:
    from .builder import TableBuilder

SAMPLE_ROWS = 200


class Probe:
    """``probe(plan, check, values) -> positions where the CHECK is false``."""

    def __init__(self, connect: Any) -> None:
        self._connect = connect
        self._conn: Any = None

    def __call__(self, plan: TablePlan, check: OpaqueCheck, values: dict[str, list[Any]]) -> set[int]:
        if self._conn is None:
            self._conn = self._connect()
            self._conn.autocommit = True
        names = [name for name in values if name in plan.table.columns]
        expression = check.expression
        if "VALUE" in check.columns:  # a domain CHECK: VALUE stands for the column it guards
            expression = replace_value_keyword(expression, sql.Identifier(check.columns[0]).as_string(self._conn))
        casts = sql.SQL(", ").join(
            sql.SQL("{}::{} AS {}").format(sql.Identifier(f"_{i}"), sql.SQL(_base_type(plan, name)),
                                           sql.Identifier(name)) for i, name in enumerate(names))
        # the row number gets a name no table column has, so the expression's names are never ambiguous
        query = sql.SQL('SELECT "devshell row" FROM (SELECT "devshell row", {casts} FROM unnest({arrays}) '
                        'WITH ORDINALITY AS s({raw}, "devshell row")) t WHERE ({expression}) IS FALSE').format(
            casts=casts, arrays=sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in names),
            raw=sql.SQL(", ").join(sql.Identifier(f"_{i}") for i in range(len(names))),
            expression=sql.SQL(expression.replace("%", "%%")))  # the query has parameters
        params = [[plain_text(plan.types[name], value) for value in values[name]] for name in names]
        try:
            with self._conn.cursor() as cr:
                cr.execute(query, params)
                return {row[0] - 1 for row in cr.fetchall()}
        except Exception as exc:  # psycopg2.Error: the expression does not run on these values
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PopulateError(f"table {plan.key}: CHECK {check.name} cannot be evaluated on generated rows "
                                f"({first}); add a factory for it in a module") from None

    def values(self, plan: TablePlan, expressions: list[str], values: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
        """Each row's value of each expression (index keys devshell does not evaluate), as text."""
        if self._conn is None:
            self._conn = self._connect()
            self._conn.autocommit = True
        names = list(values)
        casts = sql.SQL(", ").join(
            sql.SQL("{}::{} AS {}").format(sql.Identifier(f"_{i}"), sql.SQL(_base_type(plan, name)),
                                           sql.Identifier(name)) for i, name in enumerate(names))
        query = sql.SQL('SELECT {results} FROM (SELECT "devshell row", {casts} FROM unnest({arrays}) '
                        'WITH ORDINALITY AS s({raw}, "devshell row")) t ORDER BY "devshell row"').format(
            results=sql.SQL(", ").join(sql.SQL("({})::text").format(sql.SQL(text.replace("%", "%%")))
                                       for text in expressions),
            casts=casts, arrays=sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in names),
            raw=sql.SQL(", ").join(sql.Identifier(f"_{i}") for i in range(len(names))))
        params = [[plain_text(plan.types[name], value) for value in values[name]] for name in names]
        try:
            with self._conn.cursor() as cr:
                cr.execute(query, params)
                return [tuple(row) for row in cr.fetchall()]
        except Exception as exc:  # psycopg2.Error: the expression does not run on these values
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PopulateError(f"table {plan.key}: index expression {', '.join(expressions)} cannot be "
                                f"evaluated on generated rows ({first}); add a factory for it in a module") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _base_type(plan: TablePlan, name: str) -> str:
    """The column's type without its domain (the domain's own CHECKs are probed separately)."""
    column = plan.table.columns[name]
    return column.domain.base_type if column.domain and not column.is_array else column.type


def plain_text(vtype: ValueType, value: Any) -> str | None:
    """A value as PostgreSQL's text input (not COPY-escaped)."""
    if value is None:
        return None
    if vtype.kind in ("text", "enum", "tsvector", "inet", "macaddr", "xml", "point", "bit"):
        return str(value)
    if vtype.kind == "json":
        return json.dumps(value)
    if vtype.kind == "bytea":
        return "\\x" + value.hex()
    if vtype.kind in ("array", "range"):
        return _unescape(vtype.formatter(value))
    return vtype.formatter(value)


def _unescape(text: str) -> str:
    """COPY text escapes undone (``\\\\`` -> ``\\``, ``\\t`` -> tab…)."""
    out, i = [], 0
    mapping = {"t": "\t", "n": "\n", "r": "\r"}
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(mapping.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def sample_rejection_rates(builder: "TableBuilder", rows: int = SAMPLE_ROWS) -> tuple[dict[str, float], str | None]:
    """Make up to *rows* rows of *builder*'s table as the load would, and report what its CHECKs did.

    Returns (CHECK name -> share of the candidate rows it rejected, the error the
    rows hit or None). The builder's CHECKs not read by devshell are evaluated by
    its probe (PostgreSQL, outside the load's transaction), the others in Python.
    Call the builders in load order: each one publishes its keys for the tables
    that reference it, as in a real run. Meant for ``--dry-run``; the builder is
    spent afterwards (make a new one for a real load).
    """
    error = None
    try:
        builder.rows(0, min(rows, builder.plan.count))
    except PopulateError as exc:
        error = exc.message
    return builder.check_keeper.rates(), error
