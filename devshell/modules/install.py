"""Installing modules: data files in dependency order, inside one transaction, all or nothing.

Each module's ``data`` files run in manifest order: ``.sql`` files are executed,
``.csv`` files are loaded with COPY into the table named by the file's stem
(``data/library_author.csv`` -> ``library_author``; the header row names the
columns; an empty unquoted field is NULL). The module is then recorded in
``devshell_module``. A module already installed at the same version is skipped;
a new version runs its data files again, so:

- SQL files must be idempotent (``CREATE TABLE IF NOT EXISTS``, ``INSERT … ON CONFLICT``);
- a CSV file whose header holds its table's primary key (or the columns of a unique
  index) is upserted on that key, so rows changed in the file are updated; without
  such a key, its rows are appended again.

A transaction-level advisory lock serialises two installs on one database.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Sequence

from ..checks import raise_csv_field_limit
from .discovery import Module
from .manifest import ModuleError
from .state import installed_modules

#: pg_advisory_xact_lock key of module installs ("devs" in ASCII)
INSTALL_LOCK = 0x64657673


@dataclass(frozen=True)
class InstallStep:
    """One module of an install: its version, the version it replaced, and what happened."""

    name: str
    version: str
    previous: str | None
    ran: bool

    @property
    def action(self) -> str:
        if not self.ran:
            return "unchanged"
        if self.previous is None:
            return "installed"
        return "updated" if self.previous != self.version else "reinstalled"


def _error_text(exc: Any, source: str | None = None) -> str:
    """PostgreSQL's message, with the line of *source* it points at and COPY's context."""
    diag = getattr(exc, "diag", None)
    message = (getattr(diag, "message_primary", None) or str(exc)).strip().splitlines()[0]
    position = getattr(diag, "statement_position", None)
    if source is not None and position and str(position).isdigit():
        message = f"line {source[: int(position)].count(chr(10)) + 1}: {message}"
    context = getattr(diag, "context", None)
    if context and context.startswith("COPY"):
        message += f" ({context.splitlines()[0]})"
    return message


def _run_sql(cr: Any, path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    cr.execute(source)  # no parameters: '%' in the file is left alone


def _csv_header(path: Path) -> list[str]:
    raise_csv_field_limit()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header or any(not column.strip() for column in header):
        raise ValueError("the first row must name the columns (no empty names)")
    return [column.strip() for column in header]


def _conflict_key(cr: Any, table: Any, columns: list[str]) -> list[str]:
    """The primary key, else the first plain unique index, whose columns the CSV header all holds."""
    cr.execute(
        """SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indexprs IS NULL AND i.indpred IS NULL
            GROUP BY i.indexrelid, i.indisprimary
            ORDER BY i.indisprimary DESC, i.indexrelid""",
        (table.as_string(cr),),
    )
    for (key,) in cr.fetchall():
        if set(key) <= set(columns):
            return list(key)
    return []


def _load_csv(cr: Any, path: Path) -> None:
    """COPY the file into its table; upsert through a staging table when the header holds the key."""
    from psycopg2 import sql

    from ..db.connection import blocking_io

    columns = _csv_header(path)
    table = sql.Identifier(path.stem)
    names = sql.SQL(", ").join(sql.Identifier(column) for column in columns)
    key = _conflict_key(cr, table, columns)
    upsert = bool(key)
    target = sql.Identifier("devshell_csv_staging") if upsert else table
    if upsert:
        cr.execute(sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} LIMIT 0")
                   .format(target, names, table))
    copy = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')").format(target, names)
    with path.open("rb") as handle, blocking_io():
        cr.copy_expert(copy, handle, size=1024 * 1024)
    if upsert:
        others = [column for column in columns if column not in key]
        action = sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column)) for column in others
        )) if others else sql.SQL("DO NOTHING")
        cr.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
            table, names, names, target, sql.SQL(", ").join(sql.Identifier(column) for column in key), action))
        cr.execute(sql.SQL("DROP TABLE {}").format(target))


def _run_data_file(cr: Any, module: Module, name: str) -> None:
    import psycopg2

    path = module.path / PurePosixPath(name)
    try:
        if path.suffix.lower() == ".sql":
            _run_sql(cr, path)
        else:
            _load_csv(cr, path)
    except psycopg2.Error as exc:
        source = path.read_text(encoding="utf-8", errors="replace") if path.suffix.lower() == ".sql" else None
        raise ModuleError(f"module {module.name!r}: {name}: {_error_text(exc, source)}") from None
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise ModuleError(f"module {module.name!r}: {name}: {getattr(exc, 'strerror', None) or exc}") from None


def _record(cr: Any, module: Module) -> None:
    cr.execute(
        """INSERT INTO devshell_module (name, version, state, installed_at, updated_at)
           VALUES (%s, %s, 'installed', clock_timestamp(), clock_timestamp())
           ON CONFLICT (name) DO UPDATE
              SET version = EXCLUDED.version, state = 'installed', updated_at = clock_timestamp()""",
        (module.name, module.version),
    )


def apply_install(conn: Any, order: Sequence[Module], *, update: Iterable[str] = (),
                  commit: bool = True) -> list[InstallStep]:
    """Install *order* (already in dependency order) on *conn*, in its current transaction.

    Modules in *update* run their data files even at the same version. On any
    failure the transaction is rolled back and a :class:`ModuleError` raised; on
    success it is committed unless *commit* is False (the caller then commits).
    """
    if conn.autocommit and not commit:
        raise ValueError("commit=False needs a connection with autocommit off (the caller's transaction)")
    forced = set(update)
    steps: list[InstallStep] = []
    restore_autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT pg_advisory_xact_lock(%s)", (INSTALL_LOCK,))
            installed = installed_modules(cr)
            for module in order:
                previous = installed.get(module.name)
                if previous == module.version and module.name not in forced:
                    steps.append(InstallStep(module.name, module.version, previous, ran=False))
                    continue
                for name in module.manifest.data:
                    _run_data_file(cr, module, name)
                _record(cr, module)
                steps.append(InstallStep(module.name, module.version, previous, ran=True))
        if commit:
            conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if restore_autocommit:
            conn.autocommit = True
    return steps
