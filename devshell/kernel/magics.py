"""The IPython extension: ``%devshell``, ``%%sql``, ``%commit`` and ``%rollback``.

The magics work on the ``env`` of the user namespace (the one the devshell
kernel or the shell bound, or the one ``%devshell connect DB`` binds), so code
and SQL share one transaction.

- ``%devshell connect [DB]`` binds ``env``, ``cr``, ``server()`` and the models;
  ``%devshell servers`` lists background servers; ``%devshell stop NAME|all``.
- ``%%sql`` (or ``%sql`` on one line) runs the cell; ``:name`` is the value of
  ``name`` in the namespace, passed as a parameter. The rows show as a table and
  are kept in ``_sql``; ``%%sql films <<`` stores them in ``films`` instead of
  showing them.
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

USAGE = "usage: %devshell connect [DB] | %devshell servers | %devshell stop NAME|all"
_STORE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*<<\s*(.*)$", re.DOTALL)


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
            f"<tr><td>{html.escape(h.name)}</td><td>{h.mode}</td><td><a href='{html.escape(h.url)}' "
            f"target='_blank'>{html.escape(h.url)}</a></td><td>{html.escape(h.status())}</td><td>{h.pid}</td></tr>"
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
        from ..repl import build_namespace

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

    def connect(self, db: str | None) -> str:
        from ..orm import connect

        try:
            env = connect(db)
        except DevshellError as exc:
            raise MagicError(exc.message) from None
        previous, notes = self._owned, []
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
    @line_magic("devshell")
    def devshell_magic(self, line: str) -> Any:
        """%devshell connect [DB] | servers | stop NAME|all"""
        from ..server.background.registry import servers, stop_all

        words = shlex.split(line)
        command, args = (words[0], words[1:]) if words else ("servers", [])
        if command == "connect" and len(args) <= 1:
            print(self.connect(args[0] if args else None))
            return None
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

    @line_cell_magic("sql")
    def sql_magic(self, line: str, cell: str | None = None) -> "SqlResult | None":
        """Run SQL on env (``:name`` = the variable name); rows in _sql, or in NAME with ``%%sql NAME <<``."""
        from .sql import run_sql

        target = None
        query = line if cell is None else cell
        stored = _STORE.match(line)
        if stored:
            target = stored.group(1)
            query = stored.group(2) if cell is None else stored.group(2) + "\n" + cell
        elif cell is not None and line.strip():
            raise MagicError("%%sql takes no arguments but an optional `NAME <<` that stores the rows in NAME")
        if not query.strip():
            raise MagicError("no SQL to run")
        try:
            result = run_sql(self.env(), query, self.shell.user_ns)
        except UsageError as exc:
            raise MagicError(exc.message) from None
        self.shell.user_ns["_sql"] = result
        if target is not None:
            self.shell.user_ns[target] = result
            return None
        return result

    @line_magic("commit")
    def commit_magic(self, line: str) -> None:
        """Commit env's transaction."""
        env = self.env()
        pending = env.pending_writes
        env.commit()
        print(f"committed on {env.db!r} ({pending} statement{'s' if pending != 1 else ''})")

    @line_magic("rollback")
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
    magics = DevshellMagics(shell)
    shell.register_magics(magics)
    shell._devshell_magics = magics  # type: ignore[attr-defined]
    return magics
