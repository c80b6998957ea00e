"""``python -m devshell.kernel``: ipykernel's kernel with the shell's namespace bound to a database.

The database and the configuration come from the kernelspec's environment
(``DEVSHELL_DB_NAME``, ``DEVSHELL_DATA_DIR``…). When binding fails the kernel
still starts, with the magics loaded, and the first cell the user runs fails
with the reason, instead of an empty namespace and a warning nobody saw in the
server log.
"""

from __future__ import annotations

import ast
import logging
import traceback
from typing import TYPE_CHECKING, Any

from IPython.core.error import InputRejected

from ..errors import DevshellError

if TYPE_CHECKING:
    from IPython.core.interactiveshell import ExecutionInfo, InteractiveShell

    from ..orm import Environment

_logger = logging.getLogger(__name__)
#: cells that may run before the binding error is shown: they are how one fixes it
_EXEMPT_PREFIXES = ("%devshell", "%load_ext")


class EnvironmentNotBound(DevshellError, InputRejected):
    """The kernel could not bind ``env``: raised (once) by the first cell, shown without a traceback."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details

    def _render_traceback_(self) -> list[str]:
        lines = [f"EnvironmentNotBound: devshell kernel: no environment: {self.message}"]
        if self.details:
            lines += ["", self.details.rstrip()]
        lines += ["", "Fix the cause and restart the kernel, or bind a database now: %devshell connect DB"]
        return lines


class BindErrorReporter(ast.NodeTransformer):
    """Makes the first cell a user runs fail with the binding error (silent executions are left alone)."""

    def __init__(self, shell: "InteractiveShell", error: EnvironmentNotBound) -> None:
        self.shell = shell
        self.error = error
        self.armed = False

    def install(self) -> None:
        self.shell.events.register("pre_run_cell", self.arm)
        self.shell.ast_transformers.append(self)
        self.shell._devshell_bind_error = self  # type: ignore[attr-defined]

    def remove(self) -> None:
        self.shell.events.unregister("pre_run_cell", self.arm)
        if self in self.shell.ast_transformers:
            self.shell.ast_transformers.remove(self)
        self.shell._devshell_bind_error = None  # type: ignore[attr-defined]

    def arm(self, info: "ExecutionInfo") -> None:
        """pre_run_cell runs for cells the user sees only; they are the ones that must show the error."""
        raw = (info.raw_cell or "").lstrip()
        self.armed = bool(info.store_history) and not raw.startswith(_EXEMPT_PREFIXES)

    def visit(self, node: Any) -> Any:
        if not self.armed:
            return node
        self.remove()
        raise self.error


def forget_bind_error(shell: "InteractiveShell") -> None:
    """A database was bound after all (``%devshell connect``): the pending error is moot."""
    reporter = getattr(shell, "_devshell_bind_error", None)
    if reporter is not None:
        reporter.remove()


def bind_shell(shell: "InteractiveShell") -> "Environment | None":
    """Load the magics and bind ``env`` and the shell's namespace; on failure arm the first-cell error."""
    from .magics import register

    magics = register(shell)
    try:
        env = _connect()
    except DevshellError as exc:
        error = EnvironmentNotBound(exc.message)
    except Exception as exc:  # a bug, but the notebook is where it must be seen
        error = EnvironmentNotBound(f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc)))
    else:
        magics.bind(env)
        if env.config is not None and env.config["log_sql"]:
            env.log_sql(True)  # after binding: the catalog queries of the startup are not echoed
        _cancel_queries_on_interrupt()
        return env
    _logger.error("devshell kernel: %s", error.message)
    BindErrorReporter(shell, error).install()
    return None


def _connect() -> "Environment":
    from ..config import load_config
    from ..orm import connect

    config = load_config()
    if not config["db_name"]:
        raise DevshellError("the kernelspec names no database (install it with: devshell kernel install -d DB)")
    return connect(config["db_name"], config=config)


def _cancel_queries_on_interrupt() -> None:
    """Interrupting the kernel cancels a running query (psycopg2 waits in Python, where SIGINT lands)."""
    import psycopg2.extensions
    import psycopg2.extras

    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)


def main(argv: list[str] | None = None) -> None:
    """Start the kernel: ipykernel's application, then the binding, then the event loop."""
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv)
    if app.shell is not None:
        bind_shell(app.shell)
    app.start()
