"""``--like SOURCE``: the shape of another database, read from the statistics it keeps, never its rows.

``pg_stats`` gives, per column, the share of NULLs, the number of distinct values,
the most common values with their frequencies, equal-frequency histogram bounds
(over the other values) and the average width; ``pg_class.reltuples`` the rows
per table. Each column of the target's table of the same (schema-qualified) name
becomes a :class:`.distributions.Distribution`:

* numbers, dates and times: the most common values and the histogram (a shape, not
  a person), unless the column's name looks personal;
* text: the most common values are copied only when the column looks categorical
  (few distinct values) and not personal (names, emails, phones, addresses, free
  text); otherwise Faker's values, as many distinct ones as the source has, the
  most common ones as frequent as the source's, and free text as long;
* every column: its share of NULLs. Keys (primary, unique, referenced, foreign)
  stay devshell's to make.

``values="all"`` copies the most common values of every column; ``"none"`` of none.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import DevshellError, UsageError
from .distributions import Distribution
from .fakes import kind_for_text

if TYPE_CHECKING:
    from ..db.catalog import Catalog, Table
    from ..db.connection import ServerAddress
    from .sqltypes import ValueType

CATEGORICAL = 50  # at most this many distinct values (and at most one per two rows): a category
PERSONAL = {"email", "first_name", "last_name", "full_name", "username", "password", "phone", "street",
            "address2", "city", "postcode", "ip", "text"}
VALUES = ("categorical", "all", "none")
SHAPED = ("int", "numeric", "float", "date", "timestamp", "time", "interval", "text", "enum", "bool")

_ROWS = """
SELECT n.nspname, c.relname,
       CASE WHEN c.relkind = 'p' THEN coalesce((SELECT sum(l.reltuples) FROM pg_partition_tree(c.oid) t
                                                  JOIN pg_class l ON l.oid = t.relid
                                                 WHERE t.isleaf AND l.reltuples >= 0), c.reltuples)
            ELSE c.reltuples END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)
"""
# one row per column: the table's own rows, or for a partitioned table those of its partitions
_STATS = """
SELECT DISTINCT ON (schemaname, tablename, attname) schemaname, tablename, attname, null_frac, n_distinct,
       avg_width, most_common_vals::text::text[], most_common_freqs, histogram_bounds::text::text[]
  FROM pg_stats WHERE schemaname = ANY(%s)
 ORDER BY schemaname, tablename, attname, inherited
"""


@dataclass
class ColumnStats:
    null_frac: float
    n_distinct: float  # > 0: distinct values; < 0: minus their share of the rows
    avg_width: int
    common: list[str]
    frequencies: list[float]
    histogram: list[str]


@dataclass
class Source:
    """What SOURCE's statistics say, by (schema, table): its rows, and its columns' statistics."""

    name: str
    rows: dict[tuple[str, str], float]
    columns: dict[tuple[str, str], dict[str, ColumnStats]]


def is_connection_string(source: str) -> bool:
    return "=" in source or source.startswith(("postgres://", "postgresql://"))


def describe(source: str) -> str:
    """A name for messages (a connection string without its password)."""
    if not is_connection_string(source):
        return f"database {source!r}"
    from psycopg2.extensions import parse_dsn

    try:
        parts = parse_dsn(source)
    except Exception:  # noqa: BLE001 - psycopg2 raises ProgrammingError; only a name is wanted here
        return "the --like connection string"
    where = f" on {parts['host']}" if parts.get("host") else ""
    return f"database {parts.get('dbname', '?')!r}{where}"


def read_source(source: str, address: "ServerAddress", schemas: list[str]) -> Source:
    """SOURCE's row counts and column statistics, in a read-only session (*source*: a database on the
    target's server, or a libpq connection string / URI)."""
    import psycopg2

    from ..db.connection import connect

    name = describe(source)
    if is_connection_string(source):
        try:
            conn = psycopg2.connect(source, connect_timeout=10)
        except psycopg2.Error as exc:
            first = (str(exc).strip().splitlines() or ["connection failed"])[0]
            raise DevshellError(f"--like: cannot connect to {name}: {first}") from None
    else:
        try:
            conn = connect(address, source)
        except DevshellError as exc:
            raise DevshellError(f"--like: {exc.message}") from None
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("SET default_transaction_read_only = on; SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; "
                       "SET IntervalStyle = 'postgres'; SET extra_float_digits = 3")
            cr.execute(_ROWS, (schemas,))
            rows = {(schema, table): float(count) for schema, table, count in cr.fetchall()}
            cr.execute(_STATS, (schemas,))
            columns: dict[tuple[str, str], dict[str, ColumnStats]] = {}
            for schema, table, column, null, distinct, width, common, freqs, bounds in cr.fetchall():
                columns.setdefault((schema, table), {})[column] = ColumnStats(
                    float(null), float(distinct), int(width or 0), list(common or []), list(freqs or []),
                    list(bounds or []))
    except psycopg2.Error as exc:
        from .failures import database_reason

        raise DevshellError(f"--like: cannot read the statistics of {name}: {database_reason(exc)}") from None
    finally:
        conn.close()
    return Source(name, rows, columns)


