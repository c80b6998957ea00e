"""WebSocket and prefork real time at scale (SPEC §3): memory per socket, fan-out latency, a busy HTTP port.

1. gevent mode: 5,000 idle WebSockets (each subscribed to a channel) are opened by a
   gevent-based client process; the server's RSS delta divided by their number is the
   memory per socket (target < 25 KiB).
2. gevent mode: 1,000 more sockets subscribe to one channel, one bus message is
   committed, and the time until the last of them has received it is measured
   (target < 0.5 s; both processes read the same monotonic clock).
3. prefork mode, the HTTP port: two identical servers (2 sync workers each), one of
   them holding 1,000 waiting long polls and 1,000 WebSockets on its HTTP port (the
   workers hand them to its gevent process), are measured in alternating rounds on
   the hello route (target: with them >= 0.8x without them).

Usage: python benchmarks/websocket_bench.py [--sockets 5000] [--subscribers 1000] [--clients 1000]
       [--seconds 4] [--rounds 5] [--connections 8] [--python-load] [--parts idle,fanout,prefork]
Each process needs a descriptor per socket: RLIMIT_NOFILE is raised to its hard limit, and
the counts are scaled down (said so) when that is too low. Uses the embedded cluster under
DEVSHELL_DATA_DIR (a temporary one when unset) and a database it creates and drops.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _support import LineClient, open_fds, proc_status, publish, raise_fd_limit, settle, wait_held
from server_bench import Bench, alternate, bench_database, check, start, stop

CLIENT = r'''
from gevent import monkey
monkey.patch_all()

import json, socket, sys, time
import gevent
from gevent.fileobject import FileObjectPosix
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

port, db = int(sys.argv[1]), sys.argv[2]
groups = {}


class BusSocket:
    """A WebSocket subscribed to one channel; the monotonic time of each bus message it receives."""

    def __init__(self, channel):
        self.channel = channel
        self.received = []
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target=f"/websocket?db={db}")))
        self.subscribed = False
        while not self.subscribed:
            self.pump()
        gevent.spawn(self.read_forever)

    def pump(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.sock.sendall(self.ws.send(TextMessage(data=json.dumps({"subscribe": [self.channel], "last": 0}))))
            elif isinstance(event, TextMessage):
                message = json.loads(event.data)
                if "subscribed" in message:
                    self.subscribed = True
                elif "id" in message:
                    self.received.append(time.monotonic())
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))

    def read_forever(self):
        try:
            while True:
                self.pump()
        except (OSError, EOFError):
            pass


def poll_forever(channel, results):
    """A long poll on a keep-alive connection, sent again each time it is answered."""
    body = json.dumps({"channels": [channel], "last": 0, "timeout": 50}).encode()
    head = (f"POST /longpolling/poll?db={db} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port))
    results.append(sock)
    while True:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        end = data.index(b"\r\n\r\n") + 4
        length = int(data[:end].lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(data) < end + length:
            data += sock.recv(65536)


for line in FileObjectPosix(sys.stdin.fileno(), "r", close=False):
    command, name, *rest = line.split()
    if command == "ws":  # ws NAME COUNT CHANNEL: open COUNT subscribed sockets
        count, channel = int(rest[0]), rest[1]
        sockets = []
        for number in range(count):
            sockets.append(BusSocket(channel))
            if number % 200 == 199:
                gevent.sleep(0.01)
        groups[name] = sockets
        print("opened", flush=True)
    elif command == "poll":  # poll NAME COUNT CHANNEL: COUNT long polls, kept waiting
        count, channel = int(rest[0]), rest[1]
        held = []
        groups[name] = [gevent.spawn(poll_forever, channel, held) for _ in range(count)]
        while len(held) < count:
            gevent.sleep(0.05)
        gevent.sleep(0.5)  # the last requests sent
        print("opened", flush=True)
    elif command == "wait":  # wait NAME: until every socket got a message -> how many, the last arrival
        sockets = groups[name]
        deadline = time.monotonic() + 30
        while not all(s.received for s in sockets) and time.monotonic() < deadline:
            gevent.sleep(0.005)
        got = [s.received[0] for s in sockets if s.received]
        print(len(got), max(got) if got else 0.0, flush=True)
    elif command == "close":
        for item in groups.pop(name):
            if isinstance(item, BusSocket):
                item.sock.close()
            else:
                item.kill(block=False)
        print("closed", flush=True)
'''


class Client(LineClient):
    """The gevent-based client process, driven line by line."""

    def __init__(self, port: int, db: str, scratch: Path) -> None:
        super().__init__("WebSocket client", scratch / "websocket_client.py", CLIENT, str(port), db)


def fit(wanted: int, limit: int, label: str) -> int:
    """*wanted*, or what the descriptor limit allows (said so)."""
    if wanted <= limit:
        return wanted
    print(f"  ({label}: {limit} instead of {wanted}: RLIMIT_NOFILE is too low for more)")
    return limit


def measure_gevent(bench: Bench, sockets: int, subscribers: int) -> None:
    limit = raise_fd_limit() - 300
    sockets = fit(sockets, limit - subscribers, "idle sockets")
    server, port = start(bench.devshell("--mode", "gevent"), bench.scratch / "websocket-gevent.log")
    client = Client(port, bench.db, bench.scratch)
    try:
        client.ask("ws warmup 200 warmup")  # pools, caches and imports, before the baseline
        client.ask("close warmup")
        settle(server.pid)
        base_fds, base_rss = open_fds(server.pid), proc_status(server.pid, "VmRSS")
        client.ask(f"ws idle {sockets} idle")
        wait_held(server.pid, base_fds + sockets)
        held_rss = proc_status(server.pid, "VmRSS")
        per_socket = (held_rss - base_rss) / sockets  # KiB
        client.ask(f"ws wake {subscribers} wake")
        wait_held(server.pid, base_fds + sockets + subscribers)
        committed = publish(bench.db, "wake", {"hello": "everyone"})
        answered, last = client.ask("wait wake").split()
        woken = float(last) - committed
    finally:
        stop(server)
        client.close()
    print(f"WebSocket, gevent mode ({sockets} idle sockets held, then {subscribers} subscribers of one channel)")
    print(f"  server RSS {base_rss / 1024:.1f} MiB -> {held_rss / 1024:.1f} MiB: {per_socket:.1f} KiB per idle "
          f"socket (target < 25 KiB): {'OK' if per_socket < 25 else 'MISSED'}")
    print(f"  one commit -> {answered}/{subscribers} subscribers received it within {woken:.3f} s "
          f"(target < 0.5 s): {'OK' if woken < 0.5 and int(answered) == subscribers else 'MISSED'}", flush=True)


def measure_prefork(bench: Bench, clients: int) -> None:
    args = bench.args
    clients = fit(clients, (raise_fd_limit() - 300) // 2, "polls and sockets each")
    command = bench.devshell("--workers", "2")
    servers = []
    try:
        quiet, quiet_port = start(command, bench.scratch / "realtime-quiet.log")
        servers.append(quiet)
        busy, busy_port = start(command, bench.scratch / "realtime-busy.log")
        servers.append(busy)
        for port in (quiet_port, busy_port):
            check(port, "/bench/hello")  # waits for the workers to boot
        client = Client(busy_port, bench.db, bench.scratch)
        try:
            client.ask(f"poll polls {clients} waiting")
            client.ask(f"ws sockets {clients} waiting")
            quiet_rates, busy_rates = alternate(bench, (quiet_port, "/bench/hello"), (busy_port, "/bench/hello"))
        finally:
            client.close()
    finally:
        for proc in servers:
            stop(proc)
    quiet_rate, busy_rate = statistics.median(quiet_rates), statistics.median(busy_rates)
    ratio = busy_rate / quiet_rate
    print(f"prefork HTTP port, 2 sync workers, hello route ({bench.load}, {args.connections} connections, "
          f"{args.rounds} x {args.seconds:g} s alternating, median req/s)")
    print(f"  without real-time clients       {quiet_rate:9.1f} req/s   rounds: "
          + ", ".join(f"{r:.0f}" for r in quiet_rates))
    print(f"  with {clients} polls + {clients} sockets {busy_rate:9.1f} req/s   rounds: "
          + ", ".join(f"{r:.0f}" for r in busy_rates))
    print(f"  ratio {ratio:.2f}x (target >= 0.80x): {'OK' if ratio >= 0.8 else 'MISSED'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="idle,prefork", help="idle (gevent: idle sockets, then the fan-out), "
                        "prefork (the HTTP port with real-time clients)")
    parser.add_argument("--sockets", type=int, default=5000, help="Idle WebSockets of the gevent measure.")
    parser.add_argument("--subscribers", type=int, default=1000, help="Subscribers woken by one commit.")
    parser.add_argument("--clients", type=int, default=1000, help="Long polls, and WebSockets, on prefork's port.")
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--python-load", action="store_true", help="Use the Python load generator even if wrk exists.")
    args = parser.parse_args()
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    with bench_database(args, "devshell-wsbench-", "bench_websocket") as bench:
        if "idle" in parts:
            measure_gevent(bench, args.sockets, args.subscribers)
        if "prefork" in parts:
            measure_prefork(bench, args.clients)


if __name__ == "__main__":
    main()
