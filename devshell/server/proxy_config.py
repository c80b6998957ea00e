"""``devshell server --print-proxy-config nginx``: a reverse proxy in front of prefork mode.

Long polls go to the gevent process (``gevent_port``), everything else to the
HTTP workers (``http_port``), so one public port serves both. The text is a
``server`` block with its two upstreams, to include in nginx's ``http {}``
block (``/etc/nginx/conf.d/``); change ``listen`` and ``server_name`` to taste.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from .web.application import MAX_BODY_SIZE
from ..messaging.bus import MAX_POLL_TIMEOUT

if TYPE_CHECKING:
    from ..config import Config

WILDCARD_INTERFACES = {"", "0.0.0.0", "::", "[::]"}
LONGPOLLING_PATH = "/longpolling"

NGINX_TEMPLATE = """\
# devshell behind nginx (devshell server --print-proxy-config nginx): /longpolling goes to the
# gevent process, everything else to the HTTP workers. Include this file in the http {{}} block
# and run: devshell server --workers N --http-port {http_port} --gevent-port {gevent_port}
upstream devshell_http {{
    server {host}:{http_port};
}}

upstream devshell_longpolling {{
    server {host}:{gevent_port};
}}

server {{
    listen 80;
    server_name _;

    client_max_body_size {body_mib}m;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_redirect off;

    location {longpolling} {{
        proxy_pass http://devshell_longpolling;
        proxy_read_timeout {poll_timeout}s;
        proxy_buffering off;
    }}

    location / {{
        proxy_pass http://devshell_http;
        proxy_read_timeout {request_timeout}s;
    }}
}}
"""


def upstream_host(interface: str) -> str:
    """Where the proxy reaches the server: loopback when the server listens on every interface."""
    if interface in WILDCARD_INTERFACES:
        return "127.0.0.1"
    return f"[{interface}]" if ":" in interface else interface


def nginx_config(config: "Config") -> str:
    """The nginx configuration for the ports and interface of *config*."""
    http_port, gevent_port = config["http_port"], config["gevent_port"]
    if not http_port or not gevent_port:
        raise UsageError("--print-proxy-config needs fixed ports: give --http-port and --gevent-port "
                         "(0 picks a free port at start, which a proxy cannot know)")
    if http_port == gevent_port:
        raise UsageError(f"--http-port and --gevent-port are both {http_port}: give them different ports")
    real = config["limit_time_real"]
    return NGINX_TEMPLATE.format(host=upstream_host(config["http_interface"]), http_port=http_port,
                                 gevent_port=gevent_port, longpolling=LONGPOLLING_PATH,
                                 body_mib=MAX_BODY_SIZE // 2**20, poll_timeout=int(MAX_POLL_TIMEOUT) + 30,
                                 request_timeout=(real if real > 0 else 600) + 10)


PROXIES = {"nginx": nginx_config}


def proxy_config(kind: str, config: "Config") -> str:
    """The reverse-proxy configuration of *kind* (``nginx``)."""
    try:
        return PROXIES[kind](config)
    except KeyError:
        raise UsageError(f"unknown proxy {kind!r}: choose one of {', '.join(PROXIES)}") from None
