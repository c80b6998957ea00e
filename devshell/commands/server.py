"""``devshell server``: run the application server in the foreground (also what ``devshell`` alone runs)."""

from __future__ import annotations

import click

from ..settings import SETTINGS
from . import database_option, load, names

PROXIES = ("nginx",)

_count = click.IntRange(min=0)


@click.command("server")
@click.option("--mode", type=click.Choice(SETTINGS["mode"].choices),
              help="Server mode (default: threaded, or prefork with --workers, or the mode setting).")
@database_option
@click.option("--http-port", type=int, metavar="PORT", help="HTTP port (default 8069; 0 picks a free one).")
@click.option("--gevent-port", type=int, metavar="PORT",
              help="Long-polling port of gevent mode and of prefork's gevent process (default 8072; 0: free one).")
@click.option("--http-interface", metavar="ADDRESS", help="Address to listen on (default 127.0.0.1).")
@click.option("--workers", type=_count, metavar="N", help="HTTP worker processes; N > 0 implies --mode prefork.")
@click.option("--max-cron-threads", type=_count, metavar="N",
              help="Cron threads (cron processes in prefork mode; default 2).")
@click.option("--pidfile", type=click.Path(dir_okay=False), help="Write the pid here; refuse to start twice.")
@click.option("--limit-request", type=_count, metavar="N",
              help="Prefork: requests a worker serves before it is recycled (default 65536; 0: no limit).")
@click.option("--limit-memory-soft", type=_count, metavar="BYTES",
              help="Virtual memory past which a worker is recycled after its request (default 2 GiB; 0: off).")
@click.option("--limit-memory-hard", type=_count, metavar="BYTES",
              help="Virtual memory a worker can never exceed (RLIMIT_AS; default 2.5 GiB; 0: off).")
@click.option("--limit-time-cpu", type=_count, metavar="SECONDS",
              help="CPU seconds per request or cron job (default 60; 0: off).")
@click.option("--limit-time-real", type=_count, metavar="SECONDS",
              help="Wall-clock seconds per request or cron job; past it the worker is killed (default 120; 0: off).")
@click.option("--dbfilter", metavar="REGEX",
              help="Databases served: a regular expression over the whole name (%h host, %d subdomain).")
@click.option("--addons-path", metavar="DIR1,DIR2", help="Folders searched for modules (replaces addons_path).")
@click.option("--dev", "dev", metavar="FEATURES",
              help=f"Developer features ({', '.join(SETTINGS['dev'].choices)}): reload restarts on code changes.")
@click.option("--allow-root", is_flag=True, default=None, help="Allow running as root on a non-loopback address.")
@click.option("--print-proxy-config", "proxy", type=click.Choice(PROXIES),
              help="Print a reverse-proxy config for these ports (/longpolling to the gevent port) and exit.")
@click.option("--upstream", "upstreams", metavar="HOST:PORT,…",
              help="With --print-proxy-config: balance round robin over these nodes (several machines).")
@click.pass_context
def server_command(ctx: click.Context, mode: str | None, database: str | None, http_port: int | None,
                   gevent_port: int | None, http_interface: str | None, workers: int | None,
                   max_cron_threads: int | None, pidfile: str | None, limit_request: int | None,
                   limit_memory_soft: int | None, limit_memory_hard: int | None, limit_time_cpu: int | None,
                   limit_time_real: int | None, dbfilter: str | None, addons_path: str | None, dev: str | None,
                   allow_root: bool | None, proxy: str | None, upstreams: str | None) -> int:
    """Run the HTTP server until SIGINT/SIGTERM (SIGHUP restarts or reloads).

    threaded: HTTP threads and cron threads. gevent: greenlets on --gevent-port, for
    long polling. prefork (--workers N): a master supervising gunicorn's HTTP workers,
    a gevent process for long polling and cron processes; SIGTTIN/SIGTTOU add or
    remove a worker, SIGQUIT dumps every process's stack.
    """
    from ..server.modes.factory import make_server
    from ..server.modes.server_log import configure_logging

    config = load(ctx, mode=mode, db_name=database, http_port=http_port, gevent_port=gevent_port,
                  http_interface=http_interface, workers=workers, max_cron_threads=max_cron_threads,
                  pidfile=pidfile, limit_request=limit_request, limit_memory_soft=limit_memory_soft,
                  limit_memory_hard=limit_memory_hard, limit_time_cpu=limit_time_cpu,
                  limit_time_real=limit_time_real, dbfilter=dbfilter, addons_path=names(addons_path),
                  dev=names(dev), allow_root=allow_root)
    if upstreams is not None and proxy is None:
        from ..errors import UsageError

        raise UsageError("--upstream goes with --print-proxy-config nginx (it names the nodes to balance over)")
    if proxy is not None:
        from ..server.proxy_config import proxy_config

        click.echo(proxy_config(proxy, config, upstreams), nl=False)
        return 0
    configure_logging(config["log_level"])
    return make_server(config).run()
