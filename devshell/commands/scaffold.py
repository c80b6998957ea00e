"""``devshell scaffold``: a new module (or project) from a template."""

from __future__ import annotations

import click

from ..errors import UsageError
from . import load_site


@click.command("scaffold")
@click.argument("name", required=False)
@click.argument("dest", required=False, default=".", type=click.Path(file_okay=False))
@click.option("-t", "--template", default="module", show_default=True, metavar="TEMPLATE",
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
    from ..scaffold import list_templates, scaffold

    if list_:
        for item in list_templates():
            click.echo(f"{item.name:<10} {item.summary}")
        return
    if not name:
        raise UsageError("missing the name: devshell scaffold NAME [DEST] (or --list)")
    result = scaffold(name, dest, template, force=force, site=load_site(ctx))
    click.echo(f"created {result.target} from the {result.template} template ({len(result.files)} files)")
    for path in result.files:
        click.echo(f"  {path.relative_to(result.target)}")
