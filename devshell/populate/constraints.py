"""What CHECK constraints, domains and partition bounds allow, as rules a generator can follow.

A CHECK is read into a tree (:mod:`.checkparser`) and split at its top-level ANDs
(:mod:`.checkreader`). Each part then becomes, in order of preference:

* :class:`Rules` on a column (a range, a list of values, a length, NOT NULL, a
  pattern, a JSON type, a date truncation) that its generator follows — also
  for disjunctions, whose alternatives are merged per column (``pct IS NULL OR
  pct BETWEEN 0 AND 100`` bounds ``pct``);
* a :class:`Comparison` between two columns, repaired by the builder;
* a :class:`RowCheck`: evaluated in Python on every row, and a failing row is
  repaired by making one of its alternatives true (:mod:`.logic`, :mod:`.rowchecks`);
* an :class:`OpaqueCheck` when Python cannot evaluate it exactly: PostgreSQL
  filters the candidate rows (:mod:`.probe`).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from .checkparser import parse_check
from .expressions import Col, Node, NullTest, Unparsed, conjuncts
from .logic import CONDITIONS, TooComplex, branches, normal
from .sqltypes import ValueType

_BOUND = re.compile(r"'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)|(MINVALUE|MAXVALUE)|(NULL)|\b(true|false)\b", re.IGNORECASE)


@dataclass
class Rules:
    """What one column may hold, beyond its type (internal value form)."""

    low: Any = None
    high: Any = None
    choices: list[Any] | None = None
    min_length: int = 0
    max_length: int | None = None
    not_null: bool = False
    null_only: bool = False
    excluded: set[Any] = field(default_factory=set)
    segments: list[tuple[Any, Any]] | None = None  # partition ranges, inclusive
    pattern: str | None = None  # a regex values are made from (Python syntax, repeats bounded)
    pattern_test: str | None = None  # the regex PostgreSQL's test amounts to
    json_types: list[str] | None = None
    truncate: str | None = None  # date_trunc unit values must sit on

    def narrow(self, low: Any = None, high: Any = None) -> None:
        if low is not None:
            self.low = low if self.low is None else max(self.low, low)
        if high is not None:
            self.high = high if self.high is None else min(self.high, high)

    def allow_only(self, values: list[Any]) -> None:
        self.choices = values if self.choices is None else [v for v in self.choices if v in values]

    def limit_length(self, low: int = 0, high: int | None = None) -> None:
        self.min_length = max(self.min_length, low)
        if high is not None:
            self.max_length = high if self.max_length is None else min(self.max_length, high)

    def merge(self, other: "Rules") -> None:
        """Keep only what both allow."""
        self.narrow(other.low, other.high)
        if other.choices is not None:
            self.allow_only(other.choices)
        self.limit_length(other.min_length, other.max_length)
        self.not_null = self.not_null or other.not_null
        self.null_only = self.null_only or other.null_only
        self.excluded |= other.excluded
        self.pattern = self.pattern or other.pattern
        self.pattern_test = self.pattern_test or other.pattern_test
        if other.json_types is not None:
            self.json_types = other.json_types if self.json_types is None else \
                [kind for kind in self.json_types if kind in other.json_types]
        self.truncate = self.truncate or other.truncate
        if other.segments is not None:
            self.segments = other.segments if self.segments is None else \
                [(max(low, other_low), min(high, other_high)) for low, high in self.segments
                 for other_low, other_high in other.segments if max(low, other_low) <= min(high, other_high)]

    def describe(self) -> str:
        parts = []
        if self.choices is not None:
            parts.append(f"one of {len(self.choices)}")
        if self.low is not None or self.high is not None:
            parts.append("range")
        if self.segments is not None:
            parts.append(f"{len(self.segments)} partitions")
        if self.min_length or self.max_length is not None:
            parts.append("length")
        if self.pattern:
            parts.append("pattern")
        return ", ".join(parts)


@dataclass(frozen=True)
class Comparison:
    """``left op right`` between two columns of a row (NULL on either side passes).

    A ``soft`` one is only a habit of real data (an end after its start): it is
    repaired where possible and never makes a row fail.
    """

    left: str
    op: str
    right: str
    soft: bool = False


@dataclass(frozen=True)
class OpaqueCheck:
    """A CHECK devshell does not read; PostgreSQL evaluates it on candidate rows."""

    name: str
    expression: str  # the bare boolean expression (a domain's VALUE already replaced)
    columns: tuple[str, ...]


@dataclass
class Atom:
    """One condition of an alternative, and how a repair makes it true."""

    node: Node
    test: Callable[[dict[str, Any]], Any]  # True / False / None
    columns: tuple[str, ...]
    action: str  # "null", "notnull", "draw" (a value in ``allowed``), "pair" (two columns), "filter" (redraw)
    column: str | None = None
    allowed: Rules | None = None
    op: str = ""
    other: str | None = None


@dataclass
class RowCheck:
    """A CHECK kept by devshell row by row: ``holds`` says if a row passes, ``branches`` how to repair it."""

    name: str
    expression: str
    columns: tuple[str, ...]
    holds: Callable[[dict[str, Any]], bool]
    branches: list[list[Atom]]
    rules: dict[str, Rules]  # the table's rules: repairs stay inside them
    types: dict[str, ValueType]


def check_body(definition: str) -> str:
    """``CHECK ((a > 0)) NOT VALID`` -> ``(a > 0)``."""
    match = re.fullmatch(r"\s*CHECK\s*(\(.*\))(?:\s+NOT\s+VALID|\s+NO\s+INHERIT)*\s*", definition,
                         re.DOTALL | re.IGNORECASE)
    return match.group(1) if match else definition


def apply_check(definition: str, types: dict[str, ValueType], rules: dict[str, Rules],
                comparisons: list[Comparison], *, value_column: str | None = None,
                row_checks: list[RowCheck] | None = None, name: str = "",
                references: frozenset[str] = frozenset()) -> bool:
    """Fold one CHECK into *rules*, *comparisons* and *row_checks*; False when PostgreSQL must test it.

    *value_column* names the column a domain's ``VALUE`` stands for; *references*
    are foreign-key columns (their values come from parents, never from a range).
    Without *row_checks* a CHECK that needs row-by-row repairs counts as unread.
    See :func:`.checkreader.read_check`.
    """
    from .checkreader import read_check

    return read_check(definition, types, rules, comparisons, value_column=value_column, row_checks=row_checks,
                      name=name, references=references)


def as_internal(vtype: ValueType, value: Any) -> Any:
    """A canonical value (see :mod:`.evaluate`) in the column's internal form (may be fractional)."""
    if vtype.kind == "numeric":
        return Decimal(value).scaleb(vtype.scale)
    if vtype.kind == "float":
        return float(value)
    return value


