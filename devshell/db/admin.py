"""Database administration: list, create, drop, copy, dump and restore.

Plain functions taking a :class:`ServerAddress`, shared by the CLI and the
notebook API. Names are always quoted with ``psycopg2.sql``; dump and restore
stream through pg_dump / pg_restore in PostgreSQL's custom format, a chunk at a
time, so no dump is ever held in memory.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterator

from ..errors import DatabaseError
from .connection import MAINTENANCE_DB, ServerAddress, connect, server_version, validate_db_name

#: what the name of a staging database ends with (see .staging), in Python's and PostgreSQL's regex syntax
STAGING_PATTERN = r"__(restoring|initializing)_[0-9a-f]{8}$"

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor
    from psycopg2.sql import Composable

CHUNK = 1024 * 1024
Progress = Callable[[int], None]


@dataclass(frozen=True)
class DatabaseInfo:
    name: str
    owner: str
    size: int


@contextlib.contextmanager
def _maintenance(address: ServerAddress) -> Iterator["PgCursor"]:
    """A cursor on the maintenance database of the server itself (never through a pooler: CREATE DATABASE)."""
    conn = connect(address.direct, MAINTENANCE_DB, autocommit=True)
    try:
        with conn.cursor() as cr:
            yield cr
    finally:
        conn.close()


def _exists(cr: "PgCursor", name: str) -> bool:
    cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    return cr.fetchone() is not None


def list_databases(address: ServerAddress) -> list[DatabaseInfo]:
    """The databases a client may connect to, templates and the maintenance db left out."""
    with _maintenance(address) as cr:
        cr.execute(
            """SELECT d.datname, pg_get_userbyid(d.datdba),
                      CASE WHEN has_database_privilege(d.datname, 'CONNECT')
                           THEN pg_database_size(d.datname) ELSE 0 END
                 FROM pg_database d
                WHERE d.datallowconn AND NOT d.datistemplate AND d.datname <> %s AND d.datname !~ %s
                ORDER BY d.datname""",
            (MAINTENANCE_DB, STAGING_PATTERN),
        )
        return [DatabaseInfo(*row) for row in cr.fetchall()]


def database_exists(address: ServerAddress, name: str) -> bool:
    with _maintenance(address) as cr:
        return _exists(cr, name)


def create_database(address: ServerAddress, name: str, *, template: str | None = None) -> None:
    """Create *name*; an existing database is an error, never reused silently."""
    from psycopg2 import sql

    validate_db_name(name)
    with _maintenance(address) as cr:
        if _exists(cr, name):
            raise DatabaseError(f"database {name!r} already exists")
        if template is not None and not _exists(cr, template):
            raise DatabaseError(f"database {template!r} does not exist")
        query = sql.SQL("CREATE DATABASE {} ENCODING 'UTF8'").format(sql.Identifier(name))
        if template is not None:
            _disconnect_others(cr, template)
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        _execute_admin(cr, query, name)


def drop_database(address: ServerAddress, name: str, *, missing_ok: bool = False) -> bool:
    """Drop *name*, closing other sessions on it first; False when it did not exist."""
    from psycopg2 import sql

    with _maintenance(address) as cr:
        if not _exists(cr, name):
            if missing_ok:
                return False
            raise DatabaseError(f"database {name!r} does not exist")
        query = sql.SQL("DROP DATABASE {}").format(sql.Identifier(name))
        if server_version(cr.connection) >= 130000:
            query = sql.SQL("{} WITH (FORCE)").format(query)
        else:
            _disconnect_others(cr, name)
        _execute_admin(cr, query, name)
    return True


def rename_database(address: ServerAddress, old: str, new: str) -> None:
    """Rename *old* to *new* (which must not exist; nobody may be connected to *old*)."""
    from psycopg2 import sql

    validate_db_name(new)
    with _maintenance(address) as cr:
        _execute_admin(cr, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)),
                       new)


def copy_database(address: ServerAddress, source: str, target: str) -> None:
    """Copy *source* to a new database *target* (a template copy: one atomic server-side step)."""
    create_database(address, target, template=source)


def _disconnect_others(cr: "PgCursor", name: str) -> None:
    # CREATE DATABASE ... TEMPLATE needs the template to have no other sessions.
    cr.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )


def _execute_admin(cr: "PgCursor", query: "Composable", name: str) -> None:
    import psycopg2

    try:
        cr.execute(query)
    except psycopg2.Error as exc:
        message = (exc.pgerror or str(exc)).strip().splitlines()[0].removeprefix("ERROR:").strip()
        raise DatabaseError(f"{name}: {message}") from None


# -- dump and restore ----------------------------------------------------------------------

def _tool(name: str, bindir: str | None) -> str:
    from .binaries import find_bindir

    return str(find_bindir(bindir) / name)


def _tool_env(address: ServerAddress) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(address.direct.libpq_env())  # pg_dump and pg_restore hold a session: never through a pooler
    return env


def _dbname_arg(name: str) -> str:
    """A conninfo naming *name*: the tools would read a bare name holding "=" as a connection string."""
    escaped = name.replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{escaped}'"


def _tool_error(name: str, stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return f"{name} failed: {lines[-1] if lines else 'no message'}"


def dump_database(address: ServerAddress, name: str, out: IO[bytes], progress: Progress | None = None,
                  *, bindir: str | None = None) -> int:
    """Stream a custom-format dump of *name* into *out*; returns the bytes written."""
    if not database_exists(address, name):
        raise DatabaseError(f"database {name!r} does not exist")
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [_tool("pg_dump", bindir), "--format=custom", "--no-password", "--dbname", _dbname_arg(name)],
            stdout=subprocess.PIPE, stderr=errors, env=_tool_env(address),
        )
        assert proc.stdout is not None
        written = 0
        try:
            while chunk := proc.stdout.read(CHUNK):
                out.write(chunk)
                written += len(chunk)
                if progress:
                    progress(len(chunk))
        except BaseException:
            proc.kill()  # interrupted (or the output failed): pg_dump may be waiting for a lock
            raise
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            raise DatabaseError(_tool_error("pg_dump", errors.read().decode(errors="replace")))
    return written


def dump_to_file(address: ServerAddress, name: str, path: Path, progress: Progress | None = None,
                 *, bindir: str | None = None) -> int:
    """Dump into *path* through ``PATH.part``, renamed only once the dump is complete.

    The dump holds a lock on its ``.part`` file: a ``.part`` nobody holds was left
    by a killed dump and is taken over (then renamed or removed) by the next one,
    while one still held means another dump to the same file is running.
    """
    import fcntl

    partial = path.with_name(path.name + ".part")
    try:
        with open(partial, "ab") as out:
            try:
                fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if not _same_file(out.fileno(), partial):  # renamed by a dump that finished meanwhile
                    raise BlockingIOError
            except BlockingIOError:
                raise DatabaseError(f"another dump is writing {path} ({partial} is in use)") from None
            try:
                out.truncate(0)
                size = dump_database(address, name, out, progress, bindir=bindir)
                partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)  # before the lock goes: no other dump is between
    except OSError as exc:
        raise DatabaseError(f"cannot write {path}: {exc.strerror}") from None
    return size


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def restore_database(address: ServerAddress, name: str, source: IO[bytes],
                     progress: Progress | None = None, *, bindir: str | None = None) -> None:
    """Restore a custom-format dump into a new database *name*, all or nothing.

    The dump goes into a hidden database that is renamed to *name* only after
    pg_restore succeeded in a single transaction; on failure or interruption it is
    dropped, and one left by a killed run is dropped by the next (see :mod:`.staging`).
    """
    from .staging import new_database

    validate_db_name(name)
    exists = f"database {name!r} already exists: drop it first or restore under another name"
    if database_exists(address, name):
        raise DatabaseError(exists)
    with new_database(address, name, "restoring") as staging:
        if staging is None:  # another run made it meanwhile
            raise DatabaseError(exists)
        _restore_into(address, staging, source, progress, bindir)


def _restore_into(address: ServerAddress, staging: str, source: IO[bytes], progress: Progress | None,
                  bindir: str | None) -> None:
    """pg_restore of *source* into the empty database *staging*, in one transaction, streamed."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [_tool("pg_restore", bindir), "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
             "--no-password", "--dbname", _dbname_arg(staging)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=_tool_env(address),
        )
        assert proc.stdin is not None
        try:
            while chunk := source.read(CHUNK):
                proc.stdin.write(chunk)
                if progress:
                    progress(len(chunk))
        except BrokenPipeError:
            pass  # pg_restore stopped reading: its exit status and message say why
        except BaseException:
            proc.kill()  # interrupted: do not wait for a restore nobody will use
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            raise DatabaseError(_tool_error("pg_restore", errors.read().decode(errors="replace")))


def table_row_counts(address: ServerAddress, name: str) -> dict[str, int]:
    """Exact row counts of every ordinary table (for comparing a dump with its restore)."""
    from psycopg2 import sql

    conn = connect(address, name)
    try:
        with conn.cursor() as cr:
            cr.execute(
                """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                      AND n.nspname NOT LIKE 'pg_toast%%' ORDER BY 1, 2"""
            )
            counts: dict[str, int] = {}
            for schema, table in cr.fetchall():
                cr.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
                counts[f"{schema}.{table}"] = cr.fetchall()[0][0]  # count(*): always one row
            return counts
    finally:
        conn.close()
