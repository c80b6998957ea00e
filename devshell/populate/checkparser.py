"""A parser for the CHECK expressions PostgreSQL prints (``pg_get_constraintdef``).

PostgreSQL prints normalised SQL (parenthesised, ``BETWEEN`` as two comparisons,
``IN`` as ``= ANY (ARRAY[...])``, ``LIKE`` as ``~~``, literals with casts), so a
precedence-climbing parser over PostgreSQL's operator table reads nearly every
CHECK: boolean logic, comparisons, ``IS [NOT] NULL/TRUE/DISTINCT FROM``, function
calls (``TRIM(BOTH ... FROM ...)`` and friends too), casts, arithmetic, arrays,
subscripts and ``CASE``. What it cannot read raises :class:`~.expressions.Unparsed`
(never anything else); the caller then lets PostgreSQL evaluate the expression.
(pglast, the libpg_query binding, is GPL-licensed, hence this parser.)
"""

from __future__ import annotations

import re

from .expressions import (COMPARISONS, AnyOf, ArrayOf, BinOp, BoolOp, BoolTest, Case, Cast, Cmp, Col, Func, Lit,
                          Match, Neg, Node, Not, NullTest, Subscript, Unparsed, array_items)

#: binary operators by binding strength (PostgreSQL's table: "any other operator" sits above LIKE/IN/BETWEEN)
_ARITHMETIC = {"^": 7, "*": 6, "/": 6, "%": 6, "+": 5, "-": 5}
#: reserved words PostgreSQL would quote if they were names: never an operand
_KEYWORDS = {"AND", "OR", "NOT", "IS", "ISNULL", "NOTNULL", "BETWEEN", "IN", "LIKE", "ILIKE", "SIMILAR", "THEN",
             "ELSE", "END", "WHEN", "COLLATE", "FROM", "AS", "SYMMETRIC", "TO"}
_CONSTANTS = {"CURRENT_DATE", "CURRENT_TIMESTAMP", "CURRENT_TIME", "LOCALTIMESTAMP", "LOCALTIME", "CURRENT_USER",
              "SESSION_USER", "CURRENT_ROLE", "USER", "CURRENT_CATALOG", "CURRENT_SCHEMA"}
