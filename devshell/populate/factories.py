"""What installed modules add to populate: row counts from manifests, factories from their code.

A module's manifest may say how many rows a table gets::

    "populate": {"library_book": {"small": 20, "large": 5000}, "library_tag": 12}

or how its columns' values are spread (see :mod:`.spec`)::

    "populate": {"library_loan": {"per": "library_book", "count": 3,
                                  "columns": {"days": "normal(14, 4)", "state": {"open": 0.2, "done": 0.8}}}}

and its code may take over a column or whole rows::

    from devshell import addon

    @addon.factory("library_book", column="isbn")
    def isbn(ctx):               # ctx.faker, ctx.random, ctx.row (values so far), ctx.index
        return ctx.faker.isbn13()

    @addon.factory("library_member")
    def member(ctx):             # a dict of column values for the row (others are still generated)
        return {"status": ctx.random.choice(["active", "lapsed"])}

A factory may also take no argument. Values are plain Python values (str, int,
Decimal, date, datetime…). Factories run once per row, so they cost what Faker
costs; the schema-inferred generators stay for every other column.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING, Any, Callable

from .generators import FactoryColumn, Generator
from .inference import PlanError
from .spec import SpecError, table_spec
from .sqltypes import ValueType
from .tableplan import FactoryMap

if TYPE_CHECKING:
    from ..db.catalog import Catalog
    from ..modules.discovery import AddonsPath



@dataclass
class FactoryContext:
    """What a module factory receives for each row."""

    table: str
    column: str | None
    index: int  # the row's number in this run (0, 1, …)
    row: dict[str, Any]  # values already made for this row
    random: Random
    faker: Any


class _Faker:
    """One seeded Faker for the module factories of a run, made on first use."""

    def __init__(self, locale: str, seed: int) -> None:
        self.locale, self.seed = locale, seed
        self.instance: Any = None

    def get(self) -> Any:
        if self.instance is None:
            from faker import Faker

            self.instance = Faker(self.locale)
            self.instance.seed_instance(self.seed)
        return self.instance


def _caller(function: Callable[..., Any]) -> Callable[[FactoryContext], Any]:
    try:
        takes_nothing = not inspect.signature(function).parameters
    except (TypeError, ValueError):
        takes_nothing = False
    return (lambda ctx: function()) if takes_nothing else function


def _adapter(function: Callable[..., Any], module: str, table: str, column: str | None, faker: _Faker,
             seed: int) -> Callable[[dict[str, ValueType]], Any]:
    call = _caller(function)
    where = f"{module}.{getattr(function, '__name__', 'factory')}"

    def build(types: dict[str, ValueType]) -> Any:
        from .sqltypes import to_python

        rng = Random(f"{seed}:{table}:{column}:factory")

        def context(index: int, row: dict[str, Any]) -> FactoryContext:
            python_row = {name: to_python(types[name], value) for name, value in row.items() if name in types}
            return FactoryContext(table, column, index, python_row, rng, faker.get())

        if column is None:
            return lambda index, row: call(context(index, row))
        vtype = types[column]
        generator: Generator = FactoryColumn(lambda index, row: vtype.from_db(call(context(index, row))),
                                             label=f"factory {where}")
        return generator
    return build


def module_contributions(addons: "AddonsPath", cr: Any, catalog: "Catalog", *, seed: int,
                         locale: str) -> tuple[dict[str, Any], FactoryMap]:
    """(row counts and column distributions by table key (:class:`.spec.TableSpec`), factories by
    (table key, column)) of the modules installed in the database."""
    from ..modules.state import installed_modules

    installed = installed_modules(cr)
    if not installed:
        return {}, {}
    from ..modules.graph import resolve_order
    from ..modules.loader import load_contributions

    available = addons.modules  # scanned once per Site: start and populate share the scan
    modules = resolve_order(available, [name for name in installed if name in available], addons.paths)
    counts: dict[str, Any] = {}
    for module in modules:
        for table, spec in module.manifest.populate.items():
            try:
                declared = table_spec(table, spec, yields_to_size=True)
            except SpecError as exc:
                raise SpecError(f"module {module.name!r}: 'populate' {exc.message}") from None
            declared.origin = f"module {module.name!r}"
            counts[_table_key(catalog, table, module.name)] = declared
    faker = _Faker(locale, seed)
    factories: FactoryMap = {}
    for item in load_contributions(modules).factories:
        key = _table_key(catalog, item.table, item.module)
        if item.column is not None and item.column not in catalog.tables[key].columns:
            raise PlanError(f"module {item.module!r} has a populate factory for {key}.{item.column}, "
                            f"but {key} has no column {item.column!r}")
        factories[(key, item.column)] = _adapter(item.function, item.module, key, item.column, faker, seed)
    return counts, factories


def _table_key(catalog: "Catalog", name: str, module: str) -> str:
    found = catalog.tables.get(name)
    if found is None:
        try:
            found = catalog.table(name)
        except KeyError:
            raise PlanError(f"module {module!r} has populate settings for table {name!r}, "
                            "which this database does not have") from None
    return found.key
