"""Completion of table and column names in ``%%sql`` cells and ``%sql`` lines (IPython and Jupyter).

In a cell that starts with ``%%sql`` (or a line with ``%sql``), a word completes
to the tables of ``env``'s database and to the columns of the tables the cell
names; ``table.col`` completes to that table's columns, and when there are such
names IPython's own (magics, paths, Python names) are left out: SQL is not
Python. Elsewhere this matcher offers nothing and IPython's completion goes on.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.core.completer import CompletionContext
    from IPython.core.interactiveshell import InteractiveShell

    from ..db.catalog import Catalog

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def sql_completions(catalog: "Catalog", text: str, token: str) -> list[tuple[str, str]]:
    """(completion, kind) for *token* in the SQL *text*: tables, and columns of the tables *text* names."""
    tables = catalog.tables
    table, dot, prefix = token.rpartition(".")
    if dot and table in tables:
        return [(f"{table}.{name}", "column") for name in tables[table].columns if name.startswith(prefix)]
    named = {word for word in _WORD.findall(text) if word in tables}
    matches = [(name, "table") for name in sorted(tables) if name.startswith(token)]
    columns = sorted({name for key in named for name in tables[key].columns if name.startswith(token)})
    return matches + [(name, "column") for name in columns if name not in tables]


def register_sql_completion(shell: "InteractiveShell") -> None:
    """Add the ``%%sql`` matcher to *shell*'s completer (once)."""
    from IPython.core.completer import SimpleCompletion, context_matcher

    from ..orm import Environment

    completer = getattr(shell, "Completer", None)
    if completer is None or any(getattr(m, "devshell_sql", False) for m in completer.custom_matchers):
        return

    @context_matcher()  # type: ignore[misc]
    def sql_matcher(context: "CompletionContext") -> dict[str, Any]:
        text = context.full_text
        line = context.line_with_cursor.lstrip()
        in_cell = text.lstrip().startswith("%%sql") and context.cursor_line > 0
        if not (in_cell or line.startswith("%sql ")):
            return {"completions": [], "suppress": False}
        env = shell.user_ns.get("env")
        if not isinstance(env, Environment) or env.conn.closed:
            return {"completions": [], "suppress": False}
        token = context.token
        try:
            found = sql_completions(env.registry.catalog, text, token)
        except Exception:  # noqa: BLE001 - a completion must never break the prompt (a lost connection)
            return {"completions": [], "suppress": False}
        # SQL, not Python: IPython's own matchers (magics, paths, Python names) would only add noise
        return {"completions": [SimpleCompletion(name, type=kind) for name, kind in found], "suppress": True}

    sql_matcher.devshell_sql = True  # type: ignore[attr-defined]
    completer.custom_matchers.append(sql_matcher)
