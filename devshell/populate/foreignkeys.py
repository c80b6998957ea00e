"""Foreign keys checked once after a big load instead of once per row during it.

PostgreSQL checks a foreign key row by row while COPY inserts (a trigger and a
lookup per row and key: the load runs several times slower). Checking every key
once after the load, with one anti-join each, gives the same guarantee for a
fraction of the cost. Two ways to get there, both inside the load's transaction
(a failed or killed run rolls everything back):

* ``disabled`` (a superuser): the keys' internal check triggers are switched off
  on the loaded tables (one lock per table, whatever the number of keys), switched
  back on before the commit, and every key is validated by a query. A violation
  is then raised by PostgreSQL itself: the offending row is touched, which fires
  its key's check as an insert would.
* ``dropped`` (any owner): the keys are dropped and added back with their exact
  definitions (``pg_get_constraintdef``: actions, MATCH, DEFERRABLE) and comments,
  which validates every row. Dropping a key takes five lock slots (the key and
  its four triggers) that stay taken until the commit, and the server's lock
  table is small by default (``max_locks_per_transaction`` 64 per connection):
  only the keys of the biggest tables that fit in what is free are dropped, the
  others are checked row by row — and the summary says so.

Keys that are NOT VALID are left alone. When nothing can be held (not the owner,
a lock held elsewhere), the load runs with the keys checked row by row, and the
:class:`KeyHold` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from psycopg2 import sql

from .keycheck import validate

HOLD_MIN_ROWS = 500  # per table: below this, holding and validating costs more than the checks it saves
LOCK_TIMEOUT = "2s"
LOCKS_PER_KEY = 5  # a dropped key locks itself and its four triggers until the commit
LOCK_MARGIN = 0.25  # share of the server's lock table left to other sessions and to what is not counted

# the validated keys declared on the tables or on their partitions, with the rows each table should get
# (a partition: its parent's rows shared among the partitions), and what validating one needs
_KEYS = """
WITH loaded(schema, name, rows) AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[])),
     tables AS (
    SELECT c.oid, l.rows FROM loaded l
      JOIN pg_namespace n ON n.nspname = l.schema JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = l.name
), owners AS (
    SELECT oid, rows FROM tables
    UNION
    SELECT i.inhrelid, t.rows / count(*) OVER (PARTITION BY i.inhparent) FROM pg_inherits i
      JOIN tables t ON t.oid = i.inhparent JOIN pg_class p ON p.oid = i.inhrelid AND p.relispartition
)
SELECT DISTINCT ON (con.oid) n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid),
       obj_description(con.oid, 'pg_constraint'), o.rows, con.oid, c.relkind = 'p', fn.nspname, fc.relname,
       fc.relkind = 'p', ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, i)
                                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.i),
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, i)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.i),
       con.confmatchtype = 'f'
  FROM pg_constraint con JOIN owners o ON o.oid = con.conrelid
  JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class fc ON fc.oid = con.confrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
 WHERE con.contype = 'f' AND con.conparentid = 0 AND con.convalidated AND o.rows >= %s
 ORDER BY con.oid
"""
# the internal triggers that check the referencing side of these keys (on partitions too)
_CHECK_TRIGGERS = """
WITH RECURSIVE keys(oid) AS (
    SELECT unnest(%s::oid[])
    UNION
    SELECT con.oid FROM pg_constraint con JOIN keys k ON con.conparentid = k.oid
)
SELECT n.nspname, c.relname, t.tgname FROM pg_trigger t JOIN keys k ON k.oid = t.tgconstraint
  JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE t.tgisinternal AND t.tgenabled <> 'D'
   AND t.tgfoid IN ('pg_catalog."RI_FKey_check_ins"'::regproc, 'pg_catalog."RI_FKey_check_upd"'::regproc)
 ORDER BY 1, 2, 3
