"""``devshell start`` (seed: quick start): the project at a path, its database, its modules, a server.

What counts as the project, looked for at the path in this order: a devshell
project (``devshell.toml`` or ``[tool.devshell]``, found by walking up) and the
modules of its addons path; a module folder; a folder of modules. The database
server is the configured one, else the embedded cluster; the database (``-d``,
``db_name``, else named after the folder) is created if missing and the modules
installed. ``demo`` first writes the demo project (a library app) into the folder
and fills it with ``populate``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .console import warn
from .errors import UsageError

if TYPE_CHECKING:
    from .config import Config
    from .modules import InitResult
    from .site import Site

DEMO_MODULE = "library"
DEMO_TABLES = ("library_author", "library_book", "library_member", "library_loan")
Echo = Callable[[str], None]


@dataclass
class Project:
    """What ``start`` found at a path: where the configuration is read from, and the modules to install."""

    kind: str  #: "project", "module" or "addons"
    base: Path  #: the folder the configuration is read from (and relative paths are read against)
    site: "Site"  #: its configuration (``db_name`` set to :attr:`db`), server and modules, resolved once
    modules: list[str]
    addons_env: str | None = None  #: DEVSHELL_ADDONS_PATH a shell needs to see the modules, if any

    @property
    def config(self) -> "Config":
        return self.site.config

    @property
    def db(self) -> str:
        return str(self.config["db_name"])


@dataclass
class Prepared:
    """A project whose database is ready: what was done on the way."""

    project: Project
    init: "InitResult"
    populated: dict[str, int] = field(default_factory=dict)


def database_name_for(folder: Path) -> str:
    """A database name from a folder name: ``My Shop-2`` -> ``my_shop_2``."""
    name = re.sub(r"[^a-z0-9_]+", "_", folder.name.lower()).strip("_")[:63]
    if not name:
        return "devshell"
    return f"db_{name}"[:63] if name[0].isdigit() else name


def _site(cwd: Path, overrides: dict[str, Any], db: str | None, named_after: Path,
          on_config: Callable[["Config"], None] | None) -> "Site":
    """The Site of the configuration read from *cwd*, its database *db*, else configured, else named after a folder."""
    from .config import load_config
    from .site import Site

    config = load_config(cwd=cwd, overrides=overrides)
    config = config.with_overrides({"db_name": db or config["db_name"] or database_name_for(named_after)})
    if on_config is not None:
        on_config(config)
    return Site(config)


def _modules_in(site: "Site", folders: list[str]) -> list[str]:
    """The installable modules of the addons path found in *folders* (devshell's own and deployed ones left out).

    A broken manifest fails here, naming its file.
    """
    roots = {(site.config.base_dir / folder).resolve() for folder in folders}
    return sorted(name for name, module in site.modules.items()
                  if (module.path in roots or module.path.parent in roots) and module.manifest.installable)


def find_project(path: str | Path = ".", db: str | None = None, overrides: dict[str, Any] | None = None, *,
                 on_config: Callable[["Config"], None] | None = None) -> Project:
    """The project, module or folder of modules at *path* (see the module docstring).

    *on_config* is called with the project's configuration as soon as it is read,
    before its modules are looked for (``start`` sets up logging with it).
    """
    from .config import find_project_file
    from .modules.manifest import MANIFEST_FILE

    folder = Path(path).expanduser().absolute()
    if not folder.is_dir():
        raise UsageError(f"{path}: no such folder")
    overrides = dict(overrides or {})
    found = find_project_file(folder)
    if found is not None:
        root = found[0].parent
        site = _site(folder, overrides, db, root, on_config)
        modules = _modules_in(site, site.config["addons_path"] or [])
        if not modules:
            raise UsageError(f"the project at {root} has no modules: set addons_path in "
                             f"{site.config.files[-1].name} or create one (devshell scaffold NAME addons/)")
        return Project("project", root, site, modules)
    alone = {**overrides, "addons_path": [str(folder)]}
    if (folder / MANIFEST_FILE).is_file():
        return Project("module", folder.parent, _site(folder.parent, alone, db, folder, on_config), [folder.name],
                       addons_env=str(folder))
    site = _site(folder, alone, db, folder, on_config)
    modules = _modules_in(site, [str(folder)])
    if modules:
        return Project("addons", folder, site, modules, addons_env=str(folder))
    raise UsageError(f"no devshell project or module at {folder}: create one with `devshell scaffold NAME -t "
                     "project`, or try `devshell start --demo` in an empty folder")


def create_demo(path: str | Path, db: str | None = None) -> Path:
    """Write the demo project into *path* (kept as it is when it is already there); returns the folder."""
    from .modules.manifest import MANIFEST_FILE
    from .scaffold.render import default_context, render_into

    folder = Path(path).expanduser().absolute()
    if (folder / "addons" / DEMO_MODULE / MANIFEST_FILE).is_file() and (folder / "devshell.toml").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    name = db or database_name_for(folder)
    render_into("demo", folder, default_context(name))
    return folder


def prepare(project: Project, *, demo: bool = False, echo: Echo | None = None) -> Prepared:
    """Create the project's database if missing, install its modules (and fill the demo)."""
    from .config import unknown_key_messages
    from .db.connection import validate_db_name
    from .modules import init_database

    for message in unknown_key_messages(project.config):
        warn(message)
    validate_db_name(project.db)
    init = init_database(project.site, project.db, project.modules)
    prepared = Prepared(project, init)
    if demo and _demo_is_empty(project):
        from .populate import populate

        if echo is not None:
            echo(f"filling the demo database {project.db} with fake rows (devshell populate)")
        result = populate(project.db, "small", tables=list(DEMO_TABLES), site=project.site, quiet=echo is None)
        prepared.populated = result.rows
    return prepared


def _demo_is_empty(project: Project) -> bool:
    """No books yet: a new demo database, or one whose first fill failed."""
    conn = project.site.connect(project.db)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT NOT EXISTS (SELECT 1 FROM library_book)")
            row = cr.fetchone()
            return bool(row and row[0])
    finally:
        conn.close()


def shell_command(project: Project, cwd: Path | None = None) -> str:
    """The exact command that opens a shell on the project's database from *cwd*."""
    cwd = (cwd or Path.cwd()).absolute()
    parts = []
    if project.base != cwd:
        parts.append(f"cd {shlex.quote(str(project.base))} &&")
    if project.addons_env:
        parts.append(f"DEVSHELL_ADDONS_PATH={shlex.quote(project.addons_env)}")
    parts.append(f"devshell shell -d {shlex.quote(project.db)}")
    return " ".join(parts)


def summary(prepared: Prepared, url: str, demo: bool = False) -> list[str]:
    """What ``start`` prints once the server accepts requests."""
    project, init = prepared.project, prepared.init
    lines = [f"{project.kind} {project.base}: modules {', '.join(project.modules)}",
             f"database {project.db}" + (" (created)" if init.created else "")]
    for step in init.steps:
        if step.ran:
            lines.append(f"  {step.action} {step.name} {step.version}")
    if prepared.populated:
        lines.append(f"  populated {sum(prepared.populated.values())} rows in {len(prepared.populated)} tables")
    if init.admin_password:
        lines.append(f"admin login: admin, password: {init.admin_password} (shown once)")
    page = DEMO_MODULE if demo or DEMO_MODULE in project.modules else ""
    lines.append(f"open:  {url.rstrip('/')}/{page}")
    lines.append(f"shell: {shell_command(project)}")
    return lines


def start(path: str | Path = ".", db: str | None = None, *, demo: bool = False,
          overrides: dict[str, Any] | None = None, echo: Echo = print) -> int:
    """Find and prepare the project, then serve it with the threaded server in the foreground until stopped."""
    from .server.modes.server_log import configure_logging
    from .server.modes.threaded_server import ThreadedServer
    from .server.web.application import Root

    project = find_project(create_demo(path, db) if demo else path, db, overrides,
                           on_config=lambda config: configure_logging(config["log_level"]))
    prepared = prepare(project, demo=demo, echo=echo)
    site = project.site.with_overrides({"mode": "threaded", "workers": 0})  # the server and modules stay resolved
    server = ThreadedServer(site.config, app=Root(site))
    server.start()  # bound now: the summary shows the real port (0 picks a free one)
    for line in summary(prepared, server.url, demo):
        echo(line)
    return server.run()
