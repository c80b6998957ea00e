"""The shell's banner: every name the shell binds, grouped, wrapped to the terminal's width."""

from __future__ import annotations

import shutil
import textwrap
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from ..orm import Environment

BUILTIN_NAMES = ("env", "cr", "devshell", "server")


def _group(label: str, names: Iterable[str], width: int) -> list[str]:
    """``  label: a, b, c`` wrapped under its first name; nothing for an empty group."""
    items = list(names)
    if not items:
        return []
    head = f"  {label}: "
    return textwrap.wrap(", ".join(items), width=max(width, len(head) + 20), initial_indent=head,
                         subsequent_indent=" " * len(head), break_on_hyphens=False, break_long_words=False)


def banner(env: "Environment", namespace: dict[str, Any], commit: bool, server: str = "",
           startup_names: Iterable[str] = (), width: int | None = None, savepoints: bool = True) -> str:
    """What the shell is bound to and the names it binds: devshell's, one per table, the modules' and the
    startup files'; tables without a name of their own are listed as ``env["…"]``."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    models = env.registry.models
    startup = sorted({name for name in startup_names if not name.startswith("__")})
    bound_models = [name for name in sorted(models) if namespace.get(name) is models[name]]
    unbound = [f'env["{name}"]' for name in sorted(models) if name not in bound_models]
    known = {*BUILTIN_NAMES, *bound_models, *startup, "__name__", "__builtins__", "__file__"}
    from_modules = sorted(name for name in namespace if name not in known and not name.startswith("__"))
    rule = "committed at exit (--commit)" if commit else "rolled back at exit unless you call env.commit()"
    title = f"devshell shell on database {env.db!r}" + (f" ({server})" if server else "")
    lines = textwrap.wrap(title, width=width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
    lines += _group("devshell", ["env", "cr", "devshell", "server()"], width)
    lines += _group(f"tables ({len(bound_models)})", bound_models, width)
    lines += _group(f"other tables ({len(unbound)})", unbound, width)
    lines += _group("from modules", from_modules, width)
    lines += _group("from startup files", startup, width)
    lines += _group("transaction", [rule], width)
    if savepoints:
        lines += _group("statements", ["each under a savepoint: a failed one is rolled back alone"], width)
    return "\n".join(lines)
