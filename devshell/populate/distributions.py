"""Declared shapes of a column's values: normal, uniform, weighted choices, Faker providers, statistics.

A :class:`Distribution` holds what ``--spec``, a manifest or ``--like`` says a
column looks like, in the internal form of the column's type (see
:mod:`.sqltypes`); :func:`declared_generator` turns it into a generator that
still keeps the column's CHECK bounds, lists and lengths. What a distribution
leaves open (the text of a column whose values are not copied) comes from the
generator inference would have chosen.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from random import Random
from typing import TYPE_CHECKING, Any, Callable, Collection, Sequence

from .constraints import Rules
from .generators import Choice, FloatRange, Generator, IntRange, Nullable, Row, Text, fit_lengths
from .inference import NULL_RATE, PlanError, hard_bounds
from .sqltypes import ValueType

if TYPE_CHECKING:
    from .fakes import FakerPools
    from .tableplan import TablePlan

FREE_TEXT = ("words", "text", "title", "label")  # inferred kinds whose length may follow the source's
POOL_KINDS = ("int", "numeric", "float", "date", "timestamp", "time", "interval", "text", "enum", "bool")


@dataclass
class Distribution:
    """What one column's values look like (internal form); unset fields are left to inference.

    Declared: ``normal`` (mean, std), ``uniform`` (low, high), ``choices`` with
    ``weights``, ``faker`` (a provider name), ``unique``. Read from statistics
    (``--like``): ``points`` (values copied, with their share of the non-NULL
    rows), ``histogram`` (equal-frequency bucket bounds), ``distinct`` (values to
    make when they are not copied, ``pool_weights`` giving the most common ones
    their frequencies) and ``width`` (average text length). ``null``: share of NULLs.
    """

    label: str
    null: float | None = None
    normal: tuple[float, float] | None = None
    uniform: tuple[Any, Any] | None = None
    choices: list[Any] | None = None
    weights: list[float] | None = None
    faker: str | None = None
    unique: bool = False
    points: list[Any] = field(default_factory=list)
    point_weights: list[float] = field(default_factory=list)
    histogram: list[Any] | None = None
    distinct: int | None = None
    pool_weights: list[float] = field(default_factory=list)
    width: float | None = None
    from_statistics: bool = False  # --like: gives way to the target's own keys and rules


@dataclass
class Normal(Generator):
    """Normally distributed numbers, drawn again when outside [low, high] (then clipped)."""

    mean: float
    std: float
    low: float
    high: float
    whole: bool  # integers, scaled numerics

    def __post_init__(self) -> None:
        self.label = f"normal({self.mean:g}, {self.std:g})"

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        gauss, mean, std, low, high = rng.gauss, self.mean, self.std, self.low, self.high
        out = []
        for _ in rows:
            value = gauss(mean, std)
            tries = 0
            while not low <= value <= high and tries < 8:
                value, tries = gauss(mean, std), tries + 1
            value = min(max(value, low), high)
            out.append(round(value) if self.whole else value)
        return out


@dataclass
class Histogram(Generator):
    """Values spread like an equal-frequency histogram: a bucket at random, then a value inside it."""

    bounds: list[Any]
    whole: bool

    def __post_init__(self) -> None:
        self.label = f"histogram of {len(self.bounds) - 1} buckets"

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        bounds, random = self.bounds, rng.random
        buckets = len(bounds) - 1
        out = []
        for _ in rows:
            at = int(random() * buckets)
            low, high = bounds[at], bounds[at + 1]
            out.append(low + int(random() * (high - low + 1)) if self.whole else low + random() * (high - low))
        return out


@dataclass
class Weighted(Generator):
    """Given values with their shares; the rows left over get ``rest``'s values."""

    values: list[Any]
    weights: list[float]
    rest: Generator | None = None

    def __post_init__(self) -> None:
        left = max(0.0, 1.0 - sum(self.weights)) if self.rest is not None else 0.0
        self._cum = list(itertools.accumulate(self.weights + ([left] if left > 0 else [])))
        self._rest = len(self.values) if left > 0 else -1
        self.depends = self.rest.depends if self.rest is not None else ()
        self.label = f"{len(self.values)} values by frequency" + \
            (f", {left:.0%} {self.rest.label}" if self.rest is not None and left > 0 else "")

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        picks = rng.choices(range(len(self._cum)), cum_weights=self._cum, k=len(rows))
        values, rest = self.values, self._rest
        out = [values[pick] if pick != rest else None for pick in picks]
        positions = [at for at, pick in enumerate(picks) if pick == rest]
        if positions and self.rest is not None:
            sub = {name: [column[at] for at in positions] for name, column in row.items()}
            made = self.rest.generate(rng, [rows[at] for at in positions], sub)
            for at, value in zip(positions, made):
                out[at] = value
        return out


