"""Which generator a column gets: from its type, its name, its CHECKs, domain and partitions.

Numbers, dates and times get a realistic window from the column's name, read as
words (``UnitPrice`` and ``unitprice`` are ``unit_price``: see :mod:`.names`):
``price`` 0.99–999.99 (cheap more often than dear), ``quantity`` 1–100, a birth
date or timestamp 1940–2005, other timestamps 2020–2025. A CHECK's bounds widen the
window to every value they allow (``qty >= 0`` makes 0s), then narrow it; a numeric
default is the centre of the values. Text gets a Faker kind from its name (see
:mod:`.fakes`); json named like a translatable field holds ``{"en_US": …}``; enums,
IN lists and LIST partitions become a choice. Windows are fixed, not relative to
today, so a seed reproduces its data.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from random import Random
from typing import Any, Callable

from ..errors import DevshellError
from .constraints import Rules
from .fakes import FakerPools, is_translatable, kind_for_text, variety, word_groups
from .functions import truncate_day, truncate_epoch
from .generators import (ArrayOf, Choice, Constant, FloatRange, Generator, IntRange, LogRange, Mapped, Nearby,
                         Pattern, RangeOf, Segments, Simple, Text, Translated, Usually)
from .names import snake
from .sqltypes import ValueType

NULL_RATE = 0.1


class PlanError(DevshellError):
    """The schema or the requested size makes populating impossible; nothing was written."""


def _epoch(year: int, month: int = 1, day: int = 1) -> int:
    return int(datetime(year, month, day, tzinfo=timezone.utc).timestamp())


#: (name pattern, (low, high)) for integer-like columns, in natural units
INT_WINDOWS = [
    (r"(^|_)(active|enabled|flag|deleted)($|_)|^is_|^has_", (0, 1)),
    (r"(^|_)(qty|quantity|count|stock|units|seats|copies)($|_)", (1, 100)),
    (r"(^|_)age($|_)", (18, 90)),
    (r"(^|_)(birth_year|year_of_birth|yob)($|_)", (1940, 2005)),
    (r"(^|_)year($|_)", (1950, 2030)),
    (r"(^|_)(rating|stars)($|_)", (1, 5)),
    (r"(^|_)(score|level|priority|rank|grade)($|_)", (1, 10)),
    (r"(^|_)(position|sequence|seq|sort|sort_order|ordering|ordinal)($|_)", (1, 20)),
    (r"(^|_)(decimal_places|decimals|digits|precision)($|_)", (0, 4)),
    (r"(^|_)(percent|pct|ratio)($|_)", (0, 100)),
    (r"(^|_)(milliseconds|millis|ms|duration_ms)($|_)", (30_000, 480_000)),
    (r"(^|_)(bytes|file_size|size_bytes)($|_)", (10_000, 20_000_000)),
    (r"(^|_)(days|duration)($|_)", (1, 30)),
    (r"(^|_)(length|minutes|runtime|pages)($|_)", (1, 240)),
    (r"(^|_)(salary|wage|income)($|_)", (20_000, 200_000)),
    (r"(^|_)(price|amount|cost|total|balance|fee|rate|payment)($|_)", (1, 1000)),
]
MONEY_NAMES = r"(^|_)(price|amount|cost|total|balance|salary|fee|rate|payment|value|wage|income)($|_)"
#: (name pattern, (first day, last day)) for dates and timestamps, by what the column means
TEMPORAL_WINDOWS = [
    (r"birth|(^|_)(dob|born)($|_)", (date(1940, 1, 1), date(2005, 12, 31))),
    (r"(^|_)(hire|hired|joined|employed)($|_)", (date(2010, 1, 1), date(2025, 12, 31))),
    (r"(^|_)(expir\w*|expires|expiry|valid_until|valid_to)($|_)", (date(2026, 1, 1), date(2030, 12, 31))),
    (r"(^|_)(founded|established|inception)($|_)", (date(1900, 1, 1), date(2020, 12, 31))),
    (r"(^|_)(release|released|published|publication)($|_)", (date(1970, 1, 1), date(2025, 12, 31))),
]
DEFAULT_DATES = (date(2019, 1, 1), date(2025, 12, 31))
DEFAULT_TIMESTAMPS = (_epoch(2020), _epoch(2026) - 1)
DEFAULT_SHARE = 0.3  # rows that keep a numeric column's default value
WIDEN = 2  # a one-sided CHECK bound this many window widths away widens the window to it
CLOSED = 100  # a CHECK range (both bounds) up to this many window widths is used whole


def soft_window(vtype: ValueType, column: str) -> tuple[Any, Any]:
    """Where values of this column usually lie, in the internal form."""
    name = snake(column)
    if vtype.kind == "int":
        for pattern, window in INT_WINDOWS:
            if re.search(pattern, name):
                return window
        return (1, 10000)
    if vtype.kind == "numeric":
        unit = 10 ** vtype.scale
        for pattern, (low, high) in INT_WINDOWS[1:]:
            if re.search(pattern, name) and not re.search(MONEY_NAMES, name):
                return (low * unit, high * unit)
        if re.search(r"(^|_)(salary|wage|income)($|_)", name):
            return (20_000 * unit, 200_000 * unit)
        if re.search(MONEY_NAMES, name):
            return (unit - 1 if vtype.scale else 1, 1000 * unit - 1)
        return (0, 1000 * unit)
    if vtype.kind == "float":
        if re.search(r"^lat", name):
            return (-90.0, 90.0)
        if re.search(r"^lon|^lng", name):
            return (-180.0, 180.0)
        return (0.0, 1000.0)
    if vtype.kind in ("date", "timestamp"):
        meant = next((window for pattern, window in TEMPORAL_WINDOWS if re.search(pattern, name)), None)
        if vtype.kind == "date":
            first, last = meant or DEFAULT_DATES
            return (first.toordinal(), last.toordinal())
        if meant is None:
            return DEFAULT_TIMESTAMPS
        first, last = meant
        return (_epoch(first.year, first.month, first.day), _epoch(last.year, last.month, last.day) + 86399)
    if vtype.kind == "time":
        return (0, 86399)
    if vtype.kind == "interval":
        return (60, 30 * 86400)
    return (vtype.low, vtype.high)


def checked_window(soft: tuple[Any, Any], rules: Rules) -> tuple[Any, Any]:
    """The window widened to the values a CHECK allows: a closed CHECK range not far bigger than the window is
    used whole (``rating BETWEEN 0 AND 10``), a one-sided bound near it is reached (``qty >= 0`` gives 0s)."""
    low, high = soft
    width = max(high - low, 1)
    if rules.low is not None and rules.high is not None and rules.low <= rules.high \
            and rules.high - rules.low <= CLOSED * width:
        return rules.low, rules.high
    if rules.low is not None and low - WIDEN * width <= rules.low < low:
        low = rules.low
    if rules.high is not None and high < rules.high <= high + WIDEN * width:
        high = rules.high
    return low, high


def effective_range(hard: tuple[Any, Any], soft: tuple[Any, Any], needed: int = 0) -> tuple[Any, Any]:
    """The soft window moved inside the hard bounds (and widened to *needed* values if it can)."""
    hard_low, hard_high = hard
    low, high = max(hard_low, soft[0]), min(hard_high, soft[1])
    width = soft[1] - soft[0]
    if low > high:  # the window lies outside what the constraints allow: hug the nearest edge
        low, high = (max(hard_low, hard_high - width), hard_high) if hard_high < soft[0] \
            else (hard_low, min(hard_high, hard_low + width))
    if needed and isinstance(low, int) and high - low + 1 < needed:
        high = min(hard_high, low + needed - 1)
        low = max(hard_low, high - needed + 1)
    return low, high


def hard_bounds(vtype: ValueType, rules: Rules) -> tuple[Any, Any]:
    low, high = vtype.low, vtype.high
    if rules.low is not None:
        low = rules.low if low is None else max(low, rules.low)
    if rules.high is not None:
        high = rules.high if high is None else min(high, rules.high)
    return low, high


def ordered_generator(vtype: ValueType, rules: Rules, table: str, column: str, needed: int,
                      default: str | None = None) -> Generator:
    """Numbers, dates, times: a range (or partition segments) inside the constraints."""
    low, high = hard_bounds(vtype, rules)
    if low > high:
        raise PlanError(f"column {table}.{column}: its CHECK constraints allow no value")
    soft = soft_window(vtype, column)
    if vtype.kind in ("int", "numeric", "float"):
        soft = checked_window(soft, rules)
    if vtype.kind == "float":
        lo, hi = effective_range((low, high), soft)
        return around_default(FloatRange(lo, hi, label=f"{lo:g} … {hi:g}"), vtype, (low, high), soft, default)
    if rules.segments is not None:
        segments = []
        for seg_low, seg_high in rules.segments:
            seg_low, seg_high = max(seg_low, low), min(seg_high, high)
            if seg_low <= seg_high:
                segments.append(effective_range((seg_low, seg_high), soft))
        if not segments:
            raise PlanError(f"column {table}.{column}: no partition accepts values its CHECKs allow")
        return Segments(segments, label=f"inside {len(segments)} partitions")
    lo, hi = effective_range((low, high), soft, needed)
    label = f"{vtype.formatter(int(lo))} … {vtype.formatter(int(hi))}"
    if vtype.kind == "numeric" and re.search(MONEY_NAMES, snake(column)) and not needed and lo >= 0:
        generator: Generator = LogRange(int(lo), int(hi), label=f"{label}, small amounts more often")
    else:
        generator = IntRange(int(lo), int(hi), label=label)
    if not needed and rules.truncate is None:
        generator = around_default(generator, vtype, (low, high), soft, default)
    return truncated(generator, vtype, rules.truncate)


def default_value(vtype: ValueType, default: str | None) -> Any:
    """A column default that is a number literal (``4.99``, ``'0'::numeric``), in the internal form."""
    found = re.fullmatch(r"\(?'?(-?\d+(?:\.\d+)?)'?\)?(?:::[\w\s]+(?:\(\d+(?:,\s*\d+)?\))?)?", (default or "").strip())
    if found is None:
        return None
    try:
        value = vtype.parse_literal(found.group(1))
    except (ValueError, ArithmeticError):
        return None
    return value if vtype.kind == "float" else int(value)


def around_default(generator: Generator, vtype: ValueType, hard: tuple[Any, Any], soft: tuple[Any, Any],
                   default: str | None) -> Generator:
    """Values centred on the column's numeric default: the default itself on a share of rows, the others
    about as large (a zero default: zeros, and the usual window from 0)."""
    centre = default_value(vtype, default)
    unit = 10 ** vtype.scale if vtype.kind == "numeric" else 1
    if centre is None or not hard[0] <= centre <= hard[1] or soft[1] - soft[0] <= unit:
        return generator  # no number default, one the CHECKs refuse, or a flag (0/1)
    whole = vtype.kind != "float"
    shown = vtype.formatter(centre)
    if centre == 0:
        low, high = effective_range(hard, (0, soft[1]))
        rest: Generator = IntRange(int(low), int(high)) if whole else FloatRange(low, high)
        return Usually(centre, DEFAULT_SHARE, rest, label=f"around the default {shown}")
    return Usually(centre, DEFAULT_SHARE, Nearby(centre, hard[0], hard[1], whole),
                   label=f"around the default {shown}")


def truncated(generator: Generator, vtype: ValueType, unit: str | None) -> Generator:
    """Dates or timestamps moved back to the start of their *unit* (``CHECK (d = date_trunc('month', d))``)."""
    if unit is None or vtype.kind not in ("date", "timestamp"):
        return generator
    if vtype.kind == "date":
        return Mapped(generator, lambda day: truncate_day(day, unit), label=f"{generator.label}, first of {unit}")
    return Mapped(generator, lambda epoch: truncate_epoch(epoch, unit), label=f"{generator.label}, start of {unit}")


def simple_generator(vtype: ValueType, pools: FakerPools, rules: Rules | None = None) -> Generator | None:
    """Generators for the types without a window or a Faker kind (bytea within its length CHECKs,
    JSON of the types ``jsonb_typeof`` CHECKs ask for)."""
    rules = rules or Rules()
    shortest = rules.min_length
    longest = max(shortest, min(rules.max_length if rules.max_length is not None else 32, 32))
    if rules.max_length is not None and rules.max_length < shortest:
        return None
    low_bytes = max(shortest, min(8, longest))

    def groups(rng: Random, n: int, low: int, high: int) -> list[list[str]]:
        return word_groups(rng, pools.pool("word"), n, low, high)

    def json_objects(rng: Random, n: int) -> list[Any]:
        names, tags = groups(rng, n, 1, 2), groups(rng, n, 0, 3)
        return [{"name": " ".join(name), "score": int(rng.random() * 100) + 1, "tags": tag}
                for name, tag in zip(names, tags)]

    def json_values(rng: Random, n: int) -> list[Any]:
        kinds = [kind for kind in rules.json_types or ("object",) if kind != "null"] or ["object"]
        made = {"object": json_objects, "array": lambda r, k: [list(g) for g in groups(r, k, 0, 4)],
                "string": lambda r, k: [" ".join(g) for g in groups(r, k, 1, 3)],
                "number": lambda r, k: [int(r.random() * 1000) for _ in range(k)],
                "boolean": lambda r, k: [r.random() < 0.5 for _ in range(k)]}
        picks = rng.choices(kinds, k=n)
        pools_of = {kind: iter(made[kind](rng, picks.count(kind))) for kind in set(picks)}
        return [next(pools_of[kind]) for kind in picks]

    json_label = "json " + "/".join(rules.json_types) if rules.json_types else "json object"
    makers: dict[str, tuple[Callable[[Random, int], list[Any]], str]] = {
        "uuid": (lambda rng, n: [rng.getrandbits(128) for _ in range(n)], "uuid4"),
        "json": (json_values, json_label),
        "bytea": (lambda rng, n: [rng.randbytes(rng.randint(low_bytes, longest)) for _ in range(n)],
                  f"random bytes ({low_bytes}-{longest})"),
        "tsvector": (lambda rng, n: [" ".join(sorted({w.lower() for w in group if w.isalpha()}))
                                     for group in groups(rng, n, 3, 8)], "tsvector of words"),
        "inet": (lambda rng, n: [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                                 for _ in range(n)], "ip address"),
        "macaddr": (lambda rng, n: [":".join(f"{rng.randrange(256):02x}" for _ in range(6)) for _ in range(n)],
                    "mac address"),
        "xml": (lambda rng, n: [f"<item>{' '.join(group)}</item>" for group in groups(rng, n, 1, 3)], "xml"),
        "point": (lambda rng, n: [f"({rng.uniform(-180, 180):.5f},{rng.uniform(-90, 90):.5f})" for _ in range(n)],
                  "point"),
        "bit": (lambda rng, n: [format(rng.getrandbits(vtype.max_length or 8), f"0{vtype.max_length or 8}b")
                                for _ in range(n)], "bits"),
    }
    found = makers.get(vtype.kind)
    if found is None:
        return None
    return Simple(found[0], found[1], distinct=vtype.kind == "uuid")


def infer_generator(table: str, column: str, vtype: ValueType, rules: Rules, pools: FakerPools, *,
                    sources: dict[str, str], default: str | None, needed: int = 0,
                    columns: tuple[str, ...] = (), locales: tuple[str, ...] | None = None) -> Generator:
    """The generator for one column (raises PlanError when no value can satisfy its rules); *columns*: the
    table's columns (a ``state`` next to a ``city`` is a region); *locales*: the keys of the translations a
    json column already holds (None: unknown)."""
    if rules.null_only:
        return Constant(None, "NULL (its CHECK allows only NULL)")
    if rules.choices is not None:
        values = [value for value in rules.choices if value not in rules.excluded]
        if vtype.kind == "enum":
            values = [value for value in values if value in vtype.labels]
        if not values:
            raise PlanError(f"column {table}.{column}: its CHECK constraints allow no value")
        return Choice(values)
    if vtype.kind == "enum":
        return Choice(list(vtype.labels))
    if vtype.kind == "bool":
        usual = (default or "").strip().lower()
        weights = [0.85, 0.15] if usual == "true" else [0.15, 0.85] if usual == "false" else None
        return Choice([True, False], weights, label="boolean")
    if vtype.is_ordered:
        return ordered_generator(vtype, rules, table, column, needed, default)
    if vtype.kind == "text":
        high = vtype.max_length
        if rules.max_length is not None:
            high = rules.max_length if high is None else min(high, rules.max_length)
        if high is not None and high < rules.min_length:
            raise PlanError(f"column {table}.{column}: its length constraints allow no value")
        fake = Text(kind_for_text(table, column, columns), pools, rules.min_length, high, sources)
        if rules.pattern is not None:
            test = re.compile(rules.pattern_test, re.DOTALL) if rules.pattern_test else None
            return Pattern(rules.pattern, test, fake, rules.min_length, high)
        return fake
    if vtype.kind == "range" and vtype.element is not None:
        return range_generator(vtype.element, rules, table, column)
    if vtype.kind == "array" and vtype.element is not None:
        element_rules = Rules()
        if vtype.element.kind == "text":
            inner: Generator = Text("label", pools, 0, vtype.element.max_length)
        else:
            inner = infer_generator(table, column, vtype.element, element_rules, pools, sources={}, default=None)
        return ArrayOf(inner)
    if vtype.kind == "json" and "object" in (rules.json_types or ("object",)) \
            and (locales or (locales is None and is_translatable(column))):
        kind = kind_for_text(table, column, columns)
        few = variety(kind)
        if needed and few is not None and few < needed:  # unique: too few countries for the rows, say
            kind = "label"
        text = Text(kind, pools, max(rules.min_length, 1), None, sources)
        return Translated(text, locales or tuple(dict.fromkeys(("en_US", pools.locale))))
    found = simple_generator(vtype, pools, rules)
    if found is None and vtype.kind == "bytea":
        raise PlanError(f"column {table}.{column}: its length constraints allow no value")
    if found is None:
        raise PlanError(f"column {table}.{column}: devshell cannot make values of type {vtype.sql_type} "
                        f"(give it a default, make it nullable, or add a factory for it in a module)")
    return found


def translation_locales(value: Any) -> tuple[str, ...] | None:
    """The locales of a translated json value already in a column (``{"en_US": …, "fr_FR": …}``); ``()``
    when the value is something else; None without a value."""
    if value is None:
        return None
    if isinstance(value, dict) and value and all(isinstance(text, str) for text in value.values()) \
            and all(re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?(@\w+)?", str(key)) for key in value):
        return tuple(value)
    return ()


#: how wide generated ranges are, per kind of bound (internal units)
RANGE_WIDTHS = {"int": 20, "numeric": 100, "date": 30, "timestamp": 7 * 86400}


def range_generator(element: ValueType, rules: Rules, table: str, column: str) -> Generator:
    """``[low, high)`` ranges whose values stay inside the CHECKs' bounds on ``lower()``/``upper()``."""
    widest = RANGE_WIDTHS.get(element.kind, 20) * (10 ** element.scale if element.kind == "numeric" else 1)
    low, high = hard_bounds(element, rules)
    if low is None or high is None or high <= low:
        raise PlanError(f"column {table}.{column}: its CHECK constraints allow no range")
    widest = max(1, min(widest, int(high - low)))
    bounds = ordered_generator(element, Rules(low=low, high=high - widest), table, column, 0)
    return RangeOf(bounds, lambda rng: rng.randint(1, widest), label=f"ranges of {element.sql_type}")
