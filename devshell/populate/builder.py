"""Rows of one table, chunk by chunk, as COPY text: generate, repair, reject, format.

A chunk is made column by column (each slot with its own ``Random``, seeded per
chunk, so adding a column or a table never changes the others, and a chunk can be
made apart from the others: :mod:`.parallel`), then: column comparisons
are repaired (``end >= start``), rows that break a unique constraint, a rule or an
opaque CHECK are generated again (row *i* is always row *i*: ids and
pre-drawn distinct values come back the same), and the chunk is formatted.
"""

from __future__ import annotations

import operator
from random import Random
from typing import Any, Callable, Iterator, Sequence

from ..errors import DevshellError
from .constraints import Comparison, OpaqueCheck
from .generators import Generator, Precomputed, Row, Text, Translated
from .keyexpr import canonical
from .references import ForeignKeyValues, KeyStore, LinkedKeys, SelfTree
from .rowchecks import CheckKeeper
from .shortcodes import Codes
from .sqltypes import NULL, ValueType
from .tableplan import Slot, TablePlan
from .uniques import UniqueKey

CHUNK_ROWS = 5000
MAX_ROUNDS = 40
DENSE = 4  # a unique column over fewer than DENSE x rows distinct values draws them all up front
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
SPREAD = {"date": 30, "timestamp": 30 * 86400, "time": 4 * 3600, "interval": 86400}

Probe = Callable[[TablePlan, OpaqueCheck, dict[str, list[Any]]], set[int]]


class PopulateError(DevshellError):
    """Rows could not be generated as the constraints require (the transaction is rolled back)."""


