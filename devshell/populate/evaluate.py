"""CHECK expressions evaluated in Python on generated rows, with SQL's three-valued logic.

A tree from :mod:`.expressions` compiles into closures over a row (column name ->
internal value, see :mod:`.sqltypes`). Only what Python computes exactly as
PostgreSQL does is compiled: ordering of text (collations) or a function not
listed here raises :class:`Unsupported`, and the CHECK stays with PostgreSQL.
Values are compared in a canonical form: numbers as int/Decimal/float, dates as
day ordinals, timestamps as epoch seconds, ``char(n)`` without its padding.
"""

from __future__ import annotations

import operator
import time as clock
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import functions
from .expressions import (AnyOf, ArrayOf, BinOp, BoolOp, BoolTest, Case, Cast, Cmp, Col, Func, Lit, Match, Neg,
                          Node, Not, NullTest, Subscript)
from .patterns import PatternError, regex_from_like, regex_from_postgres, regex_from_similar
from .sqlvalues import RowError as RowError, Unsupported as Unsupported, canonical, kind_of as kind_of, from_text, parse_literal, \
    type_kind
from .sqltypes import EPOCH_ORDINAL, ValueType, normalize_type

Row = Mapping[str, Any]
Fn = Callable[[Row], Any]
ORDERS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
EQUALITY = {"=": operator.eq, "<>": operator.ne}
#: value kinds whose values order the same in Python and PostgreSQL
ORDERED = {"number", "date", "timestamp", "time", "interval", "bool", "bytea", "uuid"}


@dataclass
class Expr:
    kind: str  # number text enum bool date timestamp time interval json bytea uuid array range null any
    fn: Fn
    element: str | None = None  # arrays and ranges: the kind of their items
    const: bool = False  # no column involved: fn ignores the row


