"""Reading CHECKs: each part becomes rules, a comparison, a row check, or is left to PostgreSQL.

A CHECK is split at its top-level ANDs; each part must compile for Python
(:mod:`.evaluate`), then its alternatives (:mod:`.logic`) are folded: a single
alternative into the columns' :class:`~.constraints.Rules` (and column
comparisons), several into the rules each column keeps in all of them (``pct IS
NULL OR pct BETWEEN 0 AND 100`` bounds ``pct``). What the rules do not guarantee
becomes a :class:`~.constraints.RowCheck`, with a repair plan per atom.
"""

from __future__ import annotations

import math
from typing import Any

from .checkparser import parse_check
from .constraints import Atom, Comparison, RowCheck, Rules, apply_value, as_internal, check_body, exact_value
from .evaluate import Compiler, Unsupported, kind_of
from .expressions import (AnyOf, BoolOp, BoolTest, Cast, Cmp, Col, Func, Lit, Match, Node, NullTest, Unparsed,
                          columns_of, conjuncts)
from .logic import CONDITIONS, TooComplex, branches, normal
from .patterns import PatternError, bounded, regex_from_like, regex_from_postgres, regex_from_similar
from .sqltypes import ValueType, normalize_type

_TEXTS = {"text", "character varying", "character", "name", "citext"}
#: casts that leave a column's values as they are, by kind of column
VALUE_KEEPING_CASTS = {"text": _TEXTS, "enum": _TEXTS, "int": {"integer", "bigint", "numeric", "double precision"},
                       "numeric": {"numeric"}, "float": {"double precision"}}
READ_ERRORS = (Unparsed, Unsupported, ValueError, ArithmeticError, TooComplex, KeyError, TypeError, IndexError,
               RecursionError)


class NotFoldable(Exception):
    """A part of a CHECK that no per-column rule expresses."""


def read_check(definition: str, types: dict[str, ValueType], rules: dict[str, Rules],
                comparisons: list[Comparison], *, value_column: str | None = None,
                row_checks: list[RowCheck] | None = None, name: str = "",
                references: frozenset[str] = frozenset()) -> bool:
    """Fold one CHECK into *rules*, *comparisons* and *row_checks*; False when PostgreSQL must test it
    (see :func:`.constraints.apply_check`)."""
    try:
        tree = parse_check(definition)
    except Unparsed:
        return False
    reader = CheckReader(types, rules, comparisons, value_column, references)
    understood, residual = True, []
    for part in conjuncts(tree):
        try:
            reader.compiler.predicate(part)
        except READ_ERRORS:
            understood = False  # Python cannot evaluate it: PostgreSQL will
            continue
        try:
            if not reader.fold(part):
                residual.append(part)
        except READ_ERRORS:
            residual.append(part)
    for column, rule in rules.items():  # whoever shortens or suffixes text (unique retries) sees the bound
        vtype = types[column]
        if vtype.kind == "text" and rule.max_length is not None and rule.max_length < (vtype.max_length or 1 << 30):
            vtype.max_length = rule.max_length
    if residual and row_checks is not None:
        node = residual[0] if len(residual) == 1 else BoolOp("AND", tuple(residual))
        try:
            row_checks.append(reader.row_check(name, node, check_body(definition)))
        except READ_ERRORS:
            return False
        return understood
    return understood and not residual


