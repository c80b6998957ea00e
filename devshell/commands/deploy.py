"""``devshell deploy``: upload a module to a running server, which installs it for every server on the database."""

from __future__ import annotations

import os
import sys

import click

from ..errors import UsageError
from . import database_option, load_site


DEPLOY_PASSWORD_VARIABLE = "DEVSHELL_DEPLOY_PASSWORD"


def _secret(variable: str, prompt: str, *, confirm: bool = False) -> str:
    """*variable*'s value, else typed at a prompt (never a command-line argument, which `ps` shows)."""
    value = os.environ.get(variable)
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"no {prompt}: set {variable} (no terminal to ask on)")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))


def deploy_password_from_environment() -> str:
    """The server's deploy password the client sends: $DEVSHELL_DEPLOY_PASSWORD or a prompt (never a hash)."""
    from ..users import HASH_PREFIX

    password = _secret(DEPLOY_PASSWORD_VARIABLE, "deploy password of the server")
    if password.startswith(HASH_PREFIX):
        raise UsageError(f"${DEPLOY_PASSWORD_VARIABLE} holds a hash: the client sends the password itself "
                         "(the hash belongs in the server's deploy_password setting)")
    return password


@click.command("deploy")
@click.argument("path", type=click.Path(exists=True, file_okay=False), required=False)
@click.argument("url", required=False)
@database_option
@click.option("--login", default="admin", show_default=True, metavar="LOGIN", help="An administrator's login.")
@click.option("--force", is_flag=True, help="Run the module's data files again even at the same version.")
@click.option("--insecure", is_flag=True, help="Do not verify the server's TLS certificate (https://).")
@click.option("--hash-password", is_flag=True,
              help="Print the hash of a deploy password (from $DEVSHELL_DEPLOY_PASSWORD or typed) for the "
                   "server's deploy_password setting, and upload nothing.")
@click.pass_context
def deploy_command(ctx: click.Context, path: str | None, url: str | None, database: str | None, login: str,
                   force: bool, insecure: bool, hash_password: bool) -> None:
    """Zip the module at PATH and upload it to the server at URL (default: http_interface:http_port).

    The server installs or updates it in one transaction, and every server sharing the
    database loads it. Two secrets are needed: the password of LOGIN, an administrator
    of the database (DEVSHELL_PASSWORD, or asked for), and the server's deploy password
    (DEVSHELL_DEPLOY_PASSWORD, or asked for; the server's operator sets its hash).
    """
    if hash_password:
        from ..users import hash_password as scrypt_hash

        click.echo(scrypt_hash(_secret(DEPLOY_PASSWORD_VARIABLE, "deploy password to hash", confirm=True)))
        return
    if path is None:
        raise UsageError("missing the module folder: devshell deploy PATH [URL] -d DB")
    from ..deploy_client import pack_module, parse_url, upload
    from .db import _progress

    site = load_site(ctx, db_name=database)  # the client needs no database server: only names and ports
    config, db = site.config, site.require_database()
    if url is None:
        host = config["http_interface"]
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        url = f"http://{f'[{host}]' if ':' in host else host}:{config['http_port']}"
    parse_url(url)  # a bad URL is refused before any password is asked for
    password = _secret("DEVSHELL_PASSWORD", f"password of {login} on {db}")
    deploy_password = deploy_password_from_environment()
    packed = pack_module(path)
    with _progress(f"uploading {packed.name}", len(packed.data)) as advance:
        answer = upload(packed, url, db, login, password, deploy_password=deploy_password, force=force,
                        insecure=insecure, progress=advance)
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