class Compiler:
    """Compiles expressions over the columns of one table (``VALUE`` standing for *value_column*)."""

    def __init__(self, types: Mapping[str, ValueType], value_column: str | None = None) -> None:
        self.types = types
        self.value_column = value_column
        self.now = int(clock.time())

    def column_name(self, node: Col) -> str:
        name = self.value_column if node.name == "VALUE" and self.value_column else node.name
        if name not in self.types:
            raise Unsupported(f"unknown column {node.name}")
        return name

    # -- predicates -------------------------------------------------------------------------
    def predicate(self, node: Node) -> Fn:
        """A function row -> True / False / None (SQL NULL)."""
        expr = self.value(node)
        if expr.kind not in ("bool", "null"):
            raise Unsupported(f"{expr.kind} is not a condition")
        return expr.fn

    def holds(self, node: Node) -> Callable[[Row], bool]:
        """A function row -> whether a CHECK on *node* accepts the row (NULL accepts, errors reject)."""
        test = self.predicate(node)

        def accepts(row: Row) -> bool:
            try:
                return test(row) is not False
            except (RowError, ArithmeticError, ValueError, TypeError, OverflowError, IndexError, KeyError):
                return False
        return accepts

    # -- values -----------------------------------------------------------------------------
    def value(self, node: Node, expect: str | None = None, element: str | None = None) -> Expr:
        if isinstance(node, Col):
            return self.column(self.column_name(node))
        if isinstance(node, Lit):
            return self.literal(node, expect, element)
        if isinstance(node, Cast):
            return self.cast(node)
        if isinstance(node, (Cmp, AnyOf, NullTest, BoolTest, Not, BoolOp, Match)):
            return Expr("bool", self.condition(node))
        if isinstance(node, Func):
            return functions.call(self, node)
        if isinstance(node, BinOp):
            return functions.binary(self, node)
        if isinstance(node, Neg):
            inner = self.value(node.operand, expect)
            if inner.kind not in ("number", "interval"):
                raise Unsupported("minus of a non-number")
            fn = inner.fn
            return Expr(inner.kind, lambda row: None if (v := fn(row)) is None else -v, const=inner.const)
        if isinstance(node, ArrayOf):
            items = [self.value(item, element) for item in node.items]
            kinds = {item.kind for item in items} - {"null", "any"}
            if len(kinds) > 1:
                raise Unsupported("mixed array")
            fns = [item.fn for item in items]
            return Expr("array", lambda row: [fn(row) for fn in fns], element=kinds.pop() if kinds else element,
                        const=all(item.const for item in items))
        if isinstance(node, Subscript):
            return functions.subscript(self, node)
        if isinstance(node, Case):
            return self.case(node)
        raise Unsupported(type(node).__name__)

    def column(self, name: str) -> Expr:
        vtype = self.types[name]
        kind = kind_of(vtype)
        convert = canonical(vtype)
        if kind == "unknown":
            raise Unsupported(f"column {name} of type {vtype.sql_type}")
        element = kind_of(vtype.element) if vtype.element is not None else None
        if convert is None:
            return Expr(kind, lambda row: row.get(name), element)
        return Expr(kind, lambda row: None if (v := row.get(name)) is None else convert(v), element)

    def padded(self, node: Node) -> Expr:
        """A ``char(n)`` column as pattern matching and octet_length see it: padded with blanks to n."""
        if isinstance(node, Col):
            name = self.column_name(node)
            vtype = self.types[name]
            if vtype.kind == "text" and vtype.sql_type == "character" and vtype.max_length:
                width = vtype.max_length
                return Expr("text", lambda row: None if (v := row.get(name)) is None else v.ljust(width))
        return self.value(node)

    def literal(self, node: Lit, expect: str | None, element: str | None = None) -> Expr:
        if node.text is None:
            return Expr(expect or "null", lambda row: None, const=True)
        if node.type is not None:
            try:
                kind, element = type_kind(node.type)
            except Unsupported:  # an enum or a domain: the value is compared with a column of it
                if expect is None or expect == "any":
                    raise
                kind = expect
        elif not node.is_string:
            kind = "number"
        else:
            kind = expect or "any"
        if kind == "any":
            text = node.text
            return Expr("any", lambda row: text, const=True)
        value = parse_literal(node.text, kind, element)
        return Expr(kind, lambda row: value, element, const=True)

    def constant(self, node: Node, kind: str) -> Any:
        """The value of a row-independent expression, as *kind*."""
        expr = self.value(node, kind)
        if not expr.const:
            raise Unsupported("not a constant")
        value = expr.fn({})
        return parse_literal(value, kind) if expr.kind == "any" else value

    def cast(self, node: Cast) -> Expr:
        inner = self.value(node.operand)
        try:
            kind, element = type_kind(node.type)
        except Unsupported:
            if inner.kind not in ("enum", "text"):
                raise
            kind, element = inner.kind, None  # an enum or a domain over text
        if inner.kind == "any":
            inner = self.value(node.operand, kind, element)
        fn = inner.fn
        if inner.kind == kind or inner.kind == "null" or {inner.kind, kind} == {"text", "enum"}:
            if kind == "number" and normalize_type(node.type) in ("integer", "smallint", "bigint"):
                return Expr(kind, lambda row: None if (v := fn(row)) is None else functions.round_half(v, 0),
                            const=inner.const)
            return Expr(kind, fn, element if kind == inner.kind or inner.kind == "null" else inner.element,
                        const=inner.const)
        if inner.kind == "date" and kind == "timestamp":
            return Expr(kind, lambda row: None if (v := fn(row)) is None else (v - EPOCH_ORDINAL) * 86400,
                        const=inner.const)
        if inner.kind == "timestamp" and kind == "date":
            return Expr(kind, lambda row: None if (v := fn(row)) is None else EPOCH_ORDINAL + v // 86400,
                        const=inner.const)
        if inner.kind == "number" and kind == "text":
            return Expr(kind, lambda row: None if (v := fn(row)) is None else functions.number_text(v),
                        const=inner.const)
        if inner.kind in ("text", "enum") and kind in ("number", "bool", "date", "timestamp", "time", "interval"):
            integral = normalize_type(node.type) in ("integer", "smallint", "bigint")
            return Expr(kind, lambda row: None if (v := fn(row)) is None else from_text(v, kind, integral),
                        const=inner.const)
        raise Unsupported(f"cast of {inner.kind} to {node.type}")

    def case(self, node: Case) -> Expr:
        subject = self.value(node.subject) if node.subject is not None else None
        whens = []
        for condition, result in node.whens:
            if subject is not None:
                test = self.comparison("=", subject, self.value(condition, subject.kind))
            else:
                test = self.predicate(condition)
            whens.append((test, self.value(result)))
        default = self.value(node.default) if node.default is not None else Expr("null", lambda row: None)
        kinds = {result.kind for _, result in whens} | {default.kind}
        kinds -= {"null"}
        if len(kinds) > 1 or "any" in kinds:
            raise Unsupported("CASE of mixed types")
        pairs = [(test, result.fn) for test, result in whens]
        fallback = default.fn

        def evaluate(row: Row) -> Any:
            for test, result in pairs:
                if test(row) is True:
                    return result(row)
            return fallback(row)
        return Expr(kinds.pop() if kinds else "null", evaluate)

    # -- conditions -------------------------------------------------------------------------
    def condition(self, node: Node) -> Fn:
        if isinstance(node, BoolOp):
            parts = [self.predicate(item) for item in node.items]
            return _all(parts) if node.op == "AND" else _any(parts)
        if isinstance(node, Not):
            inner = self.predicate(node.operand)
            return lambda row: None if (v := inner(row)) is None else not v
        if isinstance(node, NullTest):
            fn, is_null = self.value(node.operand).fn, node.is_null
            return lambda row: (fn(row) is None) == is_null
        if isinstance(node, BoolTest):
            fn, want, negated = self.predicate(node.operand), node.value, node.negated
            return lambda row: (fn(row) is want) != negated
        if isinstance(node, Cmp):
            left = self.value(node.left)
            right = self.value(node.right, left.kind, left.element)
            if left.kind == "any":
                left = self.value(node.left, right.kind, right.element)
            return self.comparison(node.op, left, right)
        if isinstance(node, AnyOf):
            return self.any_of(node)
        if isinstance(node, Match):
            return self.match(node)
        raise Unsupported(type(node).__name__)

    def comparison(self, op: str, left: Expr, right: Expr) -> Fn:
        left, right = _coerce(left, right), _coerce(right, left)
        left, right = _midnight(left, right.kind), _midnight(right, left.kind)
        kinds = {left.kind, right.kind} - {"null"}
        if len(kinds) > 1 and kinds != {"text", "enum"}:
            raise Unsupported(f"comparing {left.kind} with {right.kind}")
        kind = kinds.pop() if kinds else "null"
        if op in ("IS DISTINCT FROM", "IS NOT DISTINCT FROM"):
            distinct, a, b = op == "IS DISTINCT FROM", left.fn, right.fn
            return lambda row: (a(row) != b(row)) == distinct
        if op in ORDERS and kind not in ORDERED:
            raise Unsupported(f"ordering of {kind} values")
        test = ORDERS.get(op) or EQUALITY.get(op)
        if test is None:
            raise Unsupported(f"operator {op}")
        a, b = left.fn, right.fn

        def compare(row: Row) -> bool | None:
            x, y = a(row), b(row)
            return None if x is None or y is None else test(x, y)
        return compare

    def any_of(self, node: AnyOf) -> Fn:
        left = self.value(node.left)
        if node.items is not None:
            items = [self.value(item, left.kind, left.element) for item in node.items]
            tests = [self.comparison(node.op, left, item) for item in items]
            return _all(tests) if node.every else _any(tests)
        if node.array is None:
            raise Unsupported("ANY without an array")
        array = self.value(node.array, "array", left.kind)
        if array.kind != "array" or array.element not in (left.kind, None):
            raise Unsupported("ANY over something else than an array")
        element = Expr(array.element or left.kind, lambda row: row["\0item"])
        test, fn, every = self.comparison(node.op, left, element), array.fn, node.every

        def any_item(row: Row) -> bool | None:
            items = fn(row)
            if items is None:
                return None
            results = [test({**row, "\0item": item}) for item in items]
            if every:
                return False if False in results else None if None in results else True
            return True if True in results else None if None in results else False
        return any_item

    def match(self, node: Match) -> Fn:
        import re

        left = self.padded(node.left)
        if left.kind not in ("text", "enum"):
            raise Unsupported("pattern over a non-text value")
        flags = re.DOTALL | (re.IGNORECASE if node.op.endswith("*") else 0)
        try:
            if isinstance(node.pattern, Func) and node.pattern.name in ("similar_to_escape", "similar_escape"):
                if len(node.pattern.args) != 1 or node.op != "~":
                    raise Unsupported("SIMILAR TO with ESCAPE")
                regex = regex_from_similar(self.constant(node.pattern.args[0], "text"))
            elif node.op.startswith("~~"):
                regex = regex_from_like(self.constant(node.pattern, "text"))
            else:
                regex = regex_from_postgres(self.constant(node.pattern, "text"))
        except PatternError as exc:
            raise Unsupported(f"pattern: {exc}") from None
        search, fn, negated = re.compile(regex, flags).search, left.fn, node.negated
        return lambda row: None if (v := fn(row)) is None else (search(v) is not None) != negated


