"""The plan of one table: a generator per column (or per foreign key), the rules rows must keep.

Who fills a column: a module's factory; the database (generated columns,
identities and sequences nobody points at, volatile defaults such as ``now()``);
a foreign key's parents; or a generator inferred from the column. Everything the
constraints say goes into the plan: CHECK rules shape the generators, column
comparisons and opaque CHECKs are kept for the builder, uniques too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..db.catalog import Catalog, Column, ForeignKey, Table
from .constraints import Comparison, OpaqueCheck, Rules, apply_check, apply_partitions, check_body
from .fakes import FakerPools, kind_for_text
from .generators import Constant, Generator, Nullable, Sequential
from .inference import NULL_RATE, PlanError, hard_bounds, infer_generator
from .ordering import Edge
from .references import ForeignKeyValues, KeyStore, SelfTree
from .sqltypes import ValueType, value_type

VOLATILE = re.compile(r"now\(\)|current_(date|time|timestamp)|localtime|clock_timestamp|statement_timestamp|"
                      r"transaction_timestamp|gen_random_uuid|uuid_generate|random\(\)", re.IGNORECASE)
NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'(?:::regclass)?\)")
END_NAMES = re.compile(r"(^|_)(end|ends|ended|finish|finished|return|returned|close|closed|due|expir\w*|"
                       r"until|to|stop|stopped|departure|checkout|updated|modified|changed)($|_)", re.IGNORECASE)
START_NAMES = re.compile(r"(^|_)(start|starts|started|begin|begins|from|since|created|opened|issued|rental|"
                         r"order|ordered|placed|arrival|checkin|at)($|_)", re.IGNORECASE)

FactoryMap = dict[tuple[str, "str | None"], Callable[[dict[str, ValueType]], Any]]


@dataclass
class Slot:
    """Columns filled by one generator (several for a multi-column foreign key)."""

    columns: tuple[str, ...]
    generator: Generator
    deferred: ForeignKey | None = None  # loaded as NULL, set by an UPDATE once its parent exists


@dataclass
class TablePlan:
    table: Table
    count: int
    existing: int = 0
    needed_by: str | None = None  # added because this table's NOT NULL foreign key needs rows
    types: dict[str, ValueType] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)
    database_fills: dict[str, str] = field(default_factory=dict)  # column -> why the database fills it
    uniques: list[tuple[str, ...]] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    opaque: list[OpaqueCheck] = field(default_factory=list)
    limits: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # bounds re-checked after repairs
    excluded: dict[str, set[Any]] = field(default_factory=dict)  # values a CHECK forbids (x <> 0)
    sequences: dict[str, str] = field(default_factory=dict)  # column -> sequence to move past ("" = identity)
    row_factory: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None

    @property
    def key(self) -> str:
        return self.table.key

    @property
    def copy_columns(self) -> list[str]:
        return [name for slot in self.slots for name in slot.columns]

    @property
    def update_key(self) -> tuple[str, ...]:
        return update_key(self.table)


def update_key(table: Table) -> tuple[str, ...]:
    """Columns that find a row again (for the UPDATE that closes a cycle)."""
    return table.primary_key or next(iter(table.uniques), ())


def nullable_key(table: Table, fk: ForeignKey) -> bool:
    return all(table.columns[name].nullable for name in fk.columns)


def column_type(table: Table, name: str) -> ValueType:
    column = table.columns[name]
    element = None
    if column.is_array and column.element_type:
        element = value_type(column.element_type, labels=tuple(column.enum_values or ()))
    base = column.domain.base_type if column.domain else column.type
    return value_type(base if not column.is_array else column.type, max_length=column.max_length,
                      precision=column.numeric_precision, scale=column.numeric_scale,
                      labels=tuple(column.enum_values or ()) if not column.is_array else (), element=element)


def sequence_of(default: str | None) -> str | None:
    match = NEXTVAL.search(default or "")
    return match.group(1).replace("''", "'") if match else None


def database_fills(column: Column, constrained: bool) -> str | None:
    """Why the database, not devshell, fills this column (None: devshell generates it)."""
    if column.is_generated:
        return "generated column"
    if constrained:
        return None
    if column.is_identity:
        return "identity"
    default = column.default or (column.domain.default if column.domain else None) or ""
    if sequence_of(default):
        return "sequence default"
    if VOLATILE.search(default):
        return f"default {default}"
    return None


class TablePlanner:
    """Plans the tables of one run; they share the key store, the Faker pools and the counts."""

    def __init__(self, catalog: Catalog, keys: list[str], counts: dict[str, int], broken: list[Edge],
                 store: KeyStore, pools: FakerPools, factories: FactoryMap, existing: Callable[[str], int],
                 max_of: Callable[[str, str], int]) -> None:
        self.catalog, self.keys, self.counts, self.broken = catalog, keys, counts, broken
        self.store, self.pools, self.factories = store, pools, factories
        self.existing, self.max_of = existing, max_of

    def plan(self, key: str, needed_by: str | None = None) -> TablePlan:
        table = self.catalog.tables[key]
        plan = TablePlan(table, self.counts[key], self.existing(key), needed_by)
        plan.types = {name: column_type(table, name) for name in table.columns}
        rules = self._read_constraints(plan)
        referenced = {name for other in self.keys for fk in self.catalog.tables[other].foreign_keys
                      if fk.target == key for name in fk.ref_columns}
        keys = ({name for unique in plan.uniques for name in unique} | referenced
                | {name for name, rule in rules.items() if rule.segments is not None or rule.choices is not None})
        constrained = (keys | {name for fk in table.foreign_keys for name in fk.columns}
                       | {name for check in table.checks for name in check.columns}
                       | {name for c in plan.comparisons for name in (c.left, c.right)})
        covered = self._foreign_keys(plan)
        self._columns(plan, rules, constrained, keys, covered)
        for name, column in table.columns.items():
            if name not in plan.database_fills and (sequence_of(column.default) or column.is_identity):
                plan.sequences[name] = sequence_of(column.default) or ""
        if self.factories.get((key, None)) is not None:
            plan.row_factory = self.factories[(key, None)](plan.types)
        _order_slots(plan)
        return plan

    def _read_constraints(self, plan: TablePlan) -> dict[str, Rules]:
        """CHECKs, domains and partition bounds as rules; what cannot be read stays opaque."""
        table, types = plan.table, plan.types
        rules = {name: Rules() for name in table.columns}
        for check in table.checks:
            if not apply_check(check.expression, types, rules, plan.comparisons):
                plan.opaque.append(OpaqueCheck(check.name, check_body(check.expression), tuple(check.columns)))
        for name, column in table.columns.items():
            for check in column.domain.checks if column.domain else ():
                if not apply_check(check.expression, types, rules, plan.comparisons, value_column=name):
                    plan.opaque.append(OpaqueCheck(check.name, check_body(check.expression), (name, "VALUE")))
        problem = apply_partitions(table.partition_key, [p.bound for p in table.partitions], types, rules)
        if problem:
            raise PlanError(f"cannot populate partitioned table {table.key}: {problem}")
        plan.comparisons += _usual_order(table, types, plan.comparisons)
        for comparison in plan.comparisons:
            if types[comparison.left].is_ordered:
                plan.limits[comparison.left] = hard_bounds(types[comparison.left], rules[comparison.left])
        plan.excluded = {name: rule.excluded for name, rule in rules.items() if rule.excluded}
        plan.uniques = [u for u in ([table.primary_key] if table.primary_key else []) + list(table.uniques) if u]
        return rules

    def _foreign_keys(self, plan: TablePlan) -> set[str]:
        """A slot per foreign key: parents' keys (skewed), a tree for a self-reference; the columns covered."""
        table, covered = plan.table, set()
        broken = {edge.fk.name for edge in self.broken if edge.child == table.key}
        for fk in table.foreign_keys:
            if set(fk.columns) & covered:
                continue  # a column shared by two foreign keys follows the first
            covered.update(fk.columns)
            nullable = nullable_key(table, fk)
            parent_rows = self.counts.get(fk.target, 0) + self.existing(fk.target)
            if fk.target == table.key:
                generator: Generator = SelfTree(self.store, table.key, fk.ref_columns, nullable, plan.existing)
            elif parent_rows > 0:
                generator = ForeignKeyValues(self.store, fk.target, fk.ref_columns, planned=parent_rows)
                if nullable:
                    generator = Nullable(generator, NULL_RATE)
            elif nullable:
                generator = Constant(None, f"NULL ({fk.target} has no rows)")
            else:
                raise PlanError(f"table {table.key} needs rows in {fk.target} (foreign key {fk.name}); "
                                f"populate {fk.target} too")
            self.store.keys(fk.target, fk.ref_columns)  # the parent's builder publishes them
            plan.slots.append(Slot(fk.columns, generator, deferred=fk if fk.name in broken else None))
        return covered

    def _columns(self, plan: TablePlan, rules: dict[str, Rules], constrained: set[str], keys: set[str],
                 covered: set[str]) -> None:
        """Generators for the other columns; *constrained* ones are never left to a default, *keys*
        (uniques, referenced, partition keys) are never NULL."""
        table = plan.table
        sources = {kind: name for name in table.columns for kind in [kind_for_text(table.name, name)]
                   if kind in ("first_name", "last_name", "full_name")}
        for name, column in table.columns.items():
            if name in covered:
                continue
            reason = database_fills(column, name in constrained)
            if reason:
                plan.database_fills[name] = reason
                continue
            factory = self.factories.get((table.key, name))
            if factory is not None:
                plan.slots.append(Slot((name,), factory(plan.types)))
                continue
            if _unsupported(plan.types[name]):
                if column.nullable or column.default:
                    reason = "its default" if column.default else "NULL"
                    plan.database_fills[name] = f"{reason}: devshell makes no {plan.types[name].sql_type} values"
                    continue
                raise PlanError(f"column {table.key}.{name}: devshell cannot make values of type "
                                f"{plan.types[name].sql_type} (give it a default, make it nullable, "
                                "or add a factory for it in a module)")
            generator = self._generator(plan, name, rules[name], sources)
            if column.nullable and not rules[name].not_null and name not in keys and not column.default:
                generator = Nullable(generator, NULL_RATE)
            plan.slots.append(Slot((name,), generator))

    def _generator(self, plan: TablePlan, name: str, rules: Rules, sources: dict[str, str]) -> Generator:
        table, vtype = plan.table, plan.types[name]
        column = table.columns[name]
        serial = column.is_identity or sequence_of(column.default)
        if vtype.kind == "int" and rules.choices is None and \
                (serial or (table.primary_key == (name,) and not column.default)):
            start = max((self.max_of(table.key, name) if plan.existing else 0) + 1, rules.low or 1)
            last = start + plan.count - 1
            high = min(vtype.high, rules.high) if rules.high is not None else vtype.high
            if last > high:
                raise PlanError(f"table {table.key}: ids {start}..{last} do not fit column {name} "
                                f"(at most {high}); use a smaller --size")
            return Sequential(start)
        unique = any(unique == (name,) for unique in plan.uniques)
        own_sources = {kind: source for kind, source in sources.items() if source != name}
        return infer_generator(table.name, name, vtype, rules, self.pools, sources=own_sources,
                               default=column.default, needed=(plan.count + plan.existing) * 2 if unique else 0)


