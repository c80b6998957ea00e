"""Click commands: they parse arguments, call the work functions and print the results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..config import Config, load_config, unknown_key_messages
from ..console import warn

if TYPE_CHECKING:
    from ..site import Site


def load(ctx: click.Context, **overrides: Any) -> Config:
    """The configuration for this run (command-line flags on top); unknown keys are reported once."""
    root = ctx.find_root()
    root.ensure_object(dict)
    config = load_config(overrides=overrides)
    if not root.obj.get("unknown_reported"):
        for message in unknown_key_messages(config):
            warn(message)
        root.obj["unknown_reported"] = True
    return config


database_option = click.option(
    "-d", "--database", "database", metavar="NAME", help="Database to work on."
)


def load_site(ctx: click.Context, **overrides: Any) -> "Site":
    """A :class:`~devshell.site.Site` for this run's configuration: the server and modules resolved on first use."""
    from ..site import Site

    return Site(load(ctx, **overrides))


def debug_enabled(ctx: click.Context) -> bool:
    """True when the root ``--debug`` option was given (it is stored on the root context)."""
    return bool((ctx.find_root().obj or {}).get("debug"))


def names(value: str | None) -> list[str] | None:
    """A comma-separated flag value as a list (None when the flag was not given)."""
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]