class CheckReader:
    """Reads the parts of the CHECKs of one table (or one domain column)."""

    def __init__(self, types: dict[str, ValueType], rules: dict[str, Rules], comparisons: list[Comparison],
                 value_column: str | None, references: frozenset[str]) -> None:
        self.types, self.rules, self.comparisons = types, rules, comparisons
        self.references = references
        self.compiler = Compiler(types, value_column)

    def column(self, node: Node, *, any_cast: bool = False) -> str | None:
        """The column *node* is (through casts that keep its values, or any with *any_cast*), else None."""
        casts = []
        while isinstance(node, Cast):
            casts.append(normalize_type(node.type))
            node = node.operand
        if not isinstance(node, Col):
            return None
        name = self.compiler.column_name(node)
        vtype = self.types[name]
        keeping = VALUE_KEEPING_CASTS.get(vtype.kind, set()) | {normalize_type(vtype.sql_type)}
        return name if any_cast or all(cast in keeping for cast in casts) else None

    def is_boolean(self, node: Node) -> bool:
        if isinstance(node, CONDITIONS) or (isinstance(node, Lit) and node.type == "boolean"):
            return True
        name = self.column(node)
        return name is not None and self.types[name].kind == "bool"

    def alternatives(self, node: Node) -> list[tuple[Node, ...]]:
        return branches(normal(node, self.is_boolean))

    # -- folding into rules --------------------------------------------------------------------
    def fold(self, part: Node) -> bool:
        """Fold *part* into rules/comparisons; True when they alone guarantee it (no row check needed)."""
        alternatives = self.alternatives(part)
        if len(alternatives) == 1:
            guaranteed = True
            for atom in alternatives[0]:
                try:
                    guaranteed = self.fold_atom(atom, self.rules, self.comparisons) and guaranteed
                except (NotFoldable,) + READ_ERRORS:
                    guaranteed = False
            return guaranteed
        names = {self.compiler.column_name(Col(n)) for n in columns_of(part)}
        exact = True
        for name in names:
            exact = self._fold_hull(name, alternatives) and exact
        return exact and len(names) == 1

    def _fold_hull(self, name: str, alternatives: list[tuple[Node, ...]]) -> bool:
        """Values of *name* limited to what some alternative allows; True when that is exact."""
        found: list[Rules | None] = []
        exact = True
        for branch in alternatives:
            mine = [atom for atom in branch if name in self._names(atom)]
            if not mine or any(self._names(atom) != {name} for atom in mine):
                return False  # free in this alternative, or tied to another column
            if any(isinstance(atom, NullTest) and atom.is_null for atom in mine):
                found.append(None)
                continue
            rule = Rules()
            for atom in mine:  # what cannot be folded only makes the rule looser than the alternative
                try:
                    exact = self.fold_atom(atom, {name: rule}, []) and exact
                except (NotFoldable,) + READ_ERRORS:
                    exact = False
            found.append(rule)
        constraining = [rule for rule in found if rule is not None]
        if not constraining:
            return False
        if len(constraining) == 1:
            union = constraining[0]
        elif all(rule.choices is not None and rule == Rules(choices=rule.choices, not_null=rule.not_null)
                 for rule in constraining):
            union = Rules(choices=list(dict.fromkeys(v for rule in constraining for v in rule.choices or ())))
        else:
            return False
        union.not_null = union.not_null and len(constraining) == len(found)
        union.null_only = False
        self.rules[name].merge(union)
        return exact

    def _names(self, node: Node) -> set[str]:
        return {self.compiler.column_name(Col(n)) for n in columns_of(node)}

    def fold_atom(self, atom: Node, rules: dict[str, Rules], comparisons: list[Comparison]) -> bool:
        """Fold one atom into *rules*; True when the generators then guarantee it, NotFoldable if no rule can."""
        if isinstance(atom, NullTest) and not atom.is_null and (name := self.column(atom.operand)) is not None:
            rules[name].not_null = True  # a foreign key too: its key is then loaded as NOT NULL
            return True
        if self._names(atom) & self.references:
            raise NotFoldable("values of a foreign key come from its parent, whatever the rules say")
        if isinstance(atom, NullTest) and (name := self.column(atom.operand)) is not None:
            rules[name].null_only = True
            return True
        if isinstance(atom, BoolTest) and atom.value is not None and (name := self.column(atom.operand)):
            value = atom.value != atom.negated
            rules[name].allow_only([value])
            rules[name].not_null = rules[name].not_null or not atom.negated
            return True
        if isinstance(atom, AnyOf) and atom.items is not None:
            return self._fold_any(atom, rules)
        if isinstance(atom, Match) and not atom.negated and (name := self.column(atom.left)):
            self._fold_pattern(atom, rules[name])
            vtype = self.types[name]
            if isinstance(atom.left, Col) and vtype.sql_type == "character" and vtype.max_length:
                rules[name].limit_length(low=vtype.max_length)  # the pattern sees char(n) padded: fill it
            return False
        if isinstance(atom, Cmp) and atom.op in ("=", "<>", "<", "<=", ">", ">="):
            return self._fold_comparison(atom, rules, comparisons)
        raise NotFoldable(type(atom).__name__)

    def _fold_any(self, atom: AnyOf, rules: dict[str, Rules]) -> bool:
        items = atom.items or ()
        name = self.column(atom.left)
        if name is not None and atom.op == "=" and not atom.every:
            vtype = self.types[name]
            values = [self._exact(vtype, item) for item in items if not (isinstance(item, Lit) and item.text is None)]
            rules[name].allow_only(values)
            return True
        if name is not None and atom.op == "<>" and atom.every:
            vtype = self.types[name]
            for item in items:
                apply_value(rules[name], vtype, "<>", self.compiler.constant(item, kind_of(vtype)))
            return True
        if isinstance(atom.left, Func) and atom.op == "=" and not atom.every and len(atom.left.args) == 1:
            return self._fold_function(atom.left, [self.compiler.constant(item, "text") for item in items], rules)
        raise NotFoldable("ANY over an expression")

    def _fold_function(self, function: Func, values: list[Any], rules: dict[str, Rules]) -> bool:
        """``upper(x) IN (...)``, ``jsonb_typeof(x) = 'array'``."""
        name = self.column(function.arg)
        if name is None:
            raise NotFoldable("function of an expression")
        if function.name in ("upper", "lower") and self.types[name].kind in ("text", "enum"):
            apply = str.upper if function.name == "upper" else str.lower
            rules[name].allow_only([value for value in values if isinstance(value, str) and apply(value) == value])
            return True
        if function.name in ("jsonb_typeof", "json_typeof") and self.types[name].kind == "json":
            rule = rules[name]
            rule.json_types = [v for v in values if v in ("object", "array", "string", "number", "boolean", "null")
                               and (rule.json_types is None or v in rule.json_types)]
            return True
        raise NotFoldable(f"{function.name}()")

    def _fold_pattern(self, atom: Match, rule: Rules) -> None:
        pattern = atom.pattern
        try:
            if isinstance(pattern, Func) and pattern.name in ("similar_to_escape", "similar_escape"):
                text = self.compiler.constant(pattern.args[0], "text")
                rule.pattern, test = regex_from_similar(text, generating=True), regex_from_similar(text)
            elif atom.op.startswith("~~"):
                text = self.compiler.constant(pattern, "text")
                rule.pattern, test = regex_from_like(text, generating=True), regex_from_like(text)
            else:
                test = regex_from_postgres(self.compiler.constant(pattern, "text"))
                rule.pattern = bounded(test)
        except PatternError as exc:
            raise NotFoldable(str(exc)) from None
        rule.pattern_test = ("(?i)" if atom.op.endswith("*") else "") + test

    def _fold_comparison(self, atom: Cmp, rules: dict[str, Rules], comparisons: list[Comparison]) -> bool:
        left, right, op = atom.left, atom.right, atom.op
        name, other = self.column(left), self.column(right)
        if name is not None and other is not None:
            same = self.types[name].kind == self.types[other].kind
            if not (same and (self.types[name].is_ordered or op in ("=", "<>"))):
                raise NotFoldable("comparison of unlike columns")
            comparisons.append(Comparison(name, op, other))
            return True
        truncated = self._truncation(left, right) or self._truncation(right, left)
        if truncated is not None and op == "=":
            rules[truncated[0]].truncate = truncated[1]
            return False
        if name is not None:
            vtype = self.types[name]
            return apply_value(rules[name], vtype, op, self.compiler.constant(right, kind_of(vtype)))
        if isinstance(left, Func) and len(left.args) == 1 and (name := self.column(left.arg)) is not None:
            vtype = self.types[name]
            if left.name in ("length", "char_length", "character_length", "octet_length"):
                limit = self.compiler.constant(right, "number")
                self._fold_length(rules[name], op, int(limit) if limit == int(limit) else limit)
                return vtype.kind == "bytea" or (left.name != "octet_length" and vtype.kind == "text")
            if left.name in ("lower", "upper") and vtype.kind == "range" and vtype.element is not None:
                bound = self.compiler.constant(right, kind_of(vtype.element))
                self._fold_range_bound(rules[name], vtype.element, left.name, op, bound)
                return False
            if op == "=":
                return self._fold_function(left, [self.compiler.constant(right, "text")], rules)
        raise NotFoldable("comparison of an expression")

    def _truncation(self, node: Node, other: Node) -> tuple[str, str] | None:
        """(column, unit) when *node* is ``date_trunc(unit, column)`` and *other* that column."""
        if isinstance(node, Func) and node.name == "date_trunc" and len(node.args) == 2:
            name = self.column(node.args[1], any_cast=True)
            if name is not None and name == self.column(other, any_cast=True):
                return name, str(self.compiler.constant(node.args[0], "text")).lower()
        return None

    @staticmethod
    def _fold_length(rule: Rules, op: str, length: Any) -> None:
        if op in (">", ">="):
            rule.limit_length(low=math.floor(length) + 1 if op == ">" else math.ceil(length))
        elif op in ("<", "<="):
            rule.limit_length(high=math.ceil(length) - 1 if op == "<" else math.floor(length))
        elif op == "=" and length == int(length):
            rule.limit_length(int(length), int(length))
        else:
            raise NotFoldable("length <> n")

    def _fold_range_bound(self, rule: Rules, element: ValueType, which: str, op: str, bound: Any) -> None:
        value = as_internal(element, bound)
        if which == "lower" and op in (">", ">="):
            rule.narrow(low=math.floor(value) + 1 if op == ">" else math.ceil(value))
        elif which == "upper" and op in ("<", "<="):
            rule.narrow(high=math.ceil(value) - 1 if op == "<" else math.floor(value))

    def _exact(self, vtype: ValueType, node: Node) -> Any:
        return exact_value(vtype, self.compiler.constant(node, kind_of(vtype)))

    # -- row checks ------------------------------------------------------------------------------
    def row_check(self, name: str, node: Node, expression: str) -> RowCheck:
        holds = self.compiler.holds(node)
        try:
            alternatives = self.alternatives(node)
        except TooComplex:
            alternatives = [(node,)]
        found = []
        for branch in alternatives:
            try:
                found.append([self.atom(atom) for atom in branch])
            except READ_ERRORS:
                continue
        columns = tuple(sorted(self._names(node)))
        return RowCheck(name, expression, columns, holds, found, self.rules, self.types)

    def atom(self, node: Node) -> Atom:
        test = self.compiler.predicate(node)
        names = tuple(sorted(self._names(node)))
        if isinstance(node, NullTest) and (name := self.column(node.operand)):
            return Atom(node, test, names, "null" if node.is_null else "notnull", name)
        if isinstance(node, Cmp) and node.op in ("=", "<>", "<", "<=", ">", ">=") \
                and (name := self.column(node.left)) and (other := self.column(node.right)):
            return Atom(node, test, names, "pair", name, op=node.op, other=other)
        if len(names) == 1 and names[0] not in self.references:
            allowed = {names[0]: Rules()}
            try:
                self.fold_atom(node, allowed, [])
            except (NotFoldable,) + READ_ERRORS:
                pass
            rule = allowed[names[0]]
            direct = isinstance(node, (Cmp, AnyOf, BoolTest)) and self.column(
                node.operand if isinstance(node, BoolTest) else node.left) == names[0]
            if rule.choices is not None or rule.pattern is not None or \
                    (direct and (rule.low is not None or rule.high is not None)):
                return Atom(node, test, names, "draw", names[0], rule)
        return Atom(node, test, names, "filter", names[0] if len(names) == 1 else None)