def like_shape(source: Source, catalog: "Catalog", *, scale: float = 1.0, values: str = "categorical"
               ) -> tuple[dict[str, int], dict[tuple[str, str], Distribution], list[str]]:
    """(rows per table key, distributions per (table key, column), notes) for the target *catalog*."""
    from .tableplan import column_type

    if values not in VALUES:
        raise UsageError(f"--like-values {values!r}: use {', '.join(VALUES)}")
    matched = [table for table in catalog.tables.values() if (table.schema, table.name) in source.rows]
    if not matched:
        raise UsageError(f"--like: {source.name} has none of this database's tables (names are compared with "
                         "their schema)")
    if not any(source.columns.get((table.schema, table.name)) for table in matched):
        raise DevshellError(f"--like: {source.name} has no statistics for its tables: run ANALYZE in it first "
                            "(statistics are all --like reads)")
    counts: dict[str, int] = {}
    declared: dict[tuple[str, str], Distribution] = {}
    for table in matched:
        where = (table.schema, table.name)
        source_rows = source.rows[where]
        if source_rows < 0 or not source.columns.get(where):
            continue  # never analyzed: the table gets --size rows
        rows = 0 if source_rows == 0 else max(1, round(source_rows * scale))
        counts[table.key] = rows
        skipped = _key_columns(table, catalog)
        for name, stats in source.columns[where].items():
            if name in table.columns and name not in skipped and _made_by_devshell(column_type(table, name)):
                declared[(table.key, name)] = column_shape(table, name, stats, source_rows, rows, values)
    notes = []
    unknown = sum(1 for key, table in catalog.tables.items() if key not in counts and not table.name.startswith("devshell_"))
    if unknown:
        notes.append(f"--like {source.name}: {unknown} table{'s' if unknown > 1 else ''} without statistics there "
                     "get the --size rows")
    return counts, declared, notes


def _made_by_devshell(vtype: "ValueType") -> bool:
    return vtype.kind != "unknown" and (vtype.element is None or vtype.element.kind != "unknown")


def _key_columns(table: "Table", catalog: "Catalog") -> set[str]:
    """Columns whose values devshell keeps making itself: keys, references, partition keys, the database's."""
    names = set(table.primary_key) | {name for unique in table.uniques for name in unique}
    names |= {name for fk in table.foreign_keys for name in fk.columns}
    names |= {name for other in catalog.tables.values() for fk in other.foreign_keys if fk.target == table.key
              for name in fk.ref_columns}
    names |= {name for name, column in table.columns.items()
              if column.is_identity or column.is_generated or name in table.sequences}
    if table.partition_key:
        names |= {name for name in table.columns if re.search(rf"\b{re.escape(name)}\b", table.partition_key)}
    return names


def column_shape(table: "Table", name: str, stats: ColumnStats, source_rows: float, rows: int,
                 values: str) -> Distribution:
    """One column's :class:`Distribution` from its statistics (see the module's docstring)."""
    from .tableplan import column_type

    vtype = column_type(table, name)
    dist = Distribution("like", null=min(max(stats.null_frac, 0.0), 1.0), from_statistics=True)
    if vtype.kind not in SHAPED:
        dist.label = f"like: {stats.null_frac:.0%} NULL"
        return dist
    filled = max(1e-9, 1.0 - stats.null_frac)
    distinct_source = stats.n_distinct if stats.n_distinct > 0 else -stats.n_distinct * max(source_rows, 0)
    distinct = stats.n_distinct if stats.n_distinct > 0 else -stats.n_distinct * rows
    kind = kind_for_text(table.name, name)
    personal = kind in PERSONAL and (vtype.kind == "text" or kind != "text")  # free text is text only
    categorical = vtype.kind in ("bool", "enum") or \
        (distinct_source <= CATEGORICAL and distinct_source <= max(source_rows, 1) / 2)
    copy = vtype.kind in ("bool", "enum") or values == "all" or \
        (values == "categorical" and not personal and (categorical or vtype.is_ordered))
    shares = [freq / filled for freq in stats.frequencies]
    if copy:
        parsed = [(stat_value(vtype, text), share) for text, share in zip(stats.common, shares)]
        kept = [(value, share) for value, share in parsed if value is not None]
        dist.points, dist.point_weights = [value for value, _ in kept], [share for _, share in kept]
        if vtype.is_ordered or values == "all":
            bounds = [stat_value(vtype, text) for text in stats.histogram]
            dist.histogram = [value for value in bounds if value is not None] or None
    elif categorical:
        dist.pool_weights = shares  # fake values, as frequent as the source's most common ones
    wanted = max(1, round(rows * filled))
    if distinct and round(distinct) < 0.9 * wanted:
        dist.distinct = max(1, round(distinct))
    if vtype.kind == "text" and stats.avg_width > 1:
        dist.width = stats.avg_width - 1  # a short text's header byte
    how = "copied values" if dist.points else "fake values"
    dist.label = f"like: {how}, {stats.null_frac:.0%} NULL"
    return dist


def stat_value(vtype: "ValueType", text: str) -> Any:
    """A value of pg_stats (text, in ISO styles) in the internal form; None when it has none."""
    try:
        if vtype.kind in ("text", "enum"):
            return text
        if vtype.kind == "interval":
            return _interval(text)
        value = vtype.parse_literal(text)
    except (ValueError, ArithmeticError):
        return None
    if vtype.kind == "numeric":
        return int(value.to_integral_value())
    if vtype.kind == "float" and not math.isfinite(value):
        return None
    return value


_UNITS = {"year": 365 * 86400, "mon": 30 * 86400, "day": 86400}


def _interval(text: str) -> int:
    """``1 year 2 mons 3 days 04:05:06.5`` (IntervalStyle postgres) in seconds."""
    total = sum(int(number) * _UNITS[unit] for number, unit in re.findall(r"(-?\d+) (year|mon|day)s?", text))
    clock = re.search(r"(-?)(\d+):(\d+):(\d+(?:\.\d+)?)", text)
    if clock:
        seconds = int(clock.group(2)) * 3600 + int(clock.group(3)) * 60 + int(float(clock.group(4)))
        total += -seconds if clock.group(1) else seconds
    elif not re.search(r"\d", text):
        raise ValueError(text)
    return total
