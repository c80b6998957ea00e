"""Where a column's numbers and dates lie, by what its name means; values around a numeric default.

Windows are in natural units, read from the column's name as words (``UnitPrice``
and ``unitprice`` are ``unit_price``: see :mod:`.names`): ``price`` 0.99–999.99
(cheap more often than dear: :class:`LogRange`), ``quantity`` 1–100, a birth date
or timestamp 1940–2005, a hiring 2010–2025, other timestamps 2020–2025. A CHECK's
bounds widen the window to the values they allow when they are near it (``qty >= 0``
makes 0s) or few (``rating BETWEEN 0 AND 10``); the constraints then narrow it. A
numeric default is the centre of the values (:func:`around_default`). Windows are
fixed, not relative to today, so a seed reproduces its data.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from random import Random
from typing import Any, Sequence

from .constraints import Rules
from .generators import FloatRange, Generator, IntRange, Row
from .names import snake
from .sqltypes import ValueType


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
WIDEN = 1  # a CHECK bound at most this many window widths away widens the window to it
CLOSED = 3  # a CHECK range (both bounds) up to this many window widths, or of at most CLOSED_VALUES, is used whole
CLOSED_VALUES = 100


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
        for pattern, (low, high) in INT_WINDOWS[1:]:
            if re.search(pattern, name):
                return (float(low), float(high))
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
    """The window widened to the values a CHECK allows: a small CHECK range is used whole (``rating BETWEEN 0
    AND 10``), a bound near the window is reached (``qty >= 0`` gives 0s; a year's ``<= 2155`` is not)."""
    low, high = soft
    width = max(high - low, 1)
    if rules.low is not None and rules.high is not None and rules.low <= rules.high \
            and rules.high - rules.low <= max(CLOSED * width, CLOSED_VALUES):
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


@dataclass
class LogRange(Generator):
    """Whole numbers in [low, high], small ones more often (as many between 1 and 10 as between 10 and
    100…): prices and amounts, where a uniform draw makes most things dear."""

    low: int
    high: int
    label: str = "range"

    def __post_init__(self) -> None:
        self.capacity = self.high - self.low + 1
        self._base = float(self.capacity + 1)

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        random, base, start, high = rng.random, self._base, self.low - 1, self.high
        return [min(high, start + int(base ** random())) for _ in rows]

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        return rng.sample(range(self.low, self.high + 1), count)


@dataclass
class Nearby(Generator):
    """Values about as large as ``centre`` (half to twice it, mostly: a log-normal spread), inside
    [low, high]; whole numbers unless ``whole`` is false."""

    centre: Any
    low: Any
    high: Any
    whole: bool = True
    spread: float = 0.35
    label: str = "near"

    def __post_init__(self) -> None:
        self.capacity = int(self.high - self.low + 1) if self.whole else None

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        return rng.sample(range(int(self.low), int(self.high) + 1), count) if self.whole else None

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        gauss, exp = rng.gauss, math.exp
        centre, spread, low, high = self.centre, self.spread, self.low, self.high
        values = [centre * exp(gauss(0.0, spread)) for _ in rows]
        if self.whole:
            return [min(high, max(low, round(value))) for value in values]
        return [min(high, max(low, value)) for value in values]


@dataclass
class Usually(Generator):
    """``value`` on a ``share`` of the rows (a column's default), ``other``'s values on the rest."""

    value: Any
    share: float
    other: Generator
    label: str = "usually"

    def __post_init__(self) -> None:
        self.depends = self.other.depends
        self.capacity = self.other.capacity

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        return self.other.distinct_values(rng, count)  # a unique column: the default once at most, like any value

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        others = self.other.generate(rng, rows, row)
        random, share, value = rng.random, self.share, self.value
        return [value if random() < share else other for other in others]
