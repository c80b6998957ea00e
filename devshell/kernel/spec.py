"""Kernelspecs of the devshell kernel: install (database and configuration baked in), list, remove.

A kernelspec is a folder with ``kernel.json``; Jupyter starts the kernel with
its ``argv`` and adds its ``env`` to the environment. Ours runs ``python -m
devshell.kernel`` with this interpreter, and its ``env`` holds every setting in
effect at install time as ``DEVSHELL_*`` variables (absolute paths), so the
kernel binds the same database and project wherever the notebook lives.
Secrets are not written into the file: the kernel reads them from Jupyter's
environment (``PGPASSWORD``, ``DEVSHELL_DB_PASSWORD``) or ``~/.pgpass``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DevshellError, UsageError

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpecManager

    from ..config import Config

KERNEL_MODULE = "devshell.kernel"
_VALID_NAME = re.compile(r"^[a-z0-9._-]+$", re.IGNORECASE)
_INVALID_CHARS = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class KernelInfo:
    """An installed devshell kernelspec."""

    name: str
    display_name: str
    db: str
    path: Path
    secrets_left_out: tuple[str, ...] = ()


def default_kernel_name(db: str) -> str:
    return "devshell-" + (_INVALID_CHARS.sub("-", db.lower()).strip("-") or "db")


def kernel_environment(config: "Config", db: str) -> tuple[dict[str, str], list[str]]:
    """(``DEVSHELL_*`` variables for every setting in effect, the secret settings left out)."""
    from ..config import child_environment
    from ..settings import SETTINGS

    variables = child_environment(config, complete=True, db_name=db, data_dir=str(config.data_dir))
    secrets = [key for key, setting in SETTINGS.items()
               if setting.secret and config.is_set(key) and config[key] is not None]
    return variables, secrets


def kernel_json(db: str, display_name: str, variables: dict[str, str]) -> dict[str, Any]:
    return {
        "argv": [sys.executable, "-m", KERNEL_MODULE, "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "env": variables,
        "metadata": {"debugger": True, "devshell": {"db": db}},
    }


def _manager(prefix: str | Path | None = None) -> "KernelSpecManager":
    for module in ("jupyter_client", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            raise DevshellError(f"the devshell kernel needs {module}: pip install 'devshell[notebook]'")
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    if prefix is not None:
        manager.kernel_dirs = [str(Path(prefix).resolve() / "share" / "jupyter" / "kernels"), *manager.kernel_dirs]
    return manager


def install_kernel(db: str, *, name: str | None = None, display_name: str | None = None, user: bool = False,
                   sys_prefix: bool = False, prefix: str | Path | None = None,
                   config: "Config | None" = None) -> KernelInfo:
    """Write the kernelspec for *db* (per user unless *sys_prefix* or *prefix*); an existing one is replaced."""
    from ..config import load_config

    if sum(bool(choice) for choice in (user, sys_prefix, prefix)) > 1:
        raise UsageError("choose one of --user, --sys-prefix and --prefix")
    name = name or default_kernel_name(db)
    if not _VALID_NAME.match(name):
        raise UsageError(f"invalid kernel name {name!r}: use letters, digits, '.', '_' and '-'")
    if sys_prefix:
        prefix = sys.prefix
    manager = _manager()
    variables, secrets = kernel_environment(config if config is not None else load_config(), db)
    display_name = display_name or f"devshell ({db})"
    with tempfile.TemporaryDirectory(prefix="devshell-kernel-") as folder:
        Path(folder, "kernel.json").write_text(json.dumps(kernel_json(db, display_name, variables), indent=2))
        _copy_logos(Path(folder))
        try:
            path = manager.install_kernel_spec(folder, kernel_name=name, user=prefix is None,
                                               prefix=str(Path(prefix).resolve()) if prefix else None)
        except OSError as exc:
            raise DevshellError(f"cannot write the kernelspec: {exc.strerror} ({exc.filename}); try --user or "
                                "--prefix") from None
    return KernelInfo(name, display_name, db, Path(path), tuple(secrets))


def _copy_logos(folder: Path) -> None:
    """ipykernel's Python logos, so the launcher shows an icon."""
    spec = importlib.util.find_spec("ipykernel")
    resources = Path(spec.origin).parent / "resources" if spec and spec.origin else None
    if resources is None or not resources.is_dir():
        return
    for logo in resources.glob("logo-*"):
        shutil.copy(logo, folder / logo.name)


def list_kernels(prefix: str | Path | None = None) -> list[KernelInfo]:
    """The devshell kernelspecs Jupyter can find (plus those under *prefix*)."""
    found = []
    for name, entry in sorted(_manager(prefix).get_all_specs().items()):
        spec = entry.get("spec", {})
        devshell = spec.get("metadata", {}).get("devshell")
        if isinstance(devshell, dict):
            found.append(KernelInfo(name, spec.get("display_name", name), str(devshell.get("db", "")),
                                    Path(entry["resource_dir"])))
    return found


def remove_kernel(name: str, prefix: str | Path | None = None) -> Path:
    """Delete the devshell kernelspec *name*; other kernels are refused."""
    kernels = {info.name: info for info in list_kernels(prefix)}
    if name not in kernels:
        manager = _manager(prefix)
        if name.lower() in manager.find_kernel_specs():
            raise UsageError(f"kernel {name!r} is not a devshell kernel: remove it with `jupyter kernelspec "
                             f"remove {name}`")
        known = ", ".join(sorted(kernels)) or "none installed"
        raise UsageError(f"no devshell kernel named {name!r} (devshell kernels: {known})")
    path = kernels[name].path
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise DevshellError(f"cannot remove {path}: {exc.strerror}") from None
    return path
