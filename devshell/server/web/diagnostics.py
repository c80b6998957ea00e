"""What a server cannot serve, said out loud: installed modules missing from the addons path.

A module installed in a database but found on no folder of the addons path has
no code in the server: its routes answer 404 and its cron jobs never run, and
nothing said why. The startup report warns about the databases named with
``-d``; a running application explains the first 404 on such a database in
its log, and ``/web/health`` and the index page show the warnings about the
databases they are asked about.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Collection, Iterable

from ...errors import DevshellError

if TYPE_CHECKING:
    from ...site import Site
    from .application import Root
    from .request import Request

logger = logging.getLogger(__name__)


def missing_modules_warning(db: str, installed: Iterable[str], available: Collection[str]) -> str | None:
    """One line naming the modules installed in *db* that are not on the addons path, or None."""
    missing = sorted(set(installed) - set(available))
    if not missing:
        return None
    names = ", ".join(missing)
    return (f"database {db!r}: installed module{'s' if len(missing) > 1 else ''} {names} not on the addons "
            f"path: {'their' if len(missing) > 1 else 'its'} routes answer 404 and cron jobs do not run "
            "(add the folder holding them to addons_path, or --addons-path)")


def startup_warnings(site: "Site", databases: Iterable[str]) -> list[str]:
    """What the startup report warns about for the databases named with ``-d``.

    (A named database that does not exist is refused before the server binds,
    see ``foreground.check_startup``; one that cannot be read is left to the requests.)
    """
    from ...db.connection import connect
    from ...modules.state import installed_modules

    found = []
    for db in databases:
        try:
            conn = connect(site.address, db)
            try:
                with conn.cursor() as cr:
                    installed = installed_modules(cr)
            finally:
                conn.close()
        except DevshellError as exc:
            logger.debug("startup check of database %r skipped: %s", db, exc.message)
            continue
        warning = missing_modules_warning(db, installed, site.modules)
        if warning:
            found.append(warning)
    return found


class ServingProblems:
    """A running application's per-database problems, worked out once per database and logged once."""

    def __init__(self, app: "Root") -> None:
        self.app = app
        self._lock = threading.Lock()
        self._known: dict[str, str | None] = {}
        self._explained: set[str] = set()  #: databases whose 404s were explained in the log already

    def check(self, db: str) -> str | None:
        """The warning about *db* (worked out on first use), or None.

        A database that cannot be read counts as none: its requests say why.
        """
        with self._lock:
            if db in self._known:
                return self._known[db]
        self.app.load()
        try:
            warning = missing_modules_warning(db, self.app.databases.installed_modules(db), self.app.modules)
        except DevshellError:
            warning = None
        with self._lock:
            self._known[db] = warning
        return warning

    def for_request(self, request: "Request") -> list[str]:
        """The warnings about the ``-d`` databases and the request's ``?db=`` (each checked once).

        Only those: a public route must not tell one host about the databases
        that dbfilter shows to another, and must not cost a query per call.
        """
        names = list(self.app.databases.names)
        explicit = request.explicit_db  # already checked against dbfilter by the dispatcher
        if explicit and explicit not in names:
            names.append(explicit)
        return [warning for warning in map(self.check, names) if warning]

    def explain_not_found(self, request: "Request") -> None:
        """A 404: when its database has modules missing from the path, log why (once per database)."""
        try:
            db = request.db
            warning = self.check(db) if db is not None else None
        except Exception as exc:  # noqa: BLE001 - explaining a 404 must never turn it into a 500
            logger.debug("404 on %s not explained: %s", request.path, exc)
            return
        if warning is None or db is None:
            return
        with self._lock:
            if db in self._explained:
                return
            self._explained.add(db)
        logger.warning("%s %s answered 404, maybe because %s", request.method, request.path, warning)

    def forget(self) -> None:
        """After a reload: the modules changed, every database is checked again."""
        with self._lock:
            self._known.clear()
            self._explained.clear()
