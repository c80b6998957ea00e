"""deploy: a module uploaded to one running server is installed, stored and served by every server on the database.

Two `devshell server` child processes share the session's PostgreSQL (over TCP) but
each has its own data dir, as two machines would; every refused upload leaves
nothing behind: no row, no file under either addons folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from conftest import query, run_devshell, unique_name
from server_process import ServerProcess

ADMIN_PASSWORD = "deploy-admin-pw"
READER_PASSWORD = "reader-pw"
DEPLOY_PASSWORD = "server-deploy-pw"  #: the servers below hold its hash in their deploy_password setting
ROUTE_MODULE = '''from devshell import addon


@addon.route("/{name}/ping", auth="public", type="json")
def ping(request):
    request.cr.execute("SELECT count(*) FROM {name}_row")
    return {{"pong": "{text}", "rows": request.cr.fetchone()[0]}}
'''



@pytest.fixture(scope="module")
def db(address: Any) -> Iterator[str]:
    from devshell.config import load_config
    from devshell.db.admin import drop_database
    from devshell.db.connection import connect
    from devshell.modules import init_database
    from devshell.users import create_user

    name = unique_name("deploy")
    init_database(load_config(), name, [], admin_password=ADMIN_PASSWORD)
    conn = connect(address, name)
    with conn, conn.cursor() as cr:
        create_user(cr, "reader", READER_PASSWORD)  # not an administrator
    conn.close()
    yield name
    drop_database(address, name, missing_ok=True)


@pytest.fixture(scope="module")
def machines(cluster: Any, db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[ServerProcess, Path]]]:
    """Two servers on one database server, each with its own data dir (two machines)."""
    from devshell.users import hash_password

    tcp = cluster.address(tcp=True)
    database_server = {"DEVSHELL_DB_HOST": tcp.host, "DEVSHELL_DB_PORT": str(tcp.port),
                       "DEVSHELL_DB_USER": tcp.user, "DEVSHELL_DB_PASSWORD": tcp.password,
                       "DEVSHELL_DEPLOY_PASSWORD": hash_password(DEPLOY_PASSWORD)}
    started: list[tuple[ServerProcess, Path]] = []
    try:
        for label in ("a", "b"):
            data_dir = tmp_path_factory.mktemp(f"machine_{label}")
            server = ServerProcess("-d", db, env={**database_server, "DEVSHELL_DATA_DIR": str(data_dir)})
            started.append((server, data_dir))
        for server, _data_dir in started:
            server.wait_ready()
        yield started
    finally:
        for server, _data_dir in started:
            server.stop()


def write_module(root: Path, name: str, version: str = "1.0", text: str = "v1", sql: str | None = None) -> Path:
    folder = root / name
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "__manifest__.py").write_text(f'{{"name": "{name}", "version": "{version}", '
                                            '"data": ["data/schema.sql"]}\n')
    (folder / "data" / "schema.sql").write_text(
        sql or f"CREATE TABLE IF NOT EXISTS {name}_row (id serial PRIMARY KEY);\n"
               f"INSERT INTO {name}_row DEFAULT VALUES;\n")
    (folder / "__init__.py").write_text(ROUTE_MODULE.format(name=name, text=text))
    return folder


def deploy_cli(path: Path, url: str, db: str, login: str = "admin", password: str = ADMIN_PASSWORD,
               *extra: str, deploy_password: str = DEPLOY_PASSWORD) -> Any:
    return run_devshell("deploy", str(path), url, "-d", db, "--login", login, *extra,
                        env={"DEVSHELL_PASSWORD": password, "DEVSHELL_DEPLOY_PASSWORD": deploy_password})


def get_json(url: str, timeout: float = 20) -> Any:
    """GET *url* until it answers 200 (a deploy reaches other servers through a NOTIFY)."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url, timeout=5)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def assert_nothing_written(address: Any, db: str, name: str, machines: list[tuple[ServerProcess, Path]]) -> None:
    assert query(address, db, "SELECT count(*) FROM devshell_module WHERE name = %s", (name,)) == [(0,)]
    assert query(address, db, """SELECT count(*) FROM pg_tables WHERE tablename LIKE %s""", (f"{name}%",)) == [(0,)]
    archives = query(address, db, "SELECT to_regclass('devshell_module_archive') IS NOT NULL")[0][0]
    if archives:
        assert query(address, db, "SELECT count(*) FROM devshell_module_archive WHERE name = %s", (name,)) == [(0,)]
    for _server, data_dir in machines:
        assert not (data_dir / "addons" / name).exists()
        assert not list(data_dir.glob("deployed/incoming-*"))  # no half-unpacked module either


