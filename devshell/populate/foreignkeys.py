"""Foreign keys checked once after a big load instead of once per row during it.

PostgreSQL checks a foreign key row by row while COPY inserts; re-adding the
constraint afterwards checks every row with one join, several times faster.
Inside the load's transaction the keys are dropped, the rows copied, and the
keys added back with their exact definitions (``pg_get_constraintdef``: actions,
MATCH, DEFERRABLE) and comments, which validates every row: nothing is skipped,
and a failed or killed run rolls the drop back with everything else.
Keys that are NOT VALID are left alone (re-adding them would not check the rows).
When a key cannot be dropped (not the owner, a lock held elsewhere, a dependent
object), the load simply runs with the keys in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

HOLD_MIN_ROWS = 500  # per table: below this, dropping and re-adding costs more than the checks it saves
LOCK_TIMEOUT = "2s"

# the validated keys declared on the tables or on their partitions, with the rows each table should get
# (a partition: its parent's rows shared among the partitions)
_KEYS = """
WITH loaded(schema, name, rows) AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[])),
     tables AS (
    SELECT c.oid, l.rows FROM loaded l
      JOIN pg_namespace n ON n.nspname = l.schema JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = l.name
), owners AS (
    SELECT oid, rows FROM tables
    UNION ALL
    SELECT i.inhrelid, t.rows / count(*) OVER (PARTITION BY i.inhparent) FROM pg_inherits i JOIN tables t
        ON t.oid = i.inhparent
)
SELECT n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid), obj_description(con.oid, 'pg_constraint')
  FROM pg_constraint con JOIN owners o ON o.oid = con.conrelid
  JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE con.contype = 'f' AND con.conparentid = 0 AND con.convalidated AND o.rows >= %s
 ORDER BY n.nspname, c.relname, con.conname
"""


@dataclass(frozen=True)
class HeldKey:
    """A foreign key dropped for the load; ``definition`` re-creates it as it was."""

    schema: str
    table: str
    name: str
    definition: str
    comment: str | None


def _table(key: HeldKey) -> sql.Composable:
    return sql.SQL("{}.{}").format(sql.Identifier(key.schema), sql.Identifier(key.table))


def _by_table(keys: list[HeldKey]) -> list[list[HeldKey]]:
    """The keys grouped per table (one ALTER TABLE each), in their order."""
    groups: dict[tuple[str, str], list[HeldKey]] = {}
    for key in keys:
        groups.setdefault((key.schema, key.table), []).append(key)
    return list(groups.values())


def hold_foreign_keys(cr: Any, rows: dict[tuple[str, str], int]) -> list[HeldKey]:
    """Drop the validated foreign keys of the tables in *rows* ((schema, name) -> rows to load) and of
    their partitions, where enough rows are loaded for it to pay; [] if dropping fails."""
    if not any(count >= HOLD_MIN_ROWS for count in rows.values()):
        return []
    cr.execute(_KEYS, ([schema for schema, _ in rows], [name for _, name in rows], list(rows.values()),
                       HOLD_MIN_ROWS))
    held = [HeldKey(*row) for row in cr.fetchall()]
    if not held:
        return []
    drops = [sql.SQL("ALTER TABLE {} {}").format(_table(keys[0]), sql.SQL(", ").join(
        sql.SQL("DROP CONSTRAINT {}").format(sql.Identifier(key.name)) for key in keys)) for keys in _by_table(held)]
    try:  # one round trip; a failure aborts the rest and the savepoint undoes what ran
        cr.execute(sql.SQL("; ").join([
            sql.SQL("SAVEPOINT devshell_hold_keys"),
            sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)), *drops,
            sql.SQL("SET LOCAL lock_timeout = DEFAULT"), sql.SQL("RELEASE SAVEPOINT devshell_hold_keys")]))
    except Exception:  # not the owner, a lock held elsewhere, a dependent object: keep the keys
        cr.execute("ROLLBACK TO SAVEPOINT devshell_hold_keys")
        return []
    return held


def restore_foreign_keys(cr: Any, held: list[HeldKey]) -> None:
    """Add the keys back exactly as they were; adding one checks every row of its table."""
    statements = [sql.SQL("ALTER TABLE {} {}").format(_table(keys[0]), sql.SQL(", ").join(
        sql.SQL("ADD CONSTRAINT {} {}").format(sql.Identifier(key.name), sql.SQL(key.definition)) for key in keys))
        for keys in _by_table(held)]
    statements += [sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
        sql.Identifier(key.name), _table(key), sql.Literal(key.comment)) for key in held if key.comment is not None]
    if statements:
        cr.execute(sql.SQL("; ").join(statements))