@dataclass
class Pooled(Generator):
    """``size`` values made once by ``inner`` (its own seed), then picked: the column's cardinality;
    the first values get ``weights`` (the source's most common frequencies, not its values)."""

    inner: Generator
    size: int
    seed: str
    weights: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.label = f"{self.size} distinct {self.inner.label}"
        self._pool: list[Any] | None = None
        self._cum: list[float] = []

    def _values(self) -> list[Any]:
        if self._pool is None:
            rng, pool, seen = Random(self.seed), [], set()
            for _ in range(8):
                for value in self.inner.generate(rng, range(2 * self.size), {}):
                    if value is not None and value not in seen:
                        seen.add(value)
                        pool.append(value)
                if len(pool) >= self.size:
                    break
            self._pool = pool[:self.size] or [None]
            known = self.weights[:len(self._pool)]
            left = max(0.0, 1.0 - sum(known))
            others = len(self._pool) - len(known)
            share = left / others if others else 0.0
            self._cum = list(itertools.accumulate(known + [share] * others))
        return self._pool

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        pool = self._values()
        return rng.choices(pool, cum_weights=self._cum if self._cum and self._cum[-1] > 0 else None, k=len(rows))


@dataclass
class Lengths(Generator):
    """Free text whose lengths average ``mean`` characters: words are added or whole words cut."""

    inner: Generator
    mean: float
    longest: int | None = None

    def __post_init__(self) -> None:
        self.label = f"{self.inner.label}, ~{self.mean:.0f} characters"
        self.depends = self.inner.depends

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        values = self.inner.generate(rng, rows, row)
        extra = itertools.cycle([value for value in self.inner.generate(rng, rows, row) if value] or ["x"])
        random, mean = rng.random, self.mean
        out: list[str] = []
        for value in values:  # text, never NULL (the Nullable around this one makes those)
            target = max(1, round(mean * (0.5 + random())))
            while len(value) < target:
                value = f"{value} {next(extra)}"
            if len(value) > target:  # at the word boundary nearest to the target
                before, after = value.rfind(" ", 0, target + 1), value.find(" ", target)
                after = len(value) if after < 0 else after
                value = value[:after if before <= 0 or after - target < target - before else before]
            out.append(value)
        return fit_lengths(out, rng, 0, self.longest)


class FakerValues(Generator):
    """A Faker provider by name (``company``, ``iban``…): a seeded pool drawn once, then sampled."""

    def __init__(self, provider: str, locale: str, seed: str, size: int, convert: Callable[[Any], Any]) -> None:
        self.provider, self.locale, self.seed, self.size, self.convert = provider, locale, seed, size, convert
        self.label = f"faker {provider}"
        self._pool: list[Any] | None = None

    def _values(self) -> list[Any]:
        if self._pool is None:
            from faker import Faker

            faker = Faker(self.locale)
            faker.seed_instance(self.seed)
            method = getattr(faker, self.provider)
            self._pool = list(dict.fromkeys(self.convert(method()) for _ in range(self.size)))
        return self._pool

    @property
    def capacity(self) -> int | None:  # type: ignore[override]
        return len(self._values())

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        return rng.choices(self._values(), k=len(rows))

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        return rng.sample(self._values(), count)


def allowed(vtype: ValueType, rules: Rules) -> Callable[[Any], bool]:
    """Whether a value (internal form) keeps the column's type and single-column rules."""
    low, high = hard_bounds(vtype, rules) if vtype.is_ordered else (None, None)
    longest = min(n for n in (vtype.max_length, rules.max_length, 10**9) if n is not None)
    test = re.compile(rules.pattern_test, re.DOTALL) if rules.pattern_test else None

    def check(value: Any) -> bool:
        if value is None or value in rules.excluded:
            return False
        if rules.choices is not None and value not in rules.choices:
            return False
        if vtype.kind == "enum" and value not in vtype.labels:
            return False
        if low is not None and high is not None and not low <= value <= high:
            return False
        if isinstance(value, str):
            return rules.min_length <= len(value) <= longest and (test is None or bool(test.search(value)))
        return True
    return check


def declared_slot(plan: "TablePlan", name: str, dist: Distribution, rules: Rules, inferred: Callable[[], Generator],
                  referenced: Collection[str], pools: "FakerPools") -> Generator:
    """The generator of a declared column of *plan* (a declared unique becomes one of the plan's keys)."""
    column = plan.table.columns[name]
    plain = {column_name for key in plan.unique_keys if key.plain for column_name in key.columns}
    may_be_null = column.nullable and not rules.not_null and name not in plain and name not in referenced
    if dist.unique and not any(key.plain and key.columns == (name,) for key in plan.unique_keys):
        from .uniques import table_keys

        plan.unique_keys.append(table_keys(plan.table, plan.types, [(name,)])[0])
        plan.uniques.append((name,))
    return declared_generator(dist, plan.types[name], rules, inferred, where=f"{plan.key}.{name}",
                              may_be_null=may_be_null, has_default=column.default is not None, rows=plan.count,
                              seed=f"{pools.seed}:{plan.key}:{name}", locale=pools.locale)