def admin_session(server: ServerProcess, db: str, login: str = "admin", password: str = ADMIN_PASSWORD) -> requests.Session:
    http = requests.Session()
    response = http.post(server.url + "/web/login", json={"login": login, "password": password, "db": db})
    assert response.status_code == 200, response.text
    return http


def zipped(entries: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name)
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def post_archive(http: requests.Session, server: ServerProcess, db: str, data: bytes,
                 deploy_password: str | None = DEPLOY_PASSWORD, **headers: str) -> requests.Response:
    fields = {"db": db} if deploy_password is None else {"db": db, "deploy_password": deploy_password}
    return http.post(server.url + "/devshell/deploy", files={"file": ("module.zip", data)}, data=fields,
                     headers={"Accept": "application/json", **headers})


def test_deploy_installs_stores_and_every_server_serves_it(tmp_path: Path, address: Any, db: str,
                                                           machines: list[tuple[ServerProcess, Path]]) -> None:
    (a, a_dir), (b, b_dir) = machines
    folder = write_module(tmp_path, "shelf_dep")
    (folder / ".gitignore").write_text("secret.txt\n")
    (folder / "secret.txt").write_text("not for the server")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "cached.cpython-311.pyc").write_bytes(b"\x00")

    result = deploy_cli(folder, a.url, db)
    assert result.returncode == 0, result.stderr + a.output
    assert f"deployed shelf_dep to {db} at {a.url}: installed 1.0" in result.stdout

    # stored in the database: the module recorded, its archive with its checksum, ignored files left out
    assert query(address, db, "SELECT version FROM devshell_module WHERE name = 'shelf_dep'") == [("1.0",)]
    (version, archive, sha256, uploaded_by), = query(
        address, db, """SELECT a.version, a.archive, a.sha256, u.login FROM devshell_module_archive a
                         JOIN devshell_user u ON u.id = a.uploaded_by WHERE a.name = 'shelf_dep'""")
    assert (version, uploaded_by) == ("1.0", "admin")
    assert hashlib.sha256(bytes(archive)).hexdigest() == sha256
    names = sorted(zipfile.ZipFile(io.BytesIO(bytes(archive))).namelist())
    assert names == ["shelf_dep/.gitignore", "shelf_dep/__init__.py", "shelf_dep/__manifest__.py",
                     "shelf_dep/data/schema.sql"]

    # served at once by the server that received it, and after its NOTIFY by the other machine
    assert requests.get(f"{a.url}/shelf_dep/ping").json() == {"pong": "v1", "rows": 1}
    assert get_json(f"{b.url}/shelf_dep/ping").json() == {"pong": "v1", "rows": 1}
    for data_dir in (a_dir, b_dir):
        assert (data_dir / "addons" / "shelf_dep" / "__init__.py").is_file()
        assert not (data_dir / "addons" / "shelf_dep" / "secret.txt").exists()

    # a new version: data files run again, and both machines load the new code
    write_module(tmp_path, "shelf_dep", version="1.1", text="v2")
    result = deploy_cli(folder, a.url, db)
    assert result.returncode == 0, result.stderr
    assert "updated 1.0 -> 1.1" in result.stdout
    assert requests.get(f"{a.url}/shelf_dep/ping").json() == {"pong": "v2", "rows": 2}
    deadline = time.monotonic() + 20
    while requests.get(f"{b.url}/shelf_dep/ping").json()["pong"] != "v2":
        assert time.monotonic() < deadline, "the other machine never loaded the new version:\n" + b.output
        time.sleep(0.1)

    # the same version again: the code is replaced, the data files run only with --force
    assert "data unchanged at 1.1" in deploy_cli(folder, a.url, db).stdout
    assert requests.get(f"{a.url}/shelf_dep/ping").json()["rows"] == 2
    assert "reinstalled 1.1" in deploy_cli(folder, a.url, db, "admin", ADMIN_PASSWORD, "--force").stdout
    assert requests.get(f"{a.url}/shelf_dep/ping").json()["rows"] == 3


