"""Models: one per reflected table, with Odoo's search, count, browse, create and read.

``env["film"].search([("length", ">", 90)], order="title desc", limit=5)`` gives a
:class:`~devshell.orm.recordsets.Recordset`. The SQL itself is in
:mod:`devshell.orm.statements`; a model only knows its environment through the small
:class:`ModelEnvironment` protocol, so this module never imports the environment.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol, Sequence

from ..db.catalog import Catalog, Column, QueryError, Table
from .domain import COLLECTIONS, compile_domain, is_domain
from .recordsets import Recordset
from .statements import Row, TableStatements


class ModelRegistry(Protocol):
    """The part of :class:`~devshell.orm.environment.Registry` models use: the catalog and the models."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def models(self) -> Mapping[str, "Model"]: ...


class ModelEnvironment(Protocol):
    """The part of :class:`~devshell.orm.environment.Environment` models use: its cursor and registry."""

    @property
    def cr(self) -> Any: ...

    @property
    def registry(self) -> ModelRegistry: ...


class Model:
    """One table: search, count, browse, create and read."""

    def __init__(self, env: ModelEnvironment, table: Table) -> None:
        self.env = env
        self.table = table
        self.name = table.key
        self.statements = TableStatements(env.cr, table)

    @property
    def columns(self) -> Mapping[str, Column]:
        return self.table.columns

    fields = columns

    def __repr__(self) -> str:
        key = ", ".join(self.table.primary_key) if self.table.primary_key else "none"
        return f"<model {self.name}: {len(self.columns)} columns, primary key {key}>"

    # -- queries ---------------------------------------------------------------------------
    def search(self, domain: Iterable[Any] = (), order: str | None = None, limit: int | None = None,
               offset: int | None = None) -> Recordset:
        """The records matching *domain*, in *order* (default: the primary key)."""
        where = compile_domain(domain, self.table, self.env.registry.catalog)
        rows = self.statements.select(where, order, limit, offset)
        if not self.statements.key:
            return self._keyless(rows)
        return Recordset(self, tuple(self.statements.key_of(row) for row in rows))

    def search_count(self, domain: Iterable[Any] = ()) -> int:
        return self.statements.count(compile_domain(domain, self.table, self.env.registry.catalog))

    def count(self, domain: Iterable[Any] = ()) -> int:
        return self.search_count(domain)

    def browse(self, ids: Any) -> Recordset:
        """Records by primary key (not checked for existence): an id, or a list of ids."""
        key = self.statements.key
        self.statements.require_key("browse")
        if isinstance(ids, Recordset):
            return Recordset(self, tuple(ids.ids))
        if len(key) == 1:
            keys = list(ids) if isinstance(ids, COLLECTIONS) else [ids]
        elif isinstance(ids, tuple) and len(ids) == len(key) and \
                not any(isinstance(part, COLLECTIONS) for part in ids):
            keys = [ids]
        else:
            keys = [tuple(item) if isinstance(item, list) else item
                    for item in (ids if isinstance(ids, COLLECTIONS) else [ids])]
            if not all(isinstance(item, tuple) and len(item) == len(key) for item in keys):
                raise QueryError(f"{self.name} has the composite primary key ({', '.join(key)}): "
                                 f"browse one tuple of {len(key)} values or a list of them, not {ids!r}")
        return Recordset(self, tuple(keys))

    def create(self, values: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Recordset:
        """Insert one row (a dict) or many (a list of dicts, in one statement); returns the records."""
        rows: list[Any] = list(values) if isinstance(values, (list, tuple)) else [values]
        for row in rows:
            if not isinstance(row, Mapping):
                raise QueryError(f"create() takes a dict of column values or a list of them, not {row!r}")
            self.statements.check_columns(row)
        if not rows:
            return Recordset(self, ())
        returned = self.statements.insert(rows)
        if not self.statements.key:
            return self._keyless(returned)
        return Recordset.loaded(self, {self.statements.key_of(row): row for row in returned})

    def read(self, domain_or_ids: Any = (), fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts (primary key first) for a domain or for ids."""
        if is_domain(domain_or_ids):
            where = compile_domain(domain_or_ids, self.table, self.env.registry.catalog)
            return self.statements.read(where, fields)
        return self.browse(domain_or_ids).read(fields)

    def referenced_model(self, column: str) -> "Model | None":
        """The model a single-column foreign key on *column* leads to (by its primary key), else None."""
        fk = self.table.foreign_key_of(column)
        if fk is None:
            return None
        target = self.env.registry.models.get(fk.target)
        return target if target is not None and target.statements.key == fk.ref_columns else None

    def _keyless(self, rows: list[Row]) -> Recordset:
        """Rows of a table without a primary key: positions stand in for ids, values come cached."""
        return Recordset.loaded(self, dict(enumerate(rows)))
