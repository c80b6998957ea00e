"""Declared row counts and column distributions: a manifest's ``populate`` key, or ``--spec FILE``.

One entry per table (TOML or JSON for ``--spec``, the same dict in a manifest)::

    [orders]
    count = 500                               # or: small = 20, large = 5000
    [order_line]
    per = "orders"                            # rows per row of another table
    count = 20
    [order_line.columns]
    price = "normal(50, 12)"                  # also uniform(a, b), faker(provider), unique
    state = { draft = 0.7, done = 0.3 }       # weighted choices (or a list: equal weights)
    note = { faker = "sentence", null = 0.4 } # keys: normal, uniform, choices, faker, null, unique

A table is a bare count too (``orders = 500``). Every mistake is one line that
names the table and the column.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import UsageError
from .distributions import Distribution

if TYPE_CHECKING:
    from ..db.catalog import Catalog, Table
    from .sqltypes import ValueType

SIZE_NAMES = ("small", "medium", "large")
TABLE_KEYS = {"count", "per", "columns", *SIZE_NAMES}
COLUMN_KEYS = {"normal", "uniform", "choices", "faker", "null", "unique", "distribution"}
CALL = re.compile(r"^\s*(normal|uniform|faker)\s*\((.*)\)\s*$", re.IGNORECASE)


class SpecError(UsageError):
    """A declaration cannot be used (one line naming the table and column)."""


@dataclass
class ColumnSpec:
    """A column's declaration as written: ``kind`` is normal, uniform, choices, faker or None."""

    kind: str | None = None
    args: tuple[Any, ...] = ()
    weights: tuple[float, ...] | None = None
    null: float | None = None
    unique: bool = False


@dataclass
class TableSpec:
    """Rows of one table: a count (per size, or ``per_count`` rows per row of ``per``) and columns."""

    count: int | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    per: str | None = None
    per_count: float = 1.0
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    yields_to_size: bool = False  # a manifest's counts give way to an explicit --size N
    origin: str = ""  # where it was declared, for messages (e.g. "module 'library'")

    @property
    def has_count(self) -> bool:
        return self.count is not None or bool(self.sizes) or self.per is not None

    def rows(self, size: str, base: int, counts: Mapping[str, int]) -> int:
        """Rows for a run of *size* (``base`` rows per table), *counts* holding the tables planned before."""
        if self.yields_to_size and size not in SIZE_NAMES:
            return base
        if self.per is not None:
            return round(counts.get(self.per, base) * self.per_count)
        if self.count is not None:
            return self.count
        return self.sizes.get(size, base)

    def merged(self, other: "TableSpec") -> "TableSpec":
        """*other* laid over this one: its count if it has one, its columns over these."""
        source = other if other.has_count else self
        return TableSpec(source.count, source.sizes, source.per, source.per_count, {**self.columns, **other.columns},
                         source.yields_to_size, other.origin or self.origin)