"""
# how many lock slots the server has, how many are taken, and may this role switch system triggers off
_LOCK_BUDGET = """
SELECT current_setting('max_locks_per_transaction')::int * (current_setting('max_connections')::int
         + current_setting('max_prepared_transactions')::int + current_setting('autovacuum_max_workers')::int
         + current_setting('max_worker_processes')::int + current_setting('max_wal_senders')::int + 1),
       (SELECT count(*) FROM pg_locks WHERE NOT fastpath),
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_setting('max_locks_per_transaction')
"""
# relations a load locks: the tables, their partitions, indexes and TOAST tables (one slot each)
_LOAD_LOCKS = """
WITH loaded(schema, name) AS (SELECT * FROM unnest(%s::text[], %s::text[])),
     rels AS (
    SELECT c.oid, c.reltoastrelid FROM loaded l JOIN pg_namespace n ON n.nspname = l.schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = l.name
    UNION
    SELECT p.oid, p.reltoastrelid FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
     WHERE i.inhparent IN (SELECT c.oid FROM loaded l JOIN pg_namespace n ON n.nspname = l.schema
                             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = l.name)
)
SELECT count(*) + count(NULLIF(reltoastrelid, 0)) * 2
       + (SELECT count(*) FROM pg_index WHERE indrelid IN (SELECT oid FROM rels)) FROM rels
"""


@dataclass(frozen=True)
class HeldKey:
    """A foreign key checked after the load; ``definition`` re-creates it as it was."""

    schema: str
    table: str
    name: str
    definition: str
    comment: str | None
    rows: int = 0
    oid: int = 0
    partitioned: bool = False
    ref_schema: str = ""
    ref_table: str = ""
    ref_partitioned: bool = False
    columns: tuple[str, ...] = ()
    ref_columns: tuple[str, ...] = ()
    match_full: bool = False


@dataclass
class KeyHold:
    """What a load does with its foreign keys: ``disabled`` and validated, ``dropped`` and re-added, or
    ``kept`` (checked row by row); ``row_by_row`` counts the keys of big tables left to the per-row checks."""

    mode: str = "kept"
    keys: list[HeldKey] = field(default_factory=list)
    triggers: list[tuple[str, str, str]] = field(default_factory=list)  # (schema, table, trigger) switched off
    row_by_row: int = 0
    reason: str = ""

    @property
    def note(self) -> str:
        """One line for the summary ("" when every key worth holding was held)."""
        done = {"disabled": f"{len(self.keys)} foreign keys checked once after the load",
                "dropped": f"{len(self.keys)} foreign keys dropped and re-added"}.get(self.mode, "")
        if not self.row_by_row:
            return done
        rest = f"{self.row_by_row} foreign keys checked row by row ({self.reason})"
        return f"{done}; {rest}" if done else rest


def _table(schema: str, name: str) -> sql.Composable:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _by_table(keys: list[HeldKey]) -> list[list[HeldKey]]:
    """The keys grouped per table (one ALTER TABLE each), in their order."""
    groups: dict[tuple[str, str], list[HeldKey]] = {}
    for key in keys:
        groups.setdefault((key.schema, key.table), []).append(key)
    return list(groups.values())


def hold_foreign_keys(cr: Any, rows: dict[tuple[str, str], int]) -> KeyHold:
    """Take the row-by-row checks off the validated foreign keys of the tables in *rows* ((schema, name)
    -> rows to load) and of their partitions, where enough rows are loaded for it to pay."""
    if not any(count >= HOLD_MIN_ROWS for count in rows.values()):
        return KeyHold()
    cr.execute(_KEYS, ([schema for schema, _ in rows], [name for _, name in rows], list(rows.values()),
                       HOLD_MIN_ROWS))
    keys = [HeldKey(schema, table, name, definition, comment, count, oid, partitioned, ref_schema, ref_table,
                    ref_partitioned, tuple(columns), tuple(ref_columns), match_full)
            for schema, table, name, definition, comment, count, oid, partitioned, ref_schema, ref_table,
            ref_partitioned, columns, ref_columns, match_full in cr.fetchall()]
    if not keys:
        return KeyHold()
    cr.execute(_LOCK_BUDGET)
    slots, taken, superuser, per_transaction = cr.fetchone()
    if superuser:
        held = _disable(cr, keys)
        if held is not None:
            return held
    cr.execute(_LOAD_LOCKS, ([schema for schema, _ in rows], [name for _, name in rows]))
    free = max(int(slots * (1 - LOCK_MARGIN)) - taken - cr.fetchone()[0], 0)
    chosen = _within(keys, free // LOCKS_PER_KEY)
    reason = (f"dropping them all would overflow the server's lock table: max_locks_per_transaction is "
              f"{per_transaction}; a superuser run checks every key once")
    return _drop(cr, chosen, len(keys) - len(chosen), reason)


def _within(keys: list[HeldKey], budget: int) -> list[HeldKey]:
    """Whole tables' keys, biggest tables first, as many as *budget* keys."""
    chosen: set[int] = set()
    for group in sorted(_by_table(keys), key=lambda group: -group[0].rows):
        if len(chosen) + len(group) <= budget:
            chosen.update(key.oid for key in group)
    return [key for key in keys if key.oid in chosen]


