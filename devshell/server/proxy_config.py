"""``devshell server --print-proxy-config nginx``: a reverse proxy in front of one server or of several.

For one server in prefork mode, long polls and WebSockets go to the gevent
process (``gevent_port``), everything else to the HTTP workers (``http_port``);
the HTTP port alone serves all of it too, handing long-lived connections to the
gevent process, and the proxy spares the workers that hand-off. With
``--upstream HOST:PORT,…`` (several machines, see docs/deploy.md) every request
goes round robin to the nodes, long polls and WebSockets included: every node
serves them, from the shared database. The text
is a ``server`` block with its upstreams, to include in nginx's ``http {}`` block
(``/etc/nginx/conf.d/``); change ``listen`` and ``server_name`` to taste.
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
# devshell behind nginx (devshell server --print-proxy-config nginx): /longpolling and /websocket go
# to the gevent process, everything else to the HTTP workers. Include this file in the http {{}} block
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

    location {websocket} {{
        proxy_pass http://devshell_longpolling;
        # a location that sets headers inherits none of the server's: all of them again, plus the upgrade
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
        proxy_buffering off;
    }}

    location / {{
        proxy_pass http://devshell_http;
        proxy_read_timeout {request_timeout}s;
    }}
}}
"""


NGINX_NODES_TEMPLATE = """\
# devshell behind nginx, round robin over {count} node(s)
# (devshell server --print-proxy-config nginx --upstream {upstreams}).
# Every node serves every route, long polls and WebSockets included. Include this file in the
# http {{}} block, and run each node with proxy_mode = 1 so it reads the X-Forwarded-* headers
# set below (client address, https, host); see docs/deploy.md.
map $http_upgrade $devshell_connection {{
    default upgrade;
    ''      "";
}}

upstream devshell_nodes {{
{servers}
}}

server {{
    listen 80;
    server_name _;

    client_max_body_size {body_mib}m;
    proxy_http_version 1.1;
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $devshell_connection;
    proxy_redirect off;
    # a node that refuses the connection (stopping, restarting, dead) is skipped: the request
    # goes to the next node, and the node is left alone for fail_timeout (10 s)
    proxy_next_upstream error timeout;

    location {longpolling} {{
        proxy_pass http://devshell_nodes;
        proxy_read_timeout {poll_timeout}s;
        proxy_buffering off;
    }}

    location {websocket} {{
        proxy_pass http://devshell_nodes;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
        proxy_buffering off;
    }}

    location / {{
        proxy_pass http://devshell_nodes;
        proxy_read_timeout {request_timeout}s;
    }}
}}
"""
WEBSOCKET_PATH = "/websocket"


def parse_upstreams(value: str) -> list[str]:
    """``HOST:PORT,HOST:PORT`` (``[v6]:PORT`` for IPv6) -> the entries; a usage error for a malformed one."""
    entries = [part.strip() for part in value.split(",") if part.strip()]
    if not entries:
        raise UsageError("--upstream takes the nodes as HOST:PORT,HOST:PORT")
    for entry in entries:
        host, _, port = entry.rpartition(":")
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not bare or not port.isdigit() or not 0 < int(port) <= 65535 or any(c in bare for c in " ;{}[]"):
            raise UsageError(f"--upstream: {entry!r} is not HOST:PORT (an IPv6 address goes in brackets: [::1]:8069)")
        if ":" in bare and not host.startswith("["):
            raise UsageError(f"--upstream: write the IPv6 address of {entry!r} in brackets: [{host}]:{port}")
    return entries


def nginx_nodes_config(config: "Config", upstreams: list[str]) -> str:
    """The nginx configuration balancing round robin over the nodes *upstreams* (``HOST:PORT``)."""
    real = config["limit_time_real"]
    return NGINX_NODES_TEMPLATE.format(count=len(upstreams), upstreams=",".join(upstreams),
                                       servers="\n".join(f"    server {entry};" for entry in upstreams),
                                       longpolling=LONGPOLLING_PATH, websocket=WEBSOCKET_PATH,
                                       body_mib=MAX_BODY_SIZE // 2**20, poll_timeout=int(MAX_POLL_TIMEOUT) + 30,
                                       request_timeout=(real if real > 0 else 600) + 10)


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
                                 gevent_port=gevent_port, longpolling=LONGPOLLING_PATH, websocket=WEBSOCKET_PATH,
                                 body_mib=MAX_BODY_SIZE // 2**20, poll_timeout=int(MAX_POLL_TIMEOUT) + 30,
                                 request_timeout=(real if real > 0 else 600) + 10)


PROXIES = {"nginx": nginx_config}


def proxy_config(kind: str, config: "Config", upstreams: str | None = None) -> str:
    """The reverse-proxy configuration of *kind* (``nginx``): for this server, or for the nodes *upstreams*."""
    if kind not in PROXIES:
        raise UsageError(f"unknown proxy {kind!r}: choose one of {', '.join(PROXIES)}")
    if upstreams is not None:
        return nginx_nodes_config(config, parse_upstreams(upstreams))
    return PROXIES[kind](config)
