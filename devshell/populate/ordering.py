"""Load order over the foreign-key graph: parents first, cycles broken at a nullable foreign key.

Self-references are not cycles here (a table's rows form a tree, see
:class:`.references.SelfTree`). A cycle between tables is broken at one of its
foreign keys: a nullable one is loaded as NULL and filled by an UPDATE once
its parent exists. A cycle of NOT NULL keys cannot be loaded and is reported.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable

from ..db.catalog import ForeignKey
from .inference import PlanError


@dataclass(frozen=True)
class Edge:
    child: str
    parent: str
    fk: ForeignKey
    nullable: bool
    has_key: bool  # the child has a primary key (needed to UPDATE its rows afterwards)

    @property
    def breakable(self) -> bool:
        return self.has_key and self.nullable

    def describe(self) -> str:
        return f"{self.child}.{','.join(self.fk.columns)} → {self.parent}"


def load_order(tables: list[str], edges: list[Edge]) -> tuple[list[str], list[Edge]]:
    """Tables in load order (parents first, ties by name) and the edges broken to get there."""
    live = [edge for edge in edges if edge.child != edge.parent]
    broken: list[Edge] = []
    while True:
        order, stuck = _kahn(tables, live)
        if not stuck:
            return order, broken
        cycle = _find_cycle(stuck, live)
        candidates = sorted((edge for edge in cycle if edge.breakable), key=lambda edge: (edge.child, edge.fk.name))
        if not candidates:
            path = " → ".join([cycle[0].child] + [edge.parent for edge in cycle])
            raise PlanError(f"foreign keys form a cycle {path} and none of them can be filled afterwards "
                            "(make one of them nullable, on a table with a primary key)")
        broken.append(candidates[0])
        live.remove(candidates[0])


def _kahn(tables: list[str], edges: list[Edge]) -> tuple[list[str], set[str]]:
    waiting = {table: 0 for table in tables}
    children: dict[str, list[str]] = {table: [] for table in tables}
    for edge in edges:
        waiting[edge.child] += 1
        children[edge.parent].append(edge.child)
    ready = [table for table, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        table = heapq.heappop(ready)
        order.append(table)
        for child in children[table]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    return order, {table for table, count in waiting.items() if count > 0}


def _find_cycle(stuck: set[str], edges: list[Edge]) -> list[Edge]:
    """One cycle among the tables Kahn could not order (each of them is on or behind a cycle)."""
    outgoing: dict[str, list[Edge]] = {}
    for edge in sorted(edges, key=lambda edge: (edge.child, edge.fk.name)):
        if edge.child in stuck and edge.parent in stuck:
            outgoing.setdefault(edge.child, []).append(edge)
    start = min(stuck)
    path: list[Edge] = []
    seen: dict[str, int] = {start: 0}
    current = start
    while True:  # every stuck table has a stuck parent, so walking parents must loop
        edge = outgoing[current][0]
        path.append(edge)
        if edge.parent in seen:
            return path[seen[edge.parent]:]
        seen[edge.parent] = len(path)
        current = edge.parent


def closure(selected: list[str], parents_of: Callable[[str], list[str]]) -> dict[str, str]:
    """Tables that must be added so every NOT NULL foreign key has rows to point at: {table: needed by}."""
    added: dict[str, str] = {}
    queue = list(selected)
    while queue:
        table = queue.pop()
        for parent in parents_of(table):
            if parent not in selected and parent not in added:
                added[parent] = table
                queue.append(parent)
    return added
