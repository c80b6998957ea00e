"""The SQL functions and operators :mod:`.evaluate` knows, each computed as PostgreSQL computes it.

A function returns an :class:`~.evaluate.Expr`; NULL in gives NULL out unless the
function says otherwise (``num_nulls``, ``coalesce``...). Anything else raises
``Unsupported`` and the CHECK is evaluated by PostgreSQL.
"""

from __future__ import annotations

import struct
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Callable

from .expressions import BinOp, Func, Subscript
from .sqltypes import EPOCH_ORDINAL

if TYPE_CHECKING:
    from .evaluate import Compiler, Expr

LENGTHS = ("length", "char_length", "character_length", "octet_length")
NOW = ("now", "current_timestamp", "transaction_timestamp", "statement_timestamp", "localtimestamp")
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
TRUNCATE_UNITS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year", "decade", "century")


def _unsupported(reason: str) -> Exception:
    from .evaluate import Unsupported

    return Unsupported(reason)


def _expr(kind: str, fn: Callable[[Any], Any], element: str | None = None, const: bool = False) -> "Expr":
    from .evaluate import Expr

    return Expr(kind, fn, element, const)


def _strict(function: Callable[..., Any], args: list["Expr"], kind: str, element: str | None = None) -> "Expr":
    """*function* applied to the arguments' values, NULL when one of them is NULL."""
    fns = [arg.fn for arg in args]

    def apply(row: Any) -> Any:
        values = [fn(row) for fn in fns]
        return None if None in values else function(*values)
    return _expr(kind, apply, element, const=all(arg.const for arg in args))


