"""Column generators: each makes the values of one column for a chunk of rows, in bulk.

A generator gets the column's own seeded ``random.Random``, the global row
numbers of the chunk, and the values already made for the chunk's other
columns (so an email can follow the row's name). Values are in the internal
form of :mod:`.sqltypes`; sampling goes through ``Random.choices`` so the per-value
cost stays well under a microsecond.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass, field
from random import Random
from typing import Any, Callable, Sequence

from .fakes import FakerPools, make_text
from .patterns import enumeration, generate as make_from_pattern, value_at

Row = dict[str, list[Any]]


class Generator:
    """Makes the values of a slot's column(s); ``capacity``: how many distinct values it can make."""

    label = "?"
    capacity: int | None = None
    depends: tuple[str, ...] = ()
    distinct = False  # every value it makes is new: uniqueness holds by construction

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        raise NotImplementedError

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        """*count* distinct values drawn at once (for dense unique columns), or None if not discrete."""
        return None


@dataclass
class Sequential(Generator):
    """Consecutive integers from ``start``: the ids devshell assigns (then setval's past)."""

    start: int
    distinct = True

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"ids from {self.start}"

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        start = self.start
        return [start + index for index in rows]


@dataclass
class Choice(Generator):
    """One of a fixed list (enum labels, IN lists, booleans, LIST partitions), optionally weighted."""

    values: list[Any]
    weights: list[float] | None = None
    label: str = "one of"

    def __post_init__(self) -> None:
        self.capacity = len(set(self.values))
        self._cum = list(itertools.accumulate(self.weights)) if self.weights else None
        if self.label == "one of":
            shown = ", ".join(str(v) for v in self.values[:4]) + (", …" if len(self.values) > 4 else "")
            self.label = f"one of {shown}"

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        return rng.choices(self.values, cum_weights=self._cum, k=len(rows))

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        return rng.sample(list(dict.fromkeys(self.values)), count)


@dataclass
class IntRange(Generator):
    """Uniform whole numbers in [low, high] (ints, scaled numerics, days, epoch seconds)."""

    low: int
    high: int
    label: str = "range"

    def __post_init__(self) -> None:
        self.capacity = self.high - self.low + 1
        self._range = range(self.low, self.high + 1)

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        return rng.choices(self._range, k=len(rows))

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        return rng.sample(self._range, count)


@dataclass
class Segments(Generator):
    """Whole numbers inside one of several inclusive ranges (partition bounds), by width."""

    segments: list[tuple[int, int]]
    label: str = "inside partitions"

    def __post_init__(self) -> None:
        widths = [high - low + 1 for low, high in self.segments]
        self.capacity = self._total = sum(widths)
        self._cum = list(itertools.accumulate(widths))

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        picks = rng.choices(range(self._total), k=len(rows))
        return [self._at(pick) for pick in picks]

    def _at(self, offset: int) -> int:
        index = bisect.bisect_right(self._cum, offset)
        before = self._cum[index - 1] if index else 0
        return self.segments[index][0] + offset - before

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        return [self._at(pick) for pick in rng.sample(range(self._total), count)]


@dataclass
class FloatRange(Generator):
    low: float
    high: float
    label: str = "range"

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        random, low, span = rng.random, self.low, self.high - self.low
        return [low + random() * span for _ in rows]


@dataclass
class Text(Generator):
    """Text of a semantic kind (names, emails, cities…), fitted to a length range."""

    kind: str
    pools: FakerPools
    min_length: int = 0
    max_length: int | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.depends = tuple(self.sources.values())
        self.label = f"faker {self.kind}" if self.kind not in ("words", "label", "title", "text") else self.kind
        if self.max_length is not None and self.max_length < 8:
            self.capacity = sum(32 ** size for size in range(self.min_length, self.max_length + 1))

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        values = make_text(self.kind, len(rows), rng, self.pools, row, self.sources)
        return fit_lengths(values, rng, self.min_length, self.max_length)


def fit_lengths(values: list[str], rng: Random, low: int, high: int | None) -> list[str]:
    """Cut values longer than *high* after their last whole word (no trailing blanks; one long word is cut
    where it must) and pad those shorter than *low*."""
    if low == 0 and (high is None or max(map(len, values), default=0) <= high):
        return values
    out = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    for value in values:
        if high is not None and len(value) > high:
            cut = value[:high + 1].rpartition(" ")[0].rstrip() if " " in value[:high + 1] else ""
            value = cut if len(cut) >= max(low, 1) else value[:high].rstrip()
        if len(value) < low:
            value += "".join(rng.choices(letters, k=low - len(value)))
        out.append(value)
    return out


@dataclass
class Simple(Generator):
    """Values from a function of (rng, count): uuids, json, bytea, tsvector, network addresses."""

    make: Callable[[Random, int], list[Any]]
    label: str
    distinct: bool = False

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        return self.make(rng, len(rows))


