"""The plan of one table: a generator per column (or per foreign key), the rules rows must keep.

Who fills a column: a module's factory; the database (generated columns,
identities and sequences nobody points at, volatile defaults such as ``now()``);
a foreign key's parents; or a generator inferred from the column. Everything the
constraints say goes into the plan: CHECK rules shape the generators, column
comparisons and opaque CHECKs are kept for the builder, uniques too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..db.catalog import Catalog, Column, ForeignKey, Table
from .constraints import Comparison, OpaqueCheck, RowCheck, Rules, apply_check, apply_partitions, check_body
from .distributions import Distribution, declared_slot
from .fakes import FakerPools, kind_for_text
from .generators import Generator, Nullable, Sequential
from .inference import NULL_RATE, PlanError, hard_bounds, infer_generator, translation_locales
from .keyslots import KeySlots
from .ordering import Edge
from .partitiontree import key_columns, leaf_checks
from .references import KeyStore
from .shortcodes import short_codes
from .sqltypes import ValueType, value_type
from .uniques import ExclusionRule, UniqueKey, exclusion_rule, table_keys

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
    uniques: list[tuple[str, ...]] = field(default_factory=list)  # columns to read existing unique values by
    unique_keys: list[UniqueKey] = field(default_factory=list)  # every unique shape the rows must keep
    exclusions: list[ExclusionRule] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    opaque: list[OpaqueCheck] = field(default_factory=list)
    row_checks: list[RowCheck] = field(default_factory=list)  # CHECKs kept row by row (see rowchecks)
    limits: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # bounds re-checked after repairs
    excluded: dict[str, set[Any]] = field(default_factory=dict)  # values a CHECK forbids (x <> 0)
    sequences: dict[str, str] = field(default_factory=dict)  # column -> sequence to move past ("" = identity)
    row_factory: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None
    caps: list[tuple[int, str]] = field(default_factory=list)  # (most rows possible, why) found while planning
    capped: tuple[int, int, str] | None = None  # (rows asked, rows possible, why) when constraints cap the rows
    notes: list[str] = field(default_factory=list)  # constraints kept in a stricter form than declared

    @property
    def key(self) -> str:
        return self.table.key

    @property
    def copy_columns(self) -> list[str]:
        return [name for slot in self.slots for name in slot.columns]

    @property
    def update_key(self) -> tuple[str, ...]:
        return update_key(self.table)

    @property
    def needs_database(self) -> bool:
        """Some unique index holds functions only PostgreSQL evaluates (the builder needs a probe)."""
        return any(key.sql_keys or key.sql_where for key in self.unique_keys)


def update_key(table: Table) -> tuple[str, ...]:
    """Columns that find a row again (for the UPDATE that closes a cycle)."""
    return table.primary_key or next(iter(table.uniques), ())


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
                 max_of: Callable[[str, str], int], sample: Callable[[str, str], Any] | None = None,
                 declared: Mapping[tuple[str, str], Distribution] | None = None) -> None:
        self.catalog, self.keys, self.counts, self.broken = catalog, keys, counts, broken
        self.declared = declared or {}  # (table, column) -> its declared or --like distribution
        self.sample = sample  # (table, column) -> one non-NULL value already there (translations are detected)
        self.store, self.pools, self.factories = store, pools, factories
        self.key_slots = KeySlots(store, counts, existing)
        self.existing, self.max_of = existing, max_of
        fed: dict[str, int] = {}
        for other in keys:
            for sequence in catalog.tables[other].sequences.values():
                fed[sequence.name] = fed.get(sequence.name, 0) + 1
        # a sequence feeding several tables (an INHERITS hierarchy): devshell hands each its own ids
        self.shared_sequences = {name for name, count in fed.items() if count > 1}
        self.next_ids: dict[str, int] = {}  # sequence -> the first id no table of this run took yet
        self.referenced: dict[str, set[str]] = {}  # table -> its columns other tables' foreign keys point at
        for other in keys:
            for fk in catalog.tables[other].foreign_keys:
                self.referenced.setdefault(fk.target, set()).update(fk.ref_columns)

    def plan(self, key: str, needed_by: str | None = None) -> TablePlan:
        table = self.catalog.tables[key]
        plan = TablePlan(table, self.counts[key], self.existing(key), needed_by)
        plan.types = {name: column_type(table, name) for name in table.columns}
        rules = self._read_constraints(plan)
        referenced = self.referenced.get(key, set())
        keys = ({name for unique in plan.unique_keys if unique.plain for name in unique.columns} | referenced
                | {name for name, rule in rules.items() if rule.segments is not None or rule.choices is not None}
                | key_columns(table))
        constrained = (keys | {name for fk in table.foreign_keys for name in fk.columns}
                       | {name for check in table.checks for name in check.columns}
                       | {name for c in plan.comparisons for name in (c.left, c.right)}
                       | {name for unique in plan.unique_keys for name in unique.reads}
                       | {name for rule in plan.exclusions for name in rule.columns}
                       | {name for name, sequence in table.sequences.items() if sequence.name in self.shared_sequences})
        covered = self._foreign_keys(plan)
        self._columns(plan, rules, constrained, keys, covered)
        for name, column in table.columns.items():
            if name in plan.database_fills:
                continue
            if name in table.sequences:
                plan.sequences[name] = table.sequences[name].name
            elif sequence_of(column.default) or column.is_identity:
                plan.sequences[name] = sequence_of(column.default) or ""
        if self.factories.get((key, None)) is not None:
            plan.row_factory = self.factories[(key, None)](plan.types)
        _order_slots(plan)
        return plan

    def _read_constraints(self, plan: TablePlan) -> dict[str, Rules]:
        """CHECKs, domains and partition bounds as rules; what cannot be read stays opaque."""
        table, types = plan.table, plan.types
        rules = {name: Rules() for name in table.columns}
        references = frozenset(name for fk in table.foreign_keys for name in fk.columns)
        own = [(check.name, check.expression, tuple(check.columns)) for check in table.checks]
        own += leaf_checks(table)  # CHECKs of partitions, and the bounds of partitions below the first level
        for name, expression, columns in own:
            if not apply_check(expression, types, rules, plan.comparisons, row_checks=plan.row_checks, name=name,
                               references=references):
                plan.opaque.append(OpaqueCheck(name, check_body(expression), columns))
        for name, column in table.columns.items():
            for check in column.domain.checks if column.domain else ():
                if not apply_check(check.expression, types, rules, plan.comparisons, value_column=name,
                                   row_checks=plan.row_checks, name=check.name, references=references):
                    plan.opaque.append(OpaqueCheck(check.name, check_body(check.expression), (name, "VALUE")))
        problem = apply_partitions(table.partition_key, [p.bound for p in table.partitions], types, rules)
        if problem:
            raise PlanError(f"cannot populate partitioned table {table.key}: {problem}")
        plan.comparisons += _usual_order(table, types, plan.comparisons)
        for comparison in plan.comparisons:
            if types[comparison.left].is_ordered:
                plan.limits[comparison.left] = hard_bounds(types[comparison.left], rules[comparison.left])
        plan.excluded = {name: rule.excluded for name, rule in rules.items() if rule.excluded}
        plain = [u for u in ([table.primary_key] if table.primary_key else []) + list(table.uniques) if u]
        plan.unique_keys = table_keys(table, types, plain)
        for exclusion in table.exclusions:
            rule = exclusion_rule(exclusion, types)
            if isinstance(rule, ExclusionRule):
                plan.exclusions.append(rule)
                start, end = rule.bounds
                pair = {start, end}
                if len(pair) == 2:  # two columns: the range's bounds must be in order, on every row
                    plan.comparisons[:] = [c for c in plan.comparisons if not (c.soft and {c.left, c.right} == pair)]
                    if not any({c.left, c.right} == pair for c in plan.comparisons):
                        plan.comparisons.append(Comparison(end, ">=", start))
                        plan.limits.setdefault(end, hard_bounds(types[end], rules[end]))
            elif isinstance(rule, UniqueKey):
                plan.unique_keys.append(rule)
                plan.notes.append(f"exclusion constraint {exclusion.name} {rule.note}")
            else:
                plan.caps.append((1, f"exclusion constraint {exclusion.name} is not understood (one row cannot "
                                     "clash with another)"))
        plan.uniques = list(dict.fromkeys([unique.reads for unique in plan.unique_keys]
                                          + [rule.columns for rule in plan.exclusions]))
        return rules

    def _foreign_keys(self, plan: TablePlan) -> set[str]:
        """A slot per foreign key (keys sharing columns share one); the columns they cover."""
        broken = {edge.fk.name for edge in self.broken if edge.child == plan.key}
        made = self.key_slots.slots(plan.table, plan.existing, broken, plan.notes)
        plan.slots += [Slot(columns, generator, deferred) for columns, generator, deferred in made]
        return {name for columns, _, _ in made for name in columns}

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
            declared = self.declared.get((table.key, name))
            reason = database_fills(column, name in constrained or (declared is not None
                                                                    and not declared.from_statistics))
            if reason:
                plan.database_fills[name] = reason
                continue
            factory = self.factories.get((table.key, name))
            if factory is not None:
                plan.slots.append(Slot((name,), factory(plan.types)))
                continue
            if declared is not None:
                inferred = functools.partial(self._generator, plan, name, rules[name], sources)
                plan.slots.append(Slot((name,), declared_slot(plan, name, declared, rules[name], inferred,
                                                              self.referenced.get(table.key, ()), self.pools)))
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
            return self._ids(plan, name, rules)
        unique = any(key.plain and key.columns == (name,) for key in plan.unique_keys)
        own_sources = {kind: source for kind, source in sources.items() if source != name}
        locales = translation_locales(self.sample(table.key, name)) \
            if vtype.kind == "json" and plan.existing and self.sample is not None else None
        generator = infer_generator(table.name, name, vtype, rules, self.pools, sources=own_sources,
                                    default=column.default, needed=(plan.count + plan.existing) * 2 if unique else 0,
                                    columns=tuple(table.columns), locales=locales)
        if any(key.plain and name in key.columns for key in plan.unique_keys):
            generator = short_codes(generator, vtype.sql_type) or generator
        return generator

    def _ids(self, plan: TablePlan, name: str, rules: Rules) -> Sequential:
        """Consecutive ids: after the existing rows, where the column's sequence would go on (past the ids
        other tables of this run took from it), inside the CHECKs' range; fewer rows if they do not fit."""
        table, vtype = plan.table, plan.types[name]
        sequence = table.sequences.get(name)
        start = max((self.max_of(table.key, name) if plan.existing else 0) + 1, rules.low or 1)
        high = int(min(vtype.high, rules.high) if rules.high is not None else vtype.high)  # type: ignore[type-var, arg-type]
        if sequence is not None and sequence.increment > 0:
            start = max(start, sequence.next_value, sequence.minimum, self.next_ids.get(sequence.name, start))
            high = min(high, sequence.maximum)
            self.next_ids[sequence.name] = start + plan.count
        if start + plan.count - 1 > high:
            plan.caps.append((max(high - start + 1, 0), f"ids of {name} from {start} stop at {high}"))
        return Sequential(start)


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
