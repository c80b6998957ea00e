"""``devshell deploy``: upload a module to a running server, which installs it for every server on the database."""

from __future__ import annotations

import os
import sys

import click

from ..errors import UsageError
from . import database_option, load_site


@click.command("deploy")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.argument("url", required=False)
@database_option
@click.option("--login", default="admin", show_default=True, metavar="LOGIN", help="An administrator's login.")
@click.option("--force", is_flag=True, help="Run the module's data files again even at the same version.")
@click.option("--insecure", is_flag=True, help="Do not verify the server's TLS certificate (https://).")
@click.pass_context
def deploy_command(ctx: click.Context, path: str, url: str | None, database: str | None, login: str, force: bool,
                   insecure: bool) -> None:
    """Zip the module at PATH and upload it to the server at URL (default: http_interface:http_port).

    The server installs or updates it in one transaction, and every server sharing the
    database loads it. The password comes from DEVSHELL_PASSWORD, or is asked for.
    """
    from ..deploy_client import pack_module, upload
    from .db import _progress

    site = load_site(ctx, db_name=database)  # the client needs no database server: only names and ports
    config, db = site.config, site.require_database()
    if url is None:
        host = config["http_interface"]
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        url = f"http://{f'[{host}]' if ':' in host else host}:{config['http_port']}"
    password = os.environ.get("DEVSHELL_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            raise UsageError("no password: set DEVSHELL_PASSWORD (no terminal to ask on)")
        password = click.prompt(f"password of {login} on {db}", hide_input=True, err=True)
    packed = pack_module(path)
    with _progress(f"uploading {packed.name}", len(packed.data)) as advance:
        answer = upload(packed, url, db, login, password, force=force, insecure=insecure, progress=advance)
    action = answer.get("action")
    if action == "updated":
        done = f"updated {answer.get('previous')} -> {answer['version']}"
    elif action == "unchanged":
        done = f"files replaced, data unchanged at {answer['version']} (--force runs the data files again)"
    else:
        done = f"{action} {answer['version']}"
    click.echo(f"deployed {answer['module']} to {db} at {url}: {done} "
               f"({len(packed.files)} files, {len(packed.data)} bytes zipped)")
    for name in answer.get("installed", []):
        click.echo(f"  also installed {name} (a dependency)")
