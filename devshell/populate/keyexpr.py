"""Index keys and predicates as PostgreSQL prints them, compiled into Python functions over a chunk.

A unique index over ``lower(name)`` or ``COALESCE(a, 0)``, a partial index
``WHERE active`` or ``WHERE user_id IS NOT NULL``: ``pg_get_indexdef`` and
``pg_get_expr`` give them as SQL text, and the builder must know, for a
generated row, the value the index will hold (or whether it holds the row at
all). The forms real schemas use — column references, casts that keep equality,
``lower/upper`` (compared case-folded, which is never finer than PostgreSQL's),
``btrim``, ``coalesce``, literals, ``IS [NOT] NULL``, comparisons, ``IN``, ``AND``,
``OR``, ``NOT`` — compile to closures ``f(values, position)``; anything else raises
:class:`NotCompiled` and the caller falls back to something stricter.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Any, Callable

from .sqltypes import ValueType, normalize_type, value_type

Row = dict[str, list[Any]]
Compiled = Callable[[Row, int], Any]

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<op>::|<=|>=|<>|!=|\|\||[=<>(),\[\]])
  | (?P<word>[A-Za-z_][A-Za-z_0-9$.]*)
)""", re.VERBOSE)
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge}
TYPE_WORDS = {"character", "varying", "timestamp", "time", "with", "without", "zone", "double", "precision", "bit"}
TEXT_KINDS = {"text", "enum"}
FOLDING = {"lower", "upper"}
TRIMMING = {"btrim": str.strip, "trim": str.strip, "ltrim": str.lstrip, "rtrim": str.rstrip}


class NotCompiled(Exception):
    """The expression uses a form this module does not evaluate."""


def canonical(value: Any) -> Any:
    """A hashable stand-in, equal when the values are (jsonb objects, arrays), or stricter: trailing
    blanks never count (they do not in char(n); in other text, two keys more seen equal only cost a retry)."""
    if isinstance(value, str):
        return value.rstrip(" ")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, list):
        return tuple(canonical(item) for item in value)
    return value


class _Node:
    """A parsed expression: ``compile(types, hint)`` gives (function, value type or None)."""

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        raise NotImplementedError


class _Column(_Node):
    def __init__(self, name: str) -> None:
        self.name = name

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        if self.name not in types:
            raise NotCompiled(f"unknown column {self.name}")
        name = self.name
        return (lambda values, p: values[name][p]), types[name]


class _Literal(_Node):
    def __init__(self, text: str | None, cast: str | None = None) -> None:
        self.text, self.cast = text, cast

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        if self.text is None:
            return (lambda values, p: None), hint
        vtype = value_type(self.cast) if self.cast else hint
        if vtype is not None and vtype.kind == "unknown" and hint is not None:
            vtype = hint  # a cast to the column's own type: an enum's, a domain's
        if vtype is None:
            raise NotCompiled("a literal of unknown type")
        try:
            value = vtype.parse_literal(self.text)
        except (ValueError, ArithmeticError):
            raise NotCompiled(f"literal {self.text!r}") from None
        return (lambda values, p: value), vtype


class _Cast(_Node):
    def __init__(self, operand: _Node, target: str) -> None:
        self.operand, self.target = operand, target

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        if isinstance(self.operand, _Literal) and self.operand.cast is None:
            return _Literal(self.operand.text, self.target).compile(types, hint)
        inner, vtype = self.operand.compile(types, None)
        target = value_type(self.target)
        if vtype is None or vtype.kind == target.kind or (vtype.kind in TEXT_KINDS and target.kind == "text") \
                or (vtype.kind == "int" and target.kind == "int"):
            return inner, vtype if vtype is not None and vtype.kind == target.kind else target
        raise NotCompiled(f"cast of {vtype.kind} to {self.target}")


class _Call(_Node):
    def __init__(self, name: str, args: list[_Node]) -> None:
        self.name, self.args = name.lower(), args

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        if self.name == "coalesce":
            first = next((vtype for arg in self.args if not isinstance(arg, _Literal)
                          for _, vtype in [arg.compile(types, hint)] if vtype is not None), hint)
            parts = [arg.compile(types, first)[0] for arg in self.args]

            def coalesce(values: Row, p: int) -> Any:
                for part in parts:
                    value = part(values, p)
                    if value is not None:
                        return value
                return None
            return coalesce, first
        if len(self.args) != 1:
            raise NotCompiled(f"function {self.name}")
        inner, vtype = self.args[0].compile(types, hint)
        if vtype is not None and vtype.kind not in TEXT_KINDS:
            raise NotCompiled(f"{self.name} of {vtype.kind}")
        if self.name in FOLDING:
            return (lambda values, p: None if (v := inner(values, p)) is None else v.casefold()), vtype
        if self.name in TRIMMING:
            strip = TRIMMING[self.name]
            return (lambda values, p: None if (v := inner(values, p)) is None else strip(v)), vtype
        raise NotCompiled(f"function {self.name}")


