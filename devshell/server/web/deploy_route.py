"""``POST /devshell/deploy``: an administrator uploads a module; it is checked, installed and announced.

Two keys are needed: a session of the database's administrator, and the
server-level deploy password (the ``deploy_password`` setting, multipart field
``deploy_password``); without that setting, deploy is disabled.

Order matters, so that a refused upload writes nothing anywhere: the archive is
checked in memory, unpacked into a private temporary folder, its manifest and
Python files checked; then one transaction installs (or updates) the module from
there, stores the archive in ``devshell_module_archive`` and queues a NOTIFY.
Only after the commit does any server unpack it under its data dir and reload.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, Conflict, Forbidden, HTTPException, RequestEntityTooLarge

from ...scratch import scratch_folder
from .module_archive import MAX_ARCHIVE_BYTES, ArchiveError, ModuleArchive, extract_archive, inspect_archive
from .module_archive import read_checked_manifest
from .deployed_modules import PG_CHANNEL

if TYPE_CHECKING:
    from ...modules import Manifest
    from .application import Root
    from .request import Request

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def _http_error(exc: ArchiveError) -> HTTPException:
    kind = {413: RequestEntityTooLarge, 409: Conflict}.get(exc.status, BadRequest)
    return kind(exc.message)


def check_deploy_credential(request: "Request") -> None:
    """403 unless the request carries the server's deploy password (``deploy_password``; unset: no deploy).

    Deployed code runs in the process that serves every database, so a database's
    administrator alone must not be able to deploy: the server's operator decides.
    Wrong passwords are throttled like logins.
    """
    from ...users import check_deploy_password, deploy_password_state
    from .login_throttle import guarded_attempt

    stored = request.app.config.get("deploy_password")
    state = deploy_password_state(stored)
    if state == "disabled":
        raise Forbidden("deploy is disabled on this server: its operator enables it with the deploy_password "
                        "setting (a hash from `devshell deploy --hash-password`)")
    if state == "invalid hash":
        raise Forbidden("deploy is disabled on this server: its deploy_password setting is not a valid hash")
    supplied = request.form.get("deploy_password", "")
    session = request.session
    login = session.login if session is not None and session.login else ""
    accepted = guarded_attempt(request, "deploy", login, lambda: check_deploy_password(supplied, stored) or None)
    if accepted is None:
        raise Forbidden("wrong deploy password: deploy needs the server's deploy password (DEVSHELL_DEPLOY_PASSWORD"
                        " for `devshell deploy`) on top of a database administrator's login")


def receive(request: "Request") -> dict[str, Any]:
    """The route: the archive of the multipart field ``file``, installed on the session's database."""
    db = request.require_db()
    named = request.form.get("db")
    if named and named != db:
        raise BadRequest(f"you are logged in on {db!r}, not {named!r}: log in on the database to deploy to")
    check_deploy_credential(request)
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("send the module archive (a zip) as the multipart field 'file'")
    data = upload.stream.read(MAX_ARCHIVE_BYTES + 1)
    force = request.form.get("force", "").strip().lower() in TRUE_WORDS
    try:
        archive = inspect_archive(data)
        with scratch_folder("devshell-deploy-") as staging:  # one a killed server left is removed here
            root = extract_archive(archive, Path(staging))
            manifest = read_checked_manifest(root)
            result = install_archive(request.app, db, archive, root, manifest, uid=request.uid, force=force)
    except ArchiveError as exc:
        raise _http_error(exc) from None
    result["reloaded"] = request.app.deployments.sync([db])  # this server serves it before answering
    return result


def _check_name(app: "Root", name: str) -> None:
    """A deployed module may replace an earlier deployment, never a module this server has elsewhere."""
    found = app.site.modules.get(name)
    deployed = (app.config.data_dir / "addons").resolve()
    if found is not None and found.path.resolve().parent != deployed:
        raise ArchiveError(f"module {name!r} is provided by {found.path} on this server: "
                           "a deployed module cannot replace it (rename yours)", 409)


def install_archive(app: "Root", db: str, archive: ModuleArchive, root: Path, manifest: "Manifest", *,
                    uid: int | None, force: bool = False) -> dict[str, Any]:
    """Install the unpacked module at *root* and store its archive, in one transaction on *db*."""
    import psycopg2

    from ...modules import Module, ModuleError, apply_install, resolve_order

    name = archive.name
    _check_name(app, name)
    paths = app.site.addons_paths
    available = dict(app.site.modules)
    available[name] = Module(name, root)
    try:
        order = resolve_order(available, [name], paths)
    except ModuleError as exc:
        raise ArchiveError(exc.message.replace(str(root.parent) + "/", "")) from None
    sha = hashlib.sha256(archive.data).hexdigest()
    with app.databases.borrow(db) as conn:
        with conn.cursor() as cr:
            first_deploy = not _has_archive_table(cr)
        conn.rollback()  # apply_install starts the one transaction of the deploy
        update = ([name] if force else []) + (["base"] if first_deploy else [])  # base creates the table
        steps = apply_install(conn, order, update=update, commit=False)
        with conn.cursor() as cr:
            cr.execute(
                """INSERT INTO devshell_module_archive (name, version, archive, sha256, uploaded_at, uploaded_by)
                   VALUES (%s, %s, %s, %s, now(), %s)
                   ON CONFLICT (name) DO UPDATE
                      SET version = EXCLUDED.version, archive = EXCLUDED.archive, sha256 = EXCLUDED.sha256,
                          uploaded_at = EXCLUDED.uploaded_at, uploaded_by = EXCLUDED.uploaded_by""",
                (name, manifest.version, psycopg2.Binary(archive.data), sha, uid))
            cr.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, name))
    step = next(step for step in steps if step.name == name)
    app.databases.forget(db)
    return {"module": name, "version": manifest.version, "previous": step.previous, "action": step.action,
            "sha256": sha, "installed": [item.name for item in steps if item.ran and item.name != name]}


def _has_archive_table(cr: Any) -> bool:
    cr.execute("SELECT to_regclass('devshell_module_archive') IS NOT NULL")
    return bool(cr.fetchone()[0])
