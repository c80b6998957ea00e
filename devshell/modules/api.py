"""The module operations the CLI, the shell, the server and notebooks call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol, Sequence

from ..config import Config
from ..console import warn as console_warn
from .discovery import AddonsPath, Module
from .graph import BASE, resolve_order
from .commands import Warn
from .install import InstallStep, apply_install
from .loader import load_contributions
from .manifest import ModuleError

if TYPE_CHECKING:
    from ..db.connection import ServerAddress

ADMIN_LOGIN = "admin"


class SiteLike(Protocol):
    """What the module operations need of a :class:`devshell.site.Site` (modules sit below it)."""

    config: Config
    addons: AddonsPath

    @property
    def address(self) -> "ServerAddress": ...


def _config_of(target: Any) -> "Config":
    config = getattr(target, "config", None)
    if config is None:
        from ..config import load_config

        config = load_config()
    return config


def plan_install(addons: AddonsPath, names: Iterable[str]) -> tuple[list[Module], list[str]]:
    """The modules to install for *names* (``base`` first, dependencies before dependents) and
    the manifests' warnings; nothing touches a database."""
    order = resolve_order(addons.modules, [BASE, *names], addons.paths)
    return order, [warning for module in order for warning in module.manifest.warnings]


def install_modules(target: Any, names: Iterable[str], *, addons_path: Sequence[str] | None = None,
                    update: bool = False, config: "Config | None" = None) -> list[str]:
    """Install *names* (plus ``base`` and their dependencies) on an Environment or a psycopg2 connection.

    One transaction, committed at the end (pending work on the connection is
    committed with it); on failure everything is rolled back. Modules already
    installed at their current version are skipped unless *update* (which re-runs
    the named modules). *addons_path* replaces the configured folders. Returns the
    names whose data files ran, in order.
    """
    names = list(names)
    order, _warnings = plan_install(AddonsPath(config or _config_of(target), addons_path), names)
    steps = apply_install(getattr(target, "conn", target), order, update=names if update else ())
    return [step.name for step in steps if step.ran]


@dataclass
class InitResult:
    """What ``devshell db init`` did; ``admin_password`` is set only when it was generated here."""

    database: str
    created: bool
    steps: list[InstallStep] = field(default_factory=list)
    admin_created: bool = False
    admin_password: str | None = None
    warnings: list[str] = field(default_factory=list)


def init_database(site: SiteLike | Config, db: str, modules: Iterable[str] = (),
                  admin_password: str | None = None, *, update: bool = False) -> InitResult:
    """Create *db* if needed, install ``base`` and *modules*, and create the ``admin`` user if missing.

    *site* is a :class:`devshell.site.Site` (its server and modules resolved once),
    or a bare configuration. The install and the admin user share one transaction;
    a new database is built under a hidden name and renamed to *db* once all went
    well, so a failed, interrupted or killed init leaves no empty database (see
    :mod:`devshell.db.staging`).
    """
    from ..db.admin import database_exists
    from ..db.connection import resolve_server, validate_db_name
    from ..db.staging import new_database

    names = list(modules)
    config = site if isinstance(site, Config) else site.config
    addons = AddonsPath(site) if isinstance(site, Config) else site.addons
    order, warnings = plan_install(addons, names)  # a bad module fails before the database is touched
    validate_db_name(db)
    # the server itself, not a pooler: a pooler's idle connections to the staging name would block its rename
    address = (resolve_server(site) if isinstance(site, Config) else site.address).direct
    result = InitResult(db, created=False, warnings=warnings)
    update_names = names if update else ()
    password = admin_password or config["admin_password"]
    if database_exists(address, db):
        _install_into(address, db, order, update_names, password, result)
        return result
    with new_database(address, db, "initializing") as staging:
        result.created = staging is not None  # None: a concurrent init made it first
        _install_into(address, staging or db, order, update_names, password, result)
    return result


def _install_into(address: "ServerAddress", dbname: str, order: list[Module], update: Iterable[str], password: str | None,
                  result: InitResult) -> None:
    from ..db.connection import connect

    conn = connect(address, dbname)
    try:
        _install_with_admin(conn, order, update, password, result)
    finally:
        conn.close()


def _install_with_admin(conn: Any, order: list[Module], update: Iterable[str], password: str | None,
                        result: InitResult) -> None:
    """The install and the ``admin`` user, committed together or not at all."""
    from ..db.signing_keys import ensure_secret, has_table
    from ..users import create_user, generate_password, user_id

    try:
        result.steps = apply_install(conn, order, update=update, commit=False)
        with conn.cursor() as cr:
            if has_table(cr):
                ensure_secret(cr)  # the database's cookie-signing secret, shared by every server on it
            if user_id(cr, ADMIN_LOGIN) is None:
                if not password:
                    password = result.admin_password = generate_password()
                create_user(cr, ADMIN_LOGIN, password, name="Administrator", is_admin=True)
                result.admin_created = True
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def shell_context_for(env: Any, names: Iterable[str], *, warn: Warn = console_warn,
                      addons: AddonsPath | None = None) -> dict[str, Any]:
    """The names the installed modules *names* add to the shell; a failing module is a warning.

    *addons*: the addons path already scanned (a Site's), else the env's configuration's.
    """
    addons = addons if addons is not None else AddonsPath(_config_of(env))
    available = addons.modules
    present = [name for name in names if name in available]
    try:
        modules = resolve_order(available, present, addons.paths)
    except ModuleError:
        modules = [available[name] for name in sorted(present)]
    found = load_contributions(modules, on_error=lambda module, exc: warn(exc.message))
    namespace: dict[str, Any] = {}
    for item in found.shell_context:
        try:
            names_added = item.function(env)
            namespace.update(names_added or {})
        except Exception as exc:  # module code: report it, keep the shell
            warn(f"module {item.module!r}: shell context {item.function.__qualname__} failed: "
                 f"{type(exc).__name__}: {exc}")
    return namespace
