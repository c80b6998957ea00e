"""Reflection of any PostgreSQL database: tables, columns, keys, checks, enums, domains, partitions.

A few bulk queries over ``pg_catalog`` (never one per table) give plain frozen
dataclasses that the environment, populate and the shell read. Tables are keyed by
their bare name in the first schema of the search path and by ``schema.table``
elsewhere; partitions are not tables of their own, their parent lists them.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

from ..errors import DevshellError

#: pg_constraint.confdeltype -> the SQL words
FK_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


class QueryError(DevshellError):
    """A table, a column, a domain, an order or values that do not fit the database."""


class UnknownTableError(QueryError, KeyError):
    """A table the catalog does not hold (a KeyError too, so ``env["x"]`` reads naturally)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


@dataclass(frozen=True)
class Check:
    name: str
    expression: str  #: pg_get_constraintdef, e.g. "CHECK ((length > 0))"
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Domain:
    name: str
    schema: str
    base_type: str  #: the type at the bottom of the domain chain, e.g. "integer"
    not_null: bool
    default: str | None
    checks: tuple[Check, ...]  #: its own CHECKs and those of the domains it is built on


@dataclass(frozen=True)
class Column:
    name: str
    type: str  #: format_type, e.g. "character varying(255)", "year", "text[]"
    base_type: str  #: the type once domains are resolved
    type_category: str  #: pg_type.typcategory of the base type: N numeric, S string, A array, E enum…
    nullable: bool  #: False when the column or its domain is NOT NULL
    default: str | None
    is_identity: bool
    is_generated: bool
    max_length: int | None
    numeric_precision: int | None
    numeric_scale: int | None
    is_array: bool
    element_type: str | None
    enum_values: tuple[str, ...] | None
    domain: Domain | None
    position: int

    @property
    def required(self) -> bool:
        """An INSERT must give a value: NOT NULL and nothing fills it in."""
        return not (self.nullable or self.default or self.is_identity or self.is_generated
                    or (self.domain is not None and self.domain.default))


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str
    deferrable: bool
    initially_deferred: bool
    target: str  #: the catalog key of the referenced table
    on_partitions: bool = False  #: declared on the partitions only (Pagila's payment), not the parent
    ref_partition: str | None = None  #: "schema.name" when it references one partition of ``target``

    @property
    def source(self) -> str:
        """Where the referenced keys live: the target table, or the one partition of it referenced."""
        return f"{self.target}#{self.ref_partition}" if self.ref_partition else self.target


@dataclass(frozen=True)
class UniqueIndex:
    """A unique index that is partial or over expressions (the plain ones are in ``Table.uniques``)."""

    name: str
    keys: tuple[str, ...]  #: each key as SQL (pg_get_indexdef): a column name or an expression
    columns: tuple[str, ...]  #: the columns its keys and its predicate read
    predicate: str | None  #: the WHERE clause of a partial index
    nulls_distinct: bool = True


@dataclass(frozen=True)
class Exclusion:
    """An EXCLUDE constraint: no two rows match on every (expression, operator) element."""

    name: str
    elements: tuple[tuple[str, str], ...]  #: (expression as SQL, operator), e.g. ("tstzrange(a, b)", "&&")
    columns: tuple[str, ...]
    predicate: str | None


@dataclass(frozen=True)
class SequenceInfo:
    """The sequence that feeds a column (serial, identity or a ``nextval`` default)."""

    name: str  #: qualified and quoted, ready for ``::regclass``
    start: int
    minimum: int
    maximum: int
    increment: int
    last_value: int | None  #: None when it may not be read
    is_called: bool = True  #: False until the first nextval after creation or a RESTART

    @property
    def next_value(self) -> int:
        """What ``nextval`` would return now."""
        if self.last_value is None:
            return self.start
        return self.last_value + self.increment if self.is_called else self.last_value


class Partition(NamedTuple):
    name: str  #: qualified child name
    bound: str  #: e.g. "FOR VALUES FROM ('2022-01-01 00:00:00+00') TO (…)"
    checks: tuple["Check", ...] = ()  #: CHECKs declared on this partition only (not inherited)
    constraint: str | None = None  #: what routes a row here (pg_get_partition_constraintdef), with ``checks``
    partition_key: str | None = None  #: set when this partition is itself partitioned (a multi-level tree)
    partitions: tuple["Partition", ...] = ()  #: its own partitions then (their ``constraint`` always set)


