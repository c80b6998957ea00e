"""Validation of foreign keys whose per-row checks were off during a load: one anti-join per key.

The queries are sent a batch of keys at a time; each looks for one row whose
key columns are set (all of them, or, under ``MATCH FULL``, some but not all) and
match no parent row. The first offending row is then touched with a no-op
``UPDATE``: the row was inserted by this transaction, so its key's trigger checks
it, and the error is PostgreSQL's own (constraint, table, ``DETAIL``) — exactly
what a load with the checks on would have raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg2 import sql

from ..errors import DevshellError

if TYPE_CHECKING:
    from .foreignkeys import HeldKey

BATCH = 500  # keys per query


class ForeignKeyViolation(DevshellError):
    """A row points at no parent (when PostgreSQL itself would not say so)."""


def _relation(schema: str, name: str, partitioned: bool) -> sql.Composable:
    table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
    return table if partitioned else sql.SQL("ONLY {}").format(table)


def orphan_query(index: int, key: "HeldKey") -> sql.Composable:
    """``(index, tableoid, ctid)`` of one row of *key*'s table without a parent (no row: all good)."""
    child = [sql.SQL("c.{}").format(sql.Identifier(name)) for name in key.columns]
    match = sql.SQL(" AND ").join(sql.SQL("p.{} = {}").format(sql.Identifier(parent), column)
                                  for parent, column in zip(key.ref_columns, child))
    orphan = sql.SQL("NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
        _relation(key.ref_schema, key.ref_table, key.ref_partitioned), match)
    nulls = sql.SQL("num_nulls({})").format(sql.SQL(", ").join(child))
    condition = sql.SQL("{} = 0 AND {}").format(nulls, orphan)
    if key.match_full:  # some columns set and others not is an error too
        condition = sql.SQL("({}) OR {} NOT IN (0, {})").format(condition, nulls, sql.Literal(len(child)))
    return sql.SQL("(SELECT {}, c.tableoid::regclass::text, c.ctid::text FROM {} c WHERE {} LIMIT 1)").format(
        sql.Literal(index), _relation(key.schema, key.table, key.partitioned), condition)


def validate(cr: Any, keys: list["HeldKey"]) -> None:
    """Every row of every key in *keys* has its parent, or PostgreSQL's error for the first that has not."""
    if not keys:
        return
    cr.execute("SELECT current_setting('enable_nestloop'), set_config('enable_nestloop', 'off', true)")
    before = cr.fetchone()[0]  # hash anti-joins: fresh tables have no statistics to plan a loop on
    for start in range(0, len(keys), BATCH):
        batch = keys[start:start + BATCH]
        cr.execute(sql.SQL(" UNION ALL ").join(orphan_query(i, key) for i, key in enumerate(batch)))
        found = cr.fetchone()
        if found is not None:  # the error aborts the transaction (or its savepoint), the setting with it
            _raise(cr, batch[found[0]], found[1], found[2])
    cr.execute("SELECT set_config('enable_nestloop', %s, true)", (before,))


def _raise(cr: Any, key: "HeldKey", relation: str, ctid: str) -> None:
    """Touch the orphan row so that its key's own trigger reports it; say it ourselves otherwise."""
    touch = sql.SQL(", ").join(sql.SQL("{0} = {0}").format(sql.Identifier(name)) for name in key.columns)
    cr.execute(sql.SQL("UPDATE {} SET {} WHERE ctid = %s::tid").format(sql.SQL(relation), touch), (ctid,))
    raise ForeignKeyViolation(f'insert or update on table "{key.table}" violates foreign key constraint '
                              f'"{key.name}": a row has no parent in {key.ref_schema}.{key.ref_table}')
