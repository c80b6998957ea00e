"""Modules: manifests, dependency order, atomic install, the base module, users, contributions, module commands."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import FIXTURES, assert_one_line_error, query, run_devshell, unique_name

LIBRARY = FIXTURES / "addons_library"
BROKEN = FIXTURES / "addons_broken"
BASE_TABLES = {"devshell_module", "devshell_user", "devshell_session", "devshell_bus", "devshell_cron"}




def tables(address: Any, db: str) -> set[str]:
    return {row[0] for row in query(address, db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def recorded(address: Any, db: str) -> list[tuple[str, str]]:
    return query(address, db, "SELECT name, version FROM devshell_module ORDER BY installed_at, name")


def write_module(root: Path, name: str, manifest: str, files: dict[str, str] | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__manifest__.py").write_text(manifest)
    for relative, text in (files or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


@pytest.fixture
def config() -> Any:
    from devshell.config import load_config

    return load_config()


@pytest.fixture
def fresh_name(address: Any) -> Iterator[str]:
    """A database name that does not exist yet; dropped after the test if something created it."""
    from devshell.db.admin import drop_database

    name = unique_name("mod")
    yield name
    drop_database(address, name, missing_ok=True)


# -- manifests ---------------------------------------------------------------------------------

def test_manifest_is_read_and_validated() -> None:
    from devshell.modules import discover_modules

    modules = discover_modules([LIBRARY])
    manifest = modules["library_base"].manifest
    assert (manifest.name, manifest.version) == ("Library base", "1.0")
    assert manifest.data == ("data/schema.sql", "data/library_author.csv")
    assert manifest.populate == {"library_author": {"small": 5, "large": 50}}
    assert manifest.cloc_exclude == ("data/*.csv",) and manifest.installable is True
    assert modules["library"].manifest.depends == ("library_base",)


@pytest.mark.parametrize("text, mentions", [
    ('{"version": 1.0}', "'version' must be a string"),
    ('{"depends": "base"}', "'depends' must be a list of strings"),
    ('{"installable": "yes"}', "'installable' must be True or False"),
    ('{"data": ["../outside.sql"]}', "must be a relative path inside the module"),
    ('{"data": ["data/x.xml"]}', "must be a .sql or .csv file"),
    ('{"data": ["data/missing.sql"]}', "no such file"),
    ('{"populate": {"t": {"huge": 3}}}', "unknown size 'huge'"),
    ('{"name": "x",', "syntax error on line 1"),
    ('x = {"name": "x"}', "single dict literal"),
    ('{"name": open("f").read()}', "line 1: a function call is not a literal"),
    ('{"name": some_name}', "the name 'some_name' is not a literal"),
])
def test_bad_manifests_name_the_file_and_the_key(tmp_path: Path, text: str, mentions: str) -> None:
    from devshell.modules import ModuleError, discover_modules

    write_module(tmp_path, "bad", text)
    with pytest.raises(ModuleError) as caught:
        discover_modules([tmp_path])["bad"].manifest
    assert str(tmp_path / "bad" / "__manifest__.py") in caught.value.message
    assert mentions in caught.value.message


def test_unknown_manifest_keys_are_reported(tmp_path: Path) -> None:
    from devshell.modules import discover_modules

    write_module(tmp_path, "odd", '{"name": "Odd", "verison": "2.0"}')
    manifest = discover_modules([tmp_path])["odd"].manifest
    assert manifest.version == "0.1.0"
    assert len(manifest.warnings) == 1 and "unknown key 'verison'" in manifest.warnings[0]


def test_manifest_code_is_never_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devshell.modules import ModuleError, discover_modules

    marker = tmp_path / "executed"
    monkeypatch.setenv("EVIL_MANIFEST_MARKER", str(marker))
    for name in ("evil_manifest", "call_manifest"):
        with pytest.raises(ModuleError, match="not a literal|single dict literal"):
            discover_modules([BROKEN])[name].manifest
    assert not marker.exists()


def test_first_module_of_a_name_wins_and_base_is_builtin(tmp_path: Path) -> None:
    from devshell.modules import BUILTIN_ADDONS, discover_modules

    write_module(tmp_path / "a", "library", '{"version": "9.0"}')
    write_module(tmp_path / "b", "base", '{"version": "9.0"}')
    modules = discover_modules([BUILTIN_ADDONS, tmp_path / "a", LIBRARY, tmp_path / "b"])
    assert modules["library"].path == tmp_path / "a" / "library"
    assert modules["library"].shadowed == [LIBRARY / "library"]
    assert modules["base"].path == BUILTIN_ADDONS / "base"


# -- dependency order --------------------------------------------------------------------------

def test_dependency_order_is_topological_and_alphabetical_among_equals(tmp_path: Path) -> None:
    from devshell.modules import BUILTIN_ADDONS, discover_modules, resolve_order

    write_module(tmp_path, "zeta", '{"depends": []}')
    write_module(tmp_path, "alpha", '{"depends": ["zeta"]}')
    write_module(tmp_path, "mid", '{"depends": []}')
    modules = discover_modules([BUILTIN_ADDONS, LIBRARY, tmp_path])
    order = [m.name for m in resolve_order(modules, ["library_extra", "alpha", "mid"])]
    assert order == ["base", "library_base", "library", "library_extra", "mid", "zeta", "alpha"]


def test_cycle_and_missing_dependency_are_named() -> None:
    from devshell.modules import BUILTIN_ADDONS, ModuleError, discover_modules, resolve_order

    modules = discover_modules([BUILTIN_ADDONS, BROKEN])
    with pytest.raises(ModuleError, match="circular module dependencies: cycle_a -> cycle_b -> cycle_c -> cycle_a"):
        resolve_order(modules, ["cycle_a"])
    with pytest.raises(ModuleError, match="module 'needs_ghost' depends on 'ghost', which is not on the addons path"):
        resolve_order(modules, ["needs_ghost"], [BROKEN])


def test_non_installable_module_is_refused(tmp_path: Path) -> None:
    from devshell.modules import BUILTIN_ADDONS, ModuleError, discover_modules, resolve_order

    write_module(tmp_path, "retired", '{"installable": False}')
    write_module(tmp_path, "user_of_retired", '{"depends": ["retired"]}')
    modules = discover_modules([BUILTIN_ADDONS, tmp_path])
    with pytest.raises(ModuleError, match="module 'retired' \\(needed by 'user_of_retired'\\) is not installable"):
        resolve_order(modules, ["user_of_retired"])


# -- db init through the real CLI --------------------------------------------------------------

def test_db_init_installs_in_dependency_order(address: Any, fresh_name: str) -> None:
    from devshell.db.connection import connect
    from devshell.users import check_password

    result = run_devshell("db", "init", "-d", fresh_name, "-i", "library_extra", "--addons-path", str(LIBRARY),
                          "--admin-password", "s3cret-pw")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"created database {fresh_name}"
    assert lines[1:5] == ["installed base 1.2.0", "installed library_base 1.0", "installed library 1.0",
                          "installed library_extra 1.0"]
    assert "admin password:" not in result.stdout
    assert recorded(address, fresh_name) == [("base", "1.2.0"), ("library_base", "1.0"), ("library", "1.0"),
                                             ("library_extra", "1.0")]
    assert BASE_TABLES | {"library_author", "library_book", "library_loan"} <= tables(address, fresh_name)
    assert query(address, fresh_name, "SELECT name, bio FROM library_author WHERE id = 3") == [
        ("Jorge Luis Borges", "Poet, essayist\nand librarian")]
    assert query(address, fresh_name, "SELECT bio FROM library_author WHERE id = 2") == [(None,)]
    conn = connect(address, fresh_name)
    try:
        with conn.cursor() as cr:
            uid = check_password(cr, "admin", "s3cret-pw")
            assert uid is not None
            assert check_password(cr, "admin", "wrong") is None
            assert check_password(cr, "nobody", "s3cret-pw") is None
            cr.execute("SELECT is_admin, password_hash LIKE 'scrypt$%%' FROM devshell_user WHERE id = %s", (uid,))
            assert cr.fetchone() == (True, True)
    finally:
        conn.close()


def test_db_init_is_idempotent_and_generates_the_password_once(address: Any, fresh_name: str) -> None:
    from devshell.db.connection import connect
    from devshell.users import check_password

    first = run_devshell("db", "init", "-d", fresh_name, "-i", "library", "--addons-path", str(LIBRARY))
    assert first.returncode == 0, first.stderr
    password = [line for line in first.stdout.splitlines() if line.startswith("admin password: ")]
    assert len(password) == 1
    before = query(address, fresh_name, "SELECT name, updated_at FROM devshell_module ORDER BY name")

    again = run_devshell("db", "init", "-d", fresh_name, "-i", "library", "--addons-path", str(LIBRARY))
    assert again.returncode == 0, again.stderr
    assert "created database" not in again.stdout and "admin password" not in again.stdout
    assert "unchanged library 1.0" in again.stdout
    assert query(address, fresh_name, "SELECT name, updated_at FROM devshell_module ORDER BY name") == before
    assert query(address, fresh_name, "SELECT count(*) FROM library_book") == [(3,)]
    conn = connect(address, fresh_name)
    try:
        with conn.cursor() as cr:
            assert check_password(cr, "admin", password[0].split(": ", 1)[1]) is not None
    finally:
        conn.close()


def test_admin_password_from_the_environment(address: Any, fresh_name: str) -> None:
    from devshell.db.connection import connect
    from devshell.users import check_password

    result = run_devshell("db", "init", "-d", fresh_name, env={"DEVSHELL_ADMIN_PASSWORD": "from-env"})
    assert result.returncode == 0, result.stderr
    assert "admin password" not in result.stdout
    assert recorded(address, fresh_name) == [("base", "1.2.0")]
    conn = connect(address, fresh_name)
    try:
        with conn.cursor() as cr:
            assert check_password(cr, "admin", "from-env") is not None
    finally:
        conn.close()


@pytest.mark.parametrize("module, code, mentions", [
    ("needs_ghost", 1, "module 'needs_ghost' depends on 'ghost', which is not on the addons path"),
    ("cycle_b", 1, "circular module dependencies: cycle_b -> cycle_c -> cycle_a -> cycle_b"),
    ("call_manifest", 1, "single dict literal"),
    ("no_such_module", 2, "module 'no_such_module' is not on the addons path"),
])
def test_db_init_bad_modules_are_one_line(address: Any, fresh_name: str, module: str, code: int,
                                          mentions: str) -> None:
    from devshell.db.admin import database_exists

    result = run_devshell("db", "init", "-d", fresh_name, "-i", module, "--addons-path", str(BROKEN))
    assert mentions in assert_one_line_error(result, code)
    assert not database_exists(address, fresh_name)


def test_evil_manifest_is_not_executed_by_db_init(tmp_path: Path, fresh_name: str) -> None:
    marker = tmp_path / "executed"
    result = run_devshell("db", "init", "-d", fresh_name, "-i", "evil_manifest", "--addons-path", str(BROKEN),
                          env={"EVIL_MANIFEST_MARKER": str(marker)})
    assert "a function call is not a literal" in assert_one_line_error(result, 1)
    assert not marker.exists()


def test_failing_data_file_rolls_back_everything_in_an_existing_db(address: Any, new_db: str) -> None:
    result = run_devshell("db", "init", "-d", new_db, "-i", "failing",
                          "--addons-path", f"{LIBRARY},{BROKEN}")
    line = assert_one_line_error(result, 1)
    assert "module 'failing': data/bad.sql: line 4: syntax error at or near \"SELEKT\"" in line
    assert tables(address, new_db) == set()  # no base table, no library table, nothing of failing


def test_failing_install_drops_the_database_it_created(address: Any, fresh_name: str) -> None:
    from devshell.db.admin import database_exists

    result = run_devshell("db", "init", "-d", fresh_name, "-i", "failing", "--addons-path", f"{LIBRARY},{BROKEN}")
    assert_one_line_error(result, 1)
    assert not database_exists(address, fresh_name)


def test_failure_after_a_previous_install_keeps_the_previous_state(address: Any, new_db: str) -> None:
    ok = run_devshell("db", "init", "-d", new_db, "-i", "library", "--addons-path", str(LIBRARY))
    assert ok.returncode == 0, ok.stderr
    before = (tables(address, new_db), recorded(address, new_db))
    failed = run_devshell("db", "init", "-d", new_db, "-i", "failing", "--addons-path", f"{LIBRARY},{BROKEN}")
    assert_one_line_error(failed, 1)
    assert (tables(address, new_db), recorded(address, new_db)) == before


# -- install API -------------------------------------------------------------------------------

def test_version_bump_reruns_data_and_upserts_csv(address: Any, new_db: str, config: Any,
                                                  tmp_path: Path) -> None:
    from devshell.db.connection import connect
    from devshell.modules import install_modules

    addons = tmp_path / "addons"
    shutil.copytree(LIBRARY, addons)
    conn = connect(address, new_db)
    try:
        assert install_modules(conn, ["library"], addons_path=[str(addons)], config=config) == [
            "base", "library_base", "library"]
        assert install_modules(conn, ["library"], addons_path=[str(addons)], config=config) == []

        manifest = addons / "library_base" / "__manifest__.py"
        manifest.write_text(manifest.read_text().replace('"1.0"', '"1.1"'))
        csv_file = addons / "library_base" / "data" / "library_author.csv"
        csv_file.write_text(csv_file.read_text().replace("Italo Calvino,", "Italo Calvino,Wrote Invisible Cities")
                            + "4,Stanisław Lem,\n")
        assert install_modules(conn, ["library"], addons_path=[str(addons)], config=config) == ["library_base"]
        # update=True re-runs the named module; its CSV (title is unique) is upserted, not duplicated
        assert install_modules(conn, ["library"], addons_path=[str(addons)], config=config, update=True) == [
            "library"]
    finally:
        conn.close()
    assert ("library_base", "1.1") in recorded(address, new_db)
    assert query(address, new_db, "SELECT id, name, bio FROM library_author WHERE id IN (2, 4) ORDER BY id") == [
        (2, "Italo Calvino", "Wrote Invisible Cities"), (4, "Stanisław Lem", None)]
    assert query(address, new_db, "SELECT count(*) FROM library_author") == [(4,)]
    assert query(address, new_db, "SELECT count(*) FROM library_book") == [(3,)]


def test_csv_with_a_field_over_the_default_csv_limit_loads(address: Any, new_db: str, config: Any,
                                                            tmp_path: Path) -> None:
    import csv

    from devshell.db.connection import connect
    from devshell.modules import install_modules

    big = "x" * 300_000
    assert len(big) > 131072
    write_module(tmp_path, "blobs", '{"version": "1.0", "data": ["data/schema.sql", "data/blob_item.csv"]}', {
        "data/schema.sql": "CREATE TABLE IF NOT EXISTS blob_item (id integer PRIMARY KEY, body text);",
        "data/blob_item.csv": f'id,body\n1,"{big}"\n2,small\n',
    })
    csv.field_size_limit(131072)  # the interpreter's default, as a fresh process has it
    conn = connect(address, new_db)
    try:
        install_modules(conn, ["blobs"], addons_path=[str(tmp_path)], config=config)
    finally:
        conn.close()
    assert query(address, new_db, "SELECT id, length(body) FROM blob_item ORDER BY id") == [(1, 300_000), (2, 5)]


def test_bad_csv_row_names_the_file_and_line(address: Any, new_db: str, config: Any, tmp_path: Path) -> None:
    from devshell.db.connection import connect
    from devshell.modules import ModuleError, install_modules

    write_module(tmp_path, "numbers", '{"data": ["data/schema.sql", "data/number_item.csv"]}', {
        "data/schema.sql": "CREATE TABLE number_item (id integer PRIMARY KEY, n integer);",
        "data/number_item.csv": "id,n\n1,1\n2,two\n",
    })
    conn = connect(address, new_db)
    try:
        with pytest.raises(ModuleError, match=r"module 'numbers': data/number_item.csv: .*\"two\".*line 3"):
            install_modules(conn, ["numbers"], addons_path=[str(tmp_path)], config=config)
    finally:
        conn.close()
    assert tables(address, new_db) == set()


def test_installed_modules_on_a_plain_database(address: Any, new_db: str) -> None:
    from devshell.db.connection import connect
    from devshell.modules import installed_modules

    conn = connect(address, new_db)
    try:
        with conn.cursor() as cr:
            assert installed_modules(cr) == {}
            cr.execute("SELECT 1")  # the transaction is still usable
            assert cr.fetchone() == (1,)
    finally:
        conn.close()


def test_concurrent_inits_serialize(address: Any, fresh_name: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    new_db = fresh_name
    argv = ("db", "init", "-d", new_db, "-i", "library_extra", "--addons-path", str(LIBRARY),
            "--admin-password", "pw")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run_devshell(*argv), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert sum("installed library_extra" in r.stdout for r in results) == 1
    assert query(address, new_db, "SELECT count(*) FROM library_book") == [(3,)]
    assert query(address, new_db, "SELECT count(*) FROM devshell_user") == [(1,)]


# -- users -------------------------------------------------------------------------------------

def test_password_hashes_are_salted_and_self_describing() -> None:
    from devshell.users import hash_password, verify_password

    first, second = hash_password("pw"), hash_password("pw")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("pw", first) and not verify_password("PW", first)
    assert not verify_password("pw", "md5$nonsense") and not verify_password("pw", "scrypt$1$2")


# -- contributions -----------------------------------------------------------------------------

def test_contributions_are_collected_per_module() -> None:
    from devshell.addon import Cron, Factory, Route
    from devshell.modules import BUILTIN_ADDONS, discover_modules, load_contributions, resolve_order

    modules = discover_modules([BUILTIN_ADDONS, LIBRARY])
    found = load_contributions(resolve_order(modules, ["library_extra"]), commands=True)
    assert [(r.module, r.path, r.methods, r.auth, r.type) for r in found.routes] == [
        ("library", "/library/hello", ("GET",), "public", "json")]
    assert found.routes[0].endpoint(None) == {"message": "hello from the library"}
    assert found.crons == [Cron("library", "library.count_books", found.crons[0].function, 3600)]
    assert found.crons[0].target == "devshell_addons.library:count_books"
    assert found.factories == [Factory("library", "library_book", "title", found.factories[0].function)]
    assert [c.module for c in found.shell_context] == ["library"]
    assert [(c.module, c.name) for c in found.commands] == [("library", "library-hello"),
                                                            ("library", "library-admin")]
    assert isinstance(found.routes[0], Route)
    assert "devshell_addons.library.helpers" in sys.modules  # relative imports work
    again = load_contributions(resolve_order(modules, ["library"]))
    assert len(again.routes) == 1  # imported once, not registered twice


def test_bad_registration_is_a_clear_error(tmp_path: Path) -> None:
    from devshell.modules import BUILTIN_ADDONS, ModuleError, discover_modules, load_contributions

    write_module(tmp_path, "badroute", "{}", {"__init__.py": (
        "from devshell import addon\n\n@addon.route('/x', auth='everyone')\ndef x(request):\n    pass\n")})
    modules = discover_modules([BUILTIN_ADDONS, tmp_path])
    with pytest.raises(ModuleError, match="badroute.*auth must be one of public, user, admin"):
        load_contributions([modules["badroute"]])
    errors: list[str] = []
    found = load_contributions([modules["badroute"]], on_error=lambda module, exc: errors.append(module.name))
    assert errors == ["badroute"] and found.routes == []


# -- module commands in the dispatcher ---------------------------------------------------------

def project(tmp_path: Path, *folders: Path) -> Path:
    paths = ", ".join(f'"{folder}"' for folder in folders)
    (tmp_path / "devshell.toml").write_text(f"addons_path = [{paths}]\n")
    return tmp_path


def test_module_command_is_listed_and_runs(tmp_path: Path) -> None:
    root = project(tmp_path, LIBRARY)
    listed = run_devshell("--help", cwd=root)
    assert listed.returncode == 0, listed.stderr
    assert "library-hello" in listed.stdout.split("Commands:", 1)[1]
    assert "Say hello from the library module." in listed.stdout
    ran = run_devshell("library-hello", "--name", "Ada", cwd=root)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hello from the library, Ada\n"
    sub = run_devshell("library-admin", "stats", cwd=root)
    assert (sub.returncode, sub.stdout) == (0, "no statistics yet\n"), sub.stderr
    assert "stats" not in listed.stdout.split("Commands:", 1)[1].split()
    outside = run_devshell("library-hello", cwd=tmp_path.parent)
    assert outside.returncode == 2 and "No such command 'library-hello'" in outside.stderr


def test_broken_module_cli_warns_and_builtins_keep_working(tmp_path: Path) -> None:
    root = project(tmp_path, LIBRARY, BROKEN)
    listed = run_devshell("--help", cwd=root)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    warnings = listed.stderr.strip().splitlines()
    assert len(warnings) == 1
    assert "warning: module commands of 'broken_cli' not loaded" in warnings[0]
    assert "RuntimeError: this module's cli.py is broken on purpose" in warnings[0]
    assert "library-hello" in listed.stdout and "db" in listed.stdout
    listing = run_devshell("db", "list", cwd=root)
    assert listing.returncode == 0, listing.stderr
    assert "postgres" not in listing.stdout.split()


def test_shell_context_of_installed_modules(config: Any) -> None:
    from types import SimpleNamespace

    from devshell.modules import shell_context_for

    warnings: list[str] = []
    config = config.with_overrides({"addons_path": [str(LIBRARY), str(BROKEN)]})
    env = SimpleNamespace(config=config)  # shell_context_for only needs the env's config and passes env on
    names = shell_context_for(env, ["base", "library_base", "library", "gone_module"], warn=warnings.append)
    assert names == {"library_greeting": "hello from the library"}
    assert warnings == []


def test_addons_path_entry_that_is_not_a_folder_is_a_usage_error(fresh_name: str, tmp_path: Path) -> None:
    result = run_devshell("db", "init", "-d", fresh_name, "--addons-path", str(tmp_path / "nowhere"))
    assert "addons path entry" in assert_one_line_error(result, 2)


def test_db_init_takes_the_database_from_the_environment(address: Any, fresh_name: str) -> None:
    result = run_devshell("db", "init", env={"DEVSHELL_DB_NAME": fresh_name, "DEVSHELL_ADMIN_PASSWORD": "pw"})
    assert result.returncode == 0, result.stderr
    assert recorded(address, fresh_name) == [("base", "1.2.0")]
    missing = run_devshell("db", "init")
    assert "missing the database" in assert_one_line_error(missing, 2)
