"""One shell session: the namespace bound to an environment, run as code, a script, stdin or a REPL.

Transactions follow one rule whatever the form: the work is rolled back at the
end unless ``--commit`` was given (or the user called ``env.commit()``), and
uncommitted writes thrown away are reported; with ``--commit``, an exception
rolls back and the exit code is 1. In a REPL each statement runs under a
savepoint (:mod:`.savepoints`). ``--shell-file`` files (and, in a REPL,
``$PYTHONSTARTUP``) run in the namespace first. Nothing here binds a port or
starts cron. The ``-c``, script and stdin forms import no REPL library.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import keyword
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from ..console import warn
from ..errors import DevshellError, UsageError
from ..settings import SETTINGS

if TYPE_CHECKING:
    from ..orm import Environment
    from ..site import Site

INTERFACES = SETTINGS["shell_interface"].choices  #: in order of preference
_IMPORT_NAMES = {"ipython": "IPython", "ptpython": "ptpython", "bpython": "bpython", "python": "code"}


def available_interfaces() -> list[str]:
    """Installed REPLs in order of preference (found without importing them)."""
    return [name for name in INTERFACES if importlib.util.find_spec(_IMPORT_NAMES[name]) is not None]


def choose_interface(requested: str | None) -> str:
    """The REPL to run: the one asked for (it must be installed), else the first installed."""
    if requested:
        name = requested.lower()
        if name not in INTERFACES:
            raise UsageError(f"unknown shell interface {requested!r}: choose one of {', '.join(INTERFACES)}")
        if name not in available_interfaces():
            raise DevshellError(f"the {name} shell is not installed: pip install {name}")
        return name
    return available_interfaces()[0]


def run_shell(site: "Site", *, code: str | None = None, script: str | None = None, args: Sequence[str] = (),
              commit: bool = False, log_sql: bool = False, shell_files: Sequence[str] = ()) -> int:
    """``devshell shell``: run *code*, *script* (``-`` or piped stdin) or a REPL on *site*'s database.

    The database name is checked first, so a forgotten ``-d`` fails at once,
    before any cluster is started; an interactive REPL is checked before
    connecting. Returns the exit code (see :meth:`Shell.finish`). *log_sql* (or
    the ``log_sql`` setting) echoes the statements run once the namespace is built.
    """
    db = site.require_database()
    for path in shell_files:
        if not os.path.isfile(path):
            raise UsageError(f"--shell-file {path}: no such file")
    if code is None and script is None and not sys.stdin.isatty():
        script = "-"
    interface = None
    if code is None and script is None:
        interface = choose_interface(site.config["shell_interface"])
    from ..orm import connect

    env = connect(db, config=site.config, address=site.address)
    try:
        shell = Shell(env, commit=commit, server=site.address.describe(), site=site, shell_files=list(shell_files))
        if log_sql or site.config["log_sql"]:
            env.log_sql(True)  # after the namespace: devshell's own startup queries are not echoed
        if code is not None:
            return shell.run_code(code, "<string>", ["-c", *([script] if script else []), *args])
        if script == "-":
            return shell.run_code(sys.stdin.read(), "<stdin>", ["-", *args])
        if script is not None:
            return shell.run_script(script, list(args))
        assert interface is not None
        return shell.interact(interface, history_folder(site.config.data_dir))
    finally:
        env.close()


def build_namespace(env: "Environment", site: "Site | None" = None) -> dict[str, Any]:
    """``env``, ``cr``, ``devshell``, ``server()``, one name per model where the name is free, then what
    modules add. ``server(mode=…, **options)`` starts a server on this database in the background; its log
    lines stay in its handle (``.logs()``), never on the terminal."""
    from ..server.background.launch import server_function

    # The public package (the top of this module's dotted name) is imported before this module: no new import.
    public_api = sys.modules[__name__.partition(".")[0]]
    namespace: dict[str, Any] = {"env": env, "cr": env.cr, "devshell": public_api,
                                 "server": server_function(env.db, env.config), "__name__": "__main__"}
    for name, model in sorted(env.registry.models.items()):
        if name.isidentifier() and not keyword.iskeyword(name) and name not in namespace \
                and not hasattr(builtins, name):
            namespace[name] = model
    namespace.update(_module_context(env, site))
    return namespace


def _module_context(env: "Environment", site: "Site | None") -> dict[str, Any]:
    """Names contributed by installed modules' ``shell_context`` functions (found on *site*'s addons path)."""
    installed = env.registry.modules
    if not installed:
        return {}
    from ..modules import shell_context_for

    return shell_context_for(env, list(installed), addons=site.addons if site is not None else None)


@dataclass
class Shell:
    """One shell run: an environment, its namespace and the transaction rule."""

    env: "Environment"
    commit: bool = False
    server: str = ""
    namespace: dict[str, Any] = field(default_factory=dict)
    site: "Site | None" = None
    shell_files: list[str] = field(default_factory=list)  #: ``--shell-file``: run in the namespace first

    def __post_init__(self) -> None:
        if not self.namespace:
            self.namespace = build_namespace(self.env, self.site)

    # -- non-interactive forms -----------------------------------------------------------
    def run_code(self, source: str, filename: str = "<string>", argv: list[str] | None = None) -> int:
        """Run *source* like ``python -c``/a script; returns the exit code after the transaction rule."""
        saved_argv = sys.argv
        sys.argv = argv if argv is not None else [filename]
        try:
            for path in self.shell_files:
                exec(compile(Path(path).read_text(), path, "exec"), self.namespace)
            code = compile(source, filename, "exec")
            exec(code, self.namespace)
        except SystemExit as exc:
            status = _exit_status(exc)
            return self.finish(failed=status != 0, status=status)
        except BaseException:
            error_type, error, tb = sys.exc_info()
            # show the user's frames only: drop this function's own frame
            traceback.print_exception(error_type, error, tb.tb_next if tb else None)
            return self.finish(failed=True)
        finally:
            sys.argv = saved_argv
        return self.finish(failed=False)

    def run_script(self, path: str, args: list[str]) -> int:
        try:
            source = Path(path).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read the script {path}: {exc.strerror}") from None
        self.namespace["__file__"] = os.path.abspath(path)
        return self.run_code(source, path, [path, *args])

    def finish(self, *, failed: bool, status: int = 1, interactive: bool = False) -> int:
        """Apply the transaction rule and return the process exit code."""
        if failed:
            self.env.rollback()
            return status or 1
        if self.commit:
            self.env.commit()
            return 0
        pending = self.env.pending_writes
        self.env.rollback()
        if pending:  # a REPL, -c, a script or stdin alike: writes thrown away are never silent
            keep = "call env.commit() or start the shell with --commit" if interactive else \
                "call env.commit() or run it with --commit"
            warn(f"{pending} uncommitted statement{'s' if pending != 1 else ''} rolled back ({keep} to keep them)")
        return 0

    # -- interactive ---------------------------------------------------------------------
    def interact(self, interface: str, history_dir: Path | None) -> int:
        """$PYTHONSTARTUP and the shell files, the banner, then the REPL until the user leaves."""
        from . import interfaces
        from .banner import banner
        from .savepoints import StatementSavepoints

        with _cancel_queries_on_interrupt():
            before = set(self.namespace)
            savepoints = StatementSavepoints(lambda: self.namespace.get("env"))
            interfaces.run_startup_files(self.namespace, [*interfaces.python_startup(), *self.shell_files], savepoints)
            text = banner(self.env, self.namespace, self.commit, self.server,
                          startup_names=[name for name in self.namespace if name not in before],
                          savepoints=interface != "bpython")
            starters: dict[str, Callable[[dict[str, Any], str, Path | None], None]] = {
                "ipython": interfaces.run_ipython, "ptpython": interfaces.run_ptpython,
                "bpython": interfaces.run_bpython, "python": interfaces.run_python,
            }
            starters[interface](self.namespace, text, history_dir)
        return self.finish(failed=False, interactive=True)


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


@contextlib.contextmanager
def _cancel_queries_on_interrupt() -> Iterator[None]:
    """Ctrl-C during a query cancels the query (psycopg2's wait_select), not the shell."""
    import psycopg2.extensions
    import psycopg2.extras

    previous = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(previous)


def history_folder(data_dir: Path) -> Path | None:
    """``<data_dir>/shell``, or None when it cannot be created (history then goes nowhere)."""
    folder = data_dir / "shell"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder
