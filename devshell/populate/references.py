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
from typing import Any, Sequence

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

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        keys = self.store.keys(self.parent, self.parent_columns)
        size = len(keys)
        if not size:
            return [None] * len(rows)
        if self._order[0] != size:  # this key's own popularity order: rank r is parent (r * step + shift) % size
            step = rng.randrange(1, size) if size > 1 else 1
            while math.gcd(step, size) != 1:
                step += 1
            self._order = (size, step, rng.randrange(size))
        _, step, shift = self._order
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
