"""Commands from modules' ``cli.py`` for the dispatcher (``devshell <command>``).

Only what listing them needs is imported here: the addons path, and the manifests
and the importer once a module has a ``cli.py``; nothing of the install machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from ..console import warn as console_warn
from ..errors import DevshellError
from .discovery import AddonsPath

if TYPE_CHECKING:
    from ..addon import ModuleCommand
    from ..config import Config

Warn = Callable[[str], None]


def module_commands(config: "Config | None" = None, *, reserved: Iterable[str] = (),
                    warn: Warn = console_warn) -> dict[str, "ModuleCommand"]:
    """{command name: ModuleCommand} from the ``cli.py`` of every module on the addons path.

    Names in *reserved* (devshell's own commands) win; among modules, the first
    alphabetically wins. A module that fails to load is a warning, never an error.
    """
    try:
        if config is None:
            from ..config import load_config

            config = load_config()
        available = AddonsPath(config).modules
    except DevshellError as exc:
        warn(f"module commands not loaded: {exc.message}")
        return {}
    taken = set(reserved)
    found: dict[str, ModuleCommand] = {}
    with_cli = [(name, module) for name, module in sorted(available.items()) if module.has_file("cli.py")]
    if not with_cli:
        return found
    from .loader import cli_commands
    from .manifest import ModuleError

    for name, module in with_cli:
        try:
            module.manifest  # noqa: B018 - a broken manifest disqualifies the module's commands too
            commands = cli_commands(module)
        except ModuleError as exc:
            warn(f"module commands of {name!r} not loaded: {exc.message}")
            continue
        for command in commands:
            if command.name in taken or command.name in found:
                owner = found[command.name].module if command.name in found else "devshell"
                warn(f"command {command.name!r} of module {name!r} ignored: {owner!r} already provides it")
                continue
            found[command.name] = command
    return found

