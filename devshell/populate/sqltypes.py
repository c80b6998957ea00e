"""PostgreSQL types as populate sees them: a value space, and how a value is written for COPY.

Values are generated in a compact internal form so that ranges and comparisons
are cheap: integers for integer types, scaled integers for ``numeric(p, s)``
(cents for ``numeric(6, 2)``), day ordinals for dates, epoch seconds for
timestamps, seconds for times; strings for everything textual. ``copy_text``
turns an internal value into COPY's text format.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

#: COPY text format: these characters must be escaped in a field
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

INT_BOUNDS = {"smallint": (-2**15, 2**15 - 1), "integer": (-2**31, 2**31 - 1), "bigint": (-2**63, 2**63 - 1)}
TEXT_TYPES = {"text", "character varying", "character", "varchar", "char", "bpchar", "name", "citext", '"char"'}
FLOAT_TYPES = {"real", "double precision", "float4", "float8"}
#: built-in range types and the type of their bounds
RANGE_TYPES = {"int4range": "integer", "int8range": "bigint", "numrange": "numeric", "daterange": "date",
               "tsrange": "timestamp without time zone", "tstzrange": "timestamp with time zone"}


def escape(text: str) -> str:
    """A string as a COPY text field."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def normalize_type(name: str) -> str:
    """``character varying(20)[]`` -> ``character varying``; schema and quotes dropped."""
    name = name.split("(")[0].replace("[]", "").strip()
    if "." in name and not name.startswith('"'):
        name = name.rsplit(".", 1)[1]
    aliases = {"int": "integer", "int4": "integer", "int2": "smallint", "int8": "bigint", "bool": "boolean",
               "decimal": "numeric", "varchar": "character varying", "bpchar": "character",
               "timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone",
               "timetz": "time with time zone", "time": "time without time zone", "float8": "double precision",
               "float4": "real"}
    return aliases.get(name, name)


@dataclass
class ValueType:
    """What a column (or an array element) holds."""

    kind: str                        # int numeric float bool date timestamp time interval text enum uuid json ...
    sql_type: str
    low: int | float | None = None   # bounds of the internal form, inclusive
    high: int | float | None = None
    scale: int = 0                   # numeric: digits after the point
    max_length: int | None = None    # text: characters
    labels: tuple[str, ...] = ()     # enum
    with_tz: bool = False
    element: "ValueType | None" = None
    formatter: Callable[[Any], str] = field(default=str, repr=False)

    @property
    def is_ordered(self) -> bool:
        """Values compare as numbers (ranges and column comparisons apply)."""
        return self.kind in ("int", "numeric", "float", "date", "timestamp", "time", "interval")

    @property
    def capacity(self) -> int | None:
        """How many distinct values exist (None: too many to matter)."""
        if self.kind == "bool":
            return 2
        if self.kind == "enum":
            return len(self.labels)
        if self.kind in ("int", "numeric", "date", "timestamp", "time", "interval") \
                and self.low is not None and self.high is not None:
            return max(0, int(self.high) - int(self.low) + 1)
        if self.kind == "text" and self.max_length is not None and self.max_length < 8:
            return 36 ** self.max_length
        return None

    def copy_text(self, value: Any) -> str:
        return NULL if value is None else self.formatter(value)

    def parse_literal(self, text: str) -> Any:
        """A literal from a CHECK or a partition bound, in the internal form (ValueError if not)."""
        if self.kind in ("int", "interval"):
            return int(Decimal(text)) if self.kind == "int" else _interval_seconds(text)
        if self.kind == "numeric":
            return Decimal(text).scaleb(self.scale)
        if self.kind == "float":
            return float(text)
        if self.kind == "date":
            return date.fromisoformat(text[:10]).toordinal()
        if self.kind == "timestamp":
            return to_epoch(datetime.fromisoformat(text))
        if self.kind == "time":
            moment = time.fromisoformat(text[:8])
            return moment.hour * 3600 + moment.minute * 60 + moment.second
        if self.kind == "bool":
            return text.lower() in ("true", "t")
        if self.kind in ("text", "enum"):
            return text
        raise ValueError(f"no literals for {self.kind}")

    def from_db(self, value: Any) -> Any:
        """A value psycopg2 returned, in the internal form (for existing rows)."""
        if value is None:
            return None
        if self.kind == "numeric":
            return int(Decimal(value).scaleb(self.scale))
        if self.kind == "date" and isinstance(value, date):
            return value.toordinal()
        if self.kind == "timestamp" and isinstance(value, datetime):
            return to_epoch(value)
        if self.kind == "time" and isinstance(value, time):
            return value.hour * 3600 + value.minute * 60 + value.second
        if self.kind == "interval" and isinstance(value, timedelta):
            return int(value.total_seconds())
        if self.kind == "uuid":
            return value.int if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).int
        if self.kind in ("text", "enum", "inet"):
            return str(value)
        if self.kind == "range" and self.element is not None:
            lower, upper = getattr(value, "lower", None), getattr(value, "upper", None)
            return None if lower is None or upper is None else (self.element.from_db(lower),
                                                                 self.element.from_db(upper))
        return value


def to_epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def _interval_seconds(text: str) -> int:
    parts = text.split()
    if len(parts) == 2 and parts[1].rstrip("s") in ("day", "hour", "minute", "second"):
        unit = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}[parts[1].rstrip("s")]
        return int(Decimal(parts[0]) * unit)
    raise ValueError(text)


# --- COPY formatters (hot paths: keep them small) ---------------------------------------------

_DAY_CACHE: dict[int, str] = {}
_MINUTES = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}" for s in range(60)]


