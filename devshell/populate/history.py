"""Where a run is remembered (seed, size, locale, rows, versions), so its rows can be made again.

A devshell database (its ``base`` module installed) keeps the record in a table
of its own, written in the load's transaction. Any other database is left with
exactly the tables it had: its runs go to a JSON-lines file in the data dir.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from psycopg2 import sql

RECORD_TABLE = "devshell_populate"
RECORD_FILE = "populate-runs.jsonl"


def is_devshell_database(cr: Any) -> bool:
    """True when the ``base`` module is installed in the database *cr* is connected to."""
    from ..modules.state import installed_modules

    return "base" in installed_modules(cr)


def record_in_database(cr: Any, entry: dict[str, Any]) -> None:
    """Add *entry* to the database's own record (inside the caller's transaction)."""
    cr.execute(sql.SQL("""CREATE TABLE IF NOT EXISTS {table} (
        id serial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), seed bigint NOT NULL,
        size text NOT NULL, locale text NOT NULL, rows jsonb NOT NULL, versions jsonb NOT NULL);
        INSERT INTO {table} (seed, size, locale, rows, versions) VALUES (%s, %s, %s, %s, %s)""").format(
        table=sql.Identifier(RECORD_TABLE)),
        (entry["seed"], entry["size"], entry["locale"], json.dumps(entry["rows"]), json.dumps(entry["versions"])))


def record_in_data_dir(data_dir: Path, entry: dict[str, Any]) -> Path:
    """Append *entry* (with the time) as one JSON line to the data dir's record; its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / RECORD_FILE
    line = json.dumps({"created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **entry}, sort_keys=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return path


def runs_in_data_dir(data_dir: Path, database: str | None = None) -> list[dict[str, Any]]:
    """The runs recorded in the data dir, oldest first (of *database* only, when given)."""
    path = data_dir / RECORD_FILE
    if not path.is_file():
        return []
    runs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [run for run in runs if database is None or run.get("database") == database]
