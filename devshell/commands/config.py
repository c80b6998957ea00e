"""``devshell config``: the effective configuration, value by value, with its source."""

from __future__ import annotations

import json

import click

from ..config import display_value, unknown_key_messages
from ..settings import SETTINGS
from . import load


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (secrets masked).")
@click.argument("keys", nargs=-1)
@click.pass_context
def config_command(ctx: click.Context, as_json: bool, keys: tuple[str, ...]) -> None:
    """Show each setting's effective value and where it came from.

    Layers, weakest first: defaults, the user file, the project file (devshell.toml or
    [tool.devshell] in pyproject.toml), DEVSHELL_* and PG* variables, command-line flags.
    """
    ctx.find_root().ensure_object(dict)["unknown_reported"] = True  # listed below instead
    config = load(ctx)
    for key in keys:
        if key not in SETTINGS:
            raise click.BadParameter(f"unknown setting {key!r}", param_hint="KEYS")
    names = list(keys) or list(SETTINGS)
    if as_json:
        payload = {
            "project_root": str(config.project_root) if config.project_root else None,
            "files": [str(path) for path in config.files],
            "settings": {key: {"value": "********" if SETTINGS[key].secret and config[key] else config[key],
                               "source": config.sources[key]} for key in names},
            "unknown": [{"key": key, "where": where} for key, where in config.unknown],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"# project: {config.project_root or '(none: using the current folder)'}")
    width = max(len(key) for key in names)
    value_width = min(40, max(len(display_value(key, config[key])) for key in names))
    for key in names:
        value = display_value(key, config[key])
        click.echo(f"{key:<{width}}  {value:<{value_width}}  ({config.sources[key]})")
    for message in unknown_key_messages(config):
        click.echo(f"# {message}")