def test_bad_credentials_and_non_admins_are_refused(tmp_path: Path, address: Any, db: str,
                                                    machines: list[tuple[ServerProcess, Path]]) -> None:
    (a, _a_dir), _b = machines
    folder = write_module(tmp_path, "refused_login")
    wrong = deploy_cli(folder, a.url, db, "admin", "not-the-password")
    assert wrong.returncode == 1 and "login refused" in wrong.stderr and "Traceback" not in wrong.stderr
    reader = deploy_cli(folder, a.url, db, "reader", READER_PASSWORD)
    assert reader.returncode == 1 and "'reader' is not an administrator" in reader.stderr
    # the server itself refuses a non-admin session, and an anonymous one
    from devshell.deploy_client import pack_module

    data = pack_module(folder).data
    assert post_archive(admin_session(a, db, "reader", READER_PASSWORD), a, db, data).status_code == 403
    assert post_archive(requests.Session(), a, db, data).status_code == 401
    assert_nothing_written(address, db, "refused_login", machines)


MANIFEST = b'{"name": "Evil", "version": "1.0"}\n'


@pytest.mark.parametrize("case, entries, modes, status, message", [
    ("zip_slip", {"evil_slip/__manifest__.py": MANIFEST, "evil_slip/../../escaped.py": b"x = 1\n"}, None, 400,
     "points outside the module folder"),
    ("absolute", {"evil_abs/__manifest__.py": MANIFEST, "/tmp/evil_abs.py": b"x = 1\n"}, None, 400,
     "points outside the module folder"),
    ("symlink", {"evil_link/__manifest__.py": MANIFEST, "evil_link/passwd": b"/etc/passwd"},
     {"evil_link/passwd": stat.S_IFLNK | 0o777}, 400, "is a symbolic link"),
    ("no_manifest", {"evil_bare/__init__.py": b"x = 1\n"}, None, 400, "has no __manifest__.py"),
    ("bad_manifest", {"evil_bad/__manifest__.py": b'{"version": 1.0}\n'}, None, 400,
     "'version' must be a string"),
    ("two_modules", {"evil_one/__manifest__.py": MANIFEST, "evil_two/__manifest__.py": MANIFEST}, None, 400,
     "exactly one module folder"),
    ("syntax_error", {"evil_syntax/__manifest__.py": MANIFEST, "evil_syntax/__init__.py": b"def (:\n"}, None, 400,
     "evil_syntax/__init__.py line 1: not valid Python"),
    ("failing_sql", {"evil_sql/__manifest__.py": b'{"version": "1.0", "data": ["data/x.sql"]}\n',
                     "evil_sql/data/x.sql": b"CREATE TABLE evil_sql_t (id int);\nSELECT * FROM no_such_table;\n"},
     None, 400, "no_such_table"),
    ("replaces_base", {"base/__manifest__.py": MANIFEST}, None, 409, "a deployed module cannot replace it"),
])
def test_refused_archives_write_nothing(address: Any, db: str, machines: list[tuple[ServerProcess, Path]],
                                        case: str, entries: dict[str, bytes], modes: dict[str, int] | None,
                                        status: int, message: str) -> None:
    (a, a_dir), _b = machines
    response = post_archive(admin_session(a, db), a, db, zipped(entries, modes))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
    name = next(iter(entries)).split("/")[0] if case != "absolute" else "evil_abs"
    if name != "base":
        assert_nothing_written(address, db, name, machines)
    assert not (a_dir / "escaped.py").exists() and not (a_dir.parent / "escaped.py").exists()
    assert not Path("/tmp/evil_abs.py").exists()


