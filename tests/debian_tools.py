"""Debian tools some tests compare against or drive (cloc, chromium): installed on first use when missing."""

from __future__ import annotations

import os
import shutil
import subprocess

_updated = False


def ensure_tool(command: str, package: str) -> str:
    """The path of *command*, installing Debian's *package* with apt-get first if it is missing (as root)."""
    global _updated
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(f"{command} is missing: install the Debian package {package} (apt-get install {package})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _updated:
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, env=env, timeout=600)
        _updated = True
    subprocess.run(["apt-get", "install", "-y", package], check=True,
                   capture_output=True, env=env, timeout=1200)
    found = shutil.which(command)
    if not found:
        raise RuntimeError(f"apt-get installed {package}, but {command} is still not on PATH")
    return found
