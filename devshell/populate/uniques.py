"""Unique keys and exclusion constraints as the builder enforces them on generated rows.

Every shape comes down to a :class:`UniqueKey`: the columns it reads, how a row's
key is computed (the columns themselves, or index expressions such as
``lower(name)``), which rows it holds (a partial index's ``WHERE``), and whether
NULLs count. Keys are compared in a canonical hashable form, so jsonb objects and
arrays work too. What cannot be evaluated in Python is evaluated by PostgreSQL on
the candidate rows (through the builder's probe); without one it is made
stricter: an unknown predicate holds every row, an unknown key expression is
replaced by the columns it reads, compared case-folded.

An :class:`ExclusionRule` keeps ``EXCLUDE (k WITH =, tstzrange(a, b) WITH &&)``:
rows with equal ``k`` get ranges that do not overlap (the builder moves a
clashing range to the next free gap of its key).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..db.catalog import Exclusion, Table, UniqueIndex
from .keyexpr import Compiled, NotCompiled, Row, canonical, columns_read, compile_predicate, compile_value
from .sqltypes import ValueType

UNHASHABLE = {"json", "array", "range"}
PADDED = "character"  # char(n): PostgreSQL ignores trailing blanks
RANGE_CALL = re.compile(r"^(\w+range)\((.+)\)$", re.IGNORECASE)
#: ``evaluate(expressions, values)``: each row's value of each SQL expression (PostgreSQL computes them)
Evaluate = Optional[Callable[[list[str], Row], list[tuple[Any, ...]]]]


def _folded(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else canonical(value)


@dataclass
class UniqueKey:
    """Rows may not share a key; ``keys(values, positions)`` leaves out the rows it does not hold."""

    name: str
    columns: tuple[str, ...]  # the key's columns (with ``parts``: the columns the expressions read)
    parts: list[Compiled] | None = None  # None: the columns themselves
    where: Compiled | None = None  # a partial index's predicate
    nulls_distinct: bool = True
    canonical: bool = False  # some column holds unhashable values (jsonb, arrays)
    reads: tuple[str, ...] = ()  # every column needed to compute a key (predicate included)
    note: str = ""  # what was made stricter, for the plan (when PostgreSQL cannot evaluate it instead)
    sql_keys: tuple[str, ...] = ()  # key expressions PostgreSQL evaluates (``parts`` stands in without it)
    sql_where: str | None = None  # a predicate PostgreSQL evaluates (without it: every row is held)

    def __post_init__(self) -> None:
        self.reads = tuple(dict.fromkeys(self.columns + self.reads))

    @property
    def plain(self) -> bool:
        """The columns' values themselves, on every row (what capacity and up-front draws understand)."""
        return self.parts is None and self.where is None and not self.sql_where

    def keys(self, values: Row, positions: list[int], evaluate: Evaluate = None) -> dict[int, tuple[Any, ...]]:
        """position -> key, for the rows of *positions* the key holds."""
        if evaluate is not None and (self.sql_keys or self.sql_where):
            return self._evaluated(values, positions, evaluate)
        out: dict[int, tuple[Any, ...]] = {}
        where, distinct = self.where, self.nulls_distinct
        parts = self.parts or [_column(name) for name in self.columns]
        if self.parts is None and where is None and not self.canonical:
            columns = [values[name] for name in self.columns]  # the common case, kept fast
            for p in positions:
                key = tuple(column[p] for column in columns)
                if not (distinct and None in key):
                    out[p] = key
            return out
        for p in positions:
            if where is not None and where(values, p) is not True:
                continue
            key = tuple(part(values, p) for part in parts)
            if not (distinct and None in key):
                out[p] = tuple(map(canonical, key))
        return out

    def _evaluated(self, values: Row, positions: list[int], evaluate: Evaluate) -> dict[int, tuple[Any, ...]]:
        """Keys (and the predicate) computed by PostgreSQL, where Python does not know the functions."""
        assert evaluate is not None
        texts = list(self.sql_keys) + ([self.sql_where] if self.sql_where else [])
        rows = evaluate(texts, {name: [values[name][p] for p in positions] for name in self.reads})
        parts = self.parts or [_column(name) for name in self.columns]
        out: dict[int, tuple[Any, ...]] = {}
        for p, row in zip(positions, rows):
            held = row[-1] == "true" if self.sql_where else self.where is None or self.where(values, p) is True
            key = row[:len(self.sql_keys)] if self.sql_keys else tuple(part(values, p) for part in parts)
            if held and not (self.nulls_distinct and None in key):
                out[p] = tuple(map(canonical, key))
        return out


def _column(name: str) -> Compiled:
    return lambda values, p: values[name][p]


def _folded_column(name: str) -> Compiled:
    return lambda values, p: _folded(values[name][p])


def table_keys(table: Table, types: dict[str, ValueType], plain: list[tuple[str, ...]]) -> list[UniqueKey]:
    """The keys of *table*: its plain uniques, then its partial and expression unique indexes."""
    keys = []
    for columns in plain:
        key = UniqueKey(f"({', '.join(columns)})", columns, canonical=_unhashable(columns, types))
        if any(types[name].sql_type == "citext" for name in columns):  # compared case-insensitively
            key.parts = [_folded_column(name) if types[name].sql_type == "citext" else _column(name)
                         for name in columns]
        keys.append(key)
    keys += [_index_key(index, types) for index in table.unique_indexes]
    return keys


def _unhashable(columns: tuple[str, ...], types: dict[str, ValueType]) -> bool:
    """Keys over these columns need :func:`canonical` (unhashable values, or char(n) blanks)."""
    return any(types[name].kind in UNHASHABLE or types[name].sql_type == PADDED for name in columns if name in types)


