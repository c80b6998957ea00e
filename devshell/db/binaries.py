"""The machine's PostgreSQL programs: the folder that holds initdb, pg_ctl and postgres.

devshell brings no PostgreSQL of its own; the embedded cluster and the admin
commands (pg_dump, pg_restore, psql) run the binaries already installed, found here.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from ..errors import DevshellError

REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
INSTALL_HINT = (
    "install them (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; "
    "macOS: brew install postgresql) or set pg_bindir / DEVSHELL_PG_BINDIR to their folder"
)


def _has_server_binaries(folder: str | os.PathLike[str]) -> bool:
    return all(os.access(os.path.join(folder, name), os.X_OK) for name in REQUIRED_BINARIES)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def find_bindir(configured: str | None = None) -> Path:
    """Locate initdb/pg_ctl/postgres: configured folder, PATH, ``pg_config --bindir``, Debian's layout."""
    import glob
    import shutil
    import subprocess

    if configured:
        if _has_server_binaries(configured):
            return Path(configured)
        raise DevshellError(f"PostgreSQL server binaries not found in pg_bindir {configured}: {INSTALL_HINT}")
    candidates: list[str] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(os.path.dirname(os.path.realpath(on_path)))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(out.stdout.strip())
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
                    "/opt/homebrew/opt/postgresql*/bin", "/usr/local/opt/postgresql*/bin"):
        candidates.extend(sorted(glob.glob(pattern), key=_version_key, reverse=True))
    for folder in candidates:
        if folder and _has_server_binaries(folder):
            return Path(folder)
    raise DevshellError(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}")
