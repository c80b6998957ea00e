"""``devshell server``: run the application server in the foreground (also what ``devshell`` alone runs)."""

from __future__ import annotations

import click

from ..errors import UsageError
from . import database_option, load

DEV_FEATURES = ("reload", "all")


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def _dev(value: str | None) -> list[str] | None:
    features = _names(value)
    for feature in features or []:
        if feature not in DEV_FEATURES:
            raise UsageError(f"--dev {feature!r}: unknown developer feature (known: {', '.join(DEV_FEATURES)})")
    if features and "all" in features:
        features = ["reload"]
    return features


@click.command("server", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--mode", type=click.Choice(["threaded", "gevent", "prefork"]),
              help="Server mode (default: threaded, or the mode setting).")
@database_option
@click.option("--http-port", type=int, metavar="PORT", help="HTTP port (default 8069; 0 picks a free one).")
@click.option("--http-interface", metavar="ADDRESS", help="Address to listen on (default 127.0.0.1).")
@click.option("--max-cron-threads", type=click.IntRange(min=0), metavar="N", help="Cron threads (default 2).")
@click.option("--pidfile", type=click.Path(dir_okay=False), help="Write the pid here; refuse to start twice.")
@click.option("--dbfilter", metavar="REGEX",
              help="Databases served: a regular expression over the whole name (%h host, %d subdomain).")
@click.option("--addons-path", metavar="DIR1,DIR2", help="Folders searched for modules (replaces addons_path).")
@click.option("--dev", "dev", metavar="FEATURES", help="Developer features: reload (restart on code changes).")
@click.option("--allow-root", is_flag=True, default=None, help="Allow running as root on a non-loopback address.")
@click.pass_context
def server_command(ctx: click.Context, mode: str | None, database: str | None, http_port: int | None,
                   http_interface: str | None, max_cron_threads: int | None, pidfile: str | None,
                   dbfilter: str | None, addons_path: str | None, dev: str | None,
                   allow_root: bool | None) -> int:
    """Run the HTTP server with its cron threads until SIGINT/SIGTERM (SIGHUP restarts)."""
    from ..server.base import configure_logging, make_server

    config = load(ctx, mode=mode, db_name=database, http_port=http_port, http_interface=http_interface,
                  max_cron_threads=max_cron_threads, pidfile=pidfile, dbfilter=dbfilter,
                  addons_path=_names(addons_path), dev=_dev(dev), allow_root=allow_root)
    configure_logging(config["log_level"])
    return make_server(config["mode"], config).run()