def declared_generator(dist: Distribution, vtype: ValueType, rules: Rules, inferred: Callable[[], Generator], *,
                       where: str, may_be_null: bool, has_default: bool, rows: int, seed: str,
                       locale: str) -> Generator:
    """The generator of one column declared by *dist*; *inferred()* makes the one inference would pick."""
    if dist.null and not may_be_null and not dist.from_statistics:
        raise PlanError(f"column {where}: declared {dist.null:.0%} NULL, but the column cannot be NULL")
    generator = _values(dist, vtype, rules, inferred, where, rows, seed, locale)
    shaped = dist.normal or dist.uniform or dist.choices is not None or dist.faker
    null = dist.null if dist.null is not None else 0.0 if shaped or has_default else NULL_RATE
    return Nullable(generator, null) if may_be_null and null > 0 else generator


def _values(dist: Distribution, vtype: ValueType, rules: Rules, inferred: Callable[[], Generator], where: str,
            rows: int, seed: str, locale: str) -> Generator:
    keeps = allowed(vtype, rules)
    whole = vtype.kind != "float"
    if dist.choices is not None:
        broken = [value for value in dist.choices if not keeps(value)]
        if broken:
            raise PlanError(f"column {where}: declared value {vtype.formatter(broken[0])!r} breaks its constraints")
        return Choice(list(dist.choices), dist.weights, label=f"declared one of {len(dist.choices)}")
    if dist.normal is not None or dist.uniform is not None:
        low, high = hard_bounds(vtype, rules)
        if dist.normal is not None:
            normal = Normal(dist.normal[0], dist.normal[1], low, high, whole)
            unit = 10 ** vtype.scale if vtype.kind == "numeric" else 1
            normal.label = f"normal({dist.normal[0] / unit:g}, {dist.normal[1] / unit:g})"
            return normal
        first, last = max(dist.uniform[0], low), min(dist.uniform[1], high)  # type: ignore[index]
        if first > last:
            raise PlanError(f"column {where}: declared uniform range lies outside what its constraints allow")
        made: Generator = IntRange(int(first), int(last)) if whole else FloatRange(first, last)
        made.label = f"uniform({vtype.formatter(first)}, {vtype.formatter(last)})"
        return made
    if dist.faker is not None:
        size = min(max(256, rows + rows // 4), 100_000) if dist.unique else min(max(256, rows), 5000)
        return FakerValues(dist.faker, locale, seed, size, _converter(vtype))
    return _from_statistics(dist, vtype, rules, inferred, keeps, seed)


def _from_statistics(dist: Distribution, vtype: ValueType, rules: Rules, inferred: Callable[[], Generator],
                     keeps: Callable[[Any], bool], seed: str) -> Generator:
    """Copied values and histogram where the statistics allow; inferred values shaped by them elsewhere."""
    pairs = [(value, weight) for value, weight in zip(dist.points, dist.point_weights) if keeps(value)]
    rest: Generator | None = None
    if dist.histogram and len(dist.histogram) > 1:
        if vtype.is_ordered:
            low, high = hard_bounds(vtype, rules)
            bounds = [min(max(value, low), high) for value in dist.histogram]
            rest = Histogram(bounds, vtype.kind != "float")
        else:
            kept = [value for value in dist.histogram if keeps(value)]
            rest = Choice(kept, label="values of the histogram") if kept else None
    if rest is None:
        rest = inferred()
        if isinstance(rest, Text) and rest.kind in FREE_TEXT and dist.width:
            rest = Lengths(rest, dist.width, rest.max_length)
        others = (dist.distinct or 0) - len(pairs)
        if dist.distinct is not None and others > 0 and not rest.depends and vtype.kind in POOL_KINDS \
                and not rules.choices:
            weights = [] if pairs else dist.pool_weights
            rest = Pooled(rest, others, f"{seed}:pool", weights)
    if not pairs:
        return rest
    share = sum(weight for _, weight in pairs)
    if share >= 0.999:
        rest = None
    return Weighted([value for value, _ in pairs], [weight for _, weight in pairs], rest)


def _converter(vtype: ValueType) -> Callable[[Any], Any]:
    """A Faker value in the column's internal form (ValueError, TypeError when it is not one)."""
    if vtype.kind in ("text", "enum"):
        return str

    def convert(value: Any) -> Any:
        if isinstance(value, str) and vtype.kind not in ("uuid", "json"):
            value = vtype.parse_literal(value)
            return int(value) if vtype.kind == "numeric" else value
        if vtype.kind == "int":
            if isinstance(value, bool) or int(value) != value:
                raise ValueError(value)
            return int(value)
        if vtype.kind == "float":
            return float(value)
        return vtype.from_db(value)
    return convert
