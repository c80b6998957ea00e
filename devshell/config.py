"""Layered configuration.

The order, from weakest to strongest, is written down in :func:`load_config`:
built-in defaults, the user file, the project file, the environment, the command
line. Every value remembers where it came from so ``devshell config`` can say so,
and keys nobody knows are reported instead of silently ignored. The settings
themselves (type, default, choices, bounds) are declared in :mod:`devshell.settings`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ConfigError, UsageError
from .settings import SETTINGS, convert_value


PROJECT_FILE = "devshell.toml"
ENV_PREFIX = "DEVSHELL_"
#: DEVSHELL_* variables that are read elsewhere and are not settings.
ENV_NOT_SETTINGS = frozenset({"DEVSHELL_PASSWORD", "DEVSHELL_CONFIG_DIR",
                              # process plumbing between devshell servers and their parents (server/modes/supervision.py)
                              "DEVSHELL_PARENT_PID", "DEVSHELL_LISTEN_FD", "DEVSHELL_HEARTBEAT_FD",
                              "DEVSHELL_HANDOFF_FD"})
#: libpq's variables, mapped to the settings they stand for.
LIBPQ_ENV = {
    "PGHOST": "db_host",
    "PGPORT": "db_port",
    "PGUSER": "db_user",
    "PGPASSWORD": "db_password",
    "PGDATABASE": "db_name",
    "PGSSLMODE": "db_sslmode",
}


@dataclass
class Config:
    """The effective configuration: values, where each came from, and what was not understood."""

    values: dict[str, Any]
    sources: dict[str, str]
    unknown: list[tuple[str, str]] = field(default_factory=list)
    project_root: Path | None = None
    files: list[Path] = field(default_factory=list)
    cwd: Path = field(default_factory=Path.cwd)  #: the folder the configuration was loaded from

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def is_set(self, key: str) -> bool:
        """True when the value came from anywhere but the built-in default."""
        return self.sources.get(key, "default") != "default"

    @property
    def base_dir(self) -> Path:
        """The folder relative paths are read against: the project root, else the cwd."""
        return self.project_root or self.cwd

    @property
    def data_dir(self) -> Path:
        return Path(self.values["data_dir"])

    def for_server(self) -> "Config":
        """This configuration as a server runs it, its ``mode`` final: ``workers > 0`` means prefork.

        Workers with no mode chosen make the mode prefork; workers with a chosen
        threaded or gevent mode are a usage error. The rule lives here only, so
        ``make_server``, the WSGI app and the notebook handles just read ``mode``.
        (``devshell config`` shows the layers as given, before this rule.)
        """
        workers, mode = self.values["workers"], self.values["mode"]
        if workers <= 0 or mode == "prefork":
            return self
        if self.is_set("mode"):
            if self.sources["mode"].startswith("start_server"):
                raise UsageError(f"workers={workers} needs mode='prefork' (workers > 0 implies prefork)")
            raise UsageError(f"--workers {workers} runs HTTP worker processes, which only prefork mode has: "
                             f"drop --mode {mode}, or use --workers 0")
        values, sources = dict(self.values), dict(self.sources)
        values["mode"], sources["mode"] = "prefork", f"implied by workers ({self.sources['workers']})"
        return Config(values, sources, list(self.unknown), self.project_root, list(self.files), self.cwd)

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "command line") -> "Config":
        """A copy with the command-line layer applied (``None`` means "flag not given").

        Relative paths are read against the folder the configuration was loaded from.
        """
        values, sources = dict(self.values), dict(self.sources)
        for key, value in overrides.items():
            if value is None:
                continue
            flag = "--" + key.replace("_", "-")
            values[key] = convert_value(key, value, f"{source} {flag}", self.cwd, chosen=True)
            sources[key] = f"{source} {flag}"
        return Config(values, sources, list(self.unknown), self.project_root, list(self.files), self.cwd)




def user_config_file(environ: Mapping[str, str] | None = None) -> Path:
    """The user's file in the platform config dir (``DEVSHELL_CONFIG_DIR`` overrides)."""
    environ = os.environ if environ is None else environ
    folder = environ.get("DEVSHELL_CONFIG_DIR")
    if not folder:
        import click

        folder = click.get_app_dir("devshell")
    return Path(folder) / "config.toml"


def find_project_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """Walk up from *start* to the first ``devshell.toml`` or ``pyproject.toml`` with ``[tool.devshell]``."""
    for folder in [start, *start.parents]:
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate, _read_toml(candidate)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            section = _read_toml(pyproject).get("tool", {}).get("devshell")
            if isinstance(section, dict):
                return pyproject, section
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _apply_file(config: Config, path: Path, data: Mapping[str, Any], label: str) -> None:
    for key, value in data.items():
        if key not in SETTINGS:
            config.unknown.append((key, f"{label} {path}"))
            continue
        config.values[key] = convert_value(key, value, str(path), path.parent)
        config.sources[key] = f"{label} {path}"
    config.files.append(path)