@dataclass(frozen=True, eq=False)
class Table:
    schema: str
    name: str
    kind: str  #: 'r' table, 'p' partitioned table
    columns: Mapping[str, Column]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]
    uniques: tuple[tuple[str, ...], ...]
    checks: tuple[Check, ...]
    partition_key: str | None
    partitions: tuple[Partition, ...]
    comment: str | None
    key: str  #: its name in the catalog
    unique_indexes: tuple[UniqueIndex, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    sequences: Mapping[str, SequenceInfo] = field(default_factory=dict)  #: column -> the sequence feeding it
    inherits: tuple[str, ...] = ()  #: catalog keys of the tables it INHERITS from (not partitions)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def is_partitioned(self) -> bool:
        return self.kind == "p"

    def column(self, name: str) -> Column:
        """The column *name*, or an error that names the table and a close match."""
        try:
            return self.columns[name]
        except (KeyError, TypeError):
            raise QueryError(f"table {self.key!r} has no column {name!r}{did_you_mean(name, self.columns)}") \
                from None

    def foreign_key_of(self, column: str) -> ForeignKey | None:
        """The single-column foreign key on *column*, if any."""
        return next((fk for fk in self.foreign_keys if fk.columns == (column,)), None)


@dataclass(frozen=True, eq=False)
class Catalog:
    tables: Mapping[str, Table]
    enums: Mapping[str, tuple[str, ...]]
    domains: Mapping[str, Domain]
    search_schema: str  #: whose tables go by their bare name
    schemas: tuple[str, ...] = field(default=())

    def table(self, name: str) -> Table:
        """The table *name* ("film" or "schema.film"), or an error with a "did you mean" hint."""
        found = self.tables.get(name)
        if found is None and isinstance(name, str) and name.startswith(self.search_schema + "."):
            found = self.tables.get(name[len(self.search_schema) + 1:])
        if found is None:
            hint = did_you_mean(name, self.tables) if self.tables else " (the database has no tables)"
            raise UnknownTableError(f"no table {name!r} in this database{hint}")
        return found

    def __contains__(self, name: object) -> bool:
        return name in self.tables


def did_you_mean(name: object, known: Any) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- the queries -------------------------------------------------------------------------
_SCHEMAS = """
SELECT coalesce((current_schemas(false))[1], 'public'),
       ARRAY(SELECT nspname::text FROM pg_namespace
              WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname)
"""
_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relkind, obj_description(c.oid, 'pg_class'),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%s)
 ORDER BY n.nspname, c.relname
"""
# every partition (any depth) of the schemas, with the table at the top of its tree
_PARTITION_ROOTS = """
SELECT n.nspname, c.relname, rn.nspname, r.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class r ON r.oid = pg_partition_root(c.oid) JOIN pg_namespace rn ON rn.oid = r.relnamespace
 WHERE c.relispartition AND n.nspname = ANY(%s)
"""
# CHECKs added to one partition only (conislocal: not inherited from the parent)
_PARTITION_CHECKS = """
SELECT con.conrelid, con.conname, pg_get_constraintdef(con.oid),
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, i)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.i),
       pg_get_partition_constraintdef(con.conrelid)
  FROM pg_constraint con
 WHERE con.conrelid = ANY(%s) AND con.contype = 'c' AND con.conislocal
 ORDER BY con.conrelid, con.conname
"""
# the partitions of the tables, at every depth (a partitioned partition's own, and so on: nested), each with
# its parent, its partition key when it is partitioned, and what routes a row to it (ancestors' bounds
# included) where a multi-level tree needs it
_PARTITIONS = """
WITH RECURSIVE tree(parent, child, nested) AS (
    SELECT i.inhparent, i.inhrelid, false FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = ANY(%s) AND c.relispartition
    UNION ALL
    SELECT i.inhparent, i.inhrelid, true FROM tree t JOIN pg_inherits i ON i.inhparent = t.child
)
SELECT t.parent, c.oid, n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid), t.nested,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relkind = 'p' OR t.nested THEN pg_get_partition_constraintdef(c.oid) END
  FROM tree t JOIN pg_class c ON c.oid = t.child JOIN pg_namespace n ON n.oid = c.relnamespace
 ORDER BY t.parent, n.nspname, c.relname
