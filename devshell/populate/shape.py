"""What a run's rows look like beyond the schema: row counts and column distributions.

They come, in this order (a later one wins, per table for counts and per column
for distributions), from the installed modules' manifests, ``--like SOURCE``
(SOURCE's statistics; ``--scale`` is then the share of its rows), ``--spec FILE``
and, without ``--like``, ``--scale N`` (N times the rows already in each table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..errors import UsageError
from .distributions import Distribution
from .spec import TableSpec, bind, read_spec_file

if TYPE_CHECKING:
    from ..db.catalog import Catalog
    from ..db.connection import ServerAddress


@dataclass
class ShapeOptions:
    """The shape a caller asked for (``populate(like=…, like_values=…, scale=…, spec=…)``)."""

    like: str | None = None
    like_values: str = "categorical"
    scale: float | None = None
    spec: str | None = None

    def check(self, size_given: bool) -> None:
        """Usage errors, before anything starts."""
        from .like import VALUES

        if self.scale is not None and not self.scale > 0:
            raise UsageError(f"--scale {self.scale:g}: give a number above 0 (2 adds twice the rows there are; "
                             "with --like, 0.01 makes 1% of SOURCE's rows)")
        if self.scale is not None and self.like is None and size_given:
            raise UsageError("--scale and --size both say how many rows to add: give one of them")
        if self.like_values not in VALUES:
            raise UsageError(f"--like-values {self.like_values!r}: use {', '.join(VALUES)}")


@dataclass
class Shape:
    counts: dict[str, TableSpec] = field(default_factory=dict)  # table key -> rows (planner.table_count)
    declared: dict[tuple[str, str], Distribution] = field(default_factory=dict)
    tables: list[str] | None = None  # the tables to fill, when --like or --scale leave some without rows
    notes: list[str] = field(default_factory=list)


def shape_run(catalog: "Catalog", manifests: dict[str, TableSpec], existing: Callable[[str], int],
              options: ShapeOptions, *, tables: list[str] | None, locale: str,
              address: "ServerAddress | None") -> Shape:
    """Counts and distributions of one run (see the module's docstring for who wins)."""
    counts, declared = bind(manifests, catalog, locale, "a module's manifest")
    shape = Shape(counts, declared, tables)
    emptied: set[str] = set()
    if options.like is not None:
        from .like import like_shape, read_source

        assert address is not None, "--like needs the server address"
        source = read_source(options.like, address, list(catalog.schemas))
        rows, columns, shape.notes = like_shape(source, catalog, scale=options.scale or 1.0,
                                                values=options.like_values)
        _lay(counts, {key: TableSpec(count=count) for key, count in rows.items()})
        declared.update(columns)
        emptied = {key for key, count in rows.items() if count == 0}
    if options.spec is not None:
        specs, columns = bind(read_spec_file(options.spec), catalog, locale, f"--spec {options.spec}")
        _lay(counts, specs)
        declared.update(columns)
    if options.scale is not None and options.like is None:
        added = {key: round(existing(key) * options.scale) for key in catalog.tables}
        if not any(added.values()):
            raise UsageError("--scale adds rows in proportion to those already there, and there are none: "
                             "use --size to fill an empty database")
        _lay(counts, {key: TableSpec(count=count) for key, count in added.items()})
        emptied = {key for key, count in added.items() if count == 0}
    if emptied:
        wanted = [catalog.table(name).key for name in tables] if tables else list(catalog.tables)
        shape.tables = [key for key in wanted if key not in emptied and not catalog.tables[key].name.startswith(
            "devshell_")]
        if not shape.tables:
            raise UsageError("no rows to add: the tables asked for have no rows to imitate")
    return shape


def _lay(counts: dict[str, TableSpec], new: dict[str, TableSpec]) -> None:
    for key, spec in new.items():
        counts[key] = counts[key].merged(spec) if key in counts else spec
