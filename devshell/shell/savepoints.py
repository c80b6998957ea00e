"""A savepoint around each statement typed in a REPL or a notebook cell.

Without it, one failed statement (or a query cancelled with Ctrl-C) aborts the
whole transaction and every later statement fails with ``InFailedSqlTransaction``
until the user rolls back everything. Here a failure rolls back to the
statement's savepoint only: the work done before it is kept, the session goes on,
and one line says so. A statement that commits or rolls back itself ends the
savepoint with the transaction; nothing more is done for it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..orm import Environment

SAVEPOINT = "devshell_statement"


class StatementSavepoints:
    """Begin a savepoint before a statement, release it after, or roll back to it when the statement failed.

    *find_env* returns the environment of the moment (the REPL's namespace may bind
    another one); *notice* shows the one line (stderr by default).
    """

    def __init__(self, find_env: Callable[[], Any], notice: Callable[[str], None] | None = None) -> None:
        self.find_env = find_env
        self.notice = notice or (lambda line: print(line, file=sys.stderr, flush=True))
        self._open: tuple[Environment, int, int] | None = None  #: env, its writes and ended transactions

    def begin(self) -> None:
        import psycopg2
        import psycopg2.extensions

        from ..orm import Environment

        self._open = None
        env = self.find_env()
        if not isinstance(env, Environment) or env.conn.closed:
            return
        if env.conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
            return  # aborted before we were asked (no savepoint can be taken): the user rolls back
        try:
            _run(env, f"SAVEPOINT {SAVEPOINT}")
        except psycopg2.Error:
            return  # the connection is gone: the statement will say so itself
        self._open = env, env.pending_writes, env.transactions_ended

    def end(self, failed: bool) -> None:
        """After the statement: release the savepoint, or roll back to it if it failed or aborted the transaction."""
        import psycopg2
        import psycopg2.extensions

        opened, self._open = self._open, None
        if opened is None:
            return
        env, writes, ended = opened
        if env.conn.closed or env.transactions_ended != ended:
            return  # the statement closed the connection, committed or rolled back: the savepoint went with it
        aborted = env.conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INERROR
        undone = env.pending_writes - writes
        try:
            if failed or aborted:
                _run(env, f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            _run(env, f"RELEASE SAVEPOINT {SAVEPOINT}")
        except psycopg2.Error as exc:
            self.notice(f"devshell: the statement's savepoint could not be restored ({str(exc).strip()}): "
                        "call env.rollback() to go on")
            return
        if failed or aborted:
            env.pending_writes = writes
        if (failed or aborted) and (aborted or undone > 0):
            what = f"{undone} write{'s' if undone != 1 else ''} undone" if undone > 0 else \
                "it had aborted the transaction"
            self.notice(f"devshell: statement rolled back to its savepoint ({what}); the transaction goes on")


def _run(env: "Environment", statement: str) -> None:
    """Run on a plain cursor of env's connection: neither echoed nor counted as the user's work."""
    with env.conn.cursor() as cr:
        cr.execute(statement)
