"""The listening socket of a server: bound here with one clear error, or handed over by a re-exec.

A restart (SIGHUP, ``--dev reload``) re-executes the process and passes the open
socket in ``DEVSHELL_LISTEN_FD``, so connections that arrive meanwhile wait in
the backlog instead of being refused; the prefork master hands its sockets to
its children the same way.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from ...errors import DevshellError, UsageError

LISTEN_FD_ENV = "DEVSHELL_LISTEN_FD"
DEFAULT_BACKLOG = 128
LONGPOLLING_BACKLOG = 2048  #: gevent's listen backlog: thousands of pollers may (re)connect at once


def bind_socket(interface: str, port: int, *, flag: str = "--http-port", backlog: int = DEFAULT_BACKLOG
                ) -> socket.socket:
    """A listening TCP socket on exactly *interface*, or one clear error line (naming *flag*)."""
    try:
        infos = socket.getaddrinfo(interface, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {interface!r}: {exc.strerror} (check --http-interface)") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DevshellError(f"port {port} on {interface} is in use by another program: stop it, or choose "
                                f"another port with {flag} (0 picks a free one)") from None
        if exc.errno == errno.EACCES:
            default = 8072 if flag == "--gevent-port" else 8069
            raise DevshellError(f"permission denied listening on port {port}: ports below 1024 need "
                                f"privileges, use {flag} {default}") from None
        raise DevshellError(f"cannot listen on {interface}:{port}: {exc.strerror}") from None
    return sock


def socket_from_environment(variable: str) -> socket.socket | None:
    """The socket whose descriptor a parent process named in *variable*, if any (the variable is consumed)."""
    value = os.environ.pop(variable, None)
    if not value:
        return None
    try:
        return socket.socket(fileno=int(value))
    except (ValueError, OSError):
        return None


def inherited_socket(family: int, address: tuple[Any, ...]) -> socket.socket | None:
    """The listening socket handed over by the process we were re-executed from, if it fits *address*."""
    sock = socket_from_environment(LISTEN_FD_ENV)
    if sock is None:
        return None
    host, port = sock.getsockname()[:2]
    if sock.family != family or host != address[0] or (address[1] and port != address[1]):
        sock.close()  # the configuration changed: bind afresh
        return None
    sock.set_inheritable(False)
    return sock


def listening_socket(interface: str, port: int, *, flag: str = "--http-port", backlog: int = DEFAULT_BACKLOG
                     ) -> socket.socket:
    """The socket handed over by a re-exec or the prefork master, else a new one bound to *port*."""
    infos = socket.getaddrinfo(interface, port, type=socket.SOCK_STREAM)
    family, address = infos[0][0], infos[0][4]
    return inherited_socket(family, address) or bind_socket(interface, port, flag=flag, backlog=backlog)