def load_config(
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective configuration, layer by layer."""
    cwd = Path.cwd() if cwd is None else cwd
    environ = os.environ if environ is None else environ

    # 1. built-in defaults
    config = Config(
        values={key: s.default for key, s in SETTINGS.items()},
        sources={key: "default" for key in SETTINGS},
        cwd=cwd,
    )

    # 2. the user's file in the platform config dir
    user_file = user_config_file(environ)
    if user_file.is_file():
        _apply_file(config, user_file, _read_toml(user_file), "user file")

    # 3. the project file, found by walking up from the cwd; it also fixes the project root
    found = find_project_file(cwd)
    if found:
        path, data = found
        config.project_root = path.parent
        _apply_file(config, path, data, "project file")

    # 4. the environment: libpq's PG* first, then DEVSHELL_*, which wins over them
    for variable, key in LIBPQ_ENV.items():
        if environ.get(variable):
            config.values[key] = convert_value(key, environ[variable], f"${variable}", cwd)
            config.sources[key] = f"environment ${variable}"
    for variable, raw in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or variable in ENV_NOT_SETTINGS or not raw:
            continue  # an empty variable counts as unset, like the PG* ones above
        key = variable[len(ENV_PREFIX):].lower()
        if key not in SETTINGS:
            config.unknown.append((variable, "environment"))
            continue
        config.values[key] = convert_value(key, raw, f"${variable}", cwd)
        config.sources[key] = f"environment ${variable}"

    # the data dir default is relative to the project root (or the cwd outside a project)
    if not config.is_set("data_dir"):
        config.values["data_dir"] = str(config.base_dir / SETTINGS["data_dir"].default)

    # 5. the command line
    if overrides:
        config = config.with_overrides(overrides)
    return config


def suggestion(key: str, known: Iterable[str] = SETTINGS) -> str:
    """A "did you mean" hint for a misspelt key, or an empty string."""
    name = key[len(ENV_PREFIX):].lower() if key.startswith(ENV_PREFIX) else key
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    if not close:
        return ""
    return f" (did you mean {ENV_PREFIX + close[0].upper() if key.startswith(ENV_PREFIX) else close[0]!r}?)"


def unknown_key_messages(config: Config) -> list[str]:
    """One line per key nobody knows, with a hint when a known key is close."""
    return [f"unknown setting {key!r} in {where}{suggestion(key)}" for key, where in config.unknown]


def environment_value(value: Any) -> str:
    """*value* written as a ``DEVSHELL_*`` variable holds it, so a child process reads it back the same."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


#: where a child devshell process finds a setting again by itself (it reads the same files and environment)
REREAD_SOURCES = ("default", "user file", "project file", "environment")


def child_environment(config: Config, *, complete: bool = False, **overrides: Any) -> dict[str, str]:
    """The ``DEVSHELL_*`` variables that give a child devshell process the settings of *config*.

    The one writer of those variables (background servers, re-exec, prefork
    children, Jupyter kernels). By default only the settings chosen in code or on
    the command line are written: a child started from the same folder and
    environment reads the rest again itself. *complete* writes every setting that
    is not at its default, secrets left out (a kernel that Jupyter starts later,
    from anywhere), and passes ``DEVSHELL_CONFIG_DIR`` on. *overrides* are settings
    written whatever their source; ``None`` leaves one out.
    """
    variables: dict[str, str] = {}
    for key, setting in SETTINGS.items():
        value, source = config.values.get(key), config.sources.get(key, "default")
        if value is None or source == "default" or (complete and setting.secret):
            continue
        if complete or not source.startswith(REREAD_SOURCES):
            variables[ENV_PREFIX + key.upper()] = environment_value(value)
    for key, value in overrides.items():
        if key not in SETTINGS:
            raise KeyError(f"child_environment: {key!r} is not a setting")
        variables.pop(ENV_PREFIX + key.upper(), None)
        if value is not None:
            variables[ENV_PREFIX + key.upper()] = environment_value(value)
    if complete and os.environ.get("DEVSHELL_CONFIG_DIR"):
        variables["DEVSHELL_CONFIG_DIR"] = os.environ["DEVSHELL_CONFIG_DIR"]
    return variables


def display_value(key: str, value: Any) -> str:
    if value is None:
        return ""
    if SETTINGS[key].secret:
        return "********" if value != [] else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)
