"""Recordsets: ordered sets of records of one model, in the manner of Odoo's ORM.

A record is a recordset of one. Records expose columns as attributes and follow
single-column foreign keys (``film.language_id.name``). Values are fetched once per
recordset, in batches, the first time any record's attribute is read, and shared by
the records drawn from it (iterating, indexing, filtering).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

from ..db.catalog import Column, QueryError, did_you_mean
from .display import DISPLAY_ROWS, TableDisplay, counted, to_pandas, to_polars
from .domain import RecordReference
from .statements import Key, Row, TableStatements

PREFETCH_BATCH = 1000
REPR_IDS = 20


class RecordModel(Protocol):
    """What recordsets need of their model; :class:`~devshell.orm.models.Model` provides it.

    Recordsets run their SQL through the model's :class:`TableStatements` and follow
    foreign keys through :meth:`referenced_model`; they never import the models module.
    """

    @property
    def name(self) -> str: ...

    @property
    def columns(self) -> Mapping[str, Column]: ...

    @property
    def statements(self) -> TableStatements: ...

    def referenced_model(self, column: str) -> "RecordModel | None": ...


class _Prefetch:
    """Rows of one origin recordset, loaded in batches and shared by the records drawn from it."""

    __slots__ = ("model", "ids", "rows", "_index", "_related")

    def __init__(self, model: RecordModel, ids: Sequence[Key], rows: dict[Key, Any] | None = None) -> None:
        self.model = model
        self.ids = tuple(ids)
        self.rows: dict[Key, dict[str, Any] | None] = rows if rows is not None else {}
        self._index: dict[Key, int] | None = None
        self._related: dict[str, _Prefetch] = {}

    def row(self, key: Key) -> dict[str, Any]:
        if key not in self.rows:
            if self._index is None:
                self._index = {value: position for position, value in reversed(list(enumerate(self.ids)))}
            start = self._index.get(key)
            batch = [key] if start is None else \
                [value for value in self.ids[start:start + PREFETCH_BATCH] if value not in self.rows]
            found = self.model.statements.fetch(batch)
            self.rows.update((value, found.get(value)) for value in batch)
        row = self.rows[key]
        if row is None:
            raise QueryError(f"record {self.model.name}({key!r},) does not exist (deleted, or never created)")
        return row

    def related(self, column: str, target: RecordModel, value: Key) -> "_Prefetch":
        """The targets of *column* over every loaded row, so following a key costs one query per batch."""
        current = self._related.get(column)
        if current is None or value not in (current._index or {}):
            keys = dict.fromkeys(row[column] for row in self.rows.values() if row and row[column] is not None)
            current = _Prefetch(target, list(keys), current.rows if current else None)
            current._index = {key: position for position, key in enumerate(current.ids)}
            self._related[column] = current
        return current

    def forget(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self.rows.pop(key, None)


class Recordset(TableDisplay, RecordReference):
    """An ordered set of records of one model; a record is a recordset of one.

    In IPython, ptpython and notebooks a recordset shows as a table of its first rows;
    ``repr()`` stays ``film(1, 2, 3)``.
    """

    __slots__ = ("_model", "_ids", "_prefetch")
    _model: RecordModel
    _ids: tuple[Key, ...]
    _prefetch: _Prefetch

    def __init__(self, model: RecordModel, ids: Sequence[Key], prefetch: _Prefetch | None = None) -> None:
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_ids", tuple(ids))
        object.__setattr__(self, "_prefetch", prefetch if prefetch is not None else _Prefetch(model, ids))

    @classmethod
    def loaded(cls, model: RecordModel, rows: Mapping[Key, Row]) -> "Recordset":
        """The records of *rows* ({key: row}, in order), whose values are already known."""
        records = cls(model, tuple(rows))
        records._prefetch.rows.update(rows)
        return records

    # -- the set -------------------------------------------------------------------------
    @property
    def ids(self) -> list[Key]:
        self._model.statements.require_key("take the ids of")
        return list(self._ids)

    @property
    def id(self) -> Key:
        """The record's primary key (a tuple for composite keys); None for an empty set."""
        if "id" in self._model.columns:
            return self.__getattr__("id")
        return self.ensure_one()._ids[0] if self._ids else None

    def __len__(self) -> int:
        return len(self._ids)

    def __bool__(self) -> bool:
        return bool(self._ids)

    def __iter__(self) -> Iterator["Recordset"]:
        for key in self._ids:
            yield Recordset(self._model, (key,), self._prefetch)

    def __getitem__(self, index: int | slice) -> "Recordset":
        if isinstance(index, slice):
            return Recordset(self._model, self._ids[index], self._prefetch)
        return Recordset(self._model, (self._ids[index],), self._prefetch)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recordset):
            return NotImplemented
        return self._model.name == other._model.name and set(self._ids) == set(other._ids)

    def __hash__(self) -> int:
        return hash((self._model.name, frozenset(self._ids)))

    def __or__(self, other: "Recordset") -> "Recordset":
        """The union, in order, without duplicates."""
        self._same_model(other)
        return Recordset(self._model, tuple(dict.fromkeys(self._ids + other._ids)))

    def __sub__(self, other: "Recordset") -> "Recordset":
        self._same_model(other)
        removed = set(other._ids)
        return Recordset(self._model, tuple(key for key in self._ids if key not in removed), self._prefetch)

    def _same_model(self, other: object) -> None:
        if not isinstance(other, Recordset) or other._model.name != self._model.name:
            raise QueryError(f"cannot combine {self!r} with {other!r}: not records of the same table")
        self._model.statements.require_key("combine")

    def __repr__(self) -> str:
        name = self._model.name
        if not self._model.statements.key:
            return f"{name}(<{len(self._ids)} rows without a primary key>)"
        if len(self._ids) > REPR_IDS:
            shown = ", ".join(map(repr, self._ids[:REPR_IDS]))
            return f"{name}({shown}, … {len(self._ids) - REPR_IDS} more)"
        return f"{name}{self._ids!r}"

    # -- display -----------------------------------------------------------------------------
    # (IPython takes a class's own __repr__ before a base class's _repr_pretty_: name it here)
    _repr_pretty_ = TableDisplay._repr_pretty_

    def _rows(self) -> list[Row]:
        """The rows of the set that still exist, in order, in one query (none for what is cached)."""
        statements = self._model.statements
        if not statements.key:
            return [row for row in (self._prefetch.rows.get(key) for key in self._ids) if row is not None]
        found = statements.fetch(self._ids)
        return [found[key] for key in self._ids if key in found]

    def _table(self) -> tuple[Sequence[str], Sequence[Sequence[Any]], str]:
        columns = list(self._model.columns)
        rows = [[row.get(name) for name in columns] for row in self[:DISPLAY_ROWS]._rows()]
        return columns, rows, f"{self._model.name} " + counted(len(self), "record", min(len(self), DISPLAY_ROWS))

    def to_pandas(self) -> Any:
        """The records as a pandas DataFrame, one column per table column (pandas is imported now)."""
        columns = list(self._model.columns)
        return to_pandas(columns, [[row.get(name) for name in columns] for row in self._rows()])

    def to_polars(self) -> Any:
        """The records as a polars DataFrame, one column per table column (polars is imported now)."""
        columns = list(self._model.columns)
        return to_polars(columns, [[row.get(name) for name in columns] for row in self._rows()])

    def ensure_one(self) -> "Recordset":
        if len(self._ids) != 1:
            raise QueryError(f"expected a single record, got {self!r} (iterate, index, or use mapped())")
        return self

    # -- values ----------------------------------------------------------------------------
    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._model.columns))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._model.columns:
            hint = did_you_mean(name, self._model.columns) if not name.startswith("_") else ""
            raise AttributeError(f"{self._model.name} has no column {name!r}{hint}")
        target = self._model.referenced_model(name)
        if not self._ids:
            return Recordset(target, ()) if target is not None else None
        value = self._prefetch.row(self.ensure_one()._ids[0])[name]
        if target is None:
            return value
        if value is None:
            return Recordset(target, ())
        return Recordset(target, (value,), self._prefetch.related(name, target, value))

    def __setattr__(self, name: str, value: Any) -> None:
        """``record.title = "x"`` writes, like Odoo (on every record of the set)."""
        columns = self._model.columns
        if name not in columns:
            raise AttributeError(f"{self._model.name} has no column {name!r}{did_you_mean(name, columns)}")
        self.write({name: value})

    def read(self, fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The records' rows as dicts (primary key first), in the set's order, in one query."""
        statements = self._model.statements
        if not statements.key:
            statements.select_list(fields)  # checks the names
            wanted = list(self._model.columns) if fields is None else list(fields)
            return [{name: self._prefetch.row(key)[name] for name in wanted} for key in self._ids]
        found = statements.fetch(self._ids, fields)
        missing = [key for key in self._ids if key not in found]
        if missing:
            raise QueryError(f"records {self._model.name}{tuple(missing)!r} do not exist")
        return [found[key] for key in self._ids]

    def mapped(self, path: str | Callable[["Recordset"], Any]) -> Any:
        """Values of a column (records for a foreign key), a dotted path, or a function, over the set."""
        if callable(path):
            return [path(record) for record in self]
        head, _, rest = path.partition(".")
        self._model.statements.table.column(head)
        target = self._model.referenced_model(head)
        values = [getattr(record, head) for record in self]
        if target is not None:
            keys = dict.fromkeys(key for record in values for key in record._ids)
            loaded = [value._prefetch for value in values if value._ids]  # the last knows every target
            values = Recordset(target, tuple(keys), loaded[-1] if loaded else None)  # type: ignore[assignment]
        if not rest:
            return values
        if target is None:
            raise QueryError(f"cannot follow {path!r}: {self._model.name}.{head} is not a foreign key")
        return values.mapped(rest)  # type: ignore[attr-defined]

    def filtered(self, test: str | Callable[["Recordset"], Any]) -> "Recordset":
        """The records for which *test* (a function, or a column name) is true."""
        keep = (lambda record: getattr(record, test)) if isinstance(test, str) else test
        return Recordset(self._model, tuple(r._ids[0] for r in self if keep(r)), self._prefetch)

    def exists(self) -> "Recordset":
        """The records that are still in the table."""
        statements = self._model.statements
        found = statements.fetch(self._ids, list(statements.key)) if self._ids else {}
        return Recordset(self._model, tuple(key for key in self._ids if key in found), self._prefetch)

    # -- changes ---------------------------------------------------------------------------
    def write(self, values: Mapping[str, Any]) -> bool:
        """Update every record of the set with *values*, in one UPDATE."""
        statements = self._model.statements
        statements.require_key("write")
        if not isinstance(values, Mapping) or not values:
            raise QueryError(f"write() takes a non-empty dict of column values, not {values!r}")
        statements.check_columns(values)
        if not self._ids:
            return True
        statements.update(self._ids, values)
        self._prefetch.forget(self._ids)
        return True

    def unlink(self) -> bool:
        """Delete every record of the set, in one DELETE."""
        statements = self._model.statements
        statements.require_key("unlink")
        if self._ids:
            statements.delete(self._ids)
            self._prefetch.forget(self._ids)
        return True