def _coerce(expr: Expr, other: Expr) -> Expr:
    """An untyped literal ('abc') takes the type of what it is compared with."""
    if expr.kind != "any" or other.kind in ("any", "null"):
        return expr
    value = parse_literal(expr.fn({}), other.kind, other.element)
    return Expr(other.kind, lambda row: value, other.element, const=True)


def _midnight(expr: Expr, other: str) -> Expr:
    """A date compared with a timestamp is that day's midnight (the session runs in UTC)."""
    if expr.kind != "date" or other != "timestamp":
        return expr
    fn = expr.fn
    return Expr("timestamp", lambda row: None if (v := fn(row)) is None else (v - EPOCH_ORDINAL) * 86400,
                const=expr.const)


def _all(parts: list[Fn]) -> Fn:
    """SQL's AND over *parts*: false wins, else unknown (None) if a part is."""
    return _three_valued(parts, decisive=False)


def _any(parts: list[Fn]) -> Fn:
    """SQL's OR over *parts*: true wins, else unknown (None) if a part is."""
    return _three_valued(parts, decisive=True)


def _three_valued(parts: list[Fn], *, decisive: bool) -> Fn:
    def combined(row: Row) -> bool | None:
        unknown = False
        for part in parts:
            value = part(row)
            if value is decisive:
                return decisive
            unknown = unknown or value is None
        return None if unknown else not decisive
    return combined
