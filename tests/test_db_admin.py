"""`devshell db list/create/drop/copy/dump/restore` end to end against the session's cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import assert_one_line_error, run_devshell, unique_name
from devshell.db.admin import create_database, drop_database, list_databases, table_row_counts
from devshell.db.connection import ServerAddress, connect

EXPECTED_COUNTS = {"extra.note": 7, 'public.Odd "Table"': 3, "public.author": 50, "public.book": 500}


def fill(address: ServerAddress, dbname: str) -> None:
    """A few tables with rows, a foreign key, a quoted name, a second schema and some bytes."""
    conn = connect(address, dbname)
    with conn, conn.cursor() as cr:
        cr.execute('''
            CREATE TABLE author (id serial PRIMARY KEY, name text NOT NULL);
            CREATE TABLE book (id serial PRIMARY KEY, author_id int NOT NULL REFERENCES author,
                               title text NOT NULL, payload bytea);
            CREATE TABLE "Odd ""Table""" (x int);
            CREATE SCHEMA extra;
            CREATE TABLE extra.note (body text);
            INSERT INTO author (name) SELECT 'author ' || i FROM generate_series(1, 50) i;
            INSERT INTO book (author_id, title, payload)
                 SELECT 1 + i % 50, 'book ' || i, decode(md5(i::text), 'hex') FROM generate_series(1, 500) i;
            INSERT INTO "Odd ""Table""" VALUES (1), (2), (3);
            INSERT INTO extra.note SELECT 'note ' || i FROM generate_series(1, 7) i;
        ''')
    conn.close()


def names(address: ServerAddress) -> set[str]:
    return {info.name for info in list_databases(address)}



@pytest.fixture(scope="module")
def filled_db(address: ServerAddress) -> Iterator[str]:
    """A database with rows, shared by this module's tests: read it, never change it."""
    name = unique_name("filled")
    create_database(address, name)
    fill(address, name)
    assert table_row_counts(address, name) == EXPECTED_COUNTS
    yield name
    drop_database(address, name, missing_ok=True)


@pytest.fixture
def cleanup(address: ServerAddress) -> Iterator[list[str]]:
    """Names of databases a test may create; whatever exists of them is dropped afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        drop_database(address, name, missing_ok=True)


def test_create_list_drop(address: ServerAddress, cleanup: list[str]) -> None:
    name = unique_name("admin")
    cleanup.append(name)
    created = run_devshell("db", "create", name)
    assert (created.returncode, created.stdout) == (0, f"created database {name}\n"), created.stderr
    listed = run_devshell("db", "list")
    assert name in listed.stdout.splitlines()
    assert "postgres" not in listed.stdout.splitlines()  # the maintenance db is not listed
    # -l: a header, then name, owner and a human size (tests/test_db_clients.py checks the format itself)
    long = {line.split()[0]: line.split()[1:] for line in run_devshell("db", "list", "-l").stdout.splitlines()[1:]}
    assert long[name][0] == "devshell" and float(long[name][1]) > 0

    assert "already exists" in assert_one_line_error(run_devshell("db", "create", "-d", name), 1)
    dropped = run_devshell("db", "drop", "-d", name)
    assert (dropped.returncode, dropped.stdout) == (0, f"dropped database {name}\n")
    assert name not in names(address)
    assert f"database {name!r} does not exist" in assert_one_line_error(run_devshell("db", "drop", name), 1)
    quiet = run_devshell("db", "drop", name, "--if-exists")
    assert (quiet.returncode, quiet.stdout) == (0, f"database {name} does not exist\n")


def test_name_given_twice_must_agree() -> None:
    assert "disagree" in assert_one_line_error(run_devshell("db", "create", "-d", "one", "two"), 2)


def test_drop_closes_other_sessions(address: ServerAddress, cleanup: list[str]) -> None:
    name = unique_name("busy")
    cleanup.append(name)
    create_database(address, name)
    conn = connect(address, name)
    try:
        assert run_devshell("db", "drop", name).returncode == 0
    finally:
        conn.close()
    assert name not in names(address)


def test_copy_copies_the_rows(address: ServerAddress, filled_db: str, cleanup: list[str]) -> None:
    first, second = unique_name("copy"), unique_name("copy")
    cleanup += [first, second]
    held = connect(address, filled_db)  # another session on the source does not block the copy
    try:
        result = run_devshell("db", "copy", filled_db, first)
    finally:
        held.close()
    assert (result.returncode, result.stdout) == (0, f"copied database {filled_db} to {first}\n"), result.stderr
    assert run_devshell("db", "copy", "-d", filled_db, second).returncode == 0
    assert table_row_counts(address, first) == table_row_counts(address, second) == EXPECTED_COUNTS

    assert "already exists" in assert_one_line_error(run_devshell("db", "copy", filled_db, first), 1)
    missing = unique_name("missing")
    assert f"database {missing!r} does not exist" in assert_one_line_error(run_devshell("db", "copy", missing, unique_name()), 1)


def test_unknown_database_for_dump(tmp_path: Path) -> None:
    missing = unique_name("missing")
    line = assert_one_line_error(run_devshell("db", "dump", "-d", missing, str(tmp_path / "x.dump")), 1)
    assert f"database {missing!r} does not exist" in line
    assert list(tmp_path.iterdir()) == []  # no file, not even a partial one
    assert "does not exist" in assert_one_line_error(run_devshell("db", "dump", "-d", missing, "-"), 1)


def test_dump_restore_round_trip(address: ServerAddress, filled_db: str, cleanup: list[str], tmp_path: Path) -> None:
    restored = unique_name("restored")
    cleanup.append(restored)
    dump_file = tmp_path / "filled.dump"
    dumped = run_devshell("db", "dump", "-d", filled_db, str(dump_file))
    assert dumped.returncode == 0, dumped.stderr
    size = dump_file.stat().st_size
    assert dumped.stderr.strip() == f"dumped {filled_db} to {dump_file} ({size} bytes)"
    assert dump_file.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert [path.name for path in tmp_path.iterdir()] == ["filled.dump"]  # the .part file is gone

    result = run_devshell("db", "restore", "-d", restored, str(dump_file))
    assert (result.returncode, result.stderr) == (0, f"restored {restored}\n")
    assert table_row_counts(address, restored) == table_row_counts(address, filled_db) == EXPECTED_COUNTS


def test_dump_default_file_name(filled_db: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "devshell", "db", "dump", "-d", filled_db], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"{filled_db}.dump").read_bytes()[:5] == b"PGDMP"


def test_restore_into_an_existing_database_changes_nothing(address: ServerAddress, filled_db: str,
                                                          tmp_path: Path) -> None:
    dump_file = tmp_path / "filled.dump"
    assert run_devshell("db", "dump", "-d", filled_db, str(dump_file)).returncode == 0
    before = names(address)
    line = assert_one_line_error(run_devshell("db", "restore", "-d", filled_db, str(dump_file)), 1)
    assert f"database {filled_db!r} already exists" in line
    assert table_row_counts(address, filled_db) == EXPECTED_COUNTS
    assert names(address) == before


@pytest.mark.parametrize("corruption", ["garbage", "truncated"])
def test_corrupt_dump_leaves_no_database(address: ServerAddress, filled_db: str, tmp_path: Path,
                                        corruption: str) -> None:
    dump_file = tmp_path / "bad.dump"
    if corruption == "garbage":
        dump_file.write_bytes(b"this is not a dump\n" * 100)
    else:
        good = tmp_path / "good.dump"
        assert run_devshell("db", "dump", "-d", filled_db, str(good)).returncode == 0
        data = good.read_bytes()
        dump_file.write_bytes(data[: len(data) * 2 // 3])
    target = unique_name("corrupt")
    before = names(address)
    line = assert_one_line_error(run_devshell("db", "restore", "-d", target, str(dump_file)), 1)
    assert "pg_restore failed" in line
    after = names(address)
    assert target not in after
    assert not [name for name in after if "__restoring_" in name]
    assert after == before


def test_restore_of_a_missing_file(address: ServerAddress, tmp_path: Path) -> None:
    target = unique_name("nofile")
    line = assert_one_line_error(run_devshell("db", "restore", "-d", target, str(tmp_path / "absent.dump")), 2)
    assert "cannot read" in line and "absent.dump" in line
    assert target not in names(address)


def test_dump_to_stdout_and_restore_from_stdin(address: ServerAddress, filled_db: str, cleanup: list[str]) -> None:
    restored = unique_name("piped")
    cleanup.append(restored)
    devshell = [sys.executable, "-m", "devshell", "db"]
    dump = subprocess.Popen([*devshell, "dump", "-d", filled_db, "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    restore = subprocess.Popen([*devshell, "restore", "-d", restored, "-"], stdin=dump.stdout,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert dump.stdout is not None
    dump.stdout.close()  # the pipe now belongs to the two children only
    restore_out, restore_err = restore.communicate(timeout=120)
    _, dump_err = dump.communicate(timeout=120)
    assert (dump.returncode, dump_err) == (0, b"")
    assert (restore.returncode, restore_out, restore_err) == (0, b"", f"restored {restored}\n".encode())
    assert table_row_counts(address, restored) == EXPECTED_COUNTS

    raw = subprocess.run([*devshell, "dump", "-d", filled_db, "-"], capture_output=True, timeout=120)
    assert raw.returncode == 0 and raw.stdout[:5] == b"PGDMP" and raw.stderr == b""


@pytest.mark.parametrize("base", ['we"ird db', "x=y 'ödd' db"])
def test_names_with_quotes_and_spaces_end_to_end(address: ServerAddress, cleanup: list[str], tmp_path: Path,
                                                 base: str) -> None:
    suffix = unique_name("")
    original, copied, restored = f"{base}{suffix}", f"{base} copy{suffix}", f"{base} restored{suffix}"
    cleanup += [original, copied, restored]
    assert run_devshell("db", "create", original).returncode == 0
    fill(address, original)
    assert original in run_devshell("db", "list").stdout.splitlines()
    assert run_devshell("db", "copy", original, copied).returncode == 0
    dump_file = tmp_path / "weird.dump"
    dumped = run_devshell("db", "dump", "-d", original, str(dump_file))
    assert dumped.returncode == 0, dumped.stderr
    restore = run_devshell("db", "restore", "-d", restored, str(dump_file))
    assert restore.returncode == 0, restore.stderr
    for name in (copied, restored):
        assert table_row_counts(address, name) == EXPECTED_COUNTS
    assert run_devshell("db", "drop", original).returncode == 0
    assert original not in names(address)


def test_admin_functions_refuse_bad_names(address: ServerAddress) -> None:
    from devshell.errors import UsageError

    with pytest.raises(UsageError, match="longer than 63 bytes"):
        create_database(address, "x" * 64)
    with pytest.raises(UsageError, match="cannot be empty"):
        create_database(address, "  ")


def test_progress_bar_on_a_terminal(filled_db: str, cleanup: list[str], tmp_path: Path) -> None:
    """On a terminal dump and restore draw a progress bar, cleared at the end for the summary line."""
    import pexpect

    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    dump_file = tmp_path / "tty.dump"
    restored = unique_name("tty")
    cleanup.append(restored)
    for argv, summary in (
        (["dump", "-d", filled_db, str(dump_file)], f"dumped {filled_db} to {dump_file}"),
        (["restore", "-d", restored, str(dump_file)], f"restored {restored}"),
    ):
        child = pexpect.spawn(sys.executable, ["-m", "devshell", "db", *argv], env=env, encoding="utf-8",
                              dimensions=(24, 100), timeout=60)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        screen = child.before
        assert f"{argv[0]} {argv[2]}" in screen and "━" in screen  # the bar was drawn
        assert summary in screen.splitlines()[-1]