@dataclass
class ArrayOf(Generator):
    """Arrays of 0..``most`` elements made by ``element``."""

    element: Generator
    most: int = 4

    def __post_init__(self) -> None:
        self.label = f"array of {self.element.label}"

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        random, span = rng.random, self.most + 1
        sizes = [int(random() * span) for _ in rows]
        items = self.element.generate(rng, range(sum(sizes)), {})
        out, position = [], 0
        for size in sizes:
            out.append(items[position:position + size])
            position += size
        return out


@dataclass
class Nullable(Generator):
    """Another generator's values with a share of NULLs."""

    inner: Generator
    rate: float

    def __post_init__(self) -> None:
        self.label = f"{self.inner.label}, {int(self.rate * 100)}% NULL"
        self.depends = self.inner.depends

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        values = self.inner.generate(rng, rows, row)
        random, rate = rng.random, self.rate
        return [None if random() < rate else value for value in values]


class Precomputed(Generator):
    """Values drawn up front (distinct ones for a dense unique column), handed out in row order."""

    distinct = True

    def __init__(self, values: list[Any], label: str) -> None:
        self.values = values
        self.label = label

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        values = self.values
        return [values[index] for index in rows]


class Constant(Generator):
    label = "NULL"

    def __init__(self, value: Any = None, label: str = "NULL") -> None:
        self.value = value
        self.label = label

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        return [self.value] * len(rows)


@dataclass
class FactoryColumn(Generator):
    """A module's ``@addon.factory(table, column)``: called once per row."""

    call: Callable[[int, dict[str, Any]], Any]
    label: str = "factory"

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        names = list(row)
        return [self.call(index, {name: row[name][position] for name in names})
                for position, index in enumerate(rows)]


@dataclass
class Pattern(Generator):
    """Text matching a CHECK's pattern: the column's usual text when it already matches, else made
    from the pattern with rstr. A short anchored pattern (``^[A-Z]{2}$``) knows its capacity."""

    regex: str  # generation regex (repeats bounded)
    test: "re.Pattern[str] | None"  # how PostgreSQL would test it (None: only the generation regex)
    usual: Generator | None = None
    min_length: int = 0
    max_length: int | None = None
    label: str = "pattern"

    def __post_init__(self) -> None:
        self.label = f"text matching {self.regex}"
        anchored = self.regex.startswith("^") and self.regex.endswith(("\\Z", "$"))
        self._positions = enumeration(self.regex) if anchored else None
        if self._positions is not None:
            capacity = 1
            for options in self._positions:
                capacity *= len(options)
            self.capacity = capacity
        if self.usual is not None:
            self.depends = self.usual.depends

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        usual = self.usual.generate(rng, rows, row) if self.usual is not None and self.test is not None else None
        low, high = self.min_length, self.max_length
        out = []
        missing = []
        for position in range(len(rows)):
            value = usual[position] if usual is not None else None
            if value is not None and self.test is not None and self.test.search(value) \
                    and low <= len(value) and (high is None or len(value) <= high):
                out.append(value)
            else:
                out.append(None)
                missing.append(position)
        if missing:
            for position, value in zip(missing, self._make(rng, len(missing))):
                out[position] = value
        return out

    def _make(self, rng: Random, count: int) -> list[str]:
        if self._positions is not None:
            return [value_at(self._positions, index) for index in rng.choices(range(self.capacity or 1), k=count)]
        return make_from_pattern(self.regex, rng, count, self.min_length, self.max_length)

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        capacity = self.capacity
        if self._positions is None or capacity is None:
            return None
        return [value_at(self._positions, index) for index in rng.sample(range(capacity), count)]


@dataclass
class Mapped(Generator):
    """Another generator's values passed through a function (dates snapped to the first of a month)."""

    inner: Generator
    function: Callable[[Any], Any]
    label: str = "mapped"

    def __post_init__(self) -> None:
        self.depends = self.inner.depends

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        function = self.function
        return [None if value is None else function(value) for value in self.inner.generate(rng, rows, row)]


@dataclass
class RangeOf(Generator):
    """Non-empty ranges ``[low, high)`` whose bounds come from ``bounds`` (daterange, tstzrange, int4range…)."""

    bounds: Generator
    width: Callable[[Random], Any]
    label: str = "range"

    def __post_init__(self) -> None:
        self.label = f"ranges from {self.bounds.label}"

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        width = self.width
        return [(low, low + width(rng)) for low in self.bounds.generate(rng, rows, row)]


@dataclass
class Translated(Generator):
    """JSON objects holding one text per locale (``{"en_US": "Belgium"}``): translatable fields."""

    text: Generator
    locales: tuple[str, ...]
    label: str = "translations"

    def __post_init__(self) -> None:
        self.label = f"{{{', '.join(self.locales)}: {self.text.label}}}"
        self.depends = self.text.depends

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        locales = self.locales
        return [{locale: text for locale in locales} for text in self.text.generate(rng, rows, row)]
