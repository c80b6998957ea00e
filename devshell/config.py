"""Layered configuration.

The order, from weakest to strongest, is written down in :func:`load_config`:
built-in defaults, the user file, the project file, the environment, the command
line. Every value remembers where it came from so ``devshell config`` can say so,
and keys nobody knows are reported instead of silently ignored.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .errors import ConfigError, UsageError


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
MiB = 1024 * 1024


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    return int(str(value).strip())


def _to_str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError(f"expected a string, got {value!r}")
    return str(value)


def _to_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [part.strip() for part in str(value).replace(os.pathsep, ",").split(",") if part.strip()]


def _to_origins(value: Any) -> list[str]:
    """Web origins (``https://host[:port]``), comma- or space-separated; ``:`` is part of an origin."""
    items = value if isinstance(value, list) else str(value).replace(",", " ").split()
    origins = [str(item).strip().rstrip("/") for item in items if str(item).strip()]
    for origin in origins:
        if not origin.startswith(("http://", "https://")) or "/" in origin.split("://", 1)[1]:
            raise ValueError(f"{origin!r} is not an origin like https://app.example.com or http://host:8080")
    return origins


def _to_keys(value: Any) -> list[str]:
    """Secret keys, comma- or space-separated (``:`` may be part of a key, unlike in a path list)."""
    items = value if isinstance(value, list) else str(value).replace(",", " ").split()
    return [str(item).strip() for item in items if str(item).strip()]


@dataclass(frozen=True)
class Setting:
    """One known configuration key: its default, how to read it, what it is for."""

    name: str
    default: Any
    convert: Callable[[Any], Any]
    help: str
    secret: bool = False
    is_path: bool = False
    #: the only values allowed (each item of a list setting), matched without regard to case
    choices: tuple[str, ...] = ()
    #: what one value is called in a usage error ("unknown server mode 'fast'")
    noun: str = ""
    #: the smallest and the largest value allowed (counts, sizes, ports, seconds), wherever it comes from
    bounds: tuple[int, int] | None = None
    #: a further check of the converted value: raises ValueError saying what is wrong
    check: Callable[[Any], None] | None = None


def _settings(*items: Setting) -> dict[str, Setting]:
    return {item.name: item for item in items}


#: upper bounds of the counts a server starts (issue 14: an unbounded --workers forked until the OOM killer came)
MAX_WORKERS = 256
MAX_CRON_THREADS = 64
MAX_SECONDS = 7 * 24 * 3600
MAX_BYTES = 2**50  #: 1 PiB
MAX_PORT = 65535
#: the least limit_memory_hard a worker can start under (the prefork master also checks its own size)
MIN_MEMORY_HARD = 256 * MiB


def _check_memory_hard(value: int) -> None:
    if 0 < value < MIN_MEMORY_HARD:
        raise ValueError(f"{value} bytes is below what a worker needs: give at least {MIN_MEMORY_HARD // MiB} MiB "
                         f"({MIN_MEMORY_HARD}), or 0 for no limit")


def _check_dbfilter(value: str) -> None:
    """A dbfilter must compile whatever host ``%h`` and ``%d`` stand for (they are escaped)."""
    import re

    try:
        re.compile(value.replace("%h", "example\\.com").replace("%d", "example"))
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from None


SETTINGS: dict[str, Setting] = _settings(
    Setting("data_dir", ".devshell", _to_str, "embedded cluster, REPL history, deployed modules", is_path=True),
    Setting("addons_path", [], _to_list, "folders searched for modules", is_path=True),
    Setting("db_host", None, _to_str, "database server host or socket folder (unset: embedded)"),
    Setting("db_port", None, _to_int, "database server port", bounds=(1, MAX_PORT)),
    Setting("db_user", None, _to_str, "database role"),
    Setting("db_password", None, _to_str, "database password", secret=True),
    Setting("db_name", None, _to_str, "default database"),
    Setting("db_sslmode", None, _to_str, "libpq sslmode for an external server",
            choices=("disable", "allow", "prefer", "require", "verify-ca", "verify-full"), noun="sslmode"),
    Setting("db_direct_host", None, _to_str, "the PostgreSQL server itself when db_host is a pooler (PgBouncer): "
            "LISTEN, dump/restore, CREATE DATABASE and session locks go there (unset: db_host)"),
    Setting("db_direct_port", None, _to_int, "port of db_direct_host (unset: db_port)", bounds=(1, MAX_PORT)),
    Setting("db_maxconn", 32, _to_int, "pooled connections a server process opens per database at most",
            bounds=(1, 10_000)),
    Setting("secret_key", None, _to_str, "key signing session cookies, the same on every machine (unset: each "
            "database's own secret, made by db init, rotated by db rotate-secret)", secret=True),
    Setting("secret_key_fallbacks", [], _to_keys, "former secret_key values, still accepted on session cookies "
            "while sessions move to the new key", secret=True),
    Setting("pg_bindir", None, _to_str, "folder of the PostgreSQL server binaries", is_path=True),
    Setting("embedded_os_user", "postgres", _to_str, "account that runs the embedded cluster when devshell runs as root"),
    Setting("mode", "threaded", _to_str, "server mode: threaded, gevent or prefork",
            choices=("threaded", "gevent", "prefork"), noun="server mode"),
    Setting("http_interface", "127.0.0.1", _to_str, "address the HTTP server binds"),
    Setting("http_port", 8069, _to_int, "HTTP port (0: a free one)", bounds=(0, MAX_PORT)),
    Setting("gevent_port", 8072, _to_int, "long-polling port of the gevent server (0: a free one)",
            bounds=(0, MAX_PORT)),
    Setting("workers", 0, _to_int, "HTTP worker processes (> 0 implies prefork)", bounds=(0, MAX_WORKERS)),
    Setting("max_cron_threads", 2, _to_int, "cron threads or processes", bounds=(0, MAX_CRON_THREADS)),
    Setting("cron_lease_seconds", 60, _to_int, "how long a cron job's claim lasts without renewal: a job whose "
            "runner died is taken over after it", bounds=(3, MAX_SECONDS)),
    Setting("pidfile", None, _to_str, "file holding the server's pid", is_path=True),
    Setting("limit_request", 65536, _to_int, "requests a worker serves before it is recycled (0: no limit)",
            bounds=(0, 2**31 - 1)),
    Setting("limit_memory_soft", 2048 * MiB, _to_int, "bytes after which a worker is recycled (0: off)",
            bounds=(0, MAX_BYTES)),
    Setting("limit_memory_hard", 2560 * MiB, _to_int, "bytes a worker may never exceed (0: off)",
            bounds=(0, MAX_BYTES), check=_check_memory_hard),
    Setting("limit_time_cpu", 60, _to_int, "CPU seconds per request (0: off)", bounds=(0, MAX_SECONDS)),
    Setting("limit_time_real", 120, _to_int, "wall-clock seconds per request (0: off)", bounds=(0, MAX_SECONDS)),
    Setting("dbfilter", "", _to_str, "regular expression of the databases served (%h host, %d subdomain)",
            check=_check_dbfilter),
    Setting("list_db", True, _to_bool, "allow /web/database/list"),
    Setting("dev", [], _to_list, "developer features, e.g. reload", choices=("reload", "all"),
            noun="developer feature"),
    Setting("allow_root", False, _to_bool, "let a server run as root on a public address"),
    Setting("admin_password", None, _to_str, "password of the admin user created by db init", secret=True),
    Setting("deploy_password", None, _to_str, "server-level password `devshell deploy` must send: best a hash "
            "from `devshell deploy --hash-password`; unset, deploy is disabled", secret=True),
    Setting("trusted_origins", [], _to_origins, "origins of other sites whose pages may POST here "
            "(cross-site requests are refused otherwise)"),
    Setting("shell_interface", None, _to_str, "preferred REPL: ipython, ptpython, bpython or python",
            choices=("ipython", "ptpython", "bpython", "python"), noun="shell interface"),
    Setting("log_sql", False, _to_bool, "echo each SQL statement of the shell's or notebook's env, with its "
            "parameters and duration (--log-sql, env.log_sql(), %devshell sql-log)"),
    Setting("log_sql_min_ms", 0, _to_int, "with the SQL echo on, show only statements that took at least this "
            "many milliseconds (0: all)", bounds=(0, MAX_SECONDS * 1000)),
    Setting("sql_autolimit", 1000, _to_int, "rows a %%sql cell fetches at most, through a server-side cursor "
            "(0: all)", bounds=(0, 10_000_000)),
    Setting("proxy_mode", 0, _to_int, "reverse proxies in front of the server whose X-Forwarded-For/-Proto/"
            "-Host/-Prefix headers are honoured (0: none; start_server(proxy=True) sets 1)", bounds=(0, 16)),
    Setting("log_level", "info", _to_str, "debug, info, warning or error",
            choices=("debug", "info", "warning", "error"), noun="log level"),
)


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
            values[key] = _convert(key, value, f"{source} {flag}", self.cwd, chosen=True)
            sources[key] = f"{source} {flag}"
        return Config(values, sources, list(self.unknown), self.project_root, list(self.files), self.cwd)


def _convert(key: str, value: Any, origin: str, base: Path, *, chosen: bool = False) -> Any:
    """*value* of setting *key* from *origin*, converted and checked against the setting's choices.

    A value outside the choices is a usage error, except an item of a list setting
    (``dev``) read from a file or the environment, which is kept: those may name
    features of another devshell version. On the command line and in code
    (*chosen*), every item must be known.
    """
    setting = SETTINGS[key]
    try:
        converted = setting.convert(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: invalid value for {key}: {exc}") from None
    if setting.choices and converted is not None and (chosen or not isinstance(converted, list)):
        converted = _choose(setting, converted, origin)
    if converted is not None:
        _check_value(setting, converted, origin)
    if setting.is_path and converted:
        if isinstance(converted, list):
            converted = [str((base / os.path.expanduser(p)).resolve()) for p in converted]
        else:
            converted = str((base / os.path.expanduser(converted)).resolve())
    return converted


def _check_value(setting: Setting, value: Any, origin: str) -> None:
    """A usage error when *value* is outside the setting's bounds or fails its check."""
    if setting.bounds is not None:
        low, high = setting.bounds
        if not low <= value <= high:
            raise ConfigError(f"{origin}: {setting.name} must be between {low} and {high}, not {value}")
    if setting.check is not None:
        try:
            setting.check(value)
        except ValueError as exc:
            raise ConfigError(f"{origin}: invalid value for {setting.name}: {exc}") from None


def _choose(setting: Setting, value: Any, origin: str) -> Any:
    """*value* as one of the setting's choices (each item of a list), or a usage error naming them."""
    if isinstance(value, list):
        return [_choose(setting, item, origin) for item in value]
    for choice in setting.choices:
        if str(value).lower() == choice:
            return choice
    raise ConfigError(f"{origin}: unknown {setting.noun or setting.name} {value!r} for {setting.name} "
                      f"(choose one of {', '.join(setting.choices)})")


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
        config.values[key] = _convert(key, value, str(path), path.parent)
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
            config.values[key] = _convert(key, environ[variable], f"${variable}", cwd)
            config.sources[key] = f"environment ${variable}"
    for variable, raw in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or variable in ENV_NOT_SETTINGS or not raw:
            continue  # an empty variable counts as unset, like the PG* ones above
        key = variable[len(ENV_PREFIX):].lower()
        if key not in SETTINGS:
            config.unknown.append((variable, "environment"))
            continue
        config.values[key] = _convert(key, raw, f"${variable}", cwd)
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
