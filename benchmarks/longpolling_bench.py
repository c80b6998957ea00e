"""gevent mode's long polling at scale (SPEC §3): memory per idle poll, and one NOTIFY waking 1,000 waiters.

A devshell gevent server and a gevent-based client run as two processes (each
needs one socket per poll, so RLIMIT_NOFILE is raised to its hard limit first).
The client holds 5,000 idle polls; the server's RSS delta divided by 5,000 is
the memory per poll (target < 25 KiB). Then 1,000 more polls wait on one
channel, one bus message is committed, and the time until the client has read
the last of the 1,000 answers is measured (target < 0.5 s; both processes
read the same monotonic clock).

Run through benchmarks/server_bench.py (``--modes longpolling``), which creates
the database and the module.
"""

from __future__ import annotations

from pathlib import Path

from _support import LineClient, open_fds, proc_status, publish, raise_fd_limit, settle, wait_held

IDLE_POLLS = 5000
WAKE_POLLS = 1000
POLL_TIMEOUT = 50  #: the longest a poll waits (bus.MAX_POLL_TIMEOUT): everything is measured well before
CLIENT = r'''
from gevent import monkey
monkey.patch_all()

import json, re, socket, sys, time
import gevent
from gevent.fileobject import FileObjectPosix

port = int(sys.argv[1])
groups = {}


def poll(channel, timeout, results, sockets):
    """One long poll on a keep-alive connection, left open (as a browser would) until the group is done."""
    body = json.dumps({"channels": [channel], "last": 0, "timeout": timeout}).encode()
    head = (f"POST /longpolling/poll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sockets.append(sock)
    sock.sendall(head + body)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    end = data.index(b"\r\n\r\n") + 4
    length = int(re.search(rb"(?i)content-length: *(\d+)", data[:end]).group(1))
    while len(data) < end + length:
        data += sock.recv(65536)
    results.append((time.monotonic(), data[9:12]))


for line in FileObjectPosix(sys.stdin.fileno(), "r", close=False):  # cooperative: polls progress meanwhile
    command, name, *rest = line.split()
    if command == "open":  # open NAME COUNT CHANNEL TIMEOUT
        count, channel, timeout = int(rest[0]), rest[1], float(rest[2])
        results, greenlets, sockets = [], [], []
        for number in range(count):
            greenlets.append(gevent.spawn(poll, channel, timeout, results, sockets))
            if number % 250 == 249:
                gevent.sleep(0.02)  # gentle on the listen backlog
        groups[name] = (greenlets, results, sockets)
        print("opened", flush=True)
    elif command == "wait":  # wait NAME -> answered, last answer (monotonic), 200s
        greenlets, results, sockets = groups[name]
        gevent.joinall(greenlets)
        for sock in sockets:
            sock.close()
        print(len(results), max(t for t, _ in results), sum(1 for _, s in results if s == b"200"), flush=True)
'''


class Client(LineClient):
    """The gevent-based load process, driven line by line."""

    def __init__(self, port: int, scratch: Path) -> None:
        super().__init__("long-polling client", scratch / "longpolling_client.py", CLIENT, str(port))

    def open(self, name: str, count: int, channel: str, timeout: float) -> None:
        self.ask(f"open {name} {count} {channel} {timeout}")

    def wait(self, name: str) -> tuple[int, float, int]:
        answered, last, ok = self.ask(f"wait {name}").split()
        return int(answered), float(last), int(ok)


def measure_longpolling(command: list[str], scratch: Path, db: str) -> None:
    from server_bench import start, stop

    limit = raise_fd_limit()
    if limit < IDLE_POLLS + WAKE_POLLS + 200:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}: raise the hard limit to {IDLE_POLLS + WAKE_POLLS + 200} or more")
    server, port = start(command, scratch / "longpolling-devshell.log")
    client = Client(port, scratch)
    try:
        client.open("warmup", 300, "warmup", 1)  # pools, caches and imports, before the baseline
        client.wait("warmup")
        settle(server.pid)
        base_fds, base_rss = open_fds(server.pid), proc_status(server.pid, "VmRSS")
        client.open("idle", IDLE_POLLS, "idle", POLL_TIMEOUT)
        wait_held(server.pid, base_fds + IDLE_POLLS)
        held_rss = proc_status(server.pid, "VmRSS")
        per_poll = (held_rss - base_rss) / IDLE_POLLS  # KiB
        client.open("wake", WAKE_POLLS, "wake", POLL_TIMEOUT)
        wait_held(server.pid, base_fds + IDLE_POLLS + WAKE_POLLS)
        committed = publish(db, "wake", {"hello": "everyone"})
        answered, last, ok = client.wait("wake")
        woken = last - committed
    finally:
        stop(server)  # the idle polls are answered at once
        client.close()
    print(f"long polling, gevent mode ({IDLE_POLLS} idle polls held, then {WAKE_POLLS} waiters on one channel)")
    print(f"  server RSS {base_rss / 1024:.1f} MiB -> {held_rss / 1024:.1f} MiB: {per_poll:.1f} KiB per idle poll "
          f"(target < 25 KiB): {'OK' if per_poll < 25 else 'MISSED'}")
    print(f"  one NOTIFY -> {ok}/{answered} waiters answered 200 within {woken:.3f} s "
          f"(target < 0.5 s): {'OK' if woken < 0.5 and ok == WAKE_POLLS else 'MISSED'}", flush=True)
