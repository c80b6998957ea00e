"""What CHECK constraints, domains and partition bounds allow, as rules a generator can follow.

The common forms become :class:`Rules` on a column (a range, a list of values,
a length, NOT NULL, excluded values, partition segments) or a :class:`Comparison`
between two columns. An expression outside those forms is kept as an
:class:`OpaqueCheck`: its rows are filtered by PostgreSQL itself before loading,
so an unparsed CHECK can never be violated by a generated row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .expressions import AnyOf, BoolOp, Cmp, Col, Func, Lit, Node, NotNull, Unparsed, conjuncts, parse_check
from .sqltypes import ValueType

FLIPPED = {"=": "=", "<>": "<>", "!=": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_BOUND = re.compile(r"'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)|(MINVALUE|MAXVALUE)|(NULL)", re.IGNORECASE)


@dataclass
class Rules:
    """What one column may hold, beyond its type (internal value form)."""

    low: Any = None
    high: Any = None
    choices: list[Any] | None = None
    min_length: int = 0
    max_length: int | None = None
    not_null: bool = False
    excluded: set[Any] = field(default_factory=set)
    segments: list[tuple[Any, Any]] | None = None  # partition ranges, inclusive

    def narrow(self, low: Any = None, high: Any = None) -> None:
        if low is not None:
            self.low = low if self.low is None else max(self.low, low)
        if high is not None:
            self.high = high if self.high is None else min(self.high, high)

    def allow_only(self, values: list[Any]) -> None:
        self.choices = values if self.choices is None else [v for v in self.choices if v in values]

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


def check_body(definition: str) -> str:
    """``CHECK ((a > 0)) NOT VALID`` -> ``(a > 0)``."""
    match = re.fullmatch(r"\s*CHECK\s*(\(.*\))(?:\s+NOT\s+VALID|\s+NO\s+INHERIT)*\s*", definition,
                         re.DOTALL | re.IGNORECASE)
    return match.group(1) if match else definition


def apply_check(definition: str, types: dict[str, ValueType], rules: dict[str, Rules],
                comparisons: list[Comparison], *, value_column: str | None = None) -> bool:
    """Fold one CHECK into *rules* and *comparisons*; False when (part of) it could not be read.

    *value_column* names the column a domain's ``VALUE`` stands for.
    """
    try:
        tree = parse_check(definition)
    except Unparsed:
        return False
    understood = True
    for part in conjuncts(tree):
        try:
            _apply(part, types, rules, comparisons, value_column)
        except (Unparsed, ValueError, ArithmeticError):
            understood = False
    return understood


def _column(node: Node, types: dict[str, ValueType], value_column: str | None) -> str | None:
    if isinstance(node, Col):
        name = value_column if node.name == "VALUE" and value_column else node.name
        return name if name in types else None
    return None


def _apply(node: Node, types: dict[str, ValueType], rules: dict[str, Rules], comparisons: list[Comparison],
           value_column: str | None) -> None:
    if isinstance(node, NotNull):
        name = _column(node.operand, types, value_column)
        if name is None:
            raise Unparsed("IS NOT NULL of an expression")
        rules[name].not_null = True
        return
    if isinstance(node, AnyOf):
        name = _column(node.left, types, value_column)
        if name is None or any(item.text is None for item in node.items):
            raise Unparsed("ANY over an expression")
        rules[name].allow_only([exact(types[name], item.text) for item in node.items if item.text])
        return
    if isinstance(node, BoolOp) and node.op == "OR":
        _apply_or(node, types, rules, value_column)
        return
    if not isinstance(node, Cmp):
        raise Unparsed("not a comparison")
    left, op, right = node.left, "<>" if node.op == "!=" else node.op, node.right
    if isinstance(left, Lit):
        left, right, op = right, left, FLIPPED[op]
    if isinstance(left, Func) and isinstance(right, Lit) and right.text is not None:
        name = _column(left.arg, types, value_column)
        if name is None or left.name == "octet_length":
            raise Unparsed("length of an expression")
        _apply_length(rules[name], op, int(Decimal(right.text)))
        return
    name = _column(left, types, value_column)
    if name is None:
        raise Unparsed("left side is not a column")
    other = _column(right, types, value_column)
    if other is not None:
        comparable = types[name].is_ordered and types[other].kind == types[name].kind
        if not comparable and op not in ("=", "<>"):
            raise Unparsed("ordering of unordered values")
        comparisons.append(Comparison(name, op, other))
        return
    if not isinstance(right, Lit) or right.text is None:
        raise Unparsed("right side is not a literal")
    _apply_literal(rules[name], types[name], op, right.text)


def _apply_or(node: BoolOp, types: dict[str, ValueType], rules: dict[str, Rules], value_column: str | None) -> None:
    """``(x = 'a') OR (x = 'b')`` is an IN list; other ORs are opaque."""
    names, values = set(), []
    for item in node.items:
        if not (isinstance(item, Cmp) and item.op == "=" and isinstance(item.right, Lit) and item.right.text):
            raise Unparsed("OR of something else than equalities")
        name = _column(item.left, types, value_column)
        if name is None:
            raise Unparsed("OR over an expression")
        names.add(name)
        values.append(exact(types[name], item.right.text))
    if len(names) != 1:
        raise Unparsed("OR over several columns")
    rules[names.pop()].allow_only(values)


def _apply_length(rule: Rules, op: str, length: int) -> None:
    if op in (">", ">="):
        rule.min_length = max(rule.min_length, length + (op == ">"))
    elif op in ("<", "<="):
        limit = length - (op == "<")
        rule.max_length = limit if rule.max_length is None else min(rule.max_length, limit)
    elif op == "=":
        rule.min_length = max(rule.min_length, length)
        rule.max_length = length if rule.max_length is None else min(rule.max_length, length)
    else:
        raise Unparsed("length <> n")


def exact(vtype: ValueType, text: str) -> Any:
    """A literal as an internal value (a scaled numeric must land on a whole unit)."""
    value = vtype.parse_literal(text)
    if vtype.kind == "numeric":
        if value != int(value):
            raise ValueError(f"{text} has more decimals than the column")
        return int(value)
    return value


def _apply_literal(rule: Rules, vtype: ValueType, op: str, text: str) -> None:
    value = exact(vtype, text) if op in ("=", "<>") else vtype.parse_literal(text)
    if op == "=":
        rule.allow_only([value])
    elif op == "<>":
        if vtype.kind == "text" and value == "":
            rule.min_length = max(rule.min_length, 1)
        else:
            rule.excluded.add(value)
    elif not vtype.is_ordered:
        raise Unparsed(f"{op} on {vtype.kind}")
    elif vtype.kind == "float":
        step = 1e-6 * max(1.0, abs(value))
        rule.narrow(low=value + step if op == ">" else value) if op in (">", ">=") else \
            rule.narrow(high=value - step if op == "<" else value)
    else:
        exact = Decimal(value)
        if op == ">=":
            rule.narrow(low=math.ceil(exact))
        elif op == ">":
            rule.narrow(low=math.floor(exact) + 1)
        elif op == "<=":
            rule.narrow(high=math.floor(exact))
        elif op == "<":
            rule.narrow(high=math.ceil(exact) - 1)


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
    text, number, infinite, _null = match.groups()
    if infinite or _null:
        return None
    value = vtype.parse_literal(text.replace("''", "'") if text is not None else number)
    return int(value) if vtype.kind == "numeric" else value
