"""SQL values in the canonical form Python compares them in, and the types they come from.

Generated rows hold internal values (:mod:`.sqltypes`: scaled integers for
numerics, day ordinals, epoch seconds); expressions compare canonical ones:
numbers as int/Decimal/float (a ``real`` rounded as PostgreSQL stores it), dates
as ordinals, timestamps as epoch seconds (UTC, as devshell's sessions run),
``char(n)`` without its padding. Literals from a CHECK's text are read into the
same form; what has no exact meaning here raises :class:`Unsupported`.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from . import functions
from .expressions import Lit, array_items
from .sqltypes import ValueType, normalize_type, value_type


class Unsupported(Exception):
    """Python cannot evaluate this (part of an) expression exactly as PostgreSQL would."""


class RowError(Exception):
    """PostgreSQL would raise an error on this row (a division by zero, a bad subscript): reject it."""


def kind_of(vtype: ValueType) -> str:
    kinds = {"int": "number", "numeric": "number", "float": "number"}
    return kinds.get(vtype.kind, vtype.kind)


def type_kind(sql_type: str) -> tuple[str, str | None]:
    """(kind, element kind) of a type name from a cast."""
    name = normalize_type(sql_type)
    if sql_type.endswith("[]"):
        return "array", type_kind(sql_type[:-2])[0]
    if name in ("text", "character varying", "character", "name", "citext", "unknown"):
        return "text", None
    if name in ("json", "jsonb"):
        return "json", None
    vtype = value_type(name)
    if vtype.kind == "unknown":
        raise Unsupported(f"type {sql_type}")
    return kind_of(vtype), kind_of(vtype.element) if vtype.element else None


def canonical(vtype: ValueType) -> Callable[[Any], Any] | None:
    """Internal value -> canonical value (None: they are the same)."""
    if vtype.kind == "numeric" and vtype.scale:
        scale = -vtype.scale
        return lambda units: Decimal(units).scaleb(scale)
    if vtype.kind == "float":
        single = vtype.sql_type == "real"
        return (lambda v: functions.single(round(v, 6))) if single else (lambda v: round(v, 6))
    if vtype.kind == "text" and vtype.sql_type in ("character", "char", "bpchar"):
        return lambda text: text.rstrip(" ")
    if vtype.kind in ("array", "range") and vtype.element is not None:
        inner = canonical(vtype.element)
        if inner is None:
            return None
        if vtype.kind == "range":
            return lambda pair: (inner(pair[0]), inner(pair[1]))
        return lambda items: [None if item is None else inner(item) for item in items]
    return None


def parse_literal(text: str, kind: str, element: str | None = None) -> Any:
    """A literal's text as a canonical value of *kind* (Unsupported when it has no exact meaning here)."""
    if not isinstance(text, str):
        return text
    try:
        if kind == "number":
            return int(text) if text.lstrip("-+").isdigit() else Decimal(text)
        if kind in ("text", "enum"):
            return text
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("t", "true", "y", "yes", "on", "1"):
                return True
            if lowered in ("f", "false", "n", "no", "off", "0"):
                return False
            raise Unsupported(f"boolean {text!r}")
        if kind == "date":
            return date.fromisoformat(text.strip()[:10]).toordinal()
        if kind == "timestamp":
            moment = datetime.fromisoformat(_iso(text.strip()))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return math.floor(moment.timestamp())
        if kind == "time":
            parts = [int(part) for part in text.strip().split(".")[0].split(":")]
            return parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)
        if kind == "interval":
            return functions.interval_seconds(text)
        if kind == "json":
            import json

            return json.loads(text)
        if kind == "bytea" and text.startswith("\\x"):
            return bytes.fromhex(text[2:])
        if kind == "uuid":
            import uuid

            return uuid.UUID(text).int
        if kind == "array" and element is not None:
            items = array_items(Lit(text, True, None))
            if items is None:
                raise Unsupported("array literal")
            return [None if item.text is None else parse_literal(item.text, element) for item in items]  # type: ignore[union-attr]
    except (ValueError, ArithmeticError, IndexError) as exc:
        raise Unsupported(f"literal {text!r}: {exc}") from None
    raise Unsupported(f"{kind} literal")


def from_text(text: str, kind: str, integral: bool) -> Any:
    """A cast of text to another type; text PostgreSQL would refuse is an error of the row."""
    try:
        if integral:
            return int(text.strip())
        return parse_literal(text.strip(), kind)
    except (ValueError, Unsupported) as exc:
        raise RowError(f"invalid input {text!r}") from exc


def _iso(text: str) -> str:
    """``2020-01-01 00:00:00+00`` -> ``2020-01-01 00:00:00+00:00`` (fromisoformat wants the minutes)."""
    if len(text) > 3 and text[-3] in "+-" and text[-2:].isdigit():
        return text + ":00"
    return text