_MULTIWORD_TYPES = {"character": ("varying",), "char": ("varying",), "bit": ("varying",), "double": ("precision",),
                    "national": ("character", "char", "varying")}

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op>::|[(),\[\].;]|[+\-*/<>=~!@\#%^&|`?]+)
  | (?P<word>[A-Za-z_\x80-\uffff][A-Za-z_0-9$\x80-\uffff]*)
""", re.VERBOSE)


#: operators PostgreSQL prints for pattern matching, as (Match.op, negated)
_MATCH_OPS = {"~": ("~", False), "~*": ("~*", False), "!~": ("~", True), "!~*": ("~*", True),
              "~~": ("~~", False), "~~*": ("~~*", False), "!~~": ("~~", True), "!~~*": ("~~*", True)}


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


def _string_value(token: str) -> str:
    if token[0] in "Ee":
        body = token[2:-1].replace("''", "'")
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)
    return token[1:-1].replace("''", "'")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0

    # -- tokens ---------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end" or (value is not None and token[1].upper() != value):
            raise Unparsed(f"expected {value or 'more'}, got {token[1]!r}")
        self.position += 1
        return token

    def at(self, *values: str) -> bool:
        kind, text = self.peek()
        return kind in ("word", "op") and text.upper() in values

    def at_word(self, *values: str) -> bool:
        kind, text = self.peek()
        return kind == "word" and text.upper() in values

    # -- grammar, loosest first ------------------------------------------------------------
    def parse(self) -> Node:
        node = self.disjunction()
        if self.peek()[0] != "end":
            raise Unparsed(f"trailing {self.peek()[1]!r}")
        return node

    def disjunction(self) -> Node:
        items = [self.conjunction()]
        while self.at_word("OR"):
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def conjunction(self) -> Node:
        items = [self.negation()]
        while self.at_word("AND"):
            self.take()
            items.append(self.negation())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def negation(self) -> Node:
        if self.at_word("NOT"):
            self.take()
            return Not(self.negation())
        return self.is_test()

    def is_test(self) -> Node:
        node = self.comparison()
        while True:
            if self.at_word("ISNULL", "NOTNULL"):
                node = NullTest(node, self.take()[1].upper() == "ISNULL")
                continue
            if not self.at_word("IS"):
                return node
            self.take()
            negated = self.at_word("NOT")
            if negated:
                self.take()
            word = self.take()[1].upper()
            if word == "NULL":
                node = NullTest(node, not negated)
            elif word in ("TRUE", "FALSE", "UNKNOWN"):
                node = BoolTest(node, None if word == "UNKNOWN" else word == "TRUE", negated)
            elif word == "DISTINCT":
                self.take("FROM")
                node = Cmp("IS NOT DISTINCT FROM" if negated else "IS DISTINCT FROM", node, self.comparison())
            else:
                raise Unparsed(f"IS {word}")

    def comparison(self) -> Node:
        left = self.pattern_test()
        kind, op = self.peek()
        if kind != "op" or op not in COMPARISONS:
            return left
        self.take()
        op = "<>" if op == "!=" else op
        if self.at_word("ANY", "SOME", "ALL"):
            every = self.take()[1].upper() == "ALL"
            self.take("(")
            array = self.disjunction()
            self.take(")")
            return AnyOf(left, array_items(array), op, every, array)
        return Cmp(op, left, self.pattern_test())

    def pattern_test(self) -> Node:
        left = self.other()
        negated = False
        if self.at_word("NOT") and self.peek(1)[1].upper() in ("LIKE", "ILIKE", "SIMILAR", "BETWEEN", "IN"):
            self.take()
            negated = True
        if self.at_word("LIKE", "ILIKE"):
            op = "~~" if self.take()[1].upper() == "LIKE" else "~~*"
            pattern = self.other()
            if self.at_word("ESCAPE"):
                raise Unparsed("LIKE ... ESCAPE")
            return Match(op, left, pattern, negated)
        if self.at_word("SIMILAR"):
            self.take()
            self.take("TO")
            return Match("~", left, Func("similar_to_escape", (self.other(),)), negated)
        if self.at_word("BETWEEN"):
            self.take()
            if self.at_word("SYMMETRIC"):
                raise Unparsed("BETWEEN SYMMETRIC")
            low = self.other()
            self.take("AND")
            high = self.other()
            node: Node = BoolOp("AND", (Cmp(">=", left, low), Cmp("<=", left, high)))
            return Not(node) if negated else node
        if self.at_word("IN"):
            self.take()
            self.take("(")
            items = [self.disjunction()]
            while self.at(","):
                self.take(",")
                items.append(self.disjunction())
            self.take(")")
            return AnyOf(left, tuple(items), "<>" if negated else "=", negated)
        if negated:
            raise Unparsed("NOT here")
        return left

    def other(self) -> Node:
        node = self.binary(5)
        while self.peek()[0] == "op" and self.peek()[1] not in COMPARISONS + ("(", ")", ",", "[", "]", "::", ".", ";") \
                and self.peek()[1] not in _ARITHMETIC:
            op = self.take()[1]
            right = self.binary(5)
            if op in _MATCH_OPS:
                node = Match(_MATCH_OPS[op][0], node, right, _MATCH_OPS[op][1])
            else:
                node = BinOp(op, node, right)
        return node

    def binary(self, level: int) -> Node:
        if level > 7:
            return self.unary()
        node = self.binary(level + 1)
        while self.peek()[0] == "op" and _ARITHMETIC.get(self.peek()[1]) == level:
            op = self.take()[1]
            node = BinOp(op, node, self.binary(level + 1))
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.take()
            operand = self.unary()
            if isinstance(operand, Lit) and operand.text is not None and not operand.is_string \
                    and operand.type is None:
                return Lit("-" + operand.text)
            return Neg(operand)
        if self.at("+"):
            self.take()
            return self.unary()
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.at("::"):
                self.take()
                kind = self.type_name()
                node = Lit(node.text, node.is_string, kind) if isinstance(node, Lit) else Cast(node, kind)
            elif self.at("["):
                self.take("[")
                index = self.disjunction()
                self.take("]")
                node = Subscript(node, index)
            elif self.at_word("COLLATE"):
                self.take()
                self.name()
            elif self.at_word("AT") and self.peek(1)[1].upper() == "TIME":
                self.take()
                self.take("TIME")
                self.take("ZONE")
                node = Func("timezone", (self.unary(), node))
            else:
                return node

    def type_name(self) -> str:
        words = [self.name()]
        follow = _MULTIWORD_TYPES.get(words[0].lower(), ())
        while self.at_word(*(word.upper() for word in follow)):
            words.append(self.take()[1].lower())
            follow = ("varying",) if words[-1] in ("character", "char") else ()
        if self.at("("):  # numeric(5,2), character varying(10)
            while not self.at(")"):
                self.take()
            self.take(")")
        if words[0].lower() in ("timestamp", "time") and self.at_word("WITH", "WITHOUT"):
            words += [self.take()[1].lower(), self.take("TIME")[1].lower(), self.take("ZONE")[1].lower()]
        if words[0].lower() == "interval":
            while self.at_word("YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "TO"):
                self.take()
        text = " ".join(words)
        while self.at("["):
            self.take("[")
            self.take("]")
            text += "[]"
        return text

    def name(self) -> str:
        """An identifier, maybe schema-qualified (the schema is dropped)."""
        kind, text = self.take()
        if kind not in ("word", "quoted"):
            raise Unparsed(f"expected a name, got {text!r}")
        value = text[1:-1].replace('""', '"') if kind == "quoted" else text
        while self.at(".") and self.peek(1)[0] in ("word", "quoted"):
            self.take(".")
            kind, text = self.take()
            value = text[1:-1].replace('""', '"') if kind == "quoted" else text
        return value

    def arguments(self) -> tuple[Node, ...]:
        self.take("(")
        args: list[Node] = []
        if self.at_word("VARIADIC", "DISTINCT", "ALL"):
            raise Unparsed("VARIADIC / aggregate argument")
        while not self.at(")"):
            args.append(self.disjunction())
            if self.at_word("FROM", "FOR", "IN", "PLACING"):
                raise Unparsed("SQL-standard function syntax")
            if not self.at(")"):
                self.take(",")
        self.take(")")
        return tuple(args)

    def primary(self) -> Node:
        kind, value = self.peek()
        if value == "(":
            self.take("(")
            node = self.disjunction()
            if self.at(","):
                raise Unparsed("row constructor")
            self.take(")")
            return node
        if kind == "number":
            return Lit(self.take()[1])
        if kind == "string":
            return Lit(_string_value(self.take()[1]), is_string=True)
        if kind not in ("word", "quoted"):
            raise Unparsed(f"unexpected {value!r}")
        upper = value.upper() if kind == "word" else ""
        if upper == "NULL":
            self.take()
            return Lit(None)
        if upper in ("TRUE", "FALSE"):
            self.take()
            return Lit(upper.lower(), type="boolean")
        if upper == "ARRAY":
            self.take()
            return self.array_literal()
        if upper == "CASE":
            self.take()
            return self.case()
        if upper in ("CAST", "TREAT"):
            self.take()
            self.take("(")
            operand = self.disjunction()
            self.take("AS")
            cast = self.type_name()
            self.take(")")
            return Lit(operand.text, operand.is_string, cast) if isinstance(operand, Lit) else Cast(operand, cast)
        if upper == "EXTRACT":
            self.take()
            self.take("(")
            field = self.take()[1].strip("'\"").lower()
            self.take("FROM")
            operand = self.disjunction()
            self.take(")")
            return Func("date_part", (Lit(field, is_string=True), operand))
        if upper in _CONSTANTS and self.peek(1)[1] != "(":
            self.take()
            return Func(upper.lower())
        if upper in _KEYWORDS:
            raise Unparsed(f"unexpected {value}")
        name = self.name()
        if self.at("(") and name.upper() in ("TRIM", "POSITION", "SUBSTRING"):
            return self.standard_call(name.upper())
        if self.at("("):
            return Func(name.lower(), self.arguments())
        if self.peek()[0] == "string":  # a typed literal: date '2020-01-01'
            return Lit(_string_value(self.take()[1]), is_string=True, type=name.lower())
        return Col(name)

    def standard_call(self, name: str) -> Node:
        """``TRIM(BOTH 'x' FROM s)``, ``POSITION(a IN b)``, ``SUBSTRING(s FROM 2 FOR 3)`` as plain calls."""
        self.take("(")
        if name == "TRIM":
            side = self.take()[1].upper() if self.at_word("BOTH", "LEADING", "TRAILING") else "BOTH"
            chars = None if self.at_word("FROM") else self.other()
            self.take("FROM")
            operand = self.disjunction()
            self.take(")")
            function = {"BOTH": "btrim", "LEADING": "ltrim", "TRAILING": "rtrim"}[side]
            return Func(function, (operand,) if chars is None else (operand, chars))
        if name == "POSITION":
            part = self.other()
            self.take("IN")
            whole = self.other()
            self.take(")")
            return Func("strpos", (whole, part))
        args = [self.disjunction()]
        if self.at_word("FROM", "FOR"):  # SUBSTRING(s FROM start FOR length)
            args.append(Lit("1"))
            if self.at_word("FROM"):
                self.take()
                args[1] = self.other()
            if self.at_word("FOR"):
                self.take()
                args.append(self.other())
            if isinstance(args[1], Lit) and args[1].is_string:
                raise Unparsed("SUBSTRING of a pattern")
        while self.at(","):
            self.take(",")
            args.append(self.other())
        self.take(")")
        return Func("substr", tuple(args))

    def array_literal(self) -> Node:
        self.take("[")
        items: list[Node] = []
        while not self.at("]"):
            items.append(self.array_literal() if self.at("[") else self.disjunction())
            if not self.at("]"):
                self.take(",")
        self.take("]")
        return ArrayOf(tuple(items))

    def case(self) -> Node:
        subject = None if self.at_word("WHEN") else self.disjunction()
        whens = []
        while self.at_word("WHEN"):
            self.take()
            condition = self.disjunction()
            self.take("THEN")
            whens.append((condition, self.disjunction()))
        default = None
        if self.at_word("ELSE"):
            self.take()
            default = self.disjunction()
        self.take("END")
        if not whens:
            raise Unparsed("CASE without WHEN")
        return Case(subject, tuple(whens), default)


def parse_check(definition: str) -> Node:
    """The tree of ``CHECK (...)`` text as printed by ``pg_get_constraintdef`` (or a bare expression)."""
    text = definition.strip()
    match = re.fullmatch(r"CHECK\s*(\(.*\))(\s+NOT\s+VALID|\s+NO\s+INHERIT)*", text, re.DOTALL | re.IGNORECASE)
    if match:
        text = match.group(1)
    try:
        return _Parser(text).parse()
    except Unparsed:
        raise
    except (IndexError, KeyError, ValueError, TypeError, RecursionError) as exc:  # a form the grammar misses
        raise Unparsed(f"{type(exc).__name__}: {exc}") from None
