"""The CHECKs of one table kept row by row while its rows are made: repair, reject, count.

For each :class:`~.constraints.RowCheck`, a generated row that fails is repaired by
making every atom of one alternative true, the alternative drawn with the
table's seeded ``Random`` among those that can be made true: a column set to
NULL (if it may be), given a value (a range, a list), two columns put in order
(foreign keys swapped or re-drawn, never moved off their parents), or a column
re-drawn from its own generator until the atom holds. The CHECKs Python cannot
evaluate go to PostgreSQL (:mod:`.probe`). Every CHECK counts the candidate rows
it rejected, so a table that cannot be filled is blamed on the CHECKs that
actually rejected rows, with their rate.
"""

from __future__ import annotations

from collections import defaultdict
from random import Random
from typing import Any, Callable, Sequence

from .constraints import Atom, RowCheck, Rules
from .evaluate import ORDERS, RowError
from .generators import Constant, FactoryColumn, Generator, Precomputed, Row, Sequential
from .patterns import generate as make_from_pattern
from .partitiontree import key_columns
from .inference import effective_range, hard_bounds, soft_window
from .references import KeyStore, SelfTree
from .tableplan import Slot, TablePlan

REDRAWS = 16  # values a column is re-drawn from its generator to make an atom true
ROUNDS = 40  # how many times the builder makes rejected rows again
EVAL_ERRORS = (RowError, ArithmeticError, ValueError, TypeError, OverflowError, IndexError, KeyError)
Probe = Callable[[TablePlan, Any, dict[str, list[Any]]], set[int]]
PINNED = (Sequential, Precomputed, SelfTree, Constant, FactoryColumn)


