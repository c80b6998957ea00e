"""The IPython extension: ``%devshell``, ``%%sql``, ``%commit`` and ``%rollback``.

The magics work on the ``env`` of the user namespace (the one the devshell
kernel or the shell bound, or the one ``%devshell connect DB`` binds), so code
and SQL share one transaction.

- ``%devshell connect [DB] [--scratch NAME]`` binds ``env``, ``cr``, ``server()``
  and the models; with no database given or configured and the embedded server,
  ``--scratch NAME`` creates (once) and binds a scratch database of that name.
- ``%devshell sql-log on [MIN_MS] | off`` echoes env's SQL statements.
- ``%devshell servers`` lists background servers; ``%devshell stop NAME|all``.
- ``%%sql [--limit N]`` (or ``%sql`` on one line) runs the cell; ``:name`` is the
  value of ``name`` in the namespace, passed as a parameter. A query fetches at
  most ``sql_autolimit`` rows (``--limit``; 0: all) through a server-side cursor.
  The rows show as a table and are kept in ``_sql``; ``%%sql films <<`` stores
  them in ``films`` instead (``films.to_pandas()``).

Loading the extension also puts each cell under a savepoint (a failed cell is
rolled back alone, see :mod:`devshell.shell.savepoints`) and completes table and
column names in ``%%sql`` cells (:mod:`.completion`).
"""

from __future__ import annotations

import html
import re
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class

from ..errors import DevshellError, UsageError

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from ..orm import Environment
    from ..server.background.handle import ServerHandle
    from .sql import SqlResult

USAGE = ("usage: %devshell connect [DB] [--scratch NAME] | %devshell sql-log on [MIN_MS]|off | "
         "%devshell servers | %devshell stop NAME|all")
_STORE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*<<\s*(.*)$", re.DOTALL)
_LIMIT = re.compile(r"^\s*--limit(?:\s+|=)(\S+)\s*(.*)$", re.DOTALL)


