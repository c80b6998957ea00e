"""Shell start-up against its baselines, measured side by side in one run (SPEC §3).

1. `devshell shell -d DB -c "print(len(env.registry.models))"`
   vs `python -c "import psycopg2; psycopg2.connect(...)"`            target <= 3x
2. the IPython shell reaching its prompt (pseudo-terminal)
   vs `ipython` reaching its prompt with the same profile dir         target <= 1.5x

Usage: python benchmarks/shell_startup.py [--runs N]
Uses the embedded cluster under DEVSHELL_DATA_DIR (a temporary one when unset) and a
database it creates and drops (the Pagila schema when ../shared/fixtures is present).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[1]
PAGILA = ROOT.parent / "shared" / "fixtures" / "pagila" / "pagila-schema.sql"


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"
IPYTHON_PROMPT = ANSI.join(["In", r" \[", "1", r"\]: "])  # colours sit between the parts


def prompt_time(command: list[str], prompt: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    child = pexpect.spawn(command[0], command[1:], env=env, encoding="utf-8", dimensions=(40, 200), timeout=60)
    child.expect(prompt)
    elapsed = time.perf_counter() - start
    child.terminate(force=True)
    return elapsed


def median_of(runs: int, measure) -> float:  # type: ignore[no-untyped-def]
    measure()  # warm the file cache
    return statistics.median(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="devshell-bench-"))
    os.chmod(scratch, 0o755)
    env = dict(os.environ, IPYTHONDIR=str(scratch / "ipython"), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with bytecode caches, as users run it
    env.setdefault("DEVSHELL_DATA_DIR", str(scratch / "data"))
    os.environ.update(env)

    from devshell.config import load_config
    from devshell.db.admin import create_database, drop_database
    from devshell.db.connection import connect, resolve_server

    from devshell.db.embedded import EmbeddedCluster

    config = load_config()
    cluster = None if config.is_set("db_host") or config.is_set("db_port") else EmbeddedCluster.from_config(config)
    was_running = cluster is not None and cluster.status().running
    address = resolve_server(config)
    db = f"bench_shell_{os.getpid()}"
    create_database(address, db)
    try:
        conn = connect(address, db)
        with conn, conn.cursor() as cr:
            if PAGILA.is_file():
                cr.execute("\n".join(l for l in PAGILA.read_text().splitlines() if "OWNER TO" not in l))
            else:
                cr.execute("CREATE TABLE t (id serial PRIMARY KEY)")
        conn.close()
        kwargs = ", ".join(f"{k}={v!r}" for k, v in address.connect_kwargs(db).items())
        py = sys.executable
        devshell_c = median_of(args.runs, lambda: timed(
            [py, "-m", "devshell", "shell", "-d", db, "-c", "print(len(env.registry.models))"], env))
        baseline_c = median_of(args.runs, lambda: timed(
            [py, "-c", f"import psycopg2; psycopg2.connect({kwargs}).close()"], env))
        devshell_i = median_of(args.runs, lambda: prompt_time(
            [py, "-m", "devshell", "shell", "-d", db, "-i", "ipython"], IPYTHON_PROMPT, env))
        baseline_i = median_of(args.runs, lambda: prompt_time([py, "-m", "IPython"], IPYTHON_PROMPT, env))
    finally:
        drop_database(address, db, missing_ok=True)
        if cluster is not None and not was_running:
            cluster.stop()

    print(f"shell -c      : {devshell_c * 1000:7.1f} ms   psycopg2.connect baseline: {baseline_c * 1000:7.1f} ms"
          f"   ratio {devshell_c / baseline_c:4.2f}x (target <= 3x)")
    print(f"ipython prompt: {devshell_i * 1000:7.1f} ms   bare ipython baseline    : {baseline_i * 1000:7.1f} ms"
          f"   ratio {devshell_i / baseline_i:4.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