def _disable(cr: Any, keys: list[HeldKey]) -> KeyHold | None:
    """Switch the keys' check triggers off (None when that is refused: a lock held elsewhere)."""
    cr.execute(_CHECK_TRIGGERS, ([key.oid for key in keys],))
    triggers: list[tuple[str, str, str]] = [(schema, table, name) for schema, table, name in cr.fetchall()]
    return KeyHold("disabled", keys, triggers) if _guarded(cr, _switch(triggers, "DISABLE")) else None


def _switch(triggers: list[tuple[str, str, str]], action: str) -> list[sql.Composable]:
    """ENABLE or DISABLE *triggers*: one ALTER TABLE per table."""
    by_table: dict[tuple[str, str], list[str]] = {}
    for schema, table, trigger in triggers:
        by_table.setdefault((schema, table), []).append(trigger)
    return [sql.SQL("ALTER TABLE {} {}").format(_table(*table), sql.SQL(", ").join(
        sql.SQL(action + " TRIGGER {}").format(sql.Identifier(name)) for name in names))
        for table, names in by_table.items()]


def _guarded(cr: Any, statements: Sequence[sql.Composable]) -> bool:
    """Run *statements* in one round trip under a savepoint and a lock timeout; False (undone) on error."""
    try:
        cr.execute(sql.SQL("; ").join([
            sql.SQL("SAVEPOINT devshell_hold_keys"),
            sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)), *statements,
            sql.SQL("SET LOCAL lock_timeout = DEFAULT"), sql.SQL("RELEASE SAVEPOINT devshell_hold_keys")]))
    except Exception:  # not the owner, a lock held elsewhere, a dependent object
        cr.execute("ROLLBACK TO SAVEPOINT devshell_hold_keys; RELEASE SAVEPOINT devshell_hold_keys")
        return False
    return True


def _drop(cr: Any, keys: list[HeldKey], left: int, reason: str) -> KeyHold:
    if not keys:
        return KeyHold("kept", [], [], left, reason)
    drops = [sql.SQL("ALTER TABLE {} {}").format(_table(group[0].schema, group[0].table), sql.SQL(", ").join(
        sql.SQL("DROP CONSTRAINT {}").format(sql.Identifier(key.name)) for key in group)) for group in _by_table(keys)]
    if not _guarded(cr, drops):
        return KeyHold("kept", [], [], len(keys) + left, "they could not be dropped: not the owner, or a lock "
                                                          "is held elsewhere")
    return KeyHold("dropped", keys, [], left, reason)


def restore_foreign_keys(cr: Any, hold: KeyHold) -> None:
    """Every held key checks every row again: re-added, or its triggers back on and validated."""
    if hold.mode == "dropped":
        statements = [sql.SQL("ALTER TABLE {} {}").format(_table(group[0].schema, group[0].table),
                                                          sql.SQL(", ").join(
            sql.SQL("ADD CONSTRAINT {} {}").format(sql.Identifier(key.name), sql.SQL(key.definition))
            for key in group)) for group in _by_table(hold.keys)]
        statements += [sql.SQL("COMMENT ON CONSTRAINT {} ON {} IS {}").format(
            sql.Identifier(key.name), _table(key.schema, key.table), sql.Literal(key.comment))
            for key in hold.keys if key.comment is not None]
        cr.execute(sql.SQL("; ").join(statements))
    elif hold.mode == "disabled":
        if hold.triggers:
            cr.execute(sql.SQL("; ").join(_switch(hold.triggers, "ENABLE")))
        validate(cr, hold.keys)
