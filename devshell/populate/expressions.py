"""The expression tree of a CHECK, as :mod:`.checkparser` reads it from PostgreSQL's text.

Nodes are small frozen dataclasses (hashable: alternatives can be compared and
de-duplicated); the helpers here walk them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

COMPARISONS = ("=", "<>", "!=", "<", "<=", ">", ">=")


class Unparsed(Exception):
    """The expression is outside the forms this parser understands."""


@dataclass(frozen=True)
class Col:
    name: str  # "VALUE" for a domain's value


@dataclass(frozen=True)
class Lit:
    text: str | None  # None for NULL
    is_string: bool = False
    type: str | None = None  # the cast PostgreSQL printed, "boolean" for TRUE/FALSE


@dataclass(frozen=True)
class Func:
    name: str  # lower case, schema dropped ("pg_catalog.upper" -> "upper"); also CURRENT_DATE & co
    args: tuple["Node", ...] = ()

    @property
    def arg(self) -> "Node":
        """The first argument (most functions CHECKs use take one)."""
        if not self.args:
            raise Unparsed(f"{self.name}() has no argument")
        return self.args[0]


@dataclass(frozen=True)
class Cast:
    operand: "Node"
    type: str


@dataclass(frozen=True)
class Cmp:
    op: str  # = <> < <= > >=, or "IS DISTINCT FROM" / "IS NOT DISTINCT FROM"
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class AnyOf:
    """``left op ANY (array)`` (``every``: ``op ALL``); ``IN (...)`` is printed this way."""

    left: "Node"
    items: tuple["Node", ...] | None  # the array's items when it is a literal array
    op: str = "="
    every: bool = False
    array: "Node | None" = None  # the array expression when it is not literal (a column)


@dataclass(frozen=True)
class NullTest:
    operand: "Node"
    is_null: bool  # IS NULL (True) or IS NOT NULL (False)


@dataclass(frozen=True)
class BoolTest:
    """``x IS [NOT] TRUE/FALSE/UNKNOWN`` (``value`` None for UNKNOWN)."""

    operand: "Node"
    value: bool | None
    negated: bool = False


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" or "OR"
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Match:
    """Pattern matching: ``~`` ``~*`` (regular expressions), ``~~`` ``~~*`` (LIKE / ILIKE), maybe negated."""

    op: str  # "~", "~*", "~~", "~~*"
    left: "Node"
    pattern: "Node"
    negated: bool = False


@dataclass(frozen=True)
class BinOp:
    """Arithmetic and every other binary operator (``||``, ``@>``, ``->>``...)."""

    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Neg:
    operand: "Node"


@dataclass(frozen=True)
class ArrayOf:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Subscript:
    operand: "Node"
    index: "Node"


@dataclass(frozen=True)
class Case:
    subject: "Node | None"
    whens: tuple[tuple["Node", "Node"], ...]
    default: "Node | None"


Node = Union[Col, Lit, Func, Cast, Cmp, AnyOf, NullTest, BoolTest, Not, BoolOp, Match, BinOp, Neg, ArrayOf,
             Subscript, Case]

def array_items(node: Node) -> tuple[Node, ...] | None:
    """The items of a literal array (``ARRAY[...]``, maybe cast, or ``'{a,b}'::text[]``), else None."""
    while isinstance(node, Cast):
        node = node.operand
    if isinstance(node, ArrayOf):
        return node.items
    if isinstance(node, Lit) and node.is_string and node.text is not None and node.text.startswith("{") \
            and node.text.endswith("}"):
        element = node.type[:-2] if node.type and node.type.endswith("[]") else None
        return tuple(Lit(None) if item is None else Lit(item, True, element) for item in _array_text(node.text))
    return None


def _array_text(text: str) -> list[str | None]:
    """``{a,"b c",NULL}`` -> ['a', 'b c', None] (one dimension)."""
    body = text[1:-1]
    if not body:
        return []
    if "{" in body:
        raise Unparsed("nested array literal")
    items: list[str | None] = []
    for match in re.finditer(r'\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)', body):
        raw = match.group(1)
        if match.start() == len(body):
            break
        if raw.startswith('"'):
            items.append(re.sub(r"\\(.)", r"\1", raw[1:-1]))
        else:
            items.append(None if raw.upper() == "NULL" else raw.strip())
    return items


def conjuncts(node: Node) -> list[Node]:
    """The parts of a top-level AND (a single node when there is none)."""
    if isinstance(node, BoolOp) and node.op == "AND":
        return [part for item in node.items for part in conjuncts(item)]
    return [node]


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of *node*."""
    if isinstance(node, (Func, BoolOp, ArrayOf)):
        return node.args if isinstance(node, Func) else node.items
    if isinstance(node, (Cast, NullTest, BoolTest, Not, Neg)):
        return (node.operand,)
    if isinstance(node, (Cmp, BinOp)):
        return (node.left, node.right)
    if isinstance(node, AnyOf):
        return (node.left,) + (node.items or ()) + ((node.array,) if node.items is None and node.array else ())
    if isinstance(node, Match):
        return (node.left, node.pattern)
    if isinstance(node, Subscript):
        return (node.operand, node.index)
    if isinstance(node, Case):
        parts = [node.subject] + [part for pair in node.whens for part in pair] + [node.default]
        return tuple(part for part in parts if part is not None)
    return ()


def columns_of(node: Node) -> set[str]:
    """Column names the expression mentions."""
    if isinstance(node, Col):
        return {node.name}
    return set().union(*(columns_of(child) for child in children(node)))


def replace_value_keyword(expression: str, column_sql: str) -> str:
    """A domain CHECK with its ``VALUE`` keyword replaced by *column_sql*, quoted text left alone."""
    parts = re.split(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")""", expression)
    return "".join(part if index % 2 else re.sub(r"\bVALUE\b", column_sql, part)
                   for index, part in enumerate(parts))


def parse_check(definition: str) -> Node:
    """The tree of ``CHECK (...)`` text as printed by ``pg_get_constraintdef`` (or a bare expression)."""
    from .checkparser import parse_check as parse

    return parse(definition)