def exact_value(vtype: ValueType, value: Any) -> Any:
    """A value the column can hold exactly (a scaled numeric must land on a whole unit)."""
    internal = as_internal(vtype, value)
    if vtype.kind in ("int", "numeric"):
        if internal != int(internal):
            raise ValueError(f"{value} has more decimals than the column")
        return int(internal)
    return internal


def apply_value(rule: Rules, vtype: ValueType, op: str, value: Any) -> bool:
    """``column op value`` folded into *rule*; True when the generator then guarantees it."""
    if op == "=":
        rule.allow_only([exact_value(vtype, value)])
        return True
    if op == "<>":
        if vtype.kind == "text" and value == "":
            rule.limit_length(low=1)
        else:
            try:
                rule.excluded.add(exact_value(vtype, value))
            except ValueError:
                pass  # the column can never hold it
        return True
    if not vtype.is_ordered:
        raise ValueError(f"{op} on {vtype.kind}: no order")
    internal = as_internal(vtype, value)
    if vtype.kind == "float":
        step = 1e-4 * max(1.0, abs(internal))
        if op in (">", ">="):
            rule.narrow(low=internal + step if op == ">" else internal)
        else:
            rule.narrow(high=internal - step if op == "<" else internal)
        return True
    number = Decimal(internal)
    if op == ">=":
        rule.narrow(low=math.ceil(number))
    elif op == ">":
        rule.narrow(low=math.floor(number) + 1)
    elif op == "<=":
        rule.narrow(high=math.floor(number))
    elif op == "<":
        rule.narrow(high=math.ceil(number) - 1)
    return True


