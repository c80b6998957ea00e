"""The settings devshell knows: each one's type, default, help, choices or bounds, and whether it is secret.

:data:`SETTINGS` is the one table of them. :func:`convert_value` turns a raw value
(from a file, the environment, the command line or code) into a checked one, so a
value outside a setting's choices or bounds is refused where it was given, once.
The layers that supply the values are in :mod:`devshell.config`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError

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


def convert_value(key: str, value: Any, origin: str, base: Path, *, chosen: bool = False) -> Any:
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
