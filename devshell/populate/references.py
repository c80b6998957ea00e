"""Foreign-key values: children pick parents with a skewed fan-out; self-references form trees.

Real data is not round-robin: a few customers rent a lot, most rent a little.
Each foreign key ranks the parent rows in its own random order and picks them
with Zipf-like weights ``1 / (rank + 1) ** SKEW``.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from random import Random
from typing import Any, Callable, Sequence

from .generators import Generator, Row

SKEW = 0.8
ROOT_SHARE = 0.02  # nullable self-references: this share of rows are roots


@functools.lru_cache(maxsize=64)
def zipf_weights(size: int) -> list[float]:
    """Cumulative weights ``1 / (rank + 1) ** SKEW`` for ranks 0..size-1."""
    return list(itertools.accumulate(1.0 / (rank + 1) ** SKEW for rank in range(size)))


class KeyStore:
    """The key values of every table a foreign key points at: existing rows, then generated ones.

    ``planned`` keys (ids devshell will assign) are known before the parent is
    generated, which lets a deferrable foreign key point forward.
    """

    def __init__(self) -> None:
        self._keys: dict[tuple[str, tuple[str, ...]], list[Any]] = {}

    def keys(self, table: str, columns: tuple[str, ...]) -> list[Any]:
        return self._keys.setdefault((table, columns), [])

    def add(self, table: str, columns: tuple[str, ...], values: Sequence[Any]) -> None:
        self.keys(table, columns).extend(values)

    def wanted(self) -> list[tuple[str, tuple[str, ...]]]:
        return list(self._keys)


@dataclass
class ForeignKeyValues(Generator):
    """Values of one foreign key (a tuple per row when it has several columns)."""

    store: KeyStore
    parent: str
    parent_columns: tuple[str, ...]
    planned: int = 0  # parent rows expected when the plan is made (existing + to be generated)

    def __post_init__(self) -> None:
        self.label = f"→ {self.parent}"
        self._order: tuple[int, int, int] = (0, 1, 0)  # (parent rows, step, shift)

    @property
    def capacity(self) -> int | None:  # type: ignore[override]
        return len(self.store.keys(self.parent, self.parent_columns)) or self.planned

    def settle(self, rng: Random) -> None:
        """Draw this key's popularity order now, once for the table (not with the first chunk's seed)."""
        self._ordered(rng, len(self.store.keys(self.parent, self.parent_columns)))

    def _ordered(self, rng: Random, size: int) -> tuple[int, int, int]:
        if self._order[0] != size:  # this key's own popularity order: rank r is parent (r * step + shift) % size
            step = rng.randrange(1, size) if size > 1 else 1
            while math.gcd(step, size) != 1:
                step += 1
            self._order = (size, step, rng.randrange(size) if size else 0)
        return self._order

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        keys = self.store.keys(self.parent, self.parent_columns)
        size = len(keys)
        if not size:
            return [None] * len(rows)
        _, step, shift = self._ordered(rng, size)
        ranks = rng.choices(range(size), cum_weights=zipf_weights(size), k=len(rows))
        return [keys[(rank * step + shift) % size] for rank in ranks]

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        return rng.sample(self.store.keys(self.parent, self.parent_columns), count)


@dataclass
class SelfTree(Generator):
    """A reference to a row of the same table made earlier: the rows form a tree.

    The builder puts the chunk's own keys in the store before this runs, so row
    *i* can point at any row before it. The first row points at itself when the
    column is NOT NULL (a root must point somewhere); when nullable, roots hold NULL.
    """

    store: KeyStore
    table: str
    key_columns: tuple[str, ...]
    nullable: bool
    existing: int = 0  # rows already in the table (any of them can be a parent)

    def __post_init__(self) -> None:
        self.label = "tree (parent = an earlier row)"
        self.depends = self.key_columns

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        keys = self.store.keys(self.table, self.key_columns)
        random, nullable, existing, out = rng.random, self.nullable, self.existing, []
        for index in rows:
            earlier = existing + index  # rows before this one, the table's existing ones included
            if earlier == 0 or (nullable and random() < ROOT_SHARE):
                out.append(None if nullable else keys[earlier])
            else:
                out.append(keys[int(earlier * random() ** 2)])  # early rows parent more: bushy trees
        return out



@dataclass
class Link:
    """One foreign key inside a :class:`LinkedKeys` slot: its parent's keys and the columns they fill."""

    parent: str  # where the keys are published (a table, or one partition: ``ForeignKey.source``)
    source: tuple[str, ...]  # the referenced columns
    child_columns: tuple[str, ...]
    optional: bool  # every child column may be NULL
    is_self: bool = False

    @property
    def width(self) -> int:
        return len(self.child_columns)

    def parents(self, store: KeyStore) -> list[tuple[Any, ...]]:
        keys = store.keys(self.parent, self.source)
        return keys if len(self.source) > 1 else [(key,) for key in keys]


Index = dict[tuple[Any, ...], list[tuple[Any, ...]]]


