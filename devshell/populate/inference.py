"""Which generator a column gets: from its type, its name, its CHECKs, domain and partitions.

Numbers, dates and times get a realistic window from the column's name
(``price`` 0.99–999.99, ``quantity`` 1–100, ``birth_date`` 1940–2005, timestamps
2020–2025), narrowed by whatever the constraints demand; text gets a Faker kind
from its name (see :mod:`.fakes`); enums, IN lists and LIST partitions become a
choice. The window is fixed, not relative to today, so a seed reproduces its data.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from random import Random
from typing import Any, Callable

from ..errors import DevshellError
from .constraints import Rules
from .fakes import FakerPools, kind_for_text, word_groups
from .functions import truncate_day, truncate_epoch
from .generators import (ArrayOf, Choice, Constant, FloatRange, Generator, IntRange, Mapped, Pattern, RangeOf,
                         Segments, Simple, Text)
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
    (r"(^|_)year($|_)", (1950, 2030)),
    (r"(^|_)(rating|stars)($|_)", (1, 5)),
    (r"(^|_)(score|level|priority|rank|grade)($|_)", (1, 10)),
    (r"(^|_)(percent|pct|ratio)($|_)", (0, 100)),
    (r"(^|_)(days|duration)($|_)", (1, 30)),
    (r"(^|_)(length|minutes|runtime|pages)($|_)", (1, 240)),
    (r"(^|_)(price|amount|cost|total|balance|salary|fee|rate|payment)($|_)", (1, 1000)),
]
MONEY_NAMES = r"(^|_)(price|amount|cost|total|balance|salary|fee|rate|payment|value)($|_)"
DATE_WINDOWS = [(r"birth|(^|_)dob($|_)", (date(1940, 1, 1), date(2005, 12, 31)))]
DEFAULT_DATES = (date(2019, 1, 1), date(2025, 12, 31))
DEFAULT_TIMESTAMPS = (_epoch(2020), _epoch(2026) - 1)


def soft_window(vtype: ValueType, column: str) -> tuple[Any, Any]:
    """Where values of this column usually lie, in the internal form."""
    name = column.lower()
    if vtype.kind == "int":
        for pattern, window in INT_WINDOWS:
            if re.search(pattern, name):
                return window
        return (1, 10000)
    if vtype.kind == "numeric":
        unit = 10 ** vtype.scale
        if re.search(MONEY_NAMES, name):
            return (unit - 1 if vtype.scale else 1, 1000 * unit - 1)
        return (0, 1000 * unit)
    if vtype.kind == "float":
        if re.search(r"^lat", name):
            return (-90.0, 90.0)
        if re.search(r"^lon|^lng", name):
            return (-180.0, 180.0)
        return (0.0, 1000.0)
    if vtype.kind == "date":
        for pattern, (low, high) in DATE_WINDOWS:
            if re.search(pattern, name):
                return (low.toordinal(), high.toordinal())
        return (DEFAULT_DATES[0].toordinal(), DEFAULT_DATES[1].toordinal())
    if vtype.kind == "timestamp":
        return DEFAULT_TIMESTAMPS
    if vtype.kind == "time":
        return (0, 86399)
    if vtype.kind == "interval":
        return (60, 30 * 86400)
    return (vtype.low, vtype.high)


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


def ordered_generator(vtype: ValueType, rules: Rules, table: str, column: str, needed: int) -> Generator:
    """Numbers, dates, times: a range (or partition segments) inside the constraints."""
    low, high = hard_bounds(vtype, rules)
    if low > high:
        raise PlanError(f"column {table}.{column}: its CHECK constraints allow no value")
    soft = soft_window(vtype, column)
    if vtype.kind == "float":
        lo, hi = effective_range((low, high), soft)
        return FloatRange(lo, hi, label=f"{lo:g} … {hi:g}")
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
    generator = IntRange(int(lo), int(hi), label=f"{vtype.formatter(int(lo))} … {vtype.formatter(int(hi))}")
    return truncated(generator, vtype, rules.truncate)


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
                    sources: dict[str, str], default: str | None, needed: int = 0) -> Generator:
    """The generator for one column (raises PlanError when no value can satisfy its rules)."""
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
        return ordered_generator(vtype, rules, table, column, needed)
    if vtype.kind == "text":
        high = vtype.max_length
        if rules.max_length is not None:
            high = rules.max_length if high is None else min(high, rules.max_length)
        if high is not None and high < rules.min_length:
            raise PlanError(f"column {table}.{column}: its length constraints allow no value")
        fake = Text(kind_for_text(table, column), pools, rules.min_length, high, sources)
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
    found = simple_generator(vtype, pools, rules)
    if found is None and vtype.kind == "bytea":
        raise PlanError(f"column {table}.{column}: its length constraints allow no value")
    if found is None:
        raise PlanError(f"column {table}.{column}: devshell cannot make values of type {vtype.sql_type} "
                        f"(give it a default, make it nullable, or add a factory for it in a module)")
    return found


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
