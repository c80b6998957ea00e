"""``devshell shell``: an environment-bound namespace, run as code, a script, stdin or an interactive REPL.

- ``session``: :func:`run_shell`, the namespace (:func:`build_namespace`) and the transaction rule;
- ``interfaces``: the REPLs (IPython, ptpython, bpython, the plain console), each imported only when chosen;
- ``banner``: the names the shell binds, shown when a REPL starts;
- ``savepoints``: a savepoint around each statement of a REPL or a notebook cell.
"""

from .session import build_namespace as build_namespace, run_shell as run_shell

__all__ = ["build_namespace", "run_shell"]