"""
_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, a.atttypmod,
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '', a.attgenerated <> ''
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
"""
# the types the columns use, their elements and domain bases (recursively), plus the schemas' enums and domains
_TYPES = """
WITH RECURSIVE used(oid) AS (
    SELECT atttypid FROM pg_attribute WHERE attrelid = ANY(%(tables)s) AND attnum > 0 AND NOT attisdropped
    UNION
    SELECT t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typtype IN ('d', 'e') AND n.nspname = ANY(%(schemas)s)
    UNION
    SELECT v.oid FROM used u JOIN pg_type t ON t.oid = u.oid,
           LATERAL (VALUES (t.typelem), (t.typbasetype)) v(oid)
     WHERE v.oid <> 0
)
SELECT t.oid, n.nspname, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typtypmod,
       t.typnotnull, t.typdefault, format_type(t.oid, NULL),
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder),
       ARRAY(SELECT c.conname::text FROM pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c'
              ORDER BY c.conname),
       ARRAY(SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c WHERE c.contypid = t.oid
                AND c.contype = 'c' ORDER BY c.conname)
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE t.oid IN (SELECT oid FROM used)
"""
_NAMES = """ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY k(num, i)
                  JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.num ORDER BY k.i)"""
_CONSTRAINTS = f"""
SELECT con.conrelid, con.conname, con.contype, {_NAMES.format(keys="con.conkey", rel="con.conrelid")},
       fn.nspname, fc.relname, {_NAMES.format(keys="con.confkey", rel="con.confrelid")},
       con.confdeltype, con.condeferrable, con.condeferred, pg_get_constraintdef(con.oid)
  FROM pg_constraint con
  LEFT JOIN pg_class fc ON fc.oid = con.confrelid LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
 WHERE con.conrelid = ANY(%s) AND con.contype IN ('p', 'u', 'f', 'c') AND con.conparentid = 0
 ORDER BY con.conrelid, con.conname
"""
_UNIQUE_INDEXES = """
SELECT i.indrelid,
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(num, o)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
              WHERE k.o <= i.indnkeyatts ORDER BY k.o)
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE i.indrelid = ANY(%s) AND i.indisunique AND NOT i.indisprimary
   AND i.indpred IS NULL AND i.indexprs IS NULL
 ORDER BY i.indrelid, ic.relname
"""

# unique indexes that are partial or over expressions, and exclusion constraints: keys as SQL text
_SPECIAL_INDEXES = """
SELECT i.indrelid, ic.relname::text, con.conname::text,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k ORDER BY k),
       ARRAY(SELECT o.oprname::text FROM unnest(con.conexclop) WITH ORDINALITY x(op, k)
               JOIN pg_operator o ON o.oid = x.op ORDER BY x.k),
       ARRAY(SELECT a.attname::text FROM pg_attribute a
              WHERE a.attrelid = i.indrelid AND a.attnum > 0 AND (a.attnum = ANY(i.indkey) OR EXISTS (
                    SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                       AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid
                       AND d.refobjsubid = a.attnum))
              ORDER BY a.attnum),
       pg_get_expr(i.indpred, i.indrelid, true),
       NOT coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false)
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'x' AND con.conrelid = i.indrelid
 WHERE i.indrelid = ANY(%s)
   AND ((i.indisunique AND NOT i.indisprimary AND (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL))
        OR con.oid IS NOT NULL)
 ORDER BY i.indrelid, ic.relname
"""
_SEQUENCES = """
WITH fed(relid, attnum, seq) AS (
    SELECT d.adrelid, d.adnum, dep.refobjid FROM pg_attrdef d
      JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
       AND dep.refclassid = 'pg_class'::regclass
     WHERE d.adrelid = ANY(%(tables)s)
    UNION
    SELECT dep.refobjid, dep.refobjsubid, dep.objid FROM pg_depend dep
     WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass AND dep.deptype = 'i'
       AND dep.refobjid = ANY(%(tables)s) AND dep.refobjsubid > 0
)
SELECT f.relid, a.attname::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       s.seqstart, s.seqmin, s.seqmax, s.seqincrement, has_sequence_privilege(s.seqrelid, 'SELECT')
  FROM fed f JOIN pg_sequence s ON s.seqrelid = f.seq
  JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = f.relid AND a.attnum = f.attnum
"""
_INHERITS = """
SELECT i.inhrelid, n.nspname, c.relname FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhparent JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class k ON k.oid = i.inhrelid
 WHERE i.inhrelid = ANY(%s) AND NOT k.relispartition
 ORDER BY i.inhrelid, i.inhseqno
"""


class _Type(NamedTuple):
    oid: int
    schema: str
    name: str
    typtype: str
    category: str
    elem: int
    base: int
    typmod: int
    not_null: bool
    default: str | None
    display: str
    domain_base: str | None
    labels: list[str]
    check_names: list[str]
    check_defs: list[str]


