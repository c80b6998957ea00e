"""A small, conservative parser for the CHECK expressions PostgreSQL prints.

``pg_get_constraintdef`` always prints the same normalised forms (fully
parenthesised, ``BETWEEN`` as two comparisons, ``IN`` as ``= ANY (ARRAY[...])``,
literals with casts), so a tiny recursive-descent parser reads the common ones.
Anything outside that grammar raises :class:`Unparsed`; the caller then treats
the expression as opaque and lets PostgreSQL evaluate it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

COMPARISONS = ("=", "<>", "!=", "<", "<=", ">", ">=")
LENGTH_FUNCTIONS = ("length", "char_length", "character_length", "octet_length")

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<op>::|<=|>=|<>|!=|[=<>~+\-*/(),\[\]])
  | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
""", re.VERBOSE)


class Unparsed(Exception):
    """The expression is outside the forms this parser understands."""


@dataclass(frozen=True)
class Col:
    name: str  # "VALUE" for a domain's value


@dataclass(frozen=True)
class Lit:
    text: str | None  # None for NULL
    is_string: bool = False
    type: str | None = None


@dataclass(frozen=True)
class Func:
    name: str
    arg: "Node"


@dataclass(frozen=True)
class Cmp:
    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class AnyOf:
    left: "Node"
    items: tuple[Lit, ...]


@dataclass(frozen=True)
class NotNull:
    operand: "Node"


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" or "OR"
    items: tuple["Node", ...]


Node = Union[Col, Lit, Func, Cmp, AnyOf, NotNull, BoolOp]


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise Unparsed(f"unexpected {text[position:position + 10]!r}")
        position = match.end()
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end" or (value is not None and token[1].upper() != value):
            raise Unparsed(f"expected {value or 'more'}, got {token[1]!r}")
        self.position += 1
        return token

    def at(self, value: str) -> bool:
        return self.peek()[1].upper() == value

    def parse(self) -> Node:
        node = self.boolean()
        if self.peek()[0] != "end":
            raise Unparsed(f"trailing {self.peek()[1]!r}")
        return node

    def boolean(self) -> Node:
        items = [self.predicate()]
        op = None
        while self.at("AND") or self.at("OR"):
            word = self.take()[1].upper()
            if op not in (None, word):
                raise Unparsed("mixed AND/OR without parentheses")
            op = word
            items.append(self.predicate())
        return items[0] if op is None else BoolOp(op, tuple(items))

    def predicate(self) -> Node:
        left = self.operand()
        if self.at("IS"):
            self.take("IS")
            self.take("NOT")
            self.take("NULL")
            return NotNull(left)
        kind, value = self.peek()
        if value not in COMPARISONS:
            return left  # a parenthesised predicate, or an operand inside parentheses
        self.take()
        if value == "=" and self.at("ANY"):
            return AnyOf(left, self.array())
        return Cmp(value, left, self.operand())

    def array(self) -> tuple[Lit, ...]:
        self.take("ANY")
        self.take("(")
        depth = 0
        while self.at("("):  # ((ARRAY[...])::text[])
            self.take("(")
            depth += 1
        self.take("ARRAY")
        self.take("[")
        items = [self.literal()]
        while self.at(","):
            self.take(",")
            items.append(self.literal())
        self.take("]")
        self.casts()
        for _ in range(depth):
            self.take(")")
            self.casts()
        self.take(")")
        return tuple(items)

    def literal(self) -> Lit:
        node = self.operand()
        if not isinstance(node, Lit):
            raise Unparsed("array items must be literals")
        return node

    def casts(self) -> str | None:
        last = None
        while self.at("::"):
            self.take("::")
            last = self.type_name()
        return last

    def type_name(self) -> str:
        words = []
        while self.peek()[0] in ("word", "quoted") and self.peek()[1].upper() not in ("AND", "OR", "IS"):
            words.append(self.take()[1])
        if not words:
            raise Unparsed("missing type name")
        if self.at("("):  # numeric(5,2), character varying(10)
            while not self.at(")"):
                self.take()
            self.take(")")
        while self.at("["):
            self.take("[")
            self.take("]")
            words.append("[]")
        return " ".join(words).replace(" []", "[]")

    def operand(self) -> Node:
        node = self.primary()
        cast = self.casts()
        if cast is not None:
            node = Lit(node.text, node.is_string, cast) if isinstance(node, Lit) else node
        return node

    def primary(self) -> Node:
        kind, value = self.peek()
        if value == "(":
            self.take("(")
            node = self.boolean()
            self.take(")")
            return node
        if value == "-" and self.peek(1)[0] == "number":
            self.take()
            return Lit("-" + self.take()[1])
        if kind == "number":
            return Lit(self.take()[1])
        if kind == "string":
            return Lit(self.take()[1][1:-1].replace("''", "'"), is_string=True)
        if kind == "quoted":
            return Col(self.take()[1][1:-1].replace('""', '"'))
        if kind == "word":
            word = self.take()[1]
            if word.upper() == "NULL":
                return Lit(None)
            if word.upper() in ("TRUE", "FALSE"):
                return Lit(word.lower(), type="boolean")
            if self.at("("):
                if word.lower() not in LENGTH_FUNCTIONS:
                    raise Unparsed(f"function {word}()")
                self.take("(")
                arg = self.operand()
                self.take(")")
                return Func(word.lower(), arg)
            return Col("VALUE" if word == "VALUE" else word)
        raise Unparsed(f"unexpected {value!r}")


def parse_check(definition: str) -> Node:
    """The AST of ``CHECK (...)`` text as printed by ``pg_get_constraintdef`` (or a bare expression)."""
    text = definition.strip()
    match = re.fullmatch(r"CHECK\s*(\(.*\))(\s+NOT\s+VALID|\s+NO\s+INHERIT)*", text, re.DOTALL | re.IGNORECASE)
    if match:
        text = match.group(1)
    return _Parser(text).parse()


def conjuncts(node: Node) -> list[Node]:
    """The parts of a top-level AND (a single node when there is none)."""
    if isinstance(node, BoolOp) and node.op == "AND":
        return [part for item in node.items for part in conjuncts(item)]
    return [node]


def columns_of(node: Node) -> set[str]:
    """Column names the expression mentions."""
    if isinstance(node, Col):
        return {node.name}
    if isinstance(node, Func):
        return columns_of(node.arg)
    if isinstance(node, Cmp):
        return columns_of(node.left) | columns_of(node.right)
    if isinstance(node, AnyOf):
        return columns_of(node.left)
    if isinstance(node, NotNull):
        return columns_of(node.operand)
    if isinstance(node, BoolOp):
        return set().union(*(columns_of(item) for item in node.items))
    return set()


def replace_value_keyword(expression: str, column_sql: str) -> str:
    """A domain CHECK with its ``VALUE`` keyword replaced by *column_sql*, quoted text left alone."""
    parts = re.split(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")""", expression)
    return "".join(part if index % 2 else re.sub(r"\bVALUE\b", column_sql, part)
                   for index, part in enumerate(parts))