def _number(value: Any, what: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SpecError(f"{what}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{what}: expected a number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if low is not None and high is not None else f">= {low:g}"
        raise SpecError(f"{what}: expected a number {bounds}, got {value!r}")
    return float(value)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"{what}: expected a row count (an integer >= 0), got {value!r}")
    return value


def _arguments(text: str) -> list[str]:
    return [part.strip().strip("'\"") for part in text.split(",")] if text.strip() else []


def _distribution(kind: str, args: Any, what: str, shown: str | None = None) -> ColumnSpec:
    """``normal``/``uniform`` with two arguments, ``faker`` with a provider name (*shown*: as written)."""
    kind = kind.lower()
    items = list(args) if isinstance(args, (list, tuple)) else [args]
    args = shown if shown is not None else args
    if kind == "faker":
        if len(items) != 1 or not isinstance(items[0], str) or not re.fullmatch(r"[A-Za-z_]\w*", items[0]):
            raise SpecError(f"{what}: faker needs one provider name (e.g. faker(company)), got {args!r}")
        return ColumnSpec("faker", (items[0],))
    if len(items) != 2:
        shape = "normal(mean, std)" if kind == "normal" else "uniform(low, high)"
        raise SpecError(f"{what}: {kind} needs two values, as in {shape}; got {args!r}")
    if kind == "normal":
        mean = _number(items[0], f"{what}: normal mean")
        std = _number(items[1], f"{what}: normal standard deviation", low=0)
        return ColumnSpec("normal", (mean, std))
    return ColumnSpec("uniform", tuple(items))


def _choices(values: Any, what: str) -> ColumnSpec:
    if isinstance(values, dict):
        if not values:
            raise SpecError(f"{what}: weighted choices are empty")
        weights = tuple(_number(weight, f"{what}: weight of {value!r}", low=0) for value, weight in values.items())
        if sum(weights) <= 0:
            raise SpecError(f"{what}: the weights of its choices add up to 0")
        return ColumnSpec("choices", tuple(values), weights)
    if isinstance(values, list) and values:
        return ColumnSpec("choices", tuple(values))
    raise SpecError(f"{what}: choices are a list of values or a dict of value -> weight, got {values!r}")


def column_spec(value: Any, what: str) -> ColumnSpec:
    """One column's declaration (*what*: "table t, column c" for the messages)."""
    if isinstance(value, str):
        if value.strip().lower() == "unique":
            return ColumnSpec(unique=True)
        match = CALL.match(value)
        if match is None:
            raise SpecError(f"{what}: unknown distribution {value!r} (use normal(mean, std), uniform(low, high), "
                            "faker(provider), unique, a list or a dict of weighted choices)")
        return _distribution(match.group(1), _arguments(match.group(2)), what, value)
    if isinstance(value, list):
        return _choices(value, what)
    if not isinstance(value, dict):
        raise SpecError(f"{what}: expected a distribution (text), a list or a dict, got {value!r}")
    if not set(value) & COLUMN_KEYS:
        return _choices(value, what)  # {"a": 0.7, "b": 0.3}
    unknown = sorted(set(value) - COLUMN_KEYS, key=str)
    if unknown:
        raise SpecError(f"{what}: unknown key {unknown[0]!r} (use {', '.join(sorted(COLUMN_KEYS))})")
    given = [key for key in ("normal", "uniform", "choices", "faker", "distribution") if key in value]
    if len(given) > 1:
        raise SpecError(f"{what}: give one of {' or '.join(given)}, not both")
    spec = ColumnSpec()
    if given == ["distribution"]:
        spec = column_spec(value["distribution"], what)
    elif given == ["choices"]:
        spec = _choices(value["choices"], what)
    elif given:
        spec = _distribution(given[0], value[given[0]], what)
    if "null" in value:
        spec.null = _number(value["null"], f"{what}: null", low=0, high=1)
    if "unique" in value:
        if not isinstance(value["unique"], bool):
            raise SpecError(f"{what}: unique is true or false, got {value['unique']!r}")
        spec.unique = spec.unique or value["unique"]
    return spec


def table_spec(table: str, value: Any, *, yields_to_size: bool = False) -> TableSpec:
    """One table's entry: a count, sizes, ``per`` + ``count``, and ``columns``."""
    what = f"table {table}"
    if not isinstance(value, dict):
        return TableSpec(count=_count(value, what), yields_to_size=yields_to_size)
    unknown = sorted(set(value) - TABLE_KEYS, key=str)
    if unknown:
        raise SpecError(f"{what}: unknown key {unknown[0]!r} (use {', '.join(sorted(TABLE_KEYS))})")
    spec = TableSpec(yields_to_size=yields_to_size)
    if "per" in value:
        if not isinstance(value["per"], str) or set(value) & set(SIZE_NAMES):
            raise SpecError(f"{what}: per names the table whose rows it follows, with count rows for each")
        spec.per = value["per"]
        spec.per_count = _number(value.get("count", 1), f"{what}: count per {value['per']} row", low=0)
    elif "count" in value:
        spec.count = _count(value["count"], f"{what}: count")
    spec.sizes = {size: _count(value[size], f"{what}: {size}") for size in SIZE_NAMES if size in value}
    columns = value.get("columns", {})
    if not isinstance(columns, dict):
        raise SpecError(f"{what}: columns is a dict of column -> distribution, got {columns!r}")
    spec.columns = {str(name): column_spec(declared, f"{what}, column {name}") for name, declared in columns.items()}
    return spec


def read_spec_file(path: str | Path) -> dict[str, TableSpec]:
    """The tables of a ``--spec`` file (``.toml``, else JSON); errors name the file."""
    import tomllib

    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"--spec {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text) if where.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if where.suffix.lower() == ".toml" else "JSON (name it .toml for TOML)"
        raise SpecError(f"--spec {path}: not valid {kind}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise SpecError(f"--spec {path}: expected a table of tables (table name -> its declaration)")
    try:
        return {str(table): table_spec(str(table), value) for table, value in data.items()}
    except SpecError as exc:
        raise SpecError(f"--spec {path}: {exc.message}") from None


def bind(specs: Mapping[str, TableSpec], catalog: "Catalog", locale: str, where: str
         ) -> tuple[dict[str, TableSpec], dict[tuple[str, str], Distribution]]:
    """Table names as catalog keys, declarations checked against the columns and made internal values."""
    tables: dict[str, TableSpec] = {}
    declared: dict[tuple[str, str], Distribution] = {}
    for name, spec in specs.items():
        origin = spec.origin or where
        table = _table(catalog, name, origin)
        if spec.per is not None:
            spec.per = _table(catalog, spec.per, f"{origin}: table {name}: per").key
        tables[table.key] = spec
        for column, declaration in spec.columns.items():
            what = f"{origin}: table {name}, column {column}"
            declared[(table.key, column)] = resolve(declaration, table, column, locale, what)
    return tables, declared


def _table(catalog: "Catalog", name: str, where: str) -> "Table":
    try:
        return catalog.table(name)
    except KeyError as exc:
        raise SpecError(f"{where}: {exc.args[0] if exc.args else exc}") from None


def resolve(spec: ColumnSpec, table: "Table", name: str, locale: str, what: str) -> Distribution:
    """A declaration checked against the column, as a :class:`Distribution` of internal values."""
    from .tableplan import column_type

    if name not in table.columns:
        from ..db.catalog import did_you_mean

        raise SpecError(f"{what}: {table.key} has no column {name!r}{did_you_mean(name, table.columns)}")
    column = table.columns[name]
    if table.foreign_key_of(name) is not None:
        raise SpecError(f"{what}: a foreign key column takes the keys of its parent rows, not a distribution")
    if column.is_generated or column.is_identity:
        raise SpecError(f"{what}: the database fills it ({'generated' if column.is_generated else 'identity'})")
    if spec.null and not column.nullable:
        raise SpecError(f"{what}: declared {spec.null:.0%} NULL, but the column is NOT NULL")
    vtype = column_type(table, name)
    dist = Distribution(f"declared {spec.kind or 'column'}", null=spec.null, unique=spec.unique)
    if spec.kind == "normal":
        if vtype.kind not in ("int", "numeric", "float"):
            raise SpecError(f"{what}: normal(mean, std) needs a number column, not {vtype.sql_type}")
        unit = 10 ** vtype.scale if vtype.kind == "numeric" else 1
        dist.normal = (spec.args[0] * unit, spec.args[1] * unit)
    elif spec.kind == "uniform":
        if not vtype.is_ordered:
            raise SpecError(f"{what}: uniform(low, high) needs a number, date or time column, not {vtype.sql_type}")
        low, high = (_literal(vtype, value, what) for value in spec.args)
        if low > high:
            raise SpecError(f"{what}: uniform({spec.args[0]}, {spec.args[1]}): the low end is above the high end")
        dist.uniform = (low, high)
    elif spec.kind == "choices":
        dist.choices = [_literal(vtype, value, what) for value in spec.args]
        dist.weights = list(spec.weights) if spec.weights else None
    elif spec.kind == "faker":
        dist.faker = spec.args[0]
        _check_provider(spec.args[0], vtype, locale, what)
    return dist


def _literal(vtype: "ValueType", value: Any, what: str) -> Any:
    """A declared value in the column's internal form."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if vtype.kind in ("text", "enum"):
        if vtype.kind == "enum" and text not in vtype.labels:
            raise SpecError(f"{what}: {text!r} is not a label of {vtype.sql_type} ({', '.join(vtype.labels)})")
        return text
    try:
        parsed = vtype.parse_literal(text)
    except (ValueError, ArithmeticError):
        raise SpecError(f"{what}: {value!r} is not a value of type {vtype.sql_type}") from None
    return int(parsed) if vtype.kind == "numeric" else parsed


def _check_provider(provider: str, vtype: "ValueType", locale: str, what: str) -> None:
    """The provider exists for *locale* and makes values of the column's type."""
    from .distributions import _converter
    from .fakes import FakerPools

    try:
        method = getattr(FakerPools(locale, 0).faker, provider)
    except AttributeError:
        raise SpecError(f"{what}: Faker has no provider {provider!r} (for locale {locale})") from None
    if not callable(method):
        raise SpecError(f"{what}: Faker's {provider!r} is not a provider")
    sample = method()
    try:
        _converter(vtype)(sample)
    except (ValueError, TypeError, ArithmeticError):
        raise SpecError(f"{what}: Faker's {provider} makes {sample!r}, not a value of type {vtype.sql_type}") from None