def reflect(cr: Any, schemas: list[str] | None = None) -> Catalog:
    """The catalog of the database *cr* is connected to (all user schemas unless *schemas*)."""
    cr.execute(_SCHEMAS)
    search_schema, all_schemas = cr.fetchone()
    wanted = list(schemas) if schemas is not None else list(all_schemas)

    def key(schema: str, name: str) -> str:
        return name if schema == search_schema else f"{schema}.{name}"

    cr.execute(_TABLES, (wanted,))
    table_rows = cr.fetchall()
    oids = [row[0] for row in table_rows]
    cr.execute(_PARTITIONS, (oids,))
    partition_rows = cr.fetchall()
    cr.execute(_PARTITION_CHECKS, ([row[1] for row in partition_rows],))
    own_checks: dict[int, list[Check]] = defaultdict(list)
    routes: dict[int, str] = {}
    for child, name, text, cols, route in cr.fetchall():
        own_checks[child].append(Check(name, text, tuple(cols)))
        routes[child] = route
    below: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for parent, *row in partition_rows:
        below[parent].append(row)

    def partition(child: int, schema: str, name: str, bound: str, _nested: bool, partition_key: str | None,
                  route: str | None) -> Partition:
        return Partition(f"{schema}.{name}", bound, tuple(own_checks[child]), route or routes.get(child),
                         partition_key, tuple(partition(*row) for row in below[child]))

    partitions: dict[int, list[Partition]] = defaultdict(list)
    parent_of: dict[int, int] = {}
    for parent, child, *row in partition_rows:
        if not row[3]:  # the first level: the tables' own partitions
            partitions[parent].append(partition(child, *row))
            parent_of[child] = parent

    cr.execute(_TYPES, {"tables": oids, "schemas": wanted})
    types = {row[0]: _Type(*row) for row in cr.fetchall()}
    domains = {oid: _domain(types, oid) for oid, t in types.items() if t.typtype == "d"}

    cr.execute(_COLUMNS, (oids,))
    columns: dict[int, dict[str, Column]] = defaultdict(dict)
    for row in cr.fetchall():
        columns[row[0]][row[2]] = _column(types, domains, row)

    cr.execute(_PARTITION_ROOTS, (wanted,))
    roots = {(schema, name): (root_schema, root) for schema, name, root_schema, root in cr.fetchall()}

    cr.execute(_CONSTRAINTS, (oids + list(parent_of),))
    constraints: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for relid, name, kind, cols, ref_schema, ref_table, ref_cols, on_delete, deferrable, deferred, text \
            in cr.fetchall():
        owner = parent_of.get(relid, relid)
        if relid in parent_of and kind != "f":
            continue  # a partition's own keys and checks are not the parent's
        if kind == "f":
            item: Any = ForeignKey(name, tuple(cols), ref_schema, ref_table, tuple(ref_cols),
                                   FK_ACTIONS.get(on_delete, on_delete), deferrable, deferred,
                                   key(*roots.get((ref_schema, ref_table), (ref_schema, ref_table))),
                                   on_partitions=relid in parent_of,
                                   ref_partition=f"{ref_schema}.{ref_table}" if (ref_schema, ref_table) in roots
                                   else None)
        elif kind == "c":
            item = Check(name, text, tuple(cols))
        else:
            item = tuple(cols)
        constraints[owner][kind].append(item)

    cr.execute(_UNIQUE_INDEXES, (oids,))
    for relid, cols in cr.fetchall():
        constraints[relid]["i"].append(tuple(cols))
    special: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    cr.execute(_SPECIAL_INDEXES, (oids,))
    for relid, index, exclusion, keys, operators, cols, predicate, nulls_distinct in cr.fetchall():
        if exclusion:
            special[relid]["x"].append(Exclusion(exclusion, tuple(zip(keys, operators)), tuple(cols), predicate))
        else:
            special[relid]["u"].append(UniqueIndex(index, tuple(keys), tuple(cols), predicate, nulls_distinct))
    sequences: dict[int, dict[str, SequenceInfo]] = defaultdict(dict)
    cr.execute(_SEQUENCES, {"tables": oids})
    fed = cr.fetchall()
    states = _sequence_states(cr, sorted({row[2] for row in fed if row[-1]}))
    for relid, column, name, start, minimum, maximum, increment, _readable in fed:
        last, called = states.get(name, (None, True))
        sequences[relid][column] = SequenceInfo(name, start, minimum, maximum, increment, last, called)
    inherits: dict[int, list[str]] = defaultdict(list)
    cr.execute(_INHERITS, (oids,))
    for relid, parent_schema, parent_name in cr.fetchall():
        inherits[relid].append(key(parent_schema, parent_name))

    tables = {}
    for oid, schema, name, kind, comment, partition_key in table_rows:
        found = constraints[oid]
        uniques = tuple(dict.fromkeys(found["u"] + found["i"]))  # constraints first, no duplicates
        table = Table(schema=schema, name=name, kind=kind, columns=columns[oid],
                      primary_key=found["p"][0] if found["p"] else (),
                      foreign_keys=_distinct_foreign_keys(found["f"]), uniques=uniques,
                      checks=tuple(found["c"]), partition_key=partition_key,
                      partitions=tuple(partitions[oid]), comment=comment, key=key(schema, name),
                      unique_indexes=tuple(special[oid]["u"]), exclusions=tuple(special[oid]["x"]),
                      sequences=sequences[oid], inherits=tuple(inherits[oid]))
        tables[table.key] = table
    enums = {key(t.schema, t.name): tuple(t.labels) for t in types.values()
             if t.typtype == "e" and t.schema in wanted}
    named_domains = {key(d.schema, d.name): d for d in domains.values() if d.schema in wanted}
    return Catalog(tables, enums, named_domains, search_schema, tuple(wanted))


