"""Models: one per reflected table, with Odoo's search, count, browse, create and read.

``env["film"].search([("length", ">", 90)], order="title desc", limit=5)`` gives a
:class:`~devshell.records.Recordset`. Every statement is built with ``psycopg2.sql``
from names checked against the catalog; values travel as parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from psycopg2 import sql

from .db.catalog import Column, QueryError, Table, did_you_mean
from .domain import COLLECTIONS, bind, compile_domain, is_domain, parse_order
from .records import Key, Recordset

if TYPE_CHECKING:
    from .env import Environment


class Model:
    """One table: search, count, browse, create and read."""

    def __init__(self, env: "Environment", table: Table) -> None:
        self.env = env
        self.table = table
        self.name = table.key
        self._key = table.primary_key

    @property
    def columns(self) -> Mapping[str, Column]:
        return self.table.columns

    fields = columns

    def __repr__(self) -> str:
        key = ", ".join(self._key) if self._key else "none"
        return f"<model {self.name}: {len(self.columns)} columns, primary key {key}>"

    # -- queries ---------------------------------------------------------------------------
    def search(self, domain: Iterable[Any] = (), order: str | None = None, limit: int | None = None,
               offset: int | None = None) -> Recordset:
        """The records matching *domain*, in *order* (default: the primary key)."""
        where, params = compile_domain(domain, self.table, self.env.registry.catalog)
        selected = self._key_columns() if self._key else sql.SQL("*")
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(selected, self._relation(), where)
        order_by = parse_order(order, self.table)
        if order_by is None and self._key:
            order_by = self._key_columns()
        if order_by is not None:
            query += sql.SQL(" ORDER BY {}").format(order_by)
        for word, value in (("LIMIT", limit), ("OFFSET", offset)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise QueryError(f"{word.lower()} must be a whole number ≥ 0, not {value!r}")
                query += sql.SQL(f" {word} %s")
                params.append(value)
        rows = self._run(query, params)
        if not self._key:
            return self._keyless(rows)
        return Recordset(self, tuple(self._key_of(row) for row in rows))

    def search_count(self, domain: Iterable[Any] = ()) -> int:
        where, params = compile_domain(domain, self.table, self.env.registry.catalog)
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self._relation(), where)
        return int(self._run(query, params)[0]["count"])

    def count(self, domain: Iterable[Any] = ()) -> int:
        return self.search_count(domain)

    def browse(self, ids: Any) -> Recordset:
        """Records by primary key (not checked for existence): an id, or a list of ids."""
        self._require_key("browse")
        if isinstance(ids, Recordset):
            return Recordset(self, tuple(ids.ids))
        if len(self._key) == 1:
            keys = list(ids) if isinstance(ids, COLLECTIONS) else [ids]
        elif isinstance(ids, tuple) and len(ids) == len(self._key) and \
                not any(isinstance(part, COLLECTIONS) for part in ids):
            keys = [ids]
        else:
            keys = [tuple(key) if isinstance(key, list) else key
                    for key in (ids if isinstance(ids, COLLECTIONS) else [ids])]
            if not all(isinstance(key, tuple) and len(key) == len(self._key) for key in keys):
                raise QueryError(f"{self.name} has the composite primary key ({', '.join(self._key)}): "
                                 f"browse one tuple of {len(self._key)} values or a list of them, not {ids!r}")
        return Recordset(self, tuple(keys))

    def create(self, values: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Recordset:
        """Insert one row (a dict) or many (a list of dicts, in one statement); returns the records."""
        rows = list(values) if isinstance(values, (list, tuple)) else [values]
        for row in rows:
            if not isinstance(row, Mapping):
                raise QueryError(f"create() takes a dict of column values or a list of them, not {row!r}")
            self._check_columns(row)
        if not rows:
            return Recordset(self, ())
        names = [name for name in self.columns if any(name in row for row in rows)] or [next(iter(self.columns))]
        default = sql.SQL("DEFAULT")
        tuples, params = [], []
        for row in rows:
            items = []
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
        returned = self._run(query, params)
        if not self._key:
            return self._keyless(returned)
        records = Recordset(self, tuple(self._key_of(row) for row in returned))
        records._prefetch.rows.update((self._key_of(row), row) for row in returned)
        return records

    def read(self, domain_or_ids: Any = (), fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts (primary key first) for a domain or for ids."""
        if is_domain(domain_or_ids):
            where, params = compile_domain(domain_or_ids, self.table, self.env.registry.catalog)
            order = self._key_columns() if self._key else sql.SQL("1")
            query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
                self._select_list(fields), self._relation(), where, order)
            return self._run(query, params)
        return self.browse(domain_or_ids).read(fields)

    # -- helpers used by recordsets ------------------------------------------------------------
    def _run(self, query: sql.Composable, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        cr = self.env.cr
        cr.execute(query, params or None)
        if cr.description is None:
            return []
        names = [column.name for column in cr.description]
        return [dict(zip(names, row)) for row in cr.fetchall()]

    def _fetch(self, keys: Sequence[Key], fields: Sequence[str] | None = None) -> dict[Key, dict[str, Any]]:
        """{key: row} for the rows of *keys* that exist."""
        if not keys:
            return {}
        query = sql.SQL("SELECT {} FROM {} WHERE {} IN %s").format(
            self._select_list(fields), self._relation(), self._key_columns(parenthesized=True))
        return {self._key_of(row): row for row in self._run(query, [tuple(keys)])}

    def _relation(self) -> sql.Identifier:
        return sql.Identifier(self.table.schema, self.table.name)

    def _key_columns(self, parenthesized: bool = False) -> sql.Composable:
        joined = sql.SQL(", ").join(map(sql.Identifier, self._key))
        return sql.SQL("({})").format(joined) if parenthesized and len(self._key) > 1 else joined

    def _key_of(self, row: Mapping[str, Any]) -> Key:
        return row[self._key[0]] if len(self._key) == 1 else tuple(row[name] for name in self._key)

    def _select_list(self, fields: Sequence[str] | None) -> sql.Composable:
        if fields is None:
            return sql.SQL("*")
        if isinstance(fields, str) or not isinstance(fields, COLLECTIONS):
            raise QueryError(f"fields must be a list of column names, not {fields!r}")
        for name in fields:
            self.table.column(name)
        names = list(dict.fromkeys([*self._key, *fields]))
        return sql.SQL(", ").join(map(sql.Identifier, names))

    def _check_columns(self, values: Mapping[str, Any]) -> None:
        for name in values:
            if name not in self.columns:
                raise QueryError(f"table {self.name!r} has no column {name!r}{did_you_mean(name, self.columns)}")

    def _require_key(self, action: str) -> None:
        if not self._key:
            raise QueryError(f"cannot {action} records of {self.name!r}: the table has no primary key "
                             "(use search/read, or env.sql for this)")

    def _keyless(self, rows: list[dict[str, Any]]) -> Recordset:
        """Rows of a table without a primary key: positions stand in for ids, values come cached."""
        records = Recordset(self, tuple(range(len(rows))))
        records._prefetch.rows.update(enumerate(rows))
        return records

    def _target(self, column: str) -> "Model | None":
        """The model a single-column foreign key on *column* leads to (by its primary key)."""
        fk = self.table.foreign_key_of(column)
        if fk is None:
            return None
        target = self.env.registry.models.get(fk.target)
        return target if target is not None and target._key == fk.ref_columns else None
