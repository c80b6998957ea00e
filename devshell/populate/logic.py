"""A CHECK as alternatives: the disjunctive normal form that guides how a failing row is repaired.

``(a IS NOT NULL) <> (b IS NOT NULL)`` becomes two branches, ``a`` set and ``b``
NULL or the other way round; ``num_nonnulls(x, y, z) = 1`` becomes three. A row
that fails the CHECK is repaired by making every atom of one branch true. The
branches only guide: the row is accepted after the repair only if the CHECK
itself (evaluated exactly, see :mod:`.evaluate`) holds, so a branch merely has
to be sufficient, never exact.
"""

from __future__ import annotations

import itertools
from typing import Callable

from .expressions import AnyOf, BoolOp, BoolTest, Cmp, Col, Func, Lit, Match, Node, Not, NullTest

MAX_BRANCHES = 64
MAX_COUNTED = 8  # num_nonnulls over more arguments is not expanded
NEGATED = {"=": "<>", "<>": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<",
           "IS DISTINCT FROM": "IS NOT DISTINCT FROM", "IS NOT DISTINCT FROM": "IS DISTINCT FROM"}
FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<=",
           "IS DISTINCT FROM": "IS DISTINCT FROM", "IS NOT DISTINCT FROM": "IS NOT DISTINCT FROM"}
CONDITIONS = (Cmp, AnyOf, NullTest, BoolTest, Not, BoolOp, Match)
TRUE = Lit("true", type="boolean")
FALSE = Lit("false", type="boolean")

Branch = tuple[Node, ...]


class TooComplex(Exception):
    """More alternatives than are worth enumerating."""


def normal(node: Node, is_boolean: Callable[[Node], bool]) -> Node:
    """*node* with NOT pushed down to the atoms and a few forms rewritten as AND/OR."""
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(normal(item, is_boolean) for item in node.items))
    if isinstance(node, Not):
        return negate(node.operand, is_boolean)
    if isinstance(node, Col):
        return Cmp("=", node, TRUE)
    if isinstance(node, BoolTest) and isinstance(node.operand, CONDITIONS) and node.value is not None:
        wanted = node.value != node.negated  # IS TRUE / IS NOT FALSE: the condition; else its negation
        return normal(node.operand, is_boolean) if wanted else negate(node.operand, is_boolean)
    if isinstance(node, Cmp):
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Lit) and not isinstance(right, Lit):
            left, right, op = right, left, FLIPPED[op]
        if op in ("=", "<>", "IS NOT DISTINCT FROM", "IS DISTINCT FROM") and is_boolean(left) and is_boolean(right):
            same = op in ("=", "IS NOT DISTINCT FROM")
            a, b = normal(left, is_boolean), normal(right, is_boolean)
            not_a, not_b = negate(left, is_boolean), negate(right, is_boolean)
            return BoolOp("OR", (BoolOp("AND", (a, b if same else not_b)), BoolOp("AND", (not_a, not_b if same else b))))
        counted = _counted(left, op, right)
        if counted is not None:
            return counted
        return Cmp(op, left, right)
    return node


def negate(node: Node, is_boolean: Callable[[Node], bool]) -> Node:
    """The normal form of ``NOT node``."""
    if isinstance(node, BoolOp):
        return BoolOp("OR" if node.op == "AND" else "AND", tuple(negate(item, is_boolean) for item in node.items))
    if isinstance(node, Not):
        return normal(node.operand, is_boolean)
    if isinstance(node, NullTest):
        return NullTest(node.operand, not node.is_null)
    if isinstance(node, BoolTest):
        return normal(BoolTest(node.operand, node.value, not node.negated), is_boolean)
    if isinstance(node, Cmp) and node.op in NEGATED:
        return normal(Cmp(NEGATED[node.op], node.left, node.right), is_boolean)
    if isinstance(node, AnyOf) and node.op in NEGATED:
        return AnyOf(node.left, node.items, NEGATED[node.op], not node.every, node.array)
    if isinstance(node, Match):
        return Match(node.op, node.left, node.pattern, not node.negated)
    if isinstance(node, Col):
        return Cmp("=", node, FALSE)
    if isinstance(node, Lit) and node.type == "boolean":
        return FALSE if node.text == "true" else TRUE
    return Not(node)


def _counted(left: Node, op: str, right: Node) -> Node | None:
    """``num_nonnulls(a, b, c) = 1`` (or num_nulls, any comparison) as alternatives of NULL tests."""
    if not (isinstance(left, Func) and left.name in ("num_nonnulls", "num_nulls") and isinstance(right, Lit)
            and right.text is not None and right.text.lstrip("-").isdigit() and 0 < len(left.args) <= MAX_COUNTED):
        return None
    wanted = int(right.text)
    test = {"=": wanted.__eq__, "<>": wanted.__ne__, "<": wanted.__gt__, "<=": wanted.__ge__,
            ">": wanted.__lt__, ">=": wanted.__le__}.get(op)
    if test is None:
        return None
    branches = []
    for present in itertools.product((True, False), repeat=len(left.args)):
        count = sum(present) if left.name == "num_nonnulls" else len(present) - sum(present)
        if test(count):
            branches.append(BoolOp("AND", tuple(NullTest(arg, not is_set) for arg, is_set in zip(left.args, present))))
    return BoolOp("OR", tuple(branches)) if branches else FALSE


def branches(node: Node) -> list[Branch]:
    """The alternatives of a normal-form tree, each a conjunction of atoms (impossible ones dropped)."""
    found = _dnf(node)
    out = []
    for branch in found:
        unique = tuple(dict.fromkeys(branch))
        if not _contradictory(unique):
            out.append(unique)
    return out


def _dnf(node: Node) -> list[Branch]:
    if isinstance(node, BoolOp) and node.op == "OR":
        out = [branch for item in node.items for branch in _dnf(item)]
    elif isinstance(node, BoolOp):
        out = [()]
        for item in node.items:
            out = [left + right for left in out for right in _dnf(item)]
            if len(out) > MAX_BRANCHES:
                raise TooComplex(f"more than {MAX_BRANCHES} alternatives")
    elif isinstance(node, Lit) and node.type == "boolean":
        out = [()] if node.text == "true" else []
    else:
        out = [(node,)]
    if len(out) > MAX_BRANCHES:
        raise TooComplex(f"more than {MAX_BRANCHES} alternatives")
    return out


def _contradictory(branch: Branch) -> bool:
    """A branch asking a column to be NULL and something a NULL cannot be."""
    nulls = {atom.operand.name for atom in branch if isinstance(atom, NullTest) and atom.is_null
             and isinstance(atom.operand, Col)}
    for atom in branch:
        if isinstance(atom, NullTest) and not atom.is_null and isinstance(atom.operand, Col) \
                and atom.operand.name in nulls:
            return True
        if isinstance(atom, (Cmp, AnyOf, Match)) and getattr(atom, "op", "") not in ("IS DISTINCT FROM", "IS NOT DISTINCT FROM") \
                and isinstance(atom.left, Col) and atom.left.name in nulls:
            return True
    return False