@dataclass
class LinkedKeys(Generator):
    """Foreign keys that share columns: each row's parents agree on the shared ones.

    ``issue (project_id, milestone_id) → milestone`` and ``(project_id, label_id) →
    label``: a milestone is picked first (skewed), then a label of the same
    project. A link that finds no parent agreeing with the columns already chosen
    is left NULL when its free columns may be, otherwise the row starts over. A
    reference to the table itself (a tree inside a tenant) picks a row of an
    earlier chunk with the same shared values, or is a root.
    """

    store: KeyStore
    columns: tuple[str, ...]
    links: list[Link]
    nullable: frozenset[str] = frozenset()
    null_rate: float = 0.1
    own_key: tuple[str, ...] = ()  # the referenced columns of a self link (a NOT NULL root points at itself)
    planned: int = 0  # the first parent's rows expected when the plan is made

    def __post_init__(self) -> None:
        self.label = " + ".join(f"→ {link.parent}" for link in self.links)
        self.depends = tuple(name for name in self.own_key if name not in self.columns)
        self._prepared: tuple[tuple[int, ...], list[tuple[Any, ...]], list[Index]] | None = None
        self._fixed: list[list[int]] = []  # per link: positions of its columns that earlier links chose
        self.firsts: list[tuple[Any, ...]] | None = None  # row i's first parent, when they must all differ

    @property
    def capacity(self) -> int | None:  # type: ignore[override]
        first = self.links[0]
        return None if first.is_self else len(first.parents(self.store)) or self.planned or None

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        if len(self.links) != 1 or self.links[0].is_self:
            return None
        first = self.links[0].parents(self.store)
        return [row if len(row) > 1 else row[0] for row in rng.sample(first, count)]

    def draw_first(self, rng: Random, count: int, allowed: Callable[[tuple[Any, ...]], bool]) -> bool:
        """Every row a different first parent (a unique over the first key's columns), drawn now among
        the *allowed* ones; False when there are too few."""
        if self.links[0].is_self:
            return False
        first = [parent for parent in self._prepare()[0] if allowed(parent)]
        if len(first) < count:
            return False
        self.firsts = rng.sample(first, count)
        return True

    def _prepare(self) -> tuple[list[tuple[Any, ...]], list[Index]]:
        """Parent rows per link, indexed by the values of the columns earlier links fixed (cached
        until a parent gets more rows)."""
        sizes = tuple(len(self.store.keys(link.parent, link.source)) for link in self.links)
        if self._prepared is not None and self._prepared[0] == sizes:
            return self._prepared[1], self._prepared[2]
        known: set[str] = set()
        self._fixed = fixed = []
        for link in self.links:
            fixed.append([i for i, name in enumerate(link.child_columns) if name in known])
            known.update(link.child_columns)
        indexes: list[Index] = []
        for link, positions in zip(self.links, fixed):
            index: Index = {}
            for parent in link.parents(self.store):  # a self link: the rows of earlier chunks
                index.setdefault(tuple(parent[i] for i in positions), []).append(parent)
            indexes.append(index)
        first = [] if self.links[0].is_self else self.links[0].parents(self.store)
        names = self.links[0].child_columns
        for link, positions, index in zip(self.links[1:], fixed[1:], indexes[1:]):
            # a first pick must leave a parent to every later link that depends on it alone
            if link.is_self or all(name in self.nullable for name in link.child_columns) \
                    or not all(link.child_columns[i] in names for i in positions):
                continue
            where = [names.index(link.child_columns[i]) for i in positions]
            first = [row for row in first if tuple(row[i] for i in where) in index]
        Random(len(first)).shuffle(first)  # popularity follows a random order, not the parents' ids
        self._prepared = (sizes, first, indexes)
        return first, indexes

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        first, indexes = self._prepare()
        return [self._one(rng, first if self.firsts is None else [self.firsts[index]], indexes, row, position)
                for position, index in enumerate(rows)]

    def _one(self, rng: Random, first: list[tuple[Any, ...]], indexes: list[Index], row: Row,
             position: int) -> tuple[Any, ...]:
        values: dict[str, Any] = {}
        for _ in range(10):
            values = {}
            for number, link in enumerate(self.links):
                free = [name for name in link.child_columns if name not in values]
                if not free:
                    continue  # fixed by the links before (its parent exists: see _prepare)
                if link.optional and len(free) == link.width and rng.random() < self.null_rate \
                        and (number or self.firsts is None):
                    values.update(dict.fromkeys(free))
                elif link.is_self:
                    values.update(self._self_parent(rng, link, values, indexes[number], row, position))
                else:
                    fixed = tuple(values[name] for name in link.child_columns if name in values)
                    candidates = first if number == 0 else indexes[number].get(fixed, [])
                    if None in fixed:  # a NULL column leaves the key unchecked (MATCH SIMPLE): any parent
                        candidates = [parent for group in indexes[number].values() for parent in group[:1]]
                    if candidates:
                        values.update(zip(link.child_columns, candidates[_skewed(rng, len(candidates))]))
                    elif all(name in self.nullable for name in free):
                        values.update(dict.fromkeys(free))
                    else:
                        break  # no parent agrees: start the row again
            else:
                break
        return tuple(values.get(name) for name in self.columns)  # after 10 tries PostgreSQL names the key

    def _self_parent(self, rng: Random, link: Link, values: dict[str, Any], index: Index, row: Row,
                     position: int) -> dict[str, Any]:
        """A row of an earlier chunk with the same shared values, else a root."""
        candidates = index.get(tuple(values[name] for name in link.child_columns if name in values), [])
        free = [name for name in link.child_columns if name not in values]
        if candidates and rng.random() > ROOT_SHARE:
            pick = candidates[_skewed(rng, len(candidates))]
            return {name: pick[i] for i, name in enumerate(link.child_columns) if name in free}
        if all(name in self.nullable for name in free):
            return dict.fromkeys(free)
        own = {**{name: row[name][position] for name in self.own_key if name in row}, **values}
        return {name: own.get(ref) for name, ref in zip(link.child_columns, self.own_key) if name in free}


def _skewed(rng: Random, size: int) -> int:
    """A rank in 0..size-1, small ranks more often (the same Zipf-like law as :class:`ForeignKeyValues`)."""
    if size == 1:
        return 0
    if size > 4096:
        return int(size * rng.random() ** 2)
    return rng.choices(range(size), cum_weights=zipf_weights(size))[0]
