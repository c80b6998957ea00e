"""Hello-route requests/s through devshell vs the same hello WSGI app on the bare server, per mode (SPEC §3).

- threaded: `devshell server --mode threaded` vs werkzeug's own threaded server;
- gevent: `devshell server --mode gevent` vs gevent.pywsgi with TCP_NODELAY;
- prefork: `devshell server --workers N` vs gunicorn with the same N sync workers.

devshell serves a module's public hello route; the bare servers serve a plain WSGI
function with the same body and headers. Every server runs as a child process on
loopback and logs each request; the pairs are measured in alternating rounds with
the same load. Target: devshell >= 0.8x the bare server. `--modes longpolling`
(on by default) adds gevent mode's long-polling figures (benchmarks/longpolling_bench.py):
memory per idle poll (5,000 held, target < 25 KiB) and the time for 1,000 waiters
to be answered after one NOTIFY (target < 0.5 s).

Load generator: wrk when it is installed (Debian/Ubuntu: `apt-get install wrk`; macOS:
`brew install wrk`), else a small Python one (threads, one connection per request).

Usage: python benchmarks/server_bench.py [--modes threaded,gevent,prefork,longpolling] [--seconds 4]
       [--rounds 5] [--connections 8] [--workers 2] [--python-load]
Uses the embedded cluster under DEVSHELL_DATA_DIR (a temporary one when unset) and a
database it creates and drops.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

BODY = b"hello, world"
MODULE = "bench_hello"
MODES = ("threaded", "gevent", "prefork", "longpolling")
HELLO = f"""
def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "{len(BODY)}")])
    return [{BODY!r}]
"""
BARE_WERKZEUG = HELLO + textwrap.dedent("""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, hello, threaded=True)
    print(f"serving http://127.0.0.1:{server.port}/", flush=True)
    server.serve_forever()
""")
BARE_GEVENT = "from gevent import monkey\nmonkey.patch_all()\n" + HELLO + textwrap.dedent("""
    import socket
    from gevent.pywsgi import WSGIServer

    class NoDelayServer(WSGIServer):
        def handle(self, sock, address):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().handle(sock, address)

    server = NoDelayServer(("127.0.0.1", 0), hello)  # logs each request to stderr, like devshell
    server.start()
    print(f"serving http://127.0.0.1:{server.server_port}/", flush=True)
    server.serve_forever()
""")
MODULE_CODE = textwrap.dedent(f"""
    from devshell import addon

    @addon.route("/bench/hello", auth="public")
    def hello(request):
        return {BODY!r}.decode()
""")
READY = rb"(?:serving|Listening at:) http://127\.0\.0\.1:(\d+)"


@dataclass
class Bench:
    """What every measurement needs: the load, the scratch folder, the database and the addons."""

    args: argparse.Namespace
    measure: Callable[[int, str, float, int], float]
    load: str
    scratch: Path
    addons: Path
    db: str

    def devshell(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "devshell", "server", "-d", self.db, "--addons-path", str(self.addons),
                "--http-port", "0", "--gevent-port", "0", "--max-cron-threads", "0", *args]


def write_module(addons: Path) -> None:
    folder = addons / MODULE
    folder.mkdir(parents=True)
    (folder / "__manifest__.py").write_text('{"name": "Bench hello", "version": "1.0"}\n')
    (folder / "__init__.py").write_text(MODULE_CODE)


def start(command: list[str], log: Path, cwd: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server whose output names its URL; (process, port) once it says so."""
    handle = log.open("wb")
    proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(READY, log.read_bytes())
        if found:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not start: {' '.join(command)}\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def check(port: int, path: str) -> None:
    deadline = time.monotonic() + 30
    while True:  # prefork's workers may still be booting
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            conn.close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    if response.status != 200 or body != BODY:
        raise SystemExit(f"unexpected answer from :{port}{path}: {response.status} {body[:200]!r}")


