"""User triggers around a load: off by default (as ``pg_restore --disable-triggers``), or kept firing.

Off: inside the load's transaction each enabled user trigger of the loaded tables
(and of their partitions) is disabled, and enabled again, in the mode it had,
before the commit; a failed or killed run rolls that back with everything else.
Foreign keys are internal triggers and are never touched here.

Firing (``--triggers``): a BEFORE INSERT row trigger may replace the values
devshell made, an id from its own sequence for instance. The tables whose keys
other rows point at are then loaded with ``INSERT … RETURNING`` and the keys the
trigger gave are read back before any child row is made (see
:func:`.loader.insert_returning`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from psycopg2 import sql

from ..errors import DatabaseError

ROW, BEFORE, INSERT = 1, 2, 4  # pg_trigger.tgtype bits
ENABLE = {"O": "ENABLE TRIGGER", "A": "ENABLE ALWAYS TRIGGER", "R": "ENABLE REPLICA TRIGGER"}

# the enabled user triggers of the loaded tables and of their partitions (any depth)
_TRIGGERS = """
WITH RECURSIVE loaded(oid, owner) AS (
    SELECT c.oid, l.key FROM unnest(%s::text[], %s::text[], %s::text[]) AS l(schema, name, key)
      JOIN pg_namespace n ON n.nspname = l.schema JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = l.name
    UNION
    SELECT i.inhrelid, l.owner FROM pg_inherits i JOIN loaded l ON l.oid = i.inhparent
      JOIN pg_class k ON k.oid = i.inhrelid AND k.relispartition
)
SELECT l.owner, n.nspname, c.relname, t.tgname, t.tgenabled, t.tgtype
  FROM pg_trigger t JOIN loaded l ON l.oid = t.tgrelid
  JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
 ORDER BY n.nspname, c.relname, t.tgname
"""


@dataclass(frozen=True)
class Trigger:
    """One enabled user trigger; *owner* is the catalog key of the loaded table it fires for."""

    owner: str
    schema: str
    table: str
    name: str
    mode: str  # pg_trigger.tgenabled: O, A (always) or R (replica)
    kind: int  # pg_trigger.tgtype

    @property
    def assigns_values(self) -> bool:
        """A BEFORE INSERT row trigger: it may change the row devshell sends."""
        return self.kind & (ROW | BEFORE | INSERT) == ROW | BEFORE | INSERT


def user_triggers(cr: Any, tables: Iterable[tuple[str, str, str]]) -> list[Trigger]:
    """The enabled user triggers of *tables* ((schema, name, catalog key) each) and their partitions."""
    tables = list(tables)
    if not tables:
        return []
    cr.execute(_TRIGGERS, ([t[0] for t in tables], [t[1] for t in tables], [t[2] for t in tables]))
    return [Trigger(*row) for row in cr.fetchall()]


def _alter(triggers: list[Trigger], action: Any) -> sql.Composable:
    """One ``ALTER TABLE ONLY`` per relation (a partitioned parent would recurse otherwise)."""
    by_table: dict[tuple[str, str], list[Trigger]] = {}
    for trigger in triggers:
        by_table.setdefault((trigger.schema, trigger.table), []).append(trigger)
    return sql.SQL("; ").join(
        sql.SQL("ALTER TABLE ONLY {}.{} {}").format(sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.SQL(action(t)), sql.Identifier(t.name)) for t in group))
        for (schema, table), group in by_table.items())


def disable_triggers(cr: Any, triggers: list[Trigger]) -> None:
    """Disable *triggers* in the current transaction; a role that may not gets one clear error."""
    import psycopg2

    if not triggers:
        return
    cr.execute("SAVEPOINT devshell_triggers")
    try:
        cr.execute(_alter(triggers, lambda _: "DISABLE TRIGGER"))
    except psycopg2.Error as exc:
        cr.execute("ROLLBACK TO SAVEPOINT devshell_triggers")
        table = getattr(exc.diag, "table_name", None) or triggers[0].table
        first = (exc.pgerror or str(exc)).strip().splitlines()[0].removeprefix("ERROR:").strip()
        raise DatabaseError(f"cannot disable the triggers of {table} for the load ({first}): populate as the "
                            "owner of the tables, or pass --triggers to keep them firing") from None
    cr.execute("RELEASE SAVEPOINT devshell_triggers")


def enable_triggers(cr: Any, triggers: list[Trigger]) -> None:
    """Enable *triggers* again, each in the mode it had (origin, always or replica)."""
    if triggers:
        cr.execute(_alter(triggers, lambda trigger: ENABLE[trigger.mode]))


def describe(triggers: list[Trigger], kept: bool) -> str:
    """The summary's line about triggers ("" when the loaded tables have none)."""
    if not triggers:
        return ""
    count, tables = len(triggers), len({t.owner for t in triggers})
    what = f"{count} user trigger{'s' if count > 1 else ''} on {tables} table{'s' if tables > 1 else ''}"
    if kept:
        return f"triggers: {what} fired during the load (--triggers)"
    return f"triggers: {what} disabled during the load, enabled again before the commit (--triggers keeps them firing)"