def call(compiler: "Compiler", node: Func) -> "Expr":
    name, nodes = node.name, node.args
    if name in NOW and not nodes:
        return _expr("timestamp", lambda row: compiler.now, const=True)
    if name == "current_date" and not nodes:
        return _expr("date", lambda row: EPOCH_ORDINAL + compiler.now // 86400, const=True)
    if name in ("num_nonnulls", "num_nulls"):
        fns = [compiler.value(arg).fn for arg in nodes]
        nulls = name == "num_nulls"
        return _expr("number", lambda row: sum((fn(row) is None) == nulls for fn in fns))
    if name == "coalesce":
        args = [compiler.value(arg) for arg in nodes]
        present = {arg.kind for arg in args} - {"null", "any"}
        if len(present) != 1:
            raise _unsupported("coalesce of mixed types")
        kind = present.pop()
        args = [compiler.value(arg, kind) for arg in nodes]
        fns = [arg.fn for arg in args]
        return _expr(kind, lambda row: next((v for fn in fns if (v := fn(row)) is not None), None))
    if name == "nullif" and len(nodes) == 2:
        first = compiler.value(nodes[0])
        second = compiler.value(nodes[1], first.kind, first.element)
        same = compiler.comparison("=", first, second)
        value = first.fn
        return _expr(first.kind, lambda row: None if same(row) is True else value(row), first.element)
    if name in ("greatest", "least"):
        args = [compiler.value(arg) for arg in nodes]
        found = {arg.kind for arg in args} - {"null"}
        if len(found) != 1 or found & {"text", "enum", "any", "json", "array", "range"}:
            raise _unsupported(f"{name} of these types")
        pick, fns = max if name == "greatest" else min, [arg.fn for arg in args]
        return _expr(found.pop(), lambda row: pick((v for fn in fns if (v := fn(row)) is not None), default=None))
    args = [compiler.value(arg) for arg in nodes]
    kinds = [arg.kind for arg in args]
    if name in LENGTHS and len(args) == 1:
        if kinds[0] in ("text", "enum"):
            if name == "octet_length":
                return _strict(lambda text: len(text.encode()), [compiler.padded(nodes[0])], "number")
            return _strict(len, args, "number")
        if kinds[0] == "bytea":
            return _strict(len, args, "number")
    if name in ("upper", "lower") and len(args) == 1:
        if kinds[0] in ("text", "enum"):
            return _strict(str.upper if name == "upper" else str.lower, args, "text")
        if kinds[0] == "range":
            index = 0 if name == "lower" else 1
            return _strict(lambda pair: pair[index], args, args[0].element or "null")
    if name in ("btrim", "ltrim", "rtrim", "trim") and kinds[0] in ("text", "enum") and len(args) <= 2:
        chars = compiler.constant(nodes[1], "text") if len(args) == 2 else " "
        strip = {"ltrim": str.lstrip, "rtrim": str.rstrip}.get(name, str.strip)
        return _strict(lambda text: strip(text, chars), args[:1], "text")
    if name in ("jsonb_typeof", "json_typeof") and kinds == ["json"]:
        return _strict(json_type, args, "text")
    if name in ("jsonb_array_length", "json_array_length") and kinds == ["json"]:
        return _strict(_array_length, args, "number")
    if name == "date_trunc" and len(args) == 2 and kinds[1] in ("date", "timestamp"):
        return _date_trunc(compiler, node, args)
    if name == "date_part" and len(args) == 2 and kinds[1] == "interval" \
            and compiler.constant(nodes[0], "text").lower() == "epoch":
        return _strict(lambda seconds: seconds, args[1:], "number")
    if name == "date_part" and len(args) == 2 and kinds[1] in ("date", "timestamp", "time"):
        field = compiler.constant(nodes[0], "text").lower()
        kind = kinds[1]
        return _strict(lambda value: date_part(field, value, kind), args[1:], "number")
    if name in ("abs", "ceil", "ceiling", "floor", "sign") and kinds == ["number"]:
        function = {"abs": abs, "ceil": _ceil, "ceiling": _ceil, "floor": _floor, "sign": _sign}[name]
        return _strict(function, args, "number")
    if name in ("round", "trunc") and kinds[0] == "number" and len(args) <= 2:
        digits = compiler.constant(nodes[1], "number") if len(args) == 2 else 0
        rounding = round_half if name == "round" else _truncate
        return _strict(lambda value: rounding(value, int(digits)), args[:1], "number")
    if name == "mod" and kinds == ["number", "number"]:
        return _strict(sql_modulo, args, "number")
    if name in ("isempty", "lower_inc", "upper_inc", "lower_inf", "upper_inf") and kinds == ["range"]:
        answer = name == "lower_inc"  # populate's ranges are [low, high): never empty nor infinite
        return _strict(lambda pair: answer, args, "bool")
    if name in ("cardinality", "array_length") and kinds[0] == "array":
        empty_is_null = name == "array_length"
        return _strict(lambda items: (None if empty_is_null and not items else len(items)), args[:1], "number")
    if name in ("left", "right") and kinds == ["text", "number"]:
        return _strict(lambda text, n: _left(text, n) if name == "left" else _right(text, n), args, "text")
    if name in ("substr", "substring") and kinds[0] == "text" and 2 <= len(args) <= 3:
        return _strict(_substring, args, "text")
    if name == "strpos" and kinds == ["text", "text"]:
        return _strict(lambda text, part: text.find(part) + 1, args, "number")
    if name == "replace" and kinds == ["text", "text", "text"]:
        return _strict(lambda text, old, new: text.replace(old, new) if old else text, args, "text")
    raise _unsupported(f"function {name}()")


def binary(compiler: "Compiler", node: BinOp) -> "Expr":
    left = compiler.value(node.left)
    right = compiler.value(node.right, left.kind if node.op in ("+", "-", "*", "/", "%", "||") else None)
    if left.kind == "any":
        left = compiler.value(node.left, right.kind)
    op, kinds = node.op, (left.kind, right.kind)
    if kinds == ("number", "number") and op in ("+", "-", "*", "/", "%", "^"):
        return _strict(_ARITHMETIC[op], [left, right], "number")
    if op == "||" and set(kinds) <= {"text", "enum", "any"}:
        return _strict(lambda a, b: a + b, [left, right], "text")
    if kinds == ("date", "number") and op in ("+", "-"):
        return _strict(lambda day, n: day + int(n) if op == "+" else day - int(n), [left, right], "date")
    if kinds == ("date", "date") and op == "-":
        return _strict(lambda a, b: a - b, [left, right], "number")
    if kinds in (("timestamp", "interval"), ("date", "interval")) and op in ("+", "-"):
        to_seconds = (lambda v: v) if kinds[0] == "timestamp" else (lambda v: (v - EPOCH_ORDINAL) * 86400)
        return _strict(lambda a, b: to_seconds(a) + b if op == "+" else to_seconds(a) - b, [left, right], "timestamp")
    if kinds == ("timestamp", "timestamp") and op == "-":
        return _strict(lambda a, b: a - b, [left, right], "interval")
    if left.kind == "json" and op in ("->", "->>"):
        key = compiler.value(node.right)
        as_text = op == "->>"
        return _strict(lambda doc, k: _json_get(doc, k, as_text), [left, key], "text" if as_text else "json")
    if kinds == ("array", "array") and op in ("@>", "<@", "&&"):
        return _strict(_CONTAINMENT[op], [left, right], "bool")
    raise _unsupported(f"operator {op} on {left.kind} and {right.kind}")


def subscript(compiler: "Compiler", node: Subscript) -> "Expr":
    base = compiler.value(node.operand)
    index = compiler.value(node.index)
    if base.kind == "array" and index.kind == "number":
        return _strict(lambda items, i: items[int(i) - 1] if 1 <= i <= len(items) else None, [base, index],
                       base.element or "null")
    if base.kind == "json":
        return _strict(lambda doc, key: _json_get(doc, key, False), [base, index], "json")
    raise _unsupported("subscript")


def _date_trunc(compiler: "Compiler", node: Func, args: list["Expr"]) -> "Expr":
    from .expressions import Cast

    unit = str(compiler.constant(node.args[0], "text")).lower()
    if unit not in TRUNCATE_UNITS:
        raise _unsupported(f"date_trunc unit {unit}")
    operand = node.args[1]
    if isinstance(operand, Cast):  # date_trunc('month', d::timestamptz) of a date stays a date
        inner = compiler.value(operand.operand)
        if inner.kind == "date" and UNITS.get(unit, 86400) >= 86400:
            return _strict(lambda day: truncate_day(day, unit), [inner], "date")
    if args[1].kind != "timestamp":
        raise _unsupported("date_trunc of a date")
    return _strict(lambda epoch: truncate_epoch(epoch, unit), args[1:], "timestamp")


def truncate_day(ordinal: int, unit: str) -> int:
    """A day ordinal moved back to the start of its *unit* (week starts on Monday, as in PostgreSQL)."""
    day = date.fromordinal(ordinal)
    if unit in ("day", "hour", "minute", "second"):
        return ordinal
    if unit == "week":
        return ordinal - day.weekday()
    month = {"month": day.month, "quarter": (day.month - 1) // 3 * 3 + 1}.get(unit, 1)
    year = {"decade": day.year // 10 * 10, "century": (day.year - 1) // 100 * 100 + 1}.get(unit, day.year)
    return date(year, month, 1).toordinal()


def truncate_epoch(epoch: int, unit: str) -> int:
    if unit in UNITS and unit != "week":
        return epoch - epoch % UNITS[unit]
    days, _ = divmod(epoch, 86400)
    return (truncate_day(EPOCH_ORDINAL + days, unit) - EPOCH_ORDINAL) * 86400


def date_part(field: str, value: int, kind: str) -> Any:
    if kind == "time":
        parts = {"hour": value // 3600, "minute": value // 60 % 60, "second": value % 60, "epoch": value}
        if field not in parts:
            raise ValueError(field)
        return parts[field]
    moment = datetime.fromtimestamp((value - EPOCH_ORDINAL) * 86400 if kind == "date" else value, timezone.utc)
    day = moment.date()
    fields: dict[str, Callable[[], Any]] = {
        "year": lambda: day.year, "month": lambda: day.month, "day": lambda: day.day,
        "quarter": lambda: (day.month - 1) // 3 + 1, "dow": lambda: day.isoweekday() % 7,
        "isodow": lambda: day.isoweekday(), "doy": lambda: day.timetuple().tm_yday,
        "week": lambda: day.isocalendar()[1], "decade": lambda: day.year // 10,
        "hour": lambda: moment.hour, "minute": lambda: moment.minute, "second": lambda: moment.second,
        "epoch": lambda: (value - EPOCH_ORDINAL) * 86400 if kind == "date" else value,
    }
    if field not in fields:
        raise ValueError(f"date_part {field}")
    return fields[field]()


def json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _array_length(value: Any) -> int:
    if not isinstance(value, list):
        from .evaluate import RowError

        raise RowError("cannot get array length of a non-array")
    return len(value)


def _json_get(doc: Any, key: Any, as_text: bool) -> Any:
    if isinstance(doc, dict) and isinstance(key, str):
        found = doc.get(key)
    elif isinstance(doc, list) and isinstance(key, int) and -len(doc) <= key < len(doc):
        found = doc[key]
    else:
        return None
    if as_text and found is not None and not isinstance(found, str):
        import json

        return json.dumps(found)
    return found


def interval_seconds(text: str) -> int:
    """``1 day``, ``02:00:00``, ``3 hours 30 minutes`` as seconds (months and years have no fixed length)."""
    words = text.replace("@", "").split()
    total = 0
    position = 0
    while position < len(words):
        word = words[position]
        if ":" in word:
            parts = [int(part) for part in word.lstrip("-").split(".")[0].split(":")]
            seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)
            total += -seconds if word.startswith("-") else seconds
            position += 1
            continue
        unit = words[position + 1].lower().rstrip("s") if position + 1 < len(words) else ""
        factor = {"day": 86400, "hour": 3600, "minute": 60, "min": 60, "second": 1, "sec": 1, "week": 604800}
        if unit not in factor:
            raise ValueError(f"interval {text!r}")
        total += int(Decimal(word) * factor[unit])
        position += 2
    return total


def sql_modulo(a: Any, b: Any) -> Any:
    """``a % b`` with the sign of *a* (PostgreSQL), not of *b* (Python)."""
    if b == 0:
        from .evaluate import RowError

        raise RowError("division by zero")
    result = abs(a) % abs(b)
    return -result if a < 0 else result


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        from .evaluate import RowError

        raise RowError("division by zero")
    if isinstance(a, int) and isinstance(b, int):
        quotient = abs(a) // abs(b)
        return quotient if (a < 0) == (b < 0) else -quotient
    if isinstance(a, float) or isinstance(b, float):
        return float(a) / float(b)
    return Decimal(a) / Decimal(b)


def _mixed(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Decimal and float do not mix in Python arithmetic: a float on either side makes both floats."""
    def apply(a: Any, b: Any) -> Any:
        if isinstance(a, float) != isinstance(b, float):
            a, b = float(a), float(b)
        return function(a, b)
    return apply


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": _mixed(lambda a, b: a + b), "-": _mixed(lambda a, b: a - b), "*": _mixed(lambda a, b: a * b),
    "/": _mixed(_divide), "%": sql_modulo, "^": _mixed(lambda a, b: float(a) ** float(b))}
_CONTAINMENT: dict[str, Callable[[Any, Any], bool]] = {
    "@>": lambda a, b: all(item in a for item in b), "<@": lambda a, b: all(item in b for item in a),
    "&&": lambda a, b: any(item in b for item in a)}


def round_half(value: Any, digits: int) -> Any:
    """PostgreSQL's round(): halves away from zero for integers and numerics."""
    if isinstance(value, float):
        return round(value, digits)
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return int(rounded) if digits <= 0 else rounded


def _truncate(value: Any, digits: int) -> Any:
    factor = Decimal(1).scaleb(-digits)
    cut = (Decimal(value) / factor).to_integral_value(rounding="ROUND_DOWN") * factor
    return int(cut) if digits <= 0 else cut


def _ceil(value: Any) -> Any:
    import math

    return math.ceil(value)


def _floor(value: Any) -> Any:
    import math

    return math.floor(value)


def _sign(value: Any) -> int:
    return (value > 0) - (value < 0)


def _left(text: str, n: Any) -> str:
    return text[:int(n)]


def _right(text: str, n: Any) -> str:
    return "" if int(n) == 0 else text[-int(n):]


def _substring(text: str, start: Any, length: Any = None) -> str:
    begin = int(start) - 1
    end = None if length is None else begin + int(length)
    return text[max(begin, 0):end if end is None or end > 0 else 0]


def number_text(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    raise ValueError("text of a non-integer")


def single(value: float) -> float:
    """A float rounded to what a ``real`` column stores."""
    return float(struct.unpack("f", struct.pack("f", value))[0])
