"""The populate plan: which tables, how many rows, in what order, and a generator per column.

Everything that can make a run impossible is found here, before a single row is
written: an unknown table, a CHECK that allows nothing, a unique constraint over
fewer distinct values than rows, a cycle of NOT NULL foreign keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

from ..db.catalog import Catalog
from ..errors import DevshellError, UsageError
from .failures import unexpected_reason
from .fakes import FakerPools
from .ordering import Edge, closure, load_order
from .references import KeyStore
from .capacity import apply_capacity
from .keyslots import nullable_key
from .distributions import Distribution
from .spec import TableSpec
from .tableplan import FactoryMap, TablePlan, TablePlanner, update_key

SIZES = {"small": 10, "medium": 100, "large": 1000}
SKIPPED_PREFIX = "devshell_"  # devshell's own tables (modules, users, this run's record) are never filled


@dataclass
class Plan:
    tables: list[TablePlan]  # in load order
    broken: list[Edge]  # foreign keys loaded as NULL and filled by UPDATE (cycles)
    store: KeyStore
    seed: int
    size: str
    locale: str
    failures: dict[str, str] = field(default_factory=dict)  # table left out -> why it cannot be planned
    key_checks: str = ""  # how the load checks the foreign keys, when not simply row by row (the summary says)

    @property
    def capped(self) -> dict[str, tuple[int, int, str]]:
        """Tables whose constraints cap their rows: table -> (rows asked, rows made, why)."""
        return {table.key: table.capped for table in self.tables if table.capped is not None}

    @property
    def total_rows(self) -> int:
        return sum(table.count for table in self.tables)


def parse_size(size: str | int) -> tuple[str, int]:
    """``"medium"`` -> ("medium", 100); ``"250"`` or 250 -> ("250", 250)."""
    text = str(size).strip().lower()
    if text in SIZES:
        return text, SIZES[text]
    if text.isdigit():
        return text, int(text)
    raise UsageError(f"invalid size {size!r}: use small, medium, large or a number of rows per table")


def table_count(key: str, size: str, base: int, overrides: dict[str, Any], counts: dict[str, int]) -> int:
    """Rows for *key*: a module's count for this size (or ``{"per": table, "count": n}`` rows per
    parent row), else *base*. An explicit number of rows (``--size 500``) applies to every table."""
    spec = overrides.get(key)
    if isinstance(spec, TableSpec):  # a manifest, --spec, --like or --scale (see .spec, .shape)
        return spec.rows(size, base, counts)
    if spec is None or size not in SIZES:
        return base
    if isinstance(spec, dict) and "per" in spec:
        return counts.get(spec["per"], base) * int(spec.get("count", 1))
    if isinstance(spec, dict):
        return int(spec.get(size, base))
    return int(spec)


def select_tables(catalog: Catalog, names: list[str] | None) -> list[str]:
    """Catalog keys of the tables asked for (all but devshell's own when *names* is empty)."""
    if not names:
        return sorted(key for key, table in catalog.tables.items() if not table.name.startswith(SKIPPED_PREFIX))
    keys = []
    for name in names:
        table = catalog.table(name)
        if table.key not in keys:
            keys.append(table.key)
    return keys


def plan_population(catalog: Catalog, existing: Callable[[str], int], max_of: Callable[[str, str], int], *,
                    size: str | int = "small", seed: int = 0, tables: list[str] | None = None,
                    locale: str = "en_US", overrides: dict[str, Any] | None = None,
                    factories: FactoryMap | None = None, pools: FakerPools | None = None,
                    exclude: Collection[str] = (), debug: bool = False,
                    declared: Mapping[tuple[str, str], Distribution] | None = None,
                    sample: Callable[[str, str], Any] | None = None) -> Plan:
    """Decide everything; *existing(table)* counts rows already there, *max_of(table, column)* their max.

    A table that cannot be planned is left out with the reason in ``Plan.failures``
    (tables in *exclude* are left out from the start); the others are planned
    without its rows. *debug* lets an unexpected exception through. *sample(table, column)*: one value
    already in the column (json translations are detected from it). *declared*: column distributions
    by (table, column), from a manifest, ``--spec`` or ``--like`` (see :mod:`.shape`).
    """
    size_name, base = parse_size(size)
    overrides = overrides or {}
    selected = [key for key in select_tables(catalog, tables) if key not in exclude]

    def needed_parents(key: str) -> list[str]:
        """Empty parents a NOT NULL foreign key of *key* points at: they must be filled too."""
        table = catalog.tables[key]
        return [fk.target for fk in table.foreign_keys
                if fk.target in catalog.tables and fk.target != key and not nullable_key(table, fk)
                and existing(fk.target) == 0 and fk.target not in exclude]

    added = closure(selected, needed_parents)
    keys = selected + sorted(added)
    edges = [Edge(key, fk.target, fk, nullable_key(catalog.tables[key], fk), bool(update_key(catalog.tables[key])))
             for key in keys for fk in catalog.tables[key].foreign_keys if fk.target in keys]
    order, broken = load_order(keys, edges)
    counts: dict[str, int] = {}
    for key in order:
        counts[key] = table_count(key, size_name, base, overrides, counts)
    store = KeyStore()
    planner = TablePlanner(catalog, keys, counts, broken, store, pools or FakerPools(locale, seed), factories or {},
                           existing, max_of, sample, declared)
    plans, failures = [], {}
    for key in order:
        try:
            plan = planner.plan(key, added.get(key))
            apply_capacity(plan)
            counts[key] = plan.count  # a capped table: its children pick among the rows it really gets
            plans.append(plan)
        except Exception as exc:  # this table cannot be planned: say why, plan the others (no rows from it)
            if debug and not isinstance(exc, DevshellError):
                raise
            failures[key] = exc.message if isinstance(exc, DevshellError) else \
                unexpected_reason(exc, catalog.tables[key].columns)
            counts[key] = 0
    return Plan(plans, broken, store, seed, size_name, locale, failures)
