"""Which generator a column gets: from its type, its name, its CHECKs, domain and partitions.

Numbers, dates and times get the window their name means (:mod:`.windows`),
narrowed by whatever the constraints demand, centred on a numeric default; text
gets a Faker kind from its name (see :mod:`.fakes`); json named like a translatable
field (or whose rows already hold translations) holds ``{"en_US": …}``; enums, IN
lists and LIST partitions become a choice.
"""

from __future__ import annotations

import re
from random import Random
from typing import Any, Callable

from ..errors import DevshellError
from .constraints import Rules
from .fakes import FakerPools, is_translatable, kind_for_text, variety, word_groups
from .functions import truncate_day, truncate_epoch
from .generators import (ArrayOf, Choice, Constant, FloatRange, Generator, IntRange, Mapped, Pattern, RangeOf,
                         Segments, Simple, Text, Translated)
from .names import snake
from .sqltypes import ValueType
from .windows import (MONEY_NAMES, LogRange, around_default, checked_window, effective_range as effective_range,
                      hard_bounds as hard_bounds, soft_window as soft_window)

NULL_RATE = 0.1


class PlanError(DevshellError):
    """The schema or the requested size makes populating impossible; nothing was written."""


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