def _index_key(index: UniqueIndex, types: dict[str, ValueType]) -> UniqueKey:
    where, sql_where, notes = None, None, []
    sql_keys: tuple[str, ...] = ()
    if index.predicate is not None and not _redundant(index):
        try:
            where = compile_predicate(index.predicate, types)
        except NotCompiled:
            sql_where = index.predicate
            notes.append(f"WHERE {index.predicate} kept on every row")
    reads = tuple(name for name in index.columns if name in types)
    if all(text in types for text in index.keys):
        parts: list[Compiled] | None = None
        columns = tuple(index.keys)
    else:
        columns = reads
        try:
            parts = [compile_value(text, types) for text in index.keys]
        except NotCompiled:
            names = sorted({name for text in index.keys for name in columns_read(text, types)})
            notes.append(f"({', '.join(index.keys)}) kept on ({', '.join(names)}) case-folded")
            parts, sql_keys = [_folded_column(name) for name in names], tuple(index.keys)
    return UniqueKey(index.name, columns, parts, where, index.nulls_distinct, _unhashable(reads, types), reads,
                     "; ".join(notes), sql_keys, sql_where)


_NOT_NULL = re.compile(r"\(*\s*(\w+)\s+IS\s+NOT\s+NULL\s*\)*", re.IGNORECASE)


def _redundant(index: UniqueIndex) -> bool:
    """``UNIQUE (a) WHERE a IS NOT NULL``: NULLs never clash anyway, the predicate changes nothing."""
    if not index.nulls_distinct or index.predicate is None:
        return False
    tests = [_NOT_NULL.fullmatch(test.strip()) for test in re.split(r"\s+AND\s+", index.predicate, flags=re.I)]
    return all(match is not None and match.group(1) in index.keys for match in tests)


# -- exclusion constraints ---------------------------------------------------------------------
@dataclass
class ExclusionRule:
    """``EXCLUDE (k WITH =, …, xrange(a, b) WITH &&)``: per equal ``k``, ranges that do not overlap.

    ``bounds`` are the columns of the range's two ends, or twice the same range
    column (its values are ``(low, high)``, half open); ``inclusive`` when the upper
    end is included (``'[]'``), so touching ranges would overlap too.
    """

    name: str
    equal: tuple[str, ...]
    bounds: tuple[str, str]
    inclusive: bool = False
    spans: dict[tuple[Any, ...], tuple[list[Any], list[Any]]] = field(default_factory=dict)  # key -> starts, ends

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.equal + self.bounds))

    @property
    def whole(self) -> bool:
        """One range column holds both ends."""
        return self.bounds[0] == self.bounds[1]

    def _ends(self, values: Row, p: int) -> tuple[Any, Any]:
        if self.whole:
            value = values[self.bounds[0]][p]
            return (None, None) if value is None else value
        return values[self.bounds[0]][p], values[self.bounds[1]][p]

    def _move(self, values: Row, p: int, start: Any, end: Any) -> None:
        if self.whole:
            values[self.bounds[0]][p] = (start, end)
        else:
            values[self.bounds[0]][p], values[self.bounds[1]][p] = start, end

    def place(self, values: Row, p: int, high: Any) -> bool:
        """Accept row *p*'s range, moved to the first free gap of its key when it clashes (never past
        *high*); False when there is no room left."""
        start, end = self._ends(values, p)
        key = tuple(canonical(values[name][p]) for name in self.equal)
        if start is None or end is None or None in key or (start == end and not self.inclusive):
            return True  # an empty or unbounded range, or a NULL key: nothing to clash with
        starts, ends = self.spans.setdefault(key, ([], []))
        length, gap = end - start, 1 if self.inclusive else 0
        index = bisect.bisect_right(starts, start)
        if (index == 0 or ends[index - 1] + gap <= start) and (index == len(starts) or end + gap <= starts[index]):
            starts.insert(index, start)
            ends.insert(index, end)
            return True
        for index in range(max(index - 1, 0), len(starts)):  # the first gap long enough after the clash
            begin = ends[index] + gap
            if index + 1 == len(starts) or begin + length + gap <= starts[index + 1]:
                if begin + length > high:
                    return False
                self._move(values, p, begin, begin + length)
                starts.insert(index + 1, begin)
                ends.insert(index + 1, begin + length)
                return True
        return False


def exclusion_rule(exclusion: Exclusion, types: dict[str, ValueType]) -> ExclusionRule | UniqueKey | None:
    """How to keep *exclusion*: non-overlapping ranges per equal key; a unique key over its ``=``
    elements when the rest is not understood (stricter); None when nothing is."""
    equal: list[str] = []
    bounds: tuple[str, str] | None = None
    inclusive, unknown = False, exclusion.predicate is not None  # a partial one is kept on every row
    for expression, op in exclusion.elements:
        text = expression.strip()
        match = RANGE_CALL.match(text)
        args = [arg.strip() for arg in match.group(2).split(",")] if match else []
        if op == "=" and text in types:
            equal.append(text)
        elif op == "&&" and bounds is None and text in types and types[text].kind == "range":
            bounds = (text, text)
        elif op == "&&" and bounds is None and len(args) in (2, 3) and all(arg in types for arg in args[:2]) \
                and types[args[0]].is_ordered:
            bounds = (args[0], args[1])
            inclusive = len(args) == 3 and args[2].split("::")[0].strip("'")[-1:] == "]"
        else:
            unknown = True
    if bounds is not None and not unknown:
        return ExclusionRule(exclusion.name, tuple(equal), bounds, inclusive)
    if equal:
        return UniqueKey(exclusion.name, tuple(equal), canonical=_unhashable(tuple(equal), types),
                         note="kept as a unique key over its = elements")
    return None