def test_oversized_archive_is_refused(address: Any, db: str, machines: list[tuple[ServerProcess, Path]]) -> None:
    from devshell.server.web.module_archive import MAX_ARCHIVE_BYTES

    (a, _a_dir), _b = machines
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("evil_big/__manifest__.py", MANIFEST)
        archive.writestr("evil_big/static/blob.bin", os.urandom(MAX_ARCHIVE_BYTES + 1024))
    response = post_archive(admin_session(a, db), a, db, buffer.getvalue())
    assert response.status_code == 413
    assert "over the limit" in response.json()["error"]["message"]
    assert_nothing_written(address, db, "evil_big", machines)


def test_client_refuses_symlinks_and_non_modules(tmp_path: Path, db: str,
                                                 machines: list[tuple[ServerProcess, Path]]) -> None:
    (a, _a_dir), _b = machines
    folder = write_module(tmp_path, "linked_mod")
    (folder / "passwd").symlink_to("/etc/passwd")
    result = deploy_cli(folder, a.url, db)
    assert result.returncode == 1 and "is a symbolic link" in result.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    result = deploy_cli(plain, a.url, db)
    assert result.returncode == 2 and "is not a module" in result.stderr
    unreachable = deploy_cli(write_module(tmp_path, "lonely"), "http://127.0.0.1:9", db)
    assert unreachable.returncode == 1 and "cannot reach http://127.0.0.1:9" in unreachable.stderr


# -- issue 14: the server-level deploy password, cross-site posts, archives whose records lie -----------

EVIL_MODULE = """import pathlib

import devshell

env = devshell.connect({beta!r})  # another tenant's database, from code an admin of alpha deployed
env.cr.execute("SELECT login, password_hash FROM devshell_user")
pathlib.Path({loot!r}).write_text(repr(env.cr.fetchall()))
env.close()
"""


def evil_module(root: Path, name: str, beta: str, loot: Path) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "__manifest__.py").write_bytes(MANIFEST)
    (folder / "__init__.py").write_text(EVIL_MODULE.format(beta=beta, loot=str(loot)))
    return folder


@pytest.fixture(scope="module")
def tenants(address: Any) -> Iterator[tuple[str, str]]:
    """Two databases with an admin each, named like host labels for ``--dbfilter '^%d$'``."""
    from devshell.config import load_config
    from devshell.db.admin import drop_database
    from devshell.modules import init_database

    suffix = unique_name("").strip("_")
    names = (f"alpha{suffix}", f"beta{suffix}")
    for name in names:
        init_database(load_config(), name, [], admin_password=ADMIN_PASSWORD)
    yield names
    for name in names:
        drop_database(address, name, missing_ok=True)


