"""What a database says about its modules: the ``devshell_module`` table of the base module."""

from __future__ import annotations

from typing import Any

MODULE_TABLE = "devshell_module"


def has_module_table(cr: Any) -> bool:
    """True once the base module is installed (``to_regclass`` never raises, so no aborted transaction)."""
    cr.execute("SELECT to_regclass(%s) IS NOT NULL", (MODULE_TABLE,))
    return bool(cr.fetchone()[0])


def installed_modules(cr: Any) -> dict[str, str]:
    """{module name: installed version}, or {} for a database without devshell's tables."""
    if not has_module_table(cr):
        return {}
    cr.execute("SELECT name, version FROM devshell_module WHERE state = 'installed' ORDER BY name")
    return {name: version for name, version in cr.fetchall()}