class TableBuilder:
    """Makes the rows of one planned table; publishes its keys for the tables that reference it."""

    def __init__(self, plan: TablePlan, store: KeyStore, seed: int, existing_uniques: dict[tuple[str, ...], list[Any]],
                 probe: Probe | None = None) -> None:
        self.plan = plan
        self.store = store
        self.probe = probe
        self.check_keeper = CheckKeeper(plan, store, seed, probe)  # CHECKs kept row by row or by PostgreSQL
        self.seed = seed
        self.rngs = {slot.columns: Random(f"{seed}:{plan.key}:{','.join(slot.columns)}") for slot in plan.slots}
        self.repair_rng = Random(f"{seed}:{plan.key}:repairs")
        self.live = [slot for slot in plan.slots if slot.deferred is None]
        self.key_sets = [cols for table, cols in store.wanted() if table == plan.key]
        self.key_base = {cols: len(store.keys(plan.key, cols)) for cols in self.key_sets}
        self.formatters = {name: plan.types[name] for name in plan.copy_columns}
        self.update_keys: list[Any] = []  # primary keys of the rows, when a deferred slot needs them
        for slot in plan.slots:
            if isinstance(slot.generator, SelfTree):
                slot.generator.existing = self.key_base.get(slot.generator.key_columns, 0)
        self.existing_uniques = existing_uniques
        self.checked: list[UniqueKey] = []
        self.seen: dict[str, set[Any]] = {}  # unique key name -> keys of the rows made (and existing)
        self.existing_seen: dict[str, set[Any]] = {}  # the same, existing rows only (for chunks made apart)
        self.against = self.seen  # what the chunk being made is checked against (see rows)
        self.prepared = False

    def prepare(self) -> None:
        """Decide how each unique key is kept, once the parent tables' keys exist (first chunk)."""
        if not self.prepared:
            existing = {key.name: self._existing_keys(key) for key in self.plan.unique_keys}
            for rule in self.plan.exclusions:  # the ranges already there are taken
                rows = self.existing_uniques.get(rule.columns, [])
                values = {name: [row[i] for row in rows] for i, name in enumerate(rule.columns)}
                for p in range(len(rows)):
                    rule.place(values, p, float("inf"))
            self.checked = self._prepare_uniques(existing)
            self.seen = {key.name: existing[key.name] for key in self.checked}
            self.existing_seen = {key.name: set(existing[key.name]) for key in self.checked}
            for slot in self.live:  # a foreign key's popularity order is the table's, not a chunk's
                for generator in nested(slot.generator):
                    if isinstance(generator, ForeignKeyValues):
                        generator.settle(self.rngs[slot.columns])
            self.prepared = True

    def _reseed(self, start: int | str) -> None:
        """Seeds of the chunk starting at row *start*: a chunk's rows do not depend on the chunks made before
        it (so it may be made in another process: see :mod:`.parallel`)."""
        prefix = f"{self.seed}:{self.plan.key}"
        self.rngs = {slot.columns: Random(f"{prefix}:{','.join(slot.columns)}:{start}") for slot in self.plan.slots}
        self.repair_rng = Random(f"{prefix}:repairs:{start}")
        self.check_keeper.rng = Random(f"{prefix}:checks:{start}")

    # -- setup ------------------------------------------------------------------------------
    def _existing_keys(self, key: UniqueKey) -> set[Any]:
        """The keys the rows already in the table hold (read by the loader as ``key.reads`` tuples)."""
        rows = list(self.existing_uniques.get(key.reads, ()))
        if not rows:
            return set()
        values = {name: [row[i] for row in rows] for i, name in enumerate(key.reads)}
        evaluate = self._evaluate if self.probe is not None else None
        return set(key.keys(values, list(range(len(rows))), evaluate).values())

    def _evaluate(self, expressions: list[str], values: Row) -> list[tuple[Any, ...]]:
        """Index expressions PostgreSQL computes for these rows (see :meth:`.probe.Probe.values`)."""
        if self.probe is None or not hasattr(self.probe, "values"):
            raise PopulateError(f"table {self.plan.key}: no connection to evaluate {', '.join(expressions)}")
        return self.probe.values(self.plan, expressions, values)  # type: ignore[no-any-return]

    def _slot_of(self, name: str) -> Slot | None:
        return next((slot for slot in self.live if name in slot.columns), None)

    def _prepare_uniques(self, existing: dict[str, set[Any]]) -> list[UniqueKey]:
        """Unique keys that need checking row by row; dense plain ones get distinct values drawn now."""
        checked = []
        for unique in self.plan.unique_keys:
            if not unique.plain:
                checked.append(unique)
                continue
            slots = [self._slot_of(name) for name in unique.columns]
            if any(slot is None or slot.generator.distinct for slot in slots):
                continue  # a database-filled or deferred column, or one distinct by construction
            taken = existing[unique.name]
            first = slots[0]
            assert first is not None
            if all(slot is first for slot in slots) and set(first.columns) == set(unique.columns):
                if self._draw(first, taken, unique):
                    continue
            elif all(slot is first for slot in slots) and isinstance(first.generator, LinkedKeys) \
                    and set(first.generator.links[0].child_columns) == set(unique.columns):
                if self._draw_linked(first.generator, taken, unique):
                    continue
            elif len(unique.columns) > 1 and self._draw_joint(unique.columns, slots, taken):  # type: ignore[arg-type]
                continue
            checked.append(unique)
        return checked

    def _draw_joint(self, unique: tuple[str, ...], slots: list[Slot], taken: set[Any]) -> bool:
        """A dense composite unique (few combinations for the rows) gets distinct combinations drawn now."""
        if len({id(slot) for slot in slots}) != len(slots) or any(len(slot.columns) != 1 for slot in slots):
            return False
        generators = [getattr(slot.generator, "inner", slot.generator) for slot in slots]
        capacities = [generator.capacity for generator in generators if generator.capacity is not None]
        count = self.plan.count
        if len(capacities) != len(generators):
            return False
        combinations = 1
        for capacity in capacities:
            combinations *= capacity
        if combinations > DENSE * (count + len(taken)):
            return False
        rng = self.rngs[slots[0].columns]
        domains = [generator.distinct_values(rng, capacity) for generator, capacity in zip(generators, capacities)]
        if any(domain is None for domain in domains):
            return False
        rows = []
        for index in rng.sample(range(combinations), min(combinations, count + len(taken))):
            row = []
            for domain in domains:
                index, digit = divmod(index, len(domain))  # type: ignore[arg-type]
                row.append(domain[digit])  # type: ignore[index]
            if tuple(row) not in taken:
                rows.append(row)
        if len(rows) < count:
            raise PopulateError(f"table {self.plan.key}: only {len(rows)} distinct ({', '.join(unique)}) left, "
                                f"{count} rows asked; use a smaller --size")
        for position, slot in enumerate(slots):
            slot.generator = Precomputed([row[position] for row in rows[:count]],
                                         f"{slot.generator.label}, distinct ({', '.join(unique)})")
        return True

    def _draw_linked(self, generator: LinkedKeys, taken: set[Any], unique: UniqueKey) -> bool:
        """Keys sharing columns whose first key is unique (one row per parent): first parents drawn now."""
        capacity = generator.capacity
        if capacity is None or capacity > DENSE * (self.plan.count + len(taken)):
            return False
        order = [generator.links[0].child_columns.index(name) for name in unique.columns]
        key = (lambda row: tuple(map(canonical, row))) if unique.canonical else tuple
        return generator.draw_first(self.rngs[tuple(generator.columns)], self.plan.count,
                                    lambda parent: key(tuple(parent[i] for i in order)) not in taken)

    def _draw(self, slot: Slot, taken: set[Any], unique: UniqueKey) -> bool:
        """A dense unique slot (or short codes) gets its distinct values drawn now; *taken*: the keys
        existing rows hold."""
        generator: Generator = getattr(slot.generator, "inner", slot.generator)
        count = self.plan.count
        capacity = generator.capacity
        if capacity is None or (capacity > DENSE * (count + len(taken)) and not isinstance(generator, Codes)):
            return False
        values = generator.distinct_values(self.rngs[slot.columns], min(capacity, count + len(taken)))
        if values is None:
            return False
        if taken:
            order = [slot.columns.index(name) for name in unique.columns]
            key = (lambda row: tuple(map(canonical, row))) if unique.canonical else tuple
            values = [value for value in values
                      if key(tuple(value[i] for i in order) if len(order) > 1 else (value,)) not in taken]
        values = values[:count]
        if len(values) < count:
            raise PopulateError(f"table {self.plan.key}: only {len(values)} distinct values left for "
                                f"{slot.columns[0]}, {count} rows asked; use a smaller --size")
        slot.generator = Precomputed(values, f"{generator.label}, distinct")
        return True

    # -- rows -------------------------------------------------------------------------------
    def _generate(self, rows: Sequence[int]) -> Row:
        values: Row = {}
        for slot in self.live:
            if isinstance(slot.generator, SelfTree):
                self._publish_keys(rows, values, only_new=True)
            made = slot.generator.generate(self.rngs[slot.columns], rows, values)
            if len(slot.columns) == 1:
                values[slot.columns[0]] = made
            else:
                for position, name in enumerate(slot.columns):
                    values[name] = [None if item is None else item[position] for item in made]
        for comparison in self.plan.comparisons:
            self._repair(comparison, values, self.repair_rng)
        self.check_keeper.repair(values, rows)
        if self.plan.row_factory is not None:
            self._apply_row_factory(rows, values)
        return values

    def _repair(self, comparison: Comparison, values: Row, rng: Random) -> None:
        """Move ``left`` next to ``right`` where ``left op right`` fails (``end_date >= start_date``)."""
        left, right = values.get(comparison.left), values.get(comparison.right)
        vtype = self.plan.types[comparison.left]
        if left is None or right is None or comparison.op == "<>" or not (vtype.is_ordered or comparison.op == "="):
            return
        test = COMPARE[comparison.op]
        low, high = self.plan.limits.get(comparison.left, (float("-inf"), float("inf")))
        spread = SPREAD.get(vtype.kind, 10 * 10 ** vtype.scale if vtype.kind == "numeric" else 10)
        for position, (a, b) in enumerate(zip(left, right)):
            if a is None or b is None or test(a, b):
                continue
            if comparison.op == "=":
                left[position] = b
                continue
            step = rng.random() * spread if vtype.kind == "float" else rng.randint(1, spread)
            moved = b + step if comparison.op in (">", ">=") else b - step
            if comparison.soft and not low <= moved <= high:
                continue
            left[position] = moved

    def _apply_row_factory(self, rows: Sequence[int], values: Row) -> None:
        assert self.plan.row_factory is not None
        types = self.plan.types
        for position, index in enumerate(rows):
            # the factory's context turns these internal values into Python ones (dates, decimals…)
            row = {name: column[position] for name, column in values.items()}
            for name, value in (self.plan.row_factory(index, row) or {}).items():
                if name in values:
                    values[name][position] = types[name].from_db(value)

    def _violations(self, values: Row, positions: list[int], taken: dict[str, set[Any]]) -> set[int]:
        """Which of *positions* break a comparison, a bound, an opaque CHECK, a unique key or an
        exclusion constraint (a clashing range is moved to a free gap first, not rejected).

        *taken* holds the unique keys of the chunk's accepted rows; the keys of the
        rows accepted now are added to it.
        """
        bad: set[int] = set()
        for rule in self.plan.exclusions:
            if any(name not in values for name in rule.columns):
                continue  # a column loaded as NULL (a cycle's key) or filled by the database: nothing to clash
            end = self.plan.types[rule.bounds[1]]
            high = self.plan.limits.get(rule.bounds[1], (None, (end.element or end).high))[1]
            bad.update(p for p in positions if not rule.place(values, p, high))
        for comparison in self.plan.comparisons:
            left, right = values.get(comparison.left), values.get(comparison.right)
            if comparison.soft or left is None or right is None:
                continue
            test = COMPARE[comparison.op]
            bad.update(p for p in positions
                       if left[p] is not None and right[p] is not None and not test(left[p], right[p]))
        for name, (low, high) in self.plan.limits.items():
            column = values.get(name)
            if column is not None:
                bad.update(p for p in positions if column[p] is not None and not low <= column[p] <= high)
        for name, excluded in self.plan.excluded.items():
            column = values.get(name)
            if column is not None:
                bad.update(p for p in positions if column[p] in excluded)
        bad.update(self.check_keeper.violations(values, positions))
        fresh: dict[str, dict[Any, int]] = {}
        for unique in self.checked:
            if any(name not in values for name in unique.reads):
                continue  # a deferred column: NULL while loading
            seen, chunk, new = self.against[unique.name], taken[unique.name], {}
            evaluate = self._evaluate if self.probe is not None else None
            for p, key in unique.keys(values, [p for p in positions if p not in bad], evaluate).items():
                if key in seen or key in chunk or key in new:
                    bad.add(p)
                else:
                    new[key] = p
            fresh[unique.name] = new
        for name, new in fresh.items():
            taken[name].update(key for key, p in new.items() if p not in bad)
        return bad

    def rows(self, start: int, count: int, *, apart: bool = False) -> Row:
        """Rows ``start .. start+count-1`` of this run, every constraint satisfied. *apart*: made as if no
        other chunk existed (unique keys checked against the existing rows only, keys not published; the
        caller reconciles them in chunk order: :func:`.parallel.settle`)."""
        self.prepare()
        self._reseed(start)
        self.against = self.existing_seen if apart else self.seen
        rows = list(range(start, start + count))
        values = self._make(rows, record=not apart)
        if not apart:
            self._publish_keys(rows, values, only_new=False)
        return values

    def remake(self, start: int, rows: list[int]) -> Row:
        """Rows *rows* of the chunk at *start* made again, their unique keys new to every row made so far."""
        self._reseed(f"{start}:again")
        self.against = self.seen
        return self._make(rows, record=True)

    def _make(self, rows: list[int], record: bool) -> Row:
        """Rows *rows*, every constraint satisfied (rows that break one are made again); *record*: their unique
        keys join ``seen``."""
        count = len(rows)
        values = self._generate(rows)
        taken: dict[str, set[Any]] = {unique.name: set() for unique in self.checked}
        pending = list(range(count))
        for attempt in range(MAX_ROUNDS):
            bad = sorted(self._violations(values, pending, taken))
            if not bad:
                break
            fresh = self._generate([rows[p] for p in bad])
            if attempt >= 1:
                self._disambiguate(fresh, [rows[p] for p in bad])
            for name, column in fresh.items():
                target = values[name]
                for i, position in enumerate(bad):
                    target[position] = column[i]
            pending = bad
        else:
            raise PopulateError(f"table {self.plan.key}: could not generate rows that satisfy its unique and "
                                f"CHECK constraints ({self._blame()}); use a smaller --size or add a factory")
        if record:
            for unique in self.checked:
                self.seen[unique.name].update(taken[unique.name])
        return values

    def _disambiguate(self, values: Row, rows: list[int]) -> None:
        """Free text in a unique key (or its translations) gets the row number appended, so retries
        converge; never a foreign key's text, a pattern's or a list's: those must stay what they are."""
        for name in dict.fromkeys(name for unique in self.checked for name in unique.reads):
            slot = self._slot_of(name)
            kind = type(getattr(slot.generator, "inner", slot.generator)) if slot is not None else None
            column = values.get(name)
            if kind not in (Text, Translated) or column is None:
                continue
            limit = self.plan.types[name].max_length
            for i, (value, index) in enumerate(zip(column, rows)):
                if isinstance(value, str):
                    column[i] = _suffixed(value, index + 1, limit)
                elif isinstance(value, dict):  # {"en_US": "Belgium"}: every translation told apart
                    column[i] = {key: _suffixed(text, index + 1, None) if isinstance(text, str) else text
                                 for key, text in value.items()}

    def _blame(self) -> str:
        names = [unique.name for unique in self.checked] + self.check_keeper.blame() + \
            [rule.name for rule in self.plan.exclusions]
        return "; ".join(names) or "column comparisons"

    def _publish_keys(self, rows: Sequence[int], values: Row, *, only_new: bool) -> None:
        for cols in self.key_sets:
            if not all(name in values for name in cols):
                continue
            keys = self.store.keys(self.plan.key, cols)
            base = self.key_base[cols] + rows[0]
            if only_new and len(keys) != base:
                continue  # a retry: these rows' keys are published already
            made = values[cols[0]] if len(cols) == 1 else list(zip(*(values[name] for name in cols)))
            keys[base:base + len(made)] = made
        if not only_new and any(slot.deferred for slot in self.plan.slots):
            self.update_keys.extend(zip(*(values[name] for name in self.plan.update_key)))

    # -- output -----------------------------------------------------------------------------
    def copy_text(self, values: Row, count: int) -> str:
        """The rows as COPY text, columns in ``plan.copy_columns`` order (deferred ones NULL)."""
        columns = []
        for name in self.plan.copy_columns:
            column = values.get(name)
            if column is None:
                columns.append([NULL] * count)
                continue
            vtype: ValueType = self.formatters[name]
            fmt = vtype.formatter
            columns.append([NULL if v is None else fmt(v) for v in column] if None in column else list(map(fmt, column)))
        return "\n".join(map("\t".join, zip(*columns))) + "\n" if count and columns else ""

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[int, str]]:
        """(rows, COPY text) per chunk, generated on demand while COPY consumes them."""
        for start in range(0, self.plan.count, chunk_rows):
            count = min(chunk_rows, self.plan.count - start)
            yield count, self.copy_text(self.rows(start, count), count)

    def deferred_values(self, slot: Slot) -> list[tuple[Any, ...]]:
        """(key..., value...) per row for a foreign key loaded as NULL, now that its parent exists.

        When a unique key reads these columns, every row gets a different parent (and
        NULL once the parents run out), which keeps any key over them unique.
        """
        rng = self.rngs[slot.columns]
        made = slot.generator.generate(rng, range(self.plan.count), {})
        keys = [unique for unique in self.plan.unique_keys if set(slot.columns) & set(unique.reads)]
        if keys:
            taken = {value for unique in keys if unique.reads == slot.columns
                     for value in self._existing_keys(unique)}  # what rows already there point at
            inner: Generator = getattr(slot.generator, "inner", slot.generator)
            wanted = sum(value is not None for value in made) + len(taken)
            drawn = inner.distinct_values(rng, min(inner.capacity or 0, wanted)) or []
            parents = iter(value for value in drawn if (value if len(slot.columns) > 1 else (value,)) not in taken)
            made = [None if value is None else next(parents, None) for value in made]
        out = []
        for key, value in zip(self.update_keys, made):
            if value is None:
                value = (None,) * len(slot.columns)
            elif len(slot.columns) == 1:
                value = (value,)
            out.append(tuple(key) + tuple(value))
        return out


def nested(generator: Generator) -> Iterator[Generator]:
    """*generator* and the generators it wraps (a Nullable's inner one…)."""
    yield generator
    for value in vars(generator).values():
        if isinstance(value, Generator):
            yield from nested(value)


def _suffixed(value: str, number: int, limit: int | None) -> str:
    if "@" in value:
        local, _, domain = value.partition("@")
        value, tail = local, f"{number}@{domain}"
    else:
        tail = f" {number}" if " " in value else str(number)
    if limit is None:
        return value + tail
    return (value[:max(0, limit - len(tail))] + tail)[:limit]