def wrk_rate(port: int, path: str, seconds: float, connections: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out and "timeout" in out:
        print(out, file=sys.stderr)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def python_rate(port: int, path: str, seconds: float, connections: int) -> float:
    """Requests/s from *connections* threads, each opening a connection per request."""
    counts = [0] * connections
    stop_at = time.monotonic() + seconds

    def worker(index: int) -> None:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        while time.monotonic() < stop_at:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            if data.startswith(b"HTTP/1.1 200"):
                counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


@contextlib.contextmanager
def bench_database(args: argparse.Namespace, scratch_prefix: str, db_prefix: str) -> Iterator[Bench]:
    """A scratch folder, the hello module and a database with it installed; the database and folder go after.

    The embedded cluster is the one under DEVSHELL_DATA_DIR, else a new one in the scratch folder.
    """
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    scratch = Path(tempfile.mkdtemp(prefix=scratch_prefix))
    os.chmod(scratch, 0o755)
    own_cluster = "DEVSHELL_DATA_DIR" not in os.environ  # started in the scratch folder: stopped at the end
    os.environ.setdefault("DEVSHELL_DATA_DIR", str(scratch / "data"))
    addons = scratch / "addons"
    write_module(addons)

    from devshell.config import load_config
    from devshell.db.admin import drop_database
    from devshell.db.connection import resolve_server
    from devshell.modules import init_database

    config = load_config(overrides={"addons_path": [str(addons)]})
    address = resolve_server(config)
    db = f"{db_prefix}_{os.getpid()}"
    init_database(config, db, [MODULE], admin_password="bench")
    try:
        yield Bench(args, wrk_rate if use_wrk else python_rate, "wrk" if use_wrk else "python threads", scratch,
                    addons, db)
    finally:
        drop_database(address, db, missing_ok=True)
        if own_cluster:
            from devshell.db.embedded import EmbeddedCluster

            EmbeddedCluster(scratch / "data").stop()
        shutil.rmtree(scratch, ignore_errors=True)


def alternate(bench: Bench, first: tuple[int, str], second: tuple[int, str]) -> tuple[list[float], list[float]]:
    """The req/s of two (port, path) targets: both warmed up, then measured in alternating rounds."""
    args = bench.args
    for port, path in (first, second):
        bench.measure(port, path, 1, args.connections)
    first_rates, second_rates = [], []
    for _round in range(args.rounds):
        first_rates.append(bench.measure(*first, args.seconds, args.connections))
        second_rates.append(bench.measure(*second, args.seconds, args.connections))
    return first_rates, second_rates


def compare(bench: Bench, title: str, bare: tuple[str, list[str]], ours: tuple[str, list[str]],
            bare_cwd: Path | None = None) -> float:
    """Bare server vs devshell in alternating rounds; prints both and returns the ratio of medians."""
    args = bench.args
    servers = []
    try:
        bare_proc, bare_port = start(bare[1], bench.scratch / f"{title}-bare.log", cwd=bare_cwd)
        servers.append(bare_proc)
        our_proc, our_port = start(ours[1], bench.scratch / f"{title}-devshell.log")
        servers.append(our_proc)
        check(bare_port, "/")
        check(our_port, "/bench/hello")
        bare_rates, our_rates = alternate(bench, (bare_port, "/"), (our_port, "/bench/hello"))
    finally:
        for proc in servers:
            stop(proc)
    bare_rate, our_rate = statistics.median(bare_rates), statistics.median(our_rates)
    ratio = our_rate / bare_rate
    print(f"hello route, {title} mode ({bench.load}, {args.connections} connections, "
          f"{args.rounds} x {args.seconds:g} s alternating, median req/s)")
    for label, rate, rates in ((bare[0], bare_rate, bare_rates), (ours[0], our_rate, our_rates)):
        print(f"  {label:<30} {rate:9.1f} req/s   rounds: {', '.join(f'{r:.0f}' for r in rates)}")
    print(f"  ratio {ratio:.2f}x (target >= 0.80x): {'OK' if ratio >= 0.8 else 'MISSED'}", flush=True)
    return ratio


def bench_threaded(bench: Bench) -> None:
    script = bench.scratch / "bare_werkzeug.py"
    script.write_text(BARE_WERKZEUG)
    compare(bench, "threaded", ("bare werkzeug threaded", [sys.executable, str(script)]),
            ("devshell threaded", bench.devshell()))


def bench_gevent(bench: Bench) -> None:
    script = bench.scratch / "bare_gevent.py"
    script.write_text(BARE_GEVENT)
    compare(bench, "gevent", ("bare gevent.pywsgi + NODELAY", [sys.executable, str(script)]),
            ("devshell gevent", bench.devshell("--mode", "gevent")))


def bench_prefork(bench: Bench) -> None:
    workers = str(bench.args.workers)
    (bench.scratch / "bare_wsgi.py").write_text(HELLO)
    bare = [sys.executable, "-m", "gunicorn", "--workers", workers, "--bind", "127.0.0.1:0", "--access-logfile",
            "-", "--no-control-socket", "bare_wsgi:hello"]
    compare(bench, "prefork", (f"bare gunicorn, {workers} sync workers", bare),
            (f"devshell prefork, {workers} workers", bench.devshell("--workers", workers)), bare_cwd=bench.scratch)


def bench_longpolling(bench: Bench) -> None:
    from longpolling_bench import measure_longpolling

    measure_longpolling(bench.devshell("--mode", "gevent"), bench.scratch, bench.db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES), help="Comma-separated: " + ", ".join(MODES))
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="HTTP workers of both prefork servers.")
    parser.add_argument("--python-load", action="store_true", help="Use the Python load generator even if wrk exists.")
    args = parser.parse_args()
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    benches = {"threaded": bench_threaded, "gevent": bench_gevent, "prefork": bench_prefork,
               "longpolling": bench_longpolling}
    with bench_database(args, "devshell-bench-", "bench_server") as bench:
        for mode in modes:
            benches[mode](bench)


if __name__ == "__main__":
    main()