class _Compare(_Node):
    def __init__(self, op: str, left: _Node, right: _Node) -> None:
        self.op, self.left, self.right = op, left, right

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        left, ltype = self.left.compile(types, None) if not isinstance(self.left, _Literal) else (None, None)
        right, rtype = self.right.compile(types, ltype)
        if left is None:
            left, ltype = self.left.compile(types, rtype)
        test = COMPARE[self.op]

        def compare(values: Row, p: int) -> bool | None:
            a, b = left(values, p), right(values, p)  # type: ignore[misc]
            return None if a is None or b is None else test(a, b)
        return compare, value_type("boolean")


class _In(_Node):
    def __init__(self, operand: _Node, items: list[_Node], negated: bool) -> None:
        self.operand, self.items, self.negated = operand, items, negated

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        inner, vtype = self.operand.compile(types, None)
        if not all(isinstance(item, (_Literal, _Cast)) for item in self.items):
            raise NotCompiled("IN over columns")
        choices = {item.compile(types, vtype)[0]({}, 0) for item in self.items}
        negated = self.negated
        return (lambda values, p: None if (v := inner(values, p)) is None else (v in choices) != negated), \
            value_type("boolean")


class _IsNull(_Node):
    def __init__(self, operand: _Node, negated: bool) -> None:
        self.operand, self.negated = operand, negated

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        inner, _ = self.operand.compile(types, None)
        negated = self.negated
        return (lambda values, p: (inner(values, p) is None) != negated), value_type("boolean")


class _IsBool(_Node):
    def __init__(self, operand: _Node, truth: bool, negated: bool) -> None:
        self.operand, self.truth, self.negated = operand, truth, negated

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        inner, _ = self.operand.compile(types, None)
        truth, negated = self.truth, self.negated
        return (lambda values, p: (inner(values, p) is truth) != negated), value_type("boolean")


