"""``devshell cloc``: code, comment and blank lines per module and language."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ..console import warn
from . import database_option, load_site

if TYPE_CHECKING:
    from ..cloc import ClocReport


@click.command("cloc")
@click.option("-p", "--path", "paths", multiple=True, metavar="PATH",
              help="A module folder or a folder of modules (repeatable).")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def cloc_command(ctx: click.Context, paths: tuple[str, ...], database: str | None, as_json: bool) -> None:
    """Count code, comment and blank lines per module and language, like the cloc tool.

    Counts the modules at -p PATH, else those installed in -d DB, else the project's
    (addons_path). A manifest's cloc_exclude globs leave files out.
    """
    from ..cloc import cloc

    report = cloc(paths, database, site=None if paths else load_site(ctx))
    for name in report.missing:
        warn(f"module {name!r} is installed but not on the addons path: not counted")
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_table(report)


def _print_table(report: "ClocReport") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for title, justify in (("module", "left"), ("language", "left"), ("files", "right"), ("blank", "right"),
                           ("comment", "right"), ("code", "right")):
        table.add_column(title, justify=justify)  # type: ignore[arg-type]

    def numbers(counts: object) -> list[str]:
        return [str(getattr(counts, key)) for key in ("files", "blank", "comment", "code")]

    for module in report.modules:
        for index, (language, counts) in enumerate(module.languages.items()):
            table.add_row(module.name if index == 0 else "", language, *numbers(counts))
        if len(module.languages) > 1:
            table.add_row("", "[dim]all[/dim]", *numbers(module.total), style="dim")
        if not module.languages:
            table.add_row(module.name, "[dim]no code[/dim]", "0", "0", "0", "0")
    table.add_section()
    for index, (language, counts) in enumerate(report.languages.items()):
        table.add_row("[bold]total[/bold]" if index == 0 else "", language, *numbers(counts))
    table.add_row("" if report.languages else "[bold]total[/bold]", "[bold]all[/bold]", *numbers(report.total),
                  style="bold")
    Console().print(table)