def test_a_database_admin_cannot_deploy_code_into_every_database(tmp_path: Path, address: Any, db: str,
                                                                 tenants: tuple[str, str],
                                                                 machines: list[tuple[ServerProcess, Path]]) -> None:
    from devshell.deploy_client import pack_module

    alpha, beta = tenants
    loot = tmp_path / "loot.txt"
    folder = evil_module(tmp_path, "evil_cross", beta, loot)
    data = pack_module(folder).data
    # the attack: alpha's admin, on a server whose dbfilter gives each tenant its own host
    server = ServerProcess("--dbfilter", "^%d$")  # no deploy_password: deploy is disabled
    try:
        server.wait_ready()
        server.wait_for_line("deploy: disabled")
        host = {"Host": f"{alpha}.example.test:{server.url.rsplit(':', 1)[1]}"}
        tenant_admin = requests.Session()
        assert tenant_admin.post(server.url + "/web/login", json={"login": "admin", "password": ADMIN_PASSWORD},
                                 headers=host).json()["is_admin"] is True
        for guess in (None, "admin", ADMIN_PASSWORD):
            refused = post_archive(tenant_admin, server, alpha, data, deploy_password=guess, **host)
            assert refused.status_code == 403, refused.text
            assert "deploy is disabled on this server" in refused.json()["error"]["message"]
    finally:
        server.stop()
    assert_nothing_written(address, alpha, "evil_cross", [])
    # where deploy is enabled, a database admin without the server's deploy password is refused the same way
    (a, _a_dir), _b = machines
    for guess in (None, "", ADMIN_PASSWORD):
        refused = post_archive(admin_session(a, db), a, db, data, deploy_password=guess)
        assert refused.status_code == 403, refused.text
        assert "wrong deploy password" in refused.json()["error"]["message"]
    cli = deploy_cli(folder, a.url, db, deploy_password="a guess")
    assert cli.returncode == 1 and "wrong deploy password" in cli.stderr and "Traceback" not in cli.stderr
    assert_nothing_written(address, db, "evil_cross", machines)
    assert not loot.exists(), "the deployed code ran and read the other database"


def test_a_cross_site_deploy_is_refused(tmp_path: Path, address: Any, db: str,
                                        machines: list[tuple[ServerProcess, Path]]) -> None:
    from devshell.deploy_client import pack_module

    (a, _a_dir), _b = machines
    data = pack_module(write_module(tmp_path, "csrf_dep")).data
    admin = admin_session(a, db)
    for _attempt in range(2):  # the replay was answered 200 as well
        response = post_archive(admin, a, db, data, **{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
        assert response.status_code == 403, response.text
        assert "cross-site request refused" in response.json()["error"]["message"]
    assert_nothing_written(address, db, "csrf_dep", machines)


def crc_error_archive() -> bytes:
    body = b"x = 1\n" * 20
    return zipped({"evil_crc/__manifest__.py": MANIFEST, "evil_crc/__init__.py": body}).replace(
        body, b"y" + body[1:], 1)  # stored as is: one changed byte, same recorded CRC


def understated_archive() -> bytes:
    import struct

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("evil_size/__manifest__.py", MANIFEST)
        archive.writestr("evil_size/__init__.py", b"# padding\n" * 10_000)
    data = bytearray(buffer.getvalue())
    central = data.rindex(b"evil_size/__init__.py") - 46  # the name's last copy is in the central directory
    assert data[central:central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, central + 24, 10)  # "10 bytes unpacked"
    return bytes(data)


@pytest.mark.parametrize("name, archive", [("evil_crc", crc_error_archive), ("evil_size", understated_archive)])
def test_archives_whose_records_lie_are_refused(address: Any, db: str, machines: list[tuple[ServerProcess, Path]],
                                                name: str, archive: Any) -> None:
    (a, _a_dir), _b = machines
    response = post_archive(admin_session(a, db), a, db, archive())
    assert response.status_code == 400, response.text
    assert "cannot be unpacked" in response.json()["error"]["message"]
    assert_nothing_written(address, db, name, machines)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate that refuses every login (no devshell behind it)."""
    import http.server
    import shutil
    import ssl
    import subprocess
    import threading

    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate (Debian package openssl)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b'{"error": {"code": 401, "message": "invalid login or password"}}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Refuse)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_tls_is_verified_unless_insecure(tmp_path: Path, tls_server: str) -> None:
    folder = write_module(tmp_path, "tls_mod")
    verified = deploy_cli(folder, tls_server, "anydb")
    assert verified.returncode == 1
    assert f"the TLS certificate of {tls_server} is not trusted" in verified.stderr and "--insecure" in verified.stderr
    insecure = deploy_cli(folder, tls_server, "anydb", "admin", ADMIN_PASSWORD, "--insecure")
    assert insecure.returncode == 1 and "login refused on 'anydb'" in insecure.stderr  # the request went through
