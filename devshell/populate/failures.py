"""Tables that could not be filled, each with one line saying why, and the tables that need them.

A run never stops at the first table that fails: planning goes on with the
others and the load goes on past a failed table (it ran under a savepoint), so
the error names every table that fails, with PostgreSQL's DETAIL line. A table
whose foreign key points at a failed one is not tried: it is listed as needing
rows in it. An exception nobody expected is a devshell bug: it still becomes one
line naming the table (and the column or constraint being worked on), and
``--debug`` shows its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Iterable, Mapping

from ..errors import DevshellError

LISTED_DEPENDENTS = 8  # tables named in the error among those that were not tried


@dataclass(frozen=True)
class Failure:
    """Why *table* holds no row; *needs* names the failed table it points at, when that is the reason."""

    table: str
    reason: str
    needs: str | None = None

    @property
    def line(self) -> str:
        named = self.reason.startswith((f"table {self.table}", f"column {self.table}."))
        return self.reason if named else f"table {self.table}: {self.reason}"


class PopulateFailed(DevshellError):
    """Some tables cannot be filled: nothing was written (without ``--skip-failing``)."""

    def __init__(self, failures: Mapping[str, Failure]) -> None:
        self.failures = dict(failures)
        super().__init__(failure_message(self.failures))


class ConnectionLost(DevshellError):
    """The session with PostgreSQL ended during the run (the server stopped or ended it): its
    transaction went with it, and nothing more can be done on the connection."""

    def __init__(self, reason: str, doing: str = "") -> None:
        super().__init__(f"populate stopped (nothing was written): the connection to PostgreSQL was lost"
                         f"{' ' + doing if doing else ''}: {reason}")


def lost_connection_reason(exc: BaseException) -> str:
    """What PostgreSQL said as the session ended: the first database error *exc* was raised from (not the
    ``InterfaceError`` of using the closed connection afterwards)."""
    import psycopg2

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    errors = [error for error in chain if isinstance(error, psycopg2.Error)
              and not isinstance(error, psycopg2.InterfaceError)]
    return database_reason(errors[-1]) if errors else "the server closed it"


def database_reason(exc: Any) -> str:
    """PostgreSQL's message and DETAIL line of *exc* (a psycopg2 error) on one line."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:
        text = (getattr(exc, "pgerror", None) or str(exc)).strip()
        primary = text.splitlines()[0].removeprefix("ERROR:").strip() if text else type(exc).__name__
    detail = getattr(diag, "message_detail", None)
    return f"{primary} (DETAIL: {detail})" if detail else primary


def unexpected_reason(exc: BaseException, columns: Iterable[str] = ()) -> str:
    """One line for an exception devshell did not expect, naming what it was working on."""
    where = _working_on(exc.__traceback__, set(columns))
    return (f"{where + ': ' if where else ''}{type(exc).__name__}: {exc} "
            "(a devshell bug, please report it; --debug shows the traceback)")


def run_level_reason(exc: BaseException) -> str:
    """One line for an exception outside any one table's work (a server error, or a bug)."""
    import psycopg2

    if isinstance(exc, psycopg2.Error):
        return database_reason(exc)
    tb, table = exc.__traceback__, None
    while tb is not None:  # the innermost table being worked on, if any
        candidate = tb.tb_frame.f_locals.get("table")
        table = candidate if getattr(candidate, "key", None) else table
        tb = tb.tb_next
    if table is None:
        return unexpected_reason(exc)
    columns = getattr(getattr(table, "table", table), "columns", ())
    return f"table {table.key}: {unexpected_reason(exc, columns)}"


def _working_on(tb: TracebackType | None, columns: set[str]) -> str:
    """The constraint or column in the innermost frame that names one (their usual local names)."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame.f_locals)
        tb = tb.tb_next
    for local in reversed(frames):
        check, fk, unique, slot, name = (local.get(key) for key in ("check", "fk", "unique", "slot", "name"))
        if getattr(check, "name", None):
            return f"CHECK {check.name}"
        if getattr(fk, "name", None) and getattr(fk, "columns", None):
            return f"foreign key {fk.name} ({', '.join(fk.columns)})"
        if isinstance(unique, tuple) and unique and all(isinstance(item, str) for item in unique):
            return f"unique ({', '.join(unique)})"
        if getattr(slot, "columns", None):
            return f"column {', '.join(slot.columns)}"
        if isinstance(name, str) and name in columns:
            return f"column {name}"
    return ""


def blocked_by(failed: Iterable[str], edges: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Tables that point (through *edges*: table -> its parents, transitively) at a *failed* one:
    {table: the failed table it needs}."""
    failed = set(failed)
    children: dict[str, list[str]] = {}
    for child, parents in edges.items():
        for parent in parents:
            if parent != child:
                children.setdefault(parent, []).append(child)
    out: dict[str, str] = {}
    for root in sorted(failed):
        queue = [root]
        while queue:
            for child in children.get(queue.pop(), ()):
                if child not in failed and child not in out:
                    out[child] = root
                    queue.append(child)
    return out


def skipped_lines(failures: Mapping[str, Failure]) -> list[str]:
    """A line per table left empty: the failed ones with their reason, then those that needed them."""
    roots = sorted((f for f in failures.values() if f.needs is None), key=lambda f: f.table)
    needing = sorted((f for f in failures.values() if f.needs is not None), key=lambda f: f.table)
    return [f.line for f in roots] + [f"table {f.table}: needs rows in {f.needs}" for f in needing]


def failure_message(failures: Mapping[str, Failure]) -> str:
    """Every failing table with its reason, then how many tables needed them (one line)."""
    roots = sorted((f for f in failures.values() if f.needs is None), key=lambda f: f.table)
    dependents = sorted(key for key, f in failures.items() if f.needs is not None)
    listed = "; ".join(f.line for f in roots)
    if dependents:
        names = ", ".join(dependents[:LISTED_DEPENDENTS]) + (", …" if len(dependents) > LISTED_DEPENDENTS else "")
        many = len(dependents) > 1
        listed += (f"; {len(dependents)} table{'s' if many else ''} that need{'' if many else 's'} rows in "
                   f"{'them' if len(roots) > 1 else 'it'} not tried: {names}")
    if len(roots) == 1 and not dependents:
        return f"{listed} (nothing was written)"
    count = len(roots)
    return (f"{count} table{'s' if count > 1 else ''} cannot be filled (nothing was written; --skip-failing "
            f"loads the others): {listed}")


def unfillable(catalog: Any) -> dict[str, Failure]:
    """Tables no row can go into whatever the data: a partitioned table without partitions."""
    return {key: Failure(key, f"table {key} is partitioned and has no partition yet: create its partitions first")
            for key, table in catalog.tables.items() if table.is_partitioned and not table.partitions}


def planning_failures(reasons: Mapping[str, str], catalog: Any, failed: Mapping[str, Failure]) -> dict[str, Failure]:
    """The planner's reasons as failures; a table whose NOT NULL foreign key points at a failed table
    is one that needs its rows."""
    out: dict[str, Failure] = {}
    for key in reasons:  # in load order: parents first
        table = catalog.tables[key]
        needs = next((fk.target for fk in table.foreign_keys if fk.target != key
                      and (fk.target in failed or fk.target in out)
                      and not any(table.columns[name].nullable for name in fk.columns)), None)
        out[key] = Failure(key, f"needs rows in {needs}" if needs else reasons[key], needs=needs)
    return out