def _day_text(ordinal: int) -> str:
    text = _DAY_CACHE.get(ordinal)
    if text is None:
        text = _DAY_CACHE[ordinal] = date.fromordinal(ordinal).isoformat()
    return text


def _clock(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{_MINUTES[minutes]}:{_SECONDS[secs]}"


def _timestamp(epoch: int) -> str:
    days, seconds = divmod(epoch, 86400)
    minutes, secs = divmod(seconds, 60)
    return f"{_day_text(EPOCH_ORDINAL + days)} {_MINUTES[minutes]}:{_SECONDS[secs]}"


def _timestamptz(epoch: int) -> str:
    return _timestamp(epoch) + "+00"


def _numeric(scale: int) -> Callable[[Any], str]:
    if scale == 0:
        return str
    width = scale + 1

    def format_numeric(units: int) -> str:
        if units < 0:
            return "-" + format_numeric(-units)
        digits = str(units).rjust(width, "0")
        return f"{digits[:-scale]}.{digits[-scale:]}"
    return format_numeric


def _bool(value: bool) -> str:
    return "t" if value else "f"


def _float(value: float) -> str:
    return repr(round(value, 6))


def _uuid(value: int) -> str:
    return str(uuid.UUID(int=value, version=4))


def _json(value: Any) -> str:
    return escape(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def _bytea(value: bytes) -> str:
    return "\\\\x" + value.hex()


def _interval(seconds: int) -> str:
    return f"{seconds} seconds"


def _range(element: ValueType) -> Callable[[tuple[Any, Any]], str]:
    def bound(value: Any) -> str:
        text = element.formatter(value)
        return f'"{text}"' if " " in text or "," in text else text

    def format_range(value: tuple[Any, Any]) -> str:
        return f"[{bound(value[0])},{bound(value[1])})"
    return format_range


def _array(element: ValueType) -> Callable[[list[Any]], str]:
    def quote(item: Any) -> str:
        if item is None:
            return "NULL"
        text = element.formatter(item) if element.kind not in ("text", "enum") else item
        if element.kind in ("text", "enum", "json", "timestamp", "date", "time", "inet", "range"):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return text

    def format_array(items: list[Any]) -> str:
        return escape("{" + ",".join(quote(item) for item in items) + "}")
    return format_array


def value_type(sql_type: str, *, max_length: int | None = None, precision: int | None = None,
               scale: int | None = None, labels: tuple[str, ...] = (),
               element: ValueType | None = None) -> ValueType:
    """The ValueType of a (base) type name; kind ``unknown`` when populate cannot make values for it."""
    if element is not None:
        return ValueType("array", sql_type, element=element, formatter=_array(element))
    if labels:
        return ValueType("enum", sql_type, labels=labels, formatter=escape)
    name = normalize_type(sql_type)
    if name in INT_BOUNDS:
        low, high = INT_BOUNDS[name]
        return ValueType("int", name, low, high)
    if name in ("numeric", "money"):
        digits, places = (precision, scale or 0) if precision else (12, 2)
        limit = 10 ** digits - 1
        return ValueType("numeric", name, -limit, limit, scale=places, formatter=_numeric(places))
    if name in FLOAT_TYPES:
        return ValueType("float", name, -1e9, 1e9, formatter=_float)
    if name == "boolean":
        return ValueType("bool", name, formatter=_bool)
    if name == "date":
        return ValueType("date", name, date(1, 1, 1).toordinal(), date(9999, 12, 31).toordinal(), formatter=_day_text)
    if name.startswith("timestamp"):
        tz = "with time zone" in name
        low, high = -62135596800, 253402300799  # years 1..9999
        return ValueType("timestamp", name, low, high, with_tz=tz, formatter=_timestamptz if tz else _timestamp)
    if name.startswith("time"):
        return ValueType("time", name, 0, 86399, formatter=_clock)
    if name == "interval":
        return ValueType("interval", name, 0, 10**9, formatter=_interval)
    if name in RANGE_TYPES:
        bounds = value_type(RANGE_TYPES[name])
        return ValueType("range", name, element=bounds, formatter=_range(bounds))
    if name in TEXT_TYPES:
        length = 1 if name == '"char"' else max_length
        return ValueType("text", name, max_length=length, formatter=escape)
    simple: dict[str, tuple[str, Callable[[Any], str]]] = {"uuid": ("uuid", _uuid), "json": ("json", _json), "jsonb": ("json", _json), "bytea": ("bytea", _bytea),
              "tsvector": ("tsvector", escape), "inet": ("inet", escape), "cidr": ("inet", escape),
              "macaddr": ("macaddr", escape), "xml": ("xml", escape), "point": ("point", escape),
              "bit": ("bit", escape), "bit varying": ("bit", escape)}
    if name in simple:
        kind, formatter = simple[name]
        return ValueType(kind, name, max_length=max_length, formatter=formatter)
    return ValueType("unknown", name)



def to_python(vtype: ValueType, value: Any) -> Any:
    """An internal value as the Python value a module's factory expects (date, datetime, Decimal…)."""
    if value is None:
        return None
    if vtype.kind == "numeric":
        return Decimal(value).scaleb(-vtype.scale)
    if vtype.kind == "date":
        return date.fromordinal(value)
    if vtype.kind == "timestamp":
        moment = datetime.fromtimestamp(value, timezone.utc)
        return moment if vtype.with_tz else moment.replace(tzinfo=None)
    if vtype.kind == "time":
        return time(value // 3600, value // 60 % 60, value % 60)
    if vtype.kind == "interval":
        return timedelta(seconds=value)
    if vtype.kind == "uuid" and isinstance(value, int):
        return uuid.UUID(int=value, version=4)
    return value
