"""The generators of a table's foreign keys: parents picked skewed, trees, keys that share columns.

One slot per foreign key, except that keys sharing a column (``(project_id,
milestone_id)`` and ``(project_id, label_id)``, or a tree inside a tenant) share
one :class:`.references.LinkedKeys` slot that picks parents agreeing on the
shared columns. A key that closes a cycle is loaded as NULL and set by an UPDATE
once its parent exists (``deferred``).
"""

from __future__ import annotations

from typing import Callable

from ..db.catalog import ForeignKey, Table
from .constraints import not_null_columns
from .generators import Constant, Generator, Nullable
from .inference import NULL_RATE, PlanError
from .references import ForeignKeyValues, KeyStore, Link, LinkedKeys, SelfTree

#: (columns, generator, the key it sets afterwards or None)
KeySlot = tuple[tuple[str, ...], Generator, "ForeignKey | None"]


def nullable_key(table: Table, fk: ForeignKey) -> bool:
    """The key may be NULL: its columns are nullable and no CHECK says ``col IS NOT NULL``."""
    required = not_null_columns(table.checks) if table.checks else frozenset()
    return all(table.columns[name].nullable and name not in required for name in fk.columns)


def sharing(keys: list[ForeignKey]) -> list[list[ForeignKey]]:
    """Foreign keys grouped when they share a column (transitively), in declaration order."""
    groups: list[list[ForeignKey]] = []
    for fk in keys:
        joined = [group for group in groups if any(set(fk.columns) & set(other.columns) for other in group)]
        merged = [fk] + [other for group in joined for other in group]
        groups = [group for group in groups if group not in joined] + [merged]
    order = {fk.name: index for index, fk in enumerate(keys)}
    return sorted((sorted(group, key=lambda fk: order[fk.name]) for group in groups), key=lambda g: order[g[0].name])


class KeySlots:
    """Makes the foreign-key slots of the tables of one run (they share the key store and the counts)."""

    def __init__(self, store: KeyStore, counts: dict[str, int], existing: Callable[[str], int]) -> None:
        self.store, self.counts, self.existing = store, counts, existing

    def slots(self, table: Table, existing: int, broken: set[str], notes: list[str]) -> list[KeySlot]:
        """The slots of *table*'s keys; *broken* names the keys that close a cycle (set afterwards)."""
        out: list[KeySlot] = []
        covered: set[str] = set()
        live = [fk for fk in table.foreign_keys if fk.name not in broken]
        for group in sharing(live):
            columns, generator = self._single(table, existing, group[0]) if len(group) == 1 \
                else self._linked(table, group)
            out.append((columns, generator, None))
            covered.update(columns)
        for fk in table.foreign_keys:
            if fk.name not in broken:
                continue
            free = tuple(name for name in fk.columns if name not in covered)
            if len(free) < len(fk.columns):  # shares a column with a key loaded now: left NULL
                notes.append(f"foreign key {fk.name} shares columns with another key and closes a cycle: "
                             f"{', '.join(free)} left NULL")
                if free:
                    out.append((free, Constant(None, f"NULL (cycle through {fk.name})"), None))
            else:
                out.append((fk.columns, self._single(table, existing, fk)[1], fk))
            covered.update(free)
        return out

    def _parent_rows(self, table: Table, fk: ForeignKey) -> int:
        rows = self.counts.get(fk.target, 0) + self.existing(fk.target)
        if rows == 0 and not nullable_key(table, fk) and fk.target != table.key:
            raise PlanError(f"table {table.key} needs rows in {fk.target} (foreign key {fk.name}); "
                            f"populate {fk.target} too")
        self.store.keys(fk.source, fk.ref_columns)  # the parent's builder (or the loader) publishes them
        return rows

    def _single(self, table: Table, existing: int, fk: ForeignKey) -> tuple[tuple[str, ...], Generator]:
        """Parents' keys (skewed) for one foreign key; a tree for a self-reference."""
        nullable = nullable_key(table, fk)
        parent_rows = self._parent_rows(table, fk)
        if fk.target == table.key:
            generator: Generator = SelfTree(self.store, table.key, fk.ref_columns, nullable, existing)
        elif parent_rows > 0:
            generator = ForeignKeyValues(self.store, fk.source, fk.ref_columns, planned=parent_rows)
            if nullable:
                generator = Nullable(generator, NULL_RATE)
        else:
            generator = Constant(None, f"NULL ({fk.target} has no rows)")
        return fk.columns, generator

    def _linked(self, table: Table, group: list[ForeignKey]) -> tuple[tuple[str, ...], Generator]:
        """Foreign keys sharing columns: one slot picks parents that agree on them."""
        group = sorted(group, key=lambda fk: (fk.target == table.key, -len(fk.columns), fk.name))
        links, planned = [], []
        for fk in group:
            planned.append(self._parent_rows(table, fk))
            links.append(Link(fk.source, fk.ref_columns, fk.columns, nullable_key(table, fk), fk.target == table.key))
        columns = tuple(dict.fromkeys(name for fk in group for name in fk.columns))
        own = next((fk.ref_columns for fk in group if fk.target == table.key), ())
        required = not_null_columns(table.checks) if table.checks else frozenset()
        nullable = frozenset(name for name in columns if table.columns[name].nullable and name not in required)
        return columns, LinkedKeys(self.store, columns, links, nullable, NULL_RATE, own, planned[0])
