"""`devshell --help` wall time against a bare interpreter start, measured side by side.

The CLI imports its commands lazily, so its help costs little more than starting
Python; tests/test_cli.py checks *what* the help imports (nothing heavy), this
script prints *how long* it takes, which a test cannot assert on a shared machine.

Usage: python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def seconds(argv: list[str]) -> float:
    """One run of *argv*, which must succeed."""
    start = time.perf_counter()
    completed = subprocess.run(argv, capture_output=True, timeout=60)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{completed.stderr.decode(errors='replace')}")
    return elapsed


def median_seconds(argv: list[str], runs: int) -> float:
    seconds(argv)  # warm the file and bytecode caches
    return statistics.median(seconds(argv) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (the median is shown)")
    args = parser.parse_args()

    bare = median_seconds([sys.executable, "-c", "pass"], args.runs)
    help_time = median_seconds([sys.executable, "-m", "devshell", "--help"], args.runs)
    print(f"devshell --help   {help_time * 1000:6.0f} ms")
    print(f"python -c pass    {bare * 1000:6.0f} ms")
    print(f"ratio             {help_time / bare:6.1f}x  (median of {args.runs} runs each)")


if __name__ == "__main__":
    main()