@functools.lru_cache(maxsize=4096)
def not_null_columns(checks: Any) -> frozenset[str]:
    """Columns some CHECK requires to be NOT NULL in every alternative (``CHECK (fk IS NOT NULL)``)."""
    found: set[str] = set()
    for check in checks:
        try:
            tree = parse_check(check.expression)
        except Unparsed:
            continue
        for part in conjuncts(tree):
            try:
                alternatives = branches(normal(part, lambda node: isinstance(node, CONDITIONS)))
            except TooComplex:
                continue
            sets = [{atom.operand.name for atom in branch if isinstance(atom, NullTest) and not atom.is_null
                     and isinstance(atom.operand, Col)} for branch in alternatives]
            if sets:
                found |= set.intersection(*sets)
    return frozenset(found)


def partition_check(constraint: str, definition: str) -> str:
    """A CHECK of one partition as a CHECK on its parent: rows outside that partition are free."""
    return f"CHECK ((NOT ({constraint})) OR {check_body(definition)})"


def apply_partitions(partition_key: str | None, bounds: list[str], types: dict[str, ValueType],
                     rules: dict[str, Rules]) -> str | None:
    """Restrict the partition key column to the existing partitions; an error text when impossible."""
    if not partition_key or not bounds:
        return None if not partition_key else "it has no partitions (attach one first)"
    match = re.fullmatch(r"(RANGE|LIST|HASH)\s*\((.*)\)", partition_key.strip(), re.IGNORECASE)
    if match is None:
        return f"partition key {partition_key} is not supported"
    strategy, key = match.group(1).upper(), match.group(2).strip().strip('"')
    if strategy == "HASH" or any(bound.strip().upper() == "DEFAULT" for bound in bounds):
        return None
    if key not in types:
        return f"partition key {partition_key} is not a single column (give the table a factory)"
    vtype, rule = types[key], rules[key]
    if strategy == "LIST":
        values = []
        for bound in bounds:
            inner = re.search(r"IN\s*\((.*)\)", bound, re.IGNORECASE | re.DOTALL)
            values += [_bound_value(vtype, m) for m in _BOUND.finditer(inner.group(1) if inner else "")]
        rule.allow_only([value for value in values if value is not None])
        return None
    segments = []
    for bound in bounds:
        found = re.search(r"FROM\s*\((.*)\)\s*TO\s*\((.*)\)", bound, re.IGNORECASE | re.DOTALL)
        if found is None:
            return f"cannot read partition bound {bound!r}"
        low = _bound_value(vtype, next(_BOUND.finditer(found.group(1))))
        high = _bound_value(vtype, next(_BOUND.finditer(found.group(2))))
        low = vtype.low if low is None else low
        high = vtype.high if high is None else (high - 1 if vtype.kind != "float" else high)
        segments.append((low, high))
    rule.segments = sorted(segments)
    return None


def _bound_value(vtype: ValueType, match: re.Match[str]) -> Any:
    text, number, infinite, _null, boolean = match.groups()
    if infinite or _null:
        return None
    if boolean is not None:
        return boolean.lower() == "true" if vtype.kind == "bool" else None
    value = vtype.parse_literal(text.replace("''", "'") if text is not None else number)
    return int(value) if vtype.kind == "numeric" else value