def _unsupported(vtype: ValueType) -> bool:
    return vtype.kind == "unknown" or (vtype.element is not None and vtype.element.kind == "unknown")


def _usual_order(table: Table, types: dict[str, ValueType], known: list[Comparison]) -> list[Comparison]:
    """``return_date >= rental_date`` even without a CHECK saying so: an end follows its start."""
    pairs = {(c.left, c.right) for c in known} | {(c.right, c.left) for c in known}
    out = []
    for end in table.columns:
        if types[end].kind not in ("date", "timestamp") or not END_NAMES.search(end):
            continue
        start = next((name for name in table.columns if name != end and types[name].kind == types[end].kind
                      and START_NAMES.search(name) and not END_NAMES.search(name)), None)
        if start is not None and (end, start) not in pairs:
            out.append(Comparison(end, ">=", start, soft=True))
    return out


def _order_slots(plan: TablePlan) -> None:
    """Slots whose generators read other columns (emails, trees) after those columns."""
    produced = {name for slot in plan.slots for name in slot.columns}
    done: set[str] = set()
    ordered: list[Slot] = []
    pending = list(plan.slots)
    while pending:
        ready = next((slot for slot in pending
                      if all(dep in done for dep in slot.generator.depends if dep in produced)), pending[0])
        ordered.append(ready)
        done.update(ready.columns)
        pending.remove(ready)
    plan.slots = ordered


def check_capacity(plan: TablePlan) -> None:
    """A unique constraint over fewer distinct values than rows is an error now, not mid-load."""
    by_column = {name: slot.generator for slot in plan.slots for name in slot.columns}
    needed = plan.count + plan.existing
    for unique in plan.uniques:
        capacity: int | None = 1
        for name in unique:
            generator = by_column.get(name)
            size = None if generator is None or generator.distinct else getattr(generator, "inner", generator).capacity
            if size is None:
                capacity = None
                break
            capacity *= size
        if capacity is not None and capacity < needed:
            raise PlanError(f"table {plan.key}: {needed} rows cannot all differ on ({', '.join(unique)}), which "
                            f"allows only {capacity} distinct value{'s' if capacity != 1 else ''}; use a smaller "
                            f"--size or give {plan.key} a smaller count")
