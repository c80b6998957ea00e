"""Hello-route requests/s through the devshell app vs the same hello WSGI app on bare werkzeug (SPEC §3).

Threaded mode: `devshell server --mode threaded` serving a module's public hello route,
against werkzeug's own threaded server (`werkzeug.serving.make_server(threaded=True)`)
serving a plain WSGI function with the same body and headers. Both run as child
processes on loopback, both log each request, and they are measured in alternating
rounds with the same load. Target: devshell >= 0.8x bare werkzeug.

Load generator: wrk when it is installed (Debian/Ubuntu: `apt-get install wrk`; macOS:
`brew install wrk`), else a small Python one (threads, one connection per request,
since werkzeug's server closes every connection).

Usage: python benchmarks/server_bench.py [--seconds 5] [--rounds 3] [--connections 8] [--python-load]
Uses the embedded cluster under DEVSHELL_DATA_DIR (a temporary one when unset) and a
database it creates and drops.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

BODY = b"hello, world"
MODULE = "bench_hello"
BARE_APP = textwrap.dedent(f"""
    import sys
    from werkzeug.serving import make_server

    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "{len(BODY)}")])
        return [{BODY!r}]

    server = make_server("127.0.0.1", 0, hello, threaded=True)
    print(f"serving http://127.0.0.1:{{server.port}}/", flush=True)
    server.serve_forever()
""")
MODULE_CODE = textwrap.dedent(f"""
    from devshell import addon

    @addon.route("/bench/hello", auth="public")
    def hello(request):
        return {BODY!r}.decode()
""")


def write_module(addons: Path) -> None:
    folder = addons / MODULE
    folder.mkdir(parents=True)
    (folder / "__manifest__.py").write_text('{"name": "Bench hello", "version": "1.0"}\n')
    (folder / "__init__.py").write_text(MODULE_CODE)


def start(command: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server whose output names its URL; (process, port) once it answers."""
    handle = log.open("wb")
    proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(rb"serving http://127\.0\.0\.1:(\d+)/", log.read_bytes())
        if found:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not start: {' '.join(command)}\n{log.read_text(errors='replace')}")


def check(port: int, path: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200 or body != BODY:
        raise SystemExit(f"unexpected answer from :{port}{path}: {response.status} {body[:200]!r}")


def wrk_rate(port: int, path: str, seconds: float, connections: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out and "timeout" in out:
        print(out, file=sys.stderr)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def python_rate(port: int, path: str, seconds: float, connections: int) -> float:
    """Requests/s from *connections* threads, each opening a connection per request."""
    counts = [0] * connections
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        while time.monotonic() < stop:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--python-load", action="store_true", help="Use the Python load generator even if wrk exists.")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    measure = wrk_rate if use_wrk else python_rate

    scratch = Path(tempfile.mkdtemp(prefix="devshell-bench-"))
    os.chmod(scratch, 0o755)
    os.environ.setdefault("DEVSHELL_DATA_DIR", str(scratch / "data"))
    addons = scratch / "addons"
    write_module(addons)

    from devshell.config import load_config
    from devshell.db.admin import drop_database
    from devshell.db.connection import resolve_server
    from devshell.modules import init_database

    config = load_config(overrides={"addons_path": [str(addons)]})
    address = resolve_server(config)
    db = f"bench_server_{os.getpid()}"
    init_database(config, db, [MODULE], admin_password="bench")
    servers: list[subprocess.Popen[bytes]] = []
    try:
        bare_script = scratch / "bare.py"
        bare_script.write_text(BARE_APP)
        bare, bare_port = start([sys.executable, str(bare_script)], scratch / "bare.log")
        servers.append(bare)
        ours, our_port = start([sys.executable, "-m", "devshell", "server", "-d", db, "--addons-path", str(addons),
                                "--http-port", "0", "--max-cron-threads", "0"], scratch / "devshell.log")
        servers.append(ours)
        check(bare_port, "/")
        check(our_port, "/bench/hello")
        measure(bare_port, "/", 1, args.connections)  # warm up both
        measure(our_port, "/bench/hello", 1, args.connections)
        bare_rates, our_rates = [], []
        for _round in range(args.rounds):
            bare_rates.append(measure(bare_port, "/", args.seconds, args.connections))
            our_rates.append(measure(our_port, "/bench/hello", args.seconds, args.connections))
        bare_rate, our_rate = statistics.median(bare_rates), statistics.median(our_rates)
        ratio = our_rate / bare_rate
        load = "wrk" if use_wrk else "python threads"
        print(f"hello route, threaded mode ({load}, {args.connections} connections, "
              f"{args.rounds} x {args.seconds:g} s alternating, median req/s)")
        print(f"  bare werkzeug threaded  {bare_rate:9.1f} req/s   rounds: {', '.join(f'{r:.0f}' for r in bare_rates)}")
        print(f"  devshell threaded       {our_rate:9.1f} req/s   rounds: {', '.join(f'{r:.0f}' for r in our_rates)}")
        print(f"  ratio {ratio:.2f}x (target >= 0.80x): {'OK' if ratio >= 0.8 else 'MISSED'}")
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop_database(address, db, missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
