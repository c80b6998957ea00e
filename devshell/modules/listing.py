"""What ``devshell modules`` shows: the modules on the addons path and, for a database, what is installed.

Until now only ``env.registry.modules`` knew which modules a database holds and
at which version; this puts the addons path and a database side by side, so a
module installed but gone from the path, or one whose code moved past the
installed version, is visible without opening a shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .manifest import ModuleError

if TYPE_CHECKING:
    from .api import SiteLike


@dataclass(frozen=True)
class ModuleRow:
    """One module: on the addons path (``path``) and/or installed in the database asked about."""

    name: str
    version: str  #: the manifest's version, "" when the module is not on the path or its manifest is broken
    summary: str
    path: Path | None
    installed: str | None = None  #: the installed version (when a database was asked about)
    problem: str = ""  #: a broken manifest, said in one line

    @property
    def state(self) -> str:
        """For a database: installed / not installed / update pending / missing from the addons path."""
        if self.installed is None:
            return "not installed"
        if self.path is None:
            return "installed, not on the addons path"
        if self.version and self.version != self.installed:
            return f"installed {self.installed}, update to {self.version} pending"
        return "installed"


def installed_versions(site: "SiteLike", db: str) -> dict[str, str]:
    """{module: installed version} of *db* ({} for a database without devshell's tables)."""
    from ..db.connection import connect
    from .state import installed_modules

    conn = connect(site.address, db)
    try:
        with conn.cursor() as cr:
            return installed_modules(cr)
    finally:
        conn.close()


def list_modules(site: "SiteLike", db: str | None = None) -> list[ModuleRow]:
    """The modules on *site*'s addons path, by name; with *db*, their installed versions too.

    Modules installed in *db* but found on no folder of the path are listed as well
    (their routes and cron jobs are not served: the server warns about them too).
    """
    installed = installed_versions(site, db) if db else {}
    rows = []
    for name, module in sorted(site.addons.modules.items()):
        try:
            manifest = module.manifest
            version, summary, problem = manifest.version, manifest.summary, ""
        except ModuleError as exc:
            version, summary, problem = "", "", exc.message
        rows.append(ModuleRow(name, version, summary, module.path, installed.get(name) if db else None, problem))
    for name in sorted(set(installed) - set(site.addons.modules)):
        rows.append(ModuleRow(name, "", "", None, installed[name]))
    return sorted(rows, key=lambda row: row.name)
