"""``devshell scaffold``: a new module (or project) from a template."""

from __future__ import annotations

from typing import Any

import click

from ..errors import UsageError
from . import load_site


def complete_templates(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of ``-t``: the built-in template names, or folders once the value looks like a path."""
    from click.shell_completion import CompletionItem

    from ..scaffold.render import BUILTIN_TEMPLATES

    if incomplete.startswith((".", "/", "~")) or "/" in incomplete:
        return [CompletionItem(incomplete, type="dir")]  # the shell completes the folder itself
    return [name for name in BUILTIN_TEMPLATES if name.startswith(incomplete)]


@click.command("scaffold")
@click.argument("name", required=False)
@click.argument("dest", required=False, default=".", type=click.Path(file_okay=False))
@click.option("-t", "--template", default="module", show_default=True, metavar="TEMPLATE",
              shell_complete=complete_templates,
              help="A built-in template (see --list) or the path of a template folder.")
@click.option("--list", "list_", is_flag=True, help="List the built-in templates and exit.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.pass_context
def scaffold_command(ctx: click.Context, name: str | None, dest: str, template: str, list_: bool,
                     force: bool) -> None:
    """Create DEST/NAME from a template: `devshell scaffold my_module addons/`.

    Templates are Jinja2 folders (file names included); `module` makes a module that
    installs with `devshell db init -i NAME` and comes with a passing test.
    """
    from ..modules.discovery import addons_path_advice
    from ..modules.manifest import MANIFEST_FILE
    from ..scaffold import list_templates, scaffold

    if list_:
        for item in list_templates():
            click.echo(f"{item.name:<10} {item.summary}")
        return
    if not name:
        raise UsageError("missing the name: devshell scaffold NAME [DEST] (or --list)")
    site = load_site(ctx)
    result = scaffold(name, dest, template, force=force, site=site)
    click.echo(f"created {result.target} from the {result.template} template ({len(result.files)} files)")
    for path in result.files:
        click.echo(f"  {path.relative_to(result.target)}")
    if (result.target / MANIFEST_FILE).is_file() and result.target.parent.resolve() not in site.addons_paths:
        click.echo(f"{result.target.parent} is not on the addons path: to install {name} "
                   f"(devshell db init -d DB -i {name}), {addons_path_advice(result.target.parent)}")