def _sequence_states(cr: Any, names: list[str]) -> dict[str, tuple[int, bool]]:
    """name -> (last_value, is_called), read from the sequences themselves: the only place a ``RESTART``
    shows before the next nextval (``pg_sequence_last_value`` says NULL then)."""
    from psycopg2 import sql

    if not names:
        return {}
    cr.execute(sql.SQL(" UNION ALL ").join(sql.SQL("SELECT {}, last_value, is_called FROM {}").format(
        sql.Literal(name), sql.SQL(name)) for name in names))
    return {name: (last, called) for name, last, called in cr.fetchall()}


def _distinct_foreign_keys(keys: list[ForeignKey]) -> tuple[ForeignKey, ...]:
    """The parent's keys, then each partition-level key once (every partition repeats it)."""
    seen: dict[tuple[Any, ...], ForeignKey] = {}
    for fk in sorted(keys, key=lambda fk: fk.on_partitions):
        seen.setdefault((fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns), fk)
    return tuple(seen.values())


def _domain(types: dict[int, _Type], oid: int) -> Domain:
    """A domain with the checks and NOT NULL of its whole chain, down to the base type."""
    first = current = types[oid]
    checks: list[Check] = []
    not_null, default = False, None
    while current.typtype == "d":
        checks += [Check(name, text) for name, text in zip(current.check_names, current.check_defs)]
        not_null = not_null or current.not_null
        default = default or current.default
        base_type = current.domain_base
        current = types[current.base]
    return Domain(first.name, first.schema, base_type or first.display, not_null, default, tuple(checks))


def _column(types: dict[int, _Type], domains: dict[int, Domain], row: tuple[Any, ...]) -> Column:
    _, position, name, display, type_oid, typmod, not_null, default, identity, generated = row
    domain = domains.get(type_oid)
    base = types[type_oid]
    while base.typtype == "d":  # the innermost domain carries the type modifier of its base
        typmod = base.typmod
        base = types[base.base]
    element = types.get(base.elem) if base.category == "A" else None
    while element is not None and element.typtype == "d":
        element = types[element.base]
    scalar = element or base
    length, precision, scale = _modifiers(scalar.name, typmod)
    enum_type = scalar if scalar.typtype == "e" else None
    return Column(
        name=name, type=display, base_type=domain.base_type if domain else display,
        type_category=base.category, nullable=not (not_null or (domain is not None and domain.not_null)),
        default=None if generated else default, is_identity=identity, is_generated=generated,
        max_length=length, numeric_precision=precision, numeric_scale=scale, is_array=base.category == "A",
        element_type=element.display if element else None,
        enum_values=tuple(enum_type.labels) if enum_type else None, domain=domain, position=position,
    )


def _modifiers(type_name: str, typmod: int) -> tuple[int | None, int | None, int | None]:
    """(max length, numeric precision, numeric scale) decoded from a type modifier."""
    if typmod < 0:
        return None, None, None
    if type_name in ("varchar", "bpchar"):
        return typmod - 4, None, None
    if type_name in ("bit", "varbit"):
        return typmod, None, None
    if type_name == "numeric":
        return None, ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    return None, None, None
