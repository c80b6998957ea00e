"""prefork's connection hand-off: HTTP workers pass accepted sockets to the gevent process (SCM_RIGHTS).

A sync worker serves one request at a time, so a long poll, a WebSocket or a
client that is slow to send its request would hold it. The worker passes such a
connection, untouched (it only peeked at it), to the gevent process, which
serves it like a connection it accepted itself: one port serves everything, no
reverse proxy needed.

The channel is a unix datagram socket pair made by the prefork master, which
keeps both ends: the gunicorn process and its workers inherit the sending end,
each gevent process the receiving end (``DEVSHELL_HANDOFF_FD``). Each datagram
carries one descriptor, so many workers can send at once, and a connection
handed over while the gevent process restarts waits in the socket for the next
one. A worker whose send fails (or waits past :data:`SEND_TIMEOUT`) serves the
request itself.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Callable

from .listening_socket import socket_from_environment

logger = logging.getLogger(__name__)

HANDOFF_FD_ENV = "DEVSHELL_HANDOFF_FD"
SEND_TIMEOUT = 5.0
_MARK = b"C"  #: the datagram's byte: "a connection" (the descriptor is in its ancillary data)
_RECEIVE_MAX_FDS = 16


def handoff_pair() -> tuple[socket.socket, socket.socket]:
    """(the workers' sending end, the gevent process's receiving end)."""
    send, receive = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    return send, receive


class HandoffSender:
    """A worker's end: :meth:`send` passes an accepted connection to the gevent process."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._timeout_set = False

    def send(self, client: socket.socket) -> bool:
        """True once the gevent process holds *client* (the caller then closes its own copy)."""
        try:
            if not self._timeout_set:  # here, in the worker: the master's copy needs no timeout
                self.sock.settimeout(SEND_TIMEOUT)
                self._timeout_set = True
            socket.send_fds(self.sock, [_MARK], [client.fileno()])
            return True
        except OSError as exc:
            logger.warning("could not hand a connection to the long-polling process (%s): serving it here", exc)
            return False


def inherited_receiver() -> socket.socket | None:
    """The receiving end a gevent process got from the prefork master, if any."""
    sock = socket_from_environment(HANDOFF_FD_ENV)
    if sock is not None:
        sock.set_inheritable(False)
    return sock


def receive_connections(sock: socket.socket, adopt: Callable[[socket.socket], None]) -> None:
    """Adopt every connection the workers hand over, until *sock* is closed (a greenlet's loop)."""
    while True:
        try:
            _data, fds, _flags, _address = socket.recv_fds(sock, 16, _RECEIVE_MAX_FDS)
        except OSError:
            return  # closed: the server stops
        for fd in fds:
            try:
                client = socket.socket(fileno=fd)
            except OSError:
                os.close(fd)
                continue
            adopt(client)