class MagicError(DevshellError):
    """An expected failure in a magic: one line, no traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"devshell: error: {self.message}"]


class ServerTable:
    """``%devshell servers``: a table in a notebook, lines in a terminal."""

    def __init__(self, handles: list["ServerHandle"]) -> None:
        self.handles = handles

    def __repr__(self) -> str:
        if not self.handles:
            return "no servers (start one with server() or devshell.start_server())"
        return "\n".join(f"{h.name}  {h.mode}  {h.url}  {h.status()}  pid {h.pid}" for h in self.handles)

    def _repr_html_(self) -> str:
        if not self.handles:
            return f"<p>{html.escape(repr(self))}</p>"
        rows = "".join(
            f"<tr><td>{html.escape(h.name)}</td><td>{h.mode}</td><td><a href='{html.escape(h.public_url)}' "
            f"target='_blank'>{html.escape(h.public_url)}</a></td><td>{html.escape(h.status())}</td>"
            f"<td>{h.pid}</td></tr>"
            for h in self.handles)
        return ("<table><thead><tr><th>name</th><th>mode</th><th>url</th><th>state</th><th>pid</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")


@magics_class
class DevshellMagics(Magics):
    """Magics bound to the ``env`` of the user namespace."""

    shell: "InteractiveShell"  # type: ignore[assignment]  # IPython's Magics declares `shell = None`

    def __init__(self, shell: "InteractiveShell") -> None:
        super().__init__(shell)
        self._bound: dict[str, Any] = {}  #: names we put in the namespace, to take back on a new connect
        self._owned: Environment | None = None  #: the environment we opened (closed on the next connect)

    # -- the environment -------------------------------------------------------------------------
    def env(self) -> "Environment":
        from ..orm import Environment

        env = self.shell.user_ns.get("env")
        if not isinstance(env, Environment):
            raise MagicError("no environment: run %devshell connect DB first")
        if env.conn.closed:
            raise MagicError(f"the connection to {env.db!r} is closed: run %devshell connect {env.db}")
        return env

    def bind(self, env: "Environment", *, owned: bool = True) -> dict[str, Any]:
        """Put *env*, ``cr``, ``server()`` and the models in the namespace, replacing a previous binding.

        An *owned* environment is closed when another one is bound; one the shell opened is left alone.
        """
        from ..shell import build_namespace

        namespace = build_namespace(env)
        namespace.pop("__name__", None)
        user_ns = self.shell.user_ns
        for name, value in self._bound.items():
            if user_ns.get(name) is value:
                del user_ns[name]
        user_ns.update(namespace)
        self._bound = namespace
        self._owned = env if owned else None
        return namespace

    def connect(self, db: str | None, scratch: str | None = None) -> str:
        from ..orm import connect

        notes: list[str] = []
        try:
            if db is None and scratch is not None:
                db = scratch_database(scratch, notes)
            env = connect(db)
        except DevshellError as exc:
            raise MagicError(exc.message) from None
        previous = self._owned
        if previous is not None and not previous.conn.closed:
            if previous.pending_writes:
                notes.append(f"{previous.pending_writes} uncommitted statement(s) on {previous.db!r} rolled back")
            previous.close()
        from .app import forget_bind_error

        forget_bind_error(self.shell)
        namespace = self.bind(env)
        models = [name for name in namespace if name not in ("env", "cr", "devshell", "server")]
        return "\n".join([*notes, f"connected to {env.db!r}: env, cr, server(); {len(env.registry.models)} "
                          f"models" + (f" ({', '.join(models[:8])}{', …' if len(models) > 8 else ''})"
                                       if models else "")])

    # -- magics ----------------------------------------------------------------------------------
    @line_magic("devshell")  # type: ignore[arg-type]  # IPython 9 types the named form as a union
    def devshell_magic(self, line: str) -> Any:
        """%devshell connect [DB] | servers | stop NAME|all"""
        from ..server.background.registry import servers, stop_all

        words = shlex.split(line)
        command, args = (words[0], words[1:]) if words else ("servers", [])
        if command == "connect":
            scratch = None
            if "--scratch" in args:
                at = args.index("--scratch")
                if at + 1 >= len(args):
                    raise MagicError(USAGE)
                scratch = args[at + 1]
                args = args[:at] + args[at + 2:]
            if len(args) <= 1:
                print(self.connect(args[0] if args else None, scratch))
                return None
        if command == "sql-log" and args and args[0] in ("on", "off") and len(args) <= 2:
            return self.sql_log(args[0] == "on", args[1] if len(args) > 1 else None)
        if command == "servers" and not args:
            return ServerTable(servers())
        if command == "stop" and len(args) == 1:
            chosen = servers() if args[0] == "all" else [h for h in servers() if h.name == args[0]]
            if not chosen:
                raise MagicError(f"no server named {args[0]!r}: %devshell servers lists them")
            if args[0] == "all":
                stop_all()
            else:
                chosen[0].stop()
            return ServerTable(chosen)
        raise MagicError(USAGE)

    def sql_log(self, on: bool, min_ms: str | None) -> None:
        env = self.env()
        try:
            threshold = float(min_ms) if min_ms is not None else None
        except ValueError:
            raise MagicError(f"MIN_MS must be a number of milliseconds, not {min_ms!r}") from None
        env.log_sql(on, threshold)
        if on:
            echo = env.cr.echo
            least = f" taking {echo.min_ms:g} ms or more" if echo is not None and echo.min_ms else ""
            print(f"SQL echo on for {env.db!r}: each statement{least}, with its parameters and duration")
        else:
            print(f"SQL echo off for {env.db!r}")

    @line_cell_magic("sql")  # type: ignore[arg-type]  # IPython 9 types the named form as a union
    def sql_magic(self, line: str, cell: str | None = None) -> "SqlResult | None":
        """Run SQL on env (``:name`` = the variable name); rows in _sql, or in NAME with ``%%sql NAME <<``.

        ``--limit N`` fetches at most N rows (0: all; default: the ``sql_autolimit`` setting).
        """
        from .sql import run_sql

        env = self.env()
        limit = env.config["sql_autolimit"] if env.config is not None else 1000
        given = _LIMIT.match(line)
        if given:
            try:
                limit = int(given.group(1))
            except ValueError:
                raise MagicError(f"--limit takes a number of rows, not {given.group(1)!r}") from None
            if limit < 0:
                raise MagicError("--limit takes a number of rows (0: all)")
            line = given.group(2)
        target = None
        query = line if cell is None else cell
        stored = _STORE.match(line)
        if stored:
            target = stored.group(1)
            query = stored.group(2) if cell is None else stored.group(2) + "\n" + cell
        elif cell is not None and line.strip():
            raise MagicError("%%sql takes no arguments but `--limit N` and `NAME <<` (which stores the rows in NAME)")
        if not query.strip():
            raise MagicError("no SQL to run")
        try:
            result = run_sql(env, query, self.shell.user_ns, limit)
        except UsageError as exc:
            raise MagicError(exc.message) from None
        self.shell.user_ns["_sql"] = result
        if target is not None:
            self.shell.user_ns[target] = result
            return None
        return result

    @line_magic("commit")  # type: ignore[arg-type]  # IPython 9 types the named form as a union
    def commit_magic(self, line: str) -> None:
        """Commit env's transaction."""
        env = self.env()
        pending = env.pending_writes
        env.commit()
        print(f"committed on {env.db!r} ({pending} statement{'s' if pending != 1 else ''})")

    @line_magic("rollback")  # type: ignore[arg-type]  # IPython 9 types the named form as a union
    def rollback_magic(self, line: str) -> None:
        """Roll env's transaction back."""
        env = self.env()
        pending = env.pending_writes
        env.rollback()
        print(f"rolled back on {env.db!r} ({pending} statement{'s' if pending != 1 else ''})")


def register(shell: "InteractiveShell") -> DevshellMagics:
    """Register the magics on *shell* once and return them."""
    existing = getattr(shell, "_devshell_magics", None)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    from ..shell.savepoints import StatementSavepoints
    from .completion import register_sql_completion

    magics = DevshellMagics(shell)
    shell.register_magics(magics)
    shell._devshell_magics = magics  # type: ignore[attr-defined]
    savepoints = StatementSavepoints(lambda: shell.user_ns.get("env"))
    shell.events.register("pre_run_cell", lambda info: savepoints.begin())
    shell.events.register("post_run_cell", lambda result: savepoints.end(not result.success))
    register_sql_completion(shell)
    return magics


def scratch_database(name: str, notes: list[str]) -> str:
    """The configured database, else *name* on the embedded server, created with ``base`` the first time."""
    from ..config import load_config
    from ..db.admin import database_exists
    from ..modules import init_database
    from ..site import Site

    site = Site(load_config())
    if site.db_name:
        return site.db_name
    address = site.address
    if not address.embedded:
        raise MagicError(f"no database configured, and {address.describe()} is not devshell's own: "
                         "%devshell connect DB")
    if not database_exists(address, name):
        init_database(site, name, [])
        notes.append(f"created the scratch database {name!r} on {address.describe()} (base installed)")
    return name
