"""The shell: an environment-bound namespace, run as code, a script, stdin or an interactive REPL.

Transactions follow one rule whatever the form: the work is rolled back at the
end unless ``--commit`` was given (or the user called ``env.commit()``); with
``--commit``, an exception rolls back and the exit code is 1. Nothing here binds
a port or starts cron. The ``-c``, script and stdin forms import no REPL library.
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

from .console import warn
from .config import SETTINGS
from .errors import DevshellError, UsageError

if TYPE_CHECKING:
    from .orm import Environment
    from .site import Site

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
              commit: bool = False, log_sql: bool = False) -> int:
    """``devshell shell``: run *code*, *script* (``-`` or piped stdin) or a REPL on *site*'s database.

    The database name is checked first, so a forgotten ``-d`` fails at once,
    before any cluster is started; an interactive REPL is checked before
    connecting. Returns the exit code (see :meth:`Shell.finish`).
    """
    db = site.require_database()
    if code is None and script is None and not sys.stdin.isatty():
        script = "-"
    interface = None
    if code is None and script is None:
        interface = choose_interface(site.config["shell_interface"])
    if log_sql:
        log_sql_to_stderr()
    from .orm import connect

    env = connect(db, config=site.config, address=site.address)
    try:
        shell = Shell(env, commit=commit, server=site.address.describe(), site=site)
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


def log_sql_to_stderr() -> None:
    """Echo every SQL statement with its duration on stderr (``--log-sql``)."""
    import logging

    from .orm.cursor import SQL_LOGGER

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("SQL %(message)s"))
    sql_logger = logging.getLogger(SQL_LOGGER)
    sql_logger.addHandler(handler)
    sql_logger.setLevel(logging.DEBUG)


def build_namespace(env: "Environment", site: "Site | None" = None) -> dict[str, Any]:
    """``env``, ``cr``, ``devshell``, ``server()``, one name per model where the name is free, then what
    modules add. ``server(mode=…, **options)`` starts a server on this database in the background; its log
    lines stay in its handle (``.logs()``), never on the terminal."""
    from .server.background.launch import server_function

    # The public package is this module's parent, imported before it: handing it over is no new import.
    public_api = sys.modules[__package__ or "devshell"]
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
    from .modules import shell_context_for

    return shell_context_for(env, list(installed), addons=site.addons if site is not None else None)


def banner(env: "Environment", namespace: dict[str, Any], commit: bool, server: str = "") -> str:
    models = env.registry.models
    model_names = [name for name in namespace if name in models]
    shown = ", ".join(model_names[:12]) + (", …" if len(model_names) > 12 else "")
    rule = "committed at exit (--commit)" if commit else "rolled back at exit unless you call env.commit()"
    extra = sorted(set(namespace) - set(model_names) - {"env", "cr", "devshell", "server", "__name__"})
    lines = [
        f"devshell shell on database {env.db!r}" + (f" ({server})" if server else ""),
        f"  env, cr, devshell, server(); {len(models)} models" + (f": {shown}" if shown else ""),
    ]
    if extra:
        lines.append("  from modules: " + ", ".join(extra))
    lines.append(f"  transaction: {rule}")
    return "\n".join(lines)


@dataclass
class Shell:
    """One shell run: an environment, its namespace and the transaction rule."""

    env: "Environment"
    commit: bool = False
    server: str = ""
    namespace: dict[str, Any] = field(default_factory=dict)
    site: "Site | None" = None

    def __post_init__(self) -> None:
        if not self.namespace:
            self.namespace = build_namespace(self.env, self.site)

    # -- non-interactive forms -----------------------------------------------------------
    def run_code(self, source: str, filename: str = "<string>", argv: list[str] | None = None) -> int:
        """Run *source* like ``python -c``/a script; returns the exit code after the transaction rule."""
        saved_argv = sys.argv
        sys.argv = argv if argv is not None else [filename]
        try:
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
        if pending and interactive:
            warn(f"{pending} uncommitted statement{'s' if pending != 1 else ''} rolled back "
                 "(call env.commit() or start the shell with --commit to keep them)")
        return 0

    # -- interactive ---------------------------------------------------------------------
    def interact(self, interface: str, history_dir: Path | None) -> int:
        text = banner(self.env, self.namespace, self.commit, self.server)
        with _cancel_queries_on_interrupt():
            starters: dict[str, Callable[[str, Path | None], None]] = {
                "ipython": self._ipython, "ptpython": self._ptpython, "bpython": self._bpython,
                "python": self._python,
            }
            starters[interface](text, history_dir)
        return self.finish(failed=False, interactive=True)

    def _ipython(self, text: str, history_dir: Path | None) -> None:
        from IPython import start_ipython
        from traitlets.config import Config

        config = Config()
        config.TerminalInteractiveShell.banner2 = text + "\n"
        config.InteractiveShellApp.extensions = ["devshell"]  # %%sql, %commit, %rollback, %devshell
        if history_dir is not None:
            config.HistoryManager.hist_file = str(history_dir / "ipython_history.sqlite")
        start_ipython(argv=[], user_ns=self.namespace, config=config)

    def _ptpython(self, text: str, history_dir: Path | None) -> None:
        from ptpython.repl import embed, run_config

        print(text)
        history = str(history_dir / "ptpython_history") if history_dir is not None else None
        embed(globals=self.namespace, locals=self.namespace, configure=run_config, history_filename=history)

    def _bpython(self, text: str, history_dir: Path | None) -> None:
        import bpython

        bpython.embed(locals_=self.namespace, banner=text)

    def _python(self, text: str, history_dir: Path | None) -> None:
        import code

        history = history_dir / "python_history" if history_dir is not None else None
        with _readline(self.namespace, history):
            startup = os.environ.get("PYTHONSTARTUP")
            if startup and os.path.isfile(startup):
                with open(startup) as handle:
                    exec(compile(handle.read(), startup, "exec"), self.namespace)
            code.interact(banner=text, local=self.namespace, exitmsg="")


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


@contextlib.contextmanager
def _readline(namespace: dict[str, Any], history: Path | None) -> Iterator[None]:
    """Tab completion over the namespace and a per-project history for the plain REPL."""
    try:
        import readline
        import rlcompleter
    except ImportError:  # pragma: no cover - platforms without readline
        yield
        return
    readline.set_completer(rlcompleter.Completer(namespace).complete)
    readline.parse_and_bind("tab: complete")
    if history is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    try:
        yield
    finally:
        if history is not None:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)


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