class _Logic(_Node):
    def __init__(self, op: str, items: list[_Node]) -> None:
        self.op, self.items = op, items

    def compile(self, types: dict[str, ValueType], hint: ValueType | None) -> tuple[Compiled, ValueType | None]:
        parts = [item.compile(types, None)[0] for item in self.items]
        if self.op == "NOT":
            part = parts[0]
            return (lambda values, p: None if (v := part(values, p)) is None else not v), value_type("boolean")
        stop = self.op == "OR"  # the value that decides at once

        def logic(values: Row, p: int) -> bool | None:
            unknown = False
            for part in parts:
                value = part(values, p)
                if value is None:
                    unknown = True
                elif bool(value) is stop:
                    return stop
            return None if unknown else not stop
        return logic, value_type("boolean")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, text = 0, text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise NotCompiled(f"unexpected {text[position:position + 12]!r}")
            position = match.end()
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
        self.position = 0

    def peek(self) -> str:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else ""

    def at(self, *words: str) -> bool:
        return self.peek().upper() in words

    def take(self, word: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens) or (word is not None and self.peek().upper() != word):
            raise NotCompiled(f"expected {word or 'more'} at {self.peek()!r}")
        self.position += 1
        return self.tokens[self.position - 1]

    def parse(self) -> _Node:
        node = self.disjunction()
        if self.position != len(self.tokens):
            raise NotCompiled(f"trailing {self.peek()!r}")
        return node

    def disjunction(self) -> _Node:
        items = [self.conjunction()]
        while self.at("OR"):
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else _Logic("OR", items)

    def conjunction(self) -> _Node:
        items = [self.negation()]
        while self.at("AND"):
            self.take()
            items.append(self.negation())
        return items[0] if len(items) == 1 else _Logic("AND", items)

    def negation(self) -> _Node:
        if self.at("NOT"):
            self.take()
            return _Logic("NOT", [self.negation()])
        return self.predicate()

    def predicate(self) -> _Node:
        left = self.operand()
        if self.peek() in COMPARE:
            op = self.take()[1]
            if (self.at("ANY") and op == "=") or (self.at("ALL") and op in ("<>", "!=")):  # [NOT] IN lists
                self.take()
                self.take("(")
                self.take("ARRAY")
                items = self.items("[", "]")
                while self.peek() == "::":  # ARRAY[...]::text[]
                    self.take()
                    self.type_name()
                self.take(")")
                return _In(left, items, op != "=")
            return _Compare(op, left, self.operand())
        if self.at("IS"):
            self.take()
            negated = self.at("NOT")
            if negated:
                self.take()
            word = self.take()[1].upper()
            if word == "NULL":
                return _IsNull(left, negated)
            if word in ("TRUE", "FALSE"):
                return _IsBool(left, word == "TRUE", negated)
            raise NotCompiled(f"IS {word}")
        if self.at("NOT", "IN"):
            negated = self.at("NOT")
            if negated:
                self.take()
            self.take("IN")
            return _In(left, self.items("(", ")"), negated)
        return left

    def items(self, opening: str, closing: str) -> list[_Node]:
        self.take(opening)
        items = [self.operand()]
        while self.peek() == ",":
            self.take()
            items.append(self.operand())
        self.take(closing)
        return items

    def operand(self) -> _Node:
        node = self.primary()
        while self.peek() == "::":
            self.take()
            target, is_array = self.type_name()
            if is_array:
                raise NotCompiled("array cast")
            node = _Cast(node, target)
        if self.peek() == "||":
            raise NotCompiled("concatenation")
        return node

    def type_name(self) -> tuple[str, bool]:
        kind, word = self.take()
        if kind == "quoted":
            word = word[1:-1].replace('""', '"')
        words = [word]
        while self.position < len(self.tokens) and self.tokens[self.position][0] == "word" \
                and self.peek().lower() in TYPE_WORDS:
            words.append(self.take()[1])
        if self.peek() == "(":
            while self.take()[1] != ")":
                pass
        is_array = self.peek() == "["
        if is_array:
            self.take()
            self.take("]")
        return normalize_type(" ".join(words)), is_array

    def primary(self) -> _Node:
        kind, text = self.take()
        if text == "(":
            node = self.disjunction()
            self.take(")")
            return node
        if kind == "string":
            return _Literal(text[1:-1].replace("''", "'"))
        if kind == "number":
            return _Literal(text)
        if kind == "quoted":
            return _Column(text[1:-1].replace('""', '"'))
        if kind != "word":
            raise NotCompiled(f"unexpected {text!r}")
        upper = text.upper()
        if upper == "NULL":
            return _Literal(None)
        if upper in ("TRUE", "FALSE"):
            return _Literal(upper.lower(), "boolean")
        if self.peek() == "(":
            self.take()
            args = [] if self.peek() == ")" else [self.disjunction()]
            while self.peek() == ",":
                self.take()
                args.append(self.disjunction())
            self.take(")")
            return _Call(text.rsplit(".", 1)[-1], args)
        if "." in text:
            raise NotCompiled(f"qualified name {text}")
        return _Column(text)


def compile_value(text: str, types: dict[str, ValueType]) -> Compiled:
    """``lower(name::text)`` -> a function giving, per row, the value the index holds (canonical)."""
    return _compile(text, types, None)


def compile_predicate(text: str, types: dict[str, ValueType]) -> Compiled:
    """``user_id IS NOT NULL`` -> a function telling whether the partial index holds a row (True/False/None)."""
    return _compile(text, types, value_type("boolean"))


def _compile(text: str, types: dict[str, ValueType], hint: ValueType | None) -> Compiled:
    try:
        function, _ = _Parser(text).parse().compile(types, hint)
    except NotCompiled:
        raise
    except Exception as exc:  # noqa: BLE001 - any text PostgreSQL prints: what is not read goes to PostgreSQL
        raise NotCompiled(f"{text}: {type(exc).__name__}") from None
    return function


def columns_read(text: str, types: dict[str, ValueType]) -> set[str]:
    """The columns an expression names (a cheap scan, for the fallbacks)."""
    return {match.group("word") for match in _TOKEN.finditer(text)
            if match.group("word") in types} | \
        {match.group("quoted")[1:-1].replace('""', '"') for match in _TOKEN.finditer(text)
         if match.group("quoted") and match.group("quoted")[1:-1].replace('""', '"') in types}
