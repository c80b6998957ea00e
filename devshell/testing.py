"""Helpers for the tests of a module (the scaffolded ``tests/test_<name>.py`` uses them).

A module's tests must run against the project's database server, the one
``devshell shell`` finds from the same folder, and leave the machine as they
found it: an embedded server they had to start is stopped again afterwards.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from .config import Config
    from .db.connection import ServerAddress


def module_config(module_dir: str | Path) -> "Config":
    """The configuration to test the module in *module_dir* with, its folder on the addons path.

    Inside a project (a ``devshell.toml`` above the module) that project's; outside
    one, the configuration of the folder the tests run from, as for any devshell
    command there: never a data dir (and an embedded cluster) inside the module.
    """
    from .config import load_config
    from .modules import addons_paths

    module = Path(module_dir).resolve()
    config = load_config(cwd=module)
    if config.project_root is None:
        config = load_config()
    if module.parent not in addons_paths(config):
        config = config.with_overrides({"addons_path": [*config["addons_path"], str(module.parent)]})
    return config


@contextlib.contextmanager
def database_server(config: "Config") -> Iterator["ServerAddress"]:
    """The configuration's database server for the block; an embedded one started here is stopped after it."""
    from .db.connection import resolve_server
    from .db.embedded import EmbeddedCluster

    external = config.is_set("db_host") or config.is_set("db_port")
    cluster = None if external else EmbeddedCluster.from_config(config)
    started_here = cluster is not None and not cluster.status().running
    try:
        yield resolve_server(config)
    finally:
        if started_here and cluster is not None:
            cluster.stop()