class CheckKeeper:
    """Keeps the row-level and PostgreSQL-evaluated CHECKs of one table."""

    def __init__(self, plan: TablePlan, store: KeyStore, seed: int, probe: Probe | None = None) -> None:
        self.plan = plan
        self.probe = probe
        self.checks: list[RowCheck] = list(getattr(plan, "row_checks", ()))
        self.rng = Random(f"{seed}:{plan.key}:checks")
        self.chunk = 1  # the most rows checked at once (a chunk's first round)
        self.tried: dict[str, int] = defaultdict(int)
        self.rejected: dict[str, int] = defaultdict(int)
        self.referenced = {name for table, columns in store.wanted() if table == plan.key for name in columns}
        self.partition_columns = key_columns(plan.table)  # every level's
        self.columns = [self._row_columns(check) for check in self.checks]  # a domain's CHECK may come twice
        self.sources: dict[str, tuple[Slot, Generator] | None] = {}
        self.nullable: dict[tuple[str, str], bool] = {}
        self.merged: dict[tuple[str, int], Rules] = {}

    def _row_columns(self, check: RowCheck) -> tuple[str, ...]:
        """The check's columns and those filled together with them (a composite foreign key)."""
        names = list(check.columns)
        for name in check.columns:
            slot = self._slot(name)
            names += slot.columns if slot is not None else ()
        return tuple(dict.fromkeys(names))

    def _slot(self, name: str) -> Slot | None:
        return next((slot for slot in self.plan.slots if name in slot.columns), None)

    # -- counting ----------------------------------------------------------------------------
    def _count(self, name: str, tried: int, rejected: int) -> None:
        self.tried[name] += tried
        self.rejected[name] += rejected

    def rates(self) -> dict[str, float]:
        """CHECK name -> share of the candidate rows it rejected so far."""
        return {name: self.rejected[name] / tried for name, tried in self.tried.items() if tried}

    def blame(self, rounds: int = ROUNDS) -> list[str]:
        """``CHECK c rejected 97% of candidate rows`` for each CHECK that rejects so many rows that, alone, it
        would leave some unmade after *rounds* retries (the worst one if none does), worst first."""
        rates = sorted(((rate, name) for name, rate in self.rates().items() if self.rejected[name]), reverse=True)
        hopeless = [(rate, name) for rate, name in rates if rate ** rounds * self.chunk >= 0.5]
        return [f"CHECK {name} rejected {percent(rate)} of candidate rows" for rate, name in hopeless or rates[:1]]

    # -- rows ----------------------------------------------------------------------------------
    def repair(self, values: Row, rows: Sequence[int]) -> None:
        """Repair in place the rows of a fresh chunk that fail a row check."""
        for check, columns in zip(self.checks, self.columns):
            present = [name for name in columns if name in values]
            for position in range(len(rows)):
                row = {name: values[name][position] for name in present}
                if check.holds(row):
                    continue
                fixed = self._fix(check, row)
                if fixed is not None:
                    for name in present:
                        values[name][position] = fixed[name]

    def violations(self, values: Row, positions: list[int]) -> set[int]:
        """Which of *positions* a CHECK rejects (row checks in Python, the others in PostgreSQL)."""
        bad: set[int] = set()
        self.chunk = max(self.chunk, len(positions))
        for check in self.checks:
            present = [name for name in check.columns if name in values]
            rejected = [p for p in positions if not check.holds({name: values[name][p] for name in present})]
            self._count(check.name, len(positions), len(rejected))
            bad.update(rejected)
        if self.probe is not None and positions:
            for opaque in self.plan.opaque:
                subset = {name: [values[name][p] for p in positions] for name in self.plan.copy_columns
                          if name in values}  # a deferred foreign key has no values yet
                found = {positions[i] for i in self.probe(self.plan, opaque, subset)}
                self._count(opaque.name, len(positions), len(found))
                bad.update(found)
        return bad

    def _fix(self, check: RowCheck, row: dict[str, Any]) -> dict[str, Any] | None:
        """A copy of *row* repaired by one alternative of *check*, or None when none works.

        Alternatives are tried in random order, so each shows up in the data (``ended`` artists with an
        end date, others with none). On one column (``x IS NULL OR x % 5 = 0``) a value is fixed before
        it is wiped to NULL: how often the column is NULL is its generator's business.
        """
        count = len(check.branches)
        first = int(self.rng.random() * count)
        single = len(check.columns) == 1
        costs = [sum(atom.action == "null" and not _true(atom, row) for atom in branch) if single else 0
                 for branch in check.branches]
        for index in sorted(range(count), key=lambda i: (costs[i], (i - first) % count)):
            trial = dict(row)
            if self._satisfy(check.branches[index], trial, check) and check.holds(trial):
                return trial
        return None

    def _satisfy(self, branch: list[Atom], trial: dict[str, Any], check: RowCheck) -> bool:
        for _ in range(2):  # a repair may undo an earlier atom of the branch: one more pass
            done = True
            for atom in branch:
                if _true(atom, trial):
                    continue
                done = False
                if not self._make_true(atom, trial, check):
                    return False
            if done:
                return True
        return all(_true(atom, trial) for atom in branch)

    def _make_true(self, atom: Atom, trial: dict[str, Any], check: RowCheck) -> bool:
        name = atom.column
        if atom.action == "null" and name is not None:
            if not self._may_be_null(name, check):
                return False
            trial[name] = None
            return True
        if atom.action == "notnull" and name is not None:
            return trial.get(name) is not None or self._redraw(name, trial, lambda: trial.get(name) is not None)
        if atom.action == "draw" and name is not None and atom.allowed is not None and self._generator(name):
            value = self._draw(name, atom.allowed, check)
            if value is not None:
                trial[name] = value
                if _true(atom, trial):
                    return True
        if atom.action == "pair" and self._pair(atom, trial, check):
            return True
        return any(self._redraw(column, trial, lambda: _true(atom, trial)) for column in atom.columns)

    def _generator(self, name: str) -> tuple[Slot, Generator] | None:
        """The slot and generator a column can be re-drawn from (None: its values are fixed)."""
        if name not in self.sources:  # known once the builder has prepared its slots (first chunk)
            self.sources[name] = self._find_generator(name)
        return self.sources[name]

    def _find_generator(self, name: str) -> tuple[Slot, Generator] | None:
        slot = self._slot(name)
        if slot is None or slot.deferred is not None:
            return None
        generator = getattr(slot.generator, "inner", slot.generator)
        if isinstance(generator, PINNED) or isinstance(slot.generator, PINNED):
            return None
        return slot, generator

    def _may_be_null(self, name: str, check: RowCheck) -> bool:
        key = (name, check.name)
        if key not in self.nullable:
            self.nullable[key] = self._nullable(name, check)
        return self.nullable[key]

    def _nullable(self, name: str, check: RowCheck) -> bool:
        column = self.plan.table.columns.get(name)
        rule = check.rules.get(name)
        return (column is not None and column.nullable and self._generator(name) is not None
                and not (rule is not None and rule.not_null) and name not in self.referenced
                and name not in self.partition_columns)

    def _redraw(self, name: str, trial: dict[str, Any], accept: Callable[[], bool]) -> bool:
        """Draw *name* (and its slot) again until *accept()*; the row is left as it was otherwise."""
        found = self._generator(name)
        if found is None:
            return False
        slot, generator = found
        before = {column: trial.get(column) for column in slot.columns}
        for value in generator.generate(self.rng, range(REDRAWS), {}):
            if value is None:
                continue
            if len(slot.columns) == 1:
                trial[name] = value
            else:
                trial.update(zip(slot.columns, value))
            try:
                if accept():
                    return True
            except EVAL_ERRORS:
                pass
        trial.update(before)
        return False

    def _draw(self, name: str, allowed: Rules, check: RowCheck) -> Any:
        """A value inside *allowed* and the column's own rules, drawn near where the column's values lie."""
        rule = self.merged.get((name, id(allowed)))
        if rule is None:
            rule = self.merged[(name, id(allowed))] = Rules()
            rule.merge(check.rules.get(name, Rules()))
            rule.merge(allowed)
        vtype = check.types[name]
        if rule.segments is not None:
            return None  # a partition key: only values of an existing partition will do
        if rule.choices is not None:
            options = [value for value in rule.choices if value not in rule.excluded
                       and (vtype.kind != "enum" or value in vtype.labels)]
            return self.rng.choice(options) if options else None
        if rule.pattern is not None and vtype.kind == "text":
            high = min(rule.max_length or vtype.max_length or 64, vtype.max_length or 64)
            return make_from_pattern(rule.pattern, self.rng, 1, rule.min_length, high)[0]
        if not vtype.is_ordered:
            return None
        low, high = hard_bounds(vtype, rule)
        if low is None or high is None or low > high:
            return None
        low, high = effective_range((low, high), soft_window(vtype, name))
        if vtype.kind == "float":
            return low + self.rng.random() * (high - low)
        return self.rng.randint(int(low), int(high))

    def _pair(self, atom: Atom, trial: dict[str, Any], check: RowCheck) -> bool:
        """``a op b``: both set, then swapped, moved next to each other, or re-drawn."""
        left, right = atom.column, atom.other
        if left is None or right is None:
            return False
        for name in (left, right):
            if trial.get(name) is None and not self._redraw(name, trial, lambda: trial.get(name) is not None):
                return False
        if _true(atom, trial):
            return True
        if atom.op in ORDERS and len(self._slot_columns(left)) == 1 == len(self._slot_columns(right)) \
                and self._generator(left) and self._generator(right):
            trial[left], trial[right] = trial[right], trial[left]
            if _true(atom, trial) and self._swappable(left, right, check):
                return True
            trial[left], trial[right] = trial[right], trial[left]
        for moved, fixed in ((left, right), (right, left)):
            if moved in self.referenced or self._is_reference(moved) or not self._generator(moved):
                continue
            allowed = _relative(atom.op if moved == left else _flip(atom.op), trial[fixed], check.types[moved])
            if allowed is not None:
                value = self._draw(moved, allowed, check)
                if value is not None:
                    trial[moved] = value
                    if _true(atom, trial):
                        return True
        return False

    def _slot_columns(self, name: str) -> tuple[str, ...]:
        slot = self._slot(name)
        return slot.columns if slot is not None else ()

    def _is_reference(self, name: str) -> bool:
        return any(name in fk.columns for fk in self.plan.table.foreign_keys)

    def _swappable(self, left: str, right: str, check: RowCheck) -> bool:
        """Swapping is only safe when both columns take values from the same place: one parent
        table's key, or the same rules."""
        targets = [next(((fk.target, fk.ref_columns) for fk in self.plan.table.foreign_keys
                         if fk.columns == (name,)), None) for name in (left, right)]
        if targets[0] is not None or targets[1] is not None:
            return targets[0] == targets[1]
        return check.rules.get(left) == check.rules.get(right) and check.types[left] == check.types[right]


def _true(atom: Atom, trial: dict[str, Any]) -> bool:
    try:
        return atom.test(trial) is True
    except EVAL_ERRORS:
        return False


def _flip(op: str) -> str:
    return {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)


def _relative(op: str, other: Any, vtype: Any) -> Rules | None:
    """What ``value op other`` allows, in the internal form of an ordered column."""
    if other is None or not vtype.is_ordered:
        return None
    step: Any = 1e-4 * max(1.0, abs(other)) if vtype.kind == "float" else 1
    bounds = {"=": (other, other), "<": (None, other - step), "<=": (None, other),
              ">": (other + step, None), ">=": (other, None)}.get(op)
    return None if bounds is None else Rules(low=bounds[0], high=bounds[1])


def percent(rate: float) -> str:
    """``0.97`` -> ``97%``; never ``0%`` for a rate above zero."""
    if 0 < rate < 0.005:
        return "<1%"
    return f"{min(round(rate * 100), 99) if rate < 1 else 100}%"
