"""Click commands: they parse arguments, call the work functions and print the results."""

from __future__ import annotations

from typing import Any

import click

from ..config import Config, load_config, unknown_key_messages


def load(ctx: click.Context, **overrides: Any) -> Config:
    """The configuration for this run (command-line flags on top); unknown keys are reported once."""
    root = ctx.find_root()
    root.ensure_object(dict)
    config = load_config(overrides=overrides)
    if not root.obj.get("unknown_reported"):
        for message in unknown_key_messages(config):
            click.echo(f"devshell: warning: {message}", err=True)
        root.obj["unknown_reported"] = True
    return config


database_option = click.option(
    "-d", "--database", "database", metavar="NAME", help="Database to work on."
)
