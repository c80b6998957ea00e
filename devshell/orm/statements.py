"""The SQL of one table: every statement that models and recordsets run on it.

Statements are built with ``psycopg2.sql`` from names checked against the catalog;
values travel as parameters. Rows come back as dicts keyed by column name. This is
the interface models and recordsets share, so neither reaches into the other.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from psycopg2 import sql

from ..db.catalog import Column, QueryError, Table, did_you_mean
from .domain import COLLECTIONS, Clause, bind, parse_order

Key = Any  # a primary key value, a tuple for composite keys
MAX_BIGINT = 2**63 - 1  #: the largest LIMIT or OFFSET PostgreSQL takes
Row = dict[str, Any]


class TableStatements:
    """Selects, inserts, updates and deletes on *table* through the cursor *cr*."""

    def __init__(self, cr: Any, table: Table) -> None:
        self.cr = cr
        self.table = table
        self.key: tuple[str, ...] = table.primary_key

    @property
    def columns(self) -> Mapping[str, Column]:
        return self.table.columns

    # -- checks ----------------------------------------------------------------------------
    def require_key(self, action: str) -> None:
        """Refuse *action* on a table without a primary key (its rows cannot be named)."""
        if not self.key:
            raise QueryError(f"cannot {action} records of {self.table.key!r}: the table has no primary key "
                             "(use search/read, or env.sql for this)")

    def check_columns(self, values: Mapping[str, Any]) -> None:
        for name in values:
            if name not in self.columns:
                raise QueryError(f"table {self.table.key!r} has no column {name!r}"
                                 f"{did_you_mean(name, self.columns)}")

    def select_list(self, fields: Sequence[str] | None) -> sql.Composable:
        """``*``, or the primary key and *fields* (each checked against the table)."""
        if fields is None:
            return sql.SQL("*")
        if isinstance(fields, str) or not isinstance(fields, COLLECTIONS):
            raise QueryError(f"fields must be a list of column names, not {fields!r}")
        for name in fields:
            self.table.column(name)
        names = list(dict.fromkeys([*self.key, *fields]))
        return sql.SQL(", ").join(map(sql.Identifier, names))

    def key_of(self, row: Mapping[str, Any]) -> Key:
        return row[self.key[0]] if len(self.key) == 1 else tuple(row[name] for name in self.key)

    # -- statements ------------------------------------------------------------------------
    def select(self, where: Clause, order: str | Sequence[str] | None = None, limit: int | None = None,
               offset: int | None = None) -> list[Row]:
        """The rows matching *where* (only their keys when the table has one), in *order* (default: the key)."""
        condition, params = where
        selected = self._key_columns() if self.key else sql.SQL("*")
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(selected, self._relation(), condition)
        order_by = parse_order(order, self.table)
        if order_by is None and self.key:
            order_by = self._key_columns()
        if order_by is not None:
            query += sql.SQL(" ORDER BY {}").format(order_by)
        params = list(params)
        for word, value in (("LIMIT", limit), ("OFFSET", offset)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BIGINT:
                    raise QueryError(f"{word.lower()} must be a whole number from 0 to {MAX_BIGINT}, not {value!r}")
                query += sql.SQL(f" {word} %s")
                params.append(value)
        return self.run(query, params)

    def count(self, where: Clause) -> int:
        condition, params = where
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self._relation(), condition)
        return int(self.run(query, params)[0]["count"])

    def read(self, where: Clause, fields: Sequence[str] | None = None) -> list[Row]:
        """Rows matching *where* with *fields* (all by default), in key order."""
        condition, params = where
        order = self._key_columns() if self.key else sql.SQL("1")
        query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
            self.select_list(fields), self._relation(), condition, order)
        return self.run(query, params)

    def fetch(self, keys: Sequence[Key], fields: Sequence[str] | None = None) -> dict[Key, Row]:
        """{key: row} for the rows of *keys* that exist."""
        if not keys:
            return {}
        query = sql.SQL("SELECT {} FROM {} WHERE {} IN %s").format(
            self.select_list(fields), self._relation(), self._key_columns(parenthesized=True))
        return {self.key_of(row): row for row in self.run(query, [tuple(keys)])}

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> list[Row]:
        """Insert *rows* in one statement (columns a row lacks get their default); the rows as stored."""
        names = [name for name in self.columns if any(name in row for row in rows)] or [next(iter(self.columns))]
        default = sql.SQL("DEFAULT")
        tuples, params = [], []
        for row in rows:
            items: list[sql.Composable] = []
            for name in names:
                if name not in row:
                    items.append(default)
                    continue
                placeholder, param = bind(self.columns[name], row[name])
                items.append(placeholder)
                params.append(param)
            tuples.append(sql.SQL("({})").format(sql.SQL(", ").join(items)))
        query = sql.SQL("INSERT INTO {} ({}) VALUES {} RETURNING *").format(
            self._relation(), sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(", ").join(tuples))
        return self.run(query, params)

    def update(self, keys: Sequence[Key], values: Mapping[str, Any]) -> None:
        """Set *values* on the rows of *keys*, in one UPDATE."""
        assignments, params = [], []
        for name, value in values.items():
            placeholder, param = bind(self.columns[name], value)
            assignments.append(sql.SQL("{} = {}").format(sql.Identifier(name), placeholder))
            params.append(param)
        query = sql.SQL("UPDATE {} SET {} WHERE {} IN %s").format(
            self._relation(), sql.SQL(", ").join(assignments), self._key_columns(parenthesized=True))
        self.run(query, [*params, tuple(keys)])

    def delete(self, keys: Sequence[Key]) -> None:
        query = sql.SQL("DELETE FROM {} WHERE {} IN %s").format(
            self._relation(), self._key_columns(parenthesized=True))
        self.run(query, [tuple(keys)])

    def run(self, query: sql.Composable, params: Sequence[Any] | None = None) -> list[Row]:
        """Execute *query*; its rows as dicts ([] for a statement without rows)."""
        cr = self.cr
        cr.execute(query, params or None)
        if cr.description is None:
            return []
        names = [column.name for column in cr.description]
        return [dict(zip(names, row)) for row in cr.fetchall()]

    def _relation(self) -> sql.Identifier:
        return sql.Identifier(self.table.schema, self.table.name)

    def _key_columns(self, parenthesized: bool = False) -> sql.Composable:
        joined = sql.SQL(", ").join(map(sql.Identifier, self.key))
        return sql.SQL("({})").format(joined) if parenthesized and len(self.key) > 1 else joined
