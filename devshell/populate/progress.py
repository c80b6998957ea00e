"""What a populate run shows: the plan, a progress bar per table (rows/s), a summary table.

On a terminal (or in Jupyter) rich draws live bars; otherwise each table gets a
plain line when it starts and when it is done, so logs and tests can follow.
"""

from __future__ import annotations

import sys
import textwrap
from typing import IO, Any, Iterable

from .planner import Plan

ORDER_LINE = 400  # a load order longer than this is shown level by level, wrapped
WIDTH = 100
PLAIN_PROGRESS_ROWS = 10_000  # without a terminal, runs this big get a line per table
LIVE_TABLES = 20  # on a terminal, more tables than this show as one bar plus the table loading now


class Reporter:
    """Silent: the base for the others, and what ``quiet=True`` uses."""

    def show_plan(self, plan: Plan) -> None: ...
    def note(self, text: str) -> None: ...
    def warn(self, text: str) -> None: ...
    def begin(self, plan: Plan) -> None: ...
    def start(self, table: str, total: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def finish(self, table: str, rows: int, seconds: float) -> None: ...
    def close(self) -> None: ...
    def summary(self, rows: list[tuple[str, int, float]], seconds: float, seed: int,
                notes: Iterable[str] = ()) -> None: ...


def levels(plan: Plan) -> list[list[str]]:
    """The load order in levels: a table's parents (foreign keys not broken) are all in earlier levels."""
    broken = {(edge.child, edge.fk.name) for edge in plan.broken}
    level: dict[str, int] = {}
    for table in plan.tables:
        parents = [fk.target for fk in table.table.foreign_keys
                   if fk.target != table.key and fk.target in level and (table.key, fk.name) not in broken]
        level[table.key] = 1 + max((level[parent] for parent in parents), default=0)
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=0))]
    for key, depth in level.items():
        out[depth - 1].append(key)
    return out


def order_lines(plan: Plan) -> list[str]:
    """``order: a → b → …`` on one line when short; else a wrapped paragraph per level."""
    line = "order: " + " → ".join(table.key for table in plan.tables)
    if len(line) <= ORDER_LINE:
        return [line]
    groups = levels(plan)
    out = [f"order: {len(plan.tables)} tables in {len(groups)} levels, parents first "
           "(a table needs only tables of the levels above it)"]
    for number, names in enumerate(groups, 1):
        head = f"  {number:>2}. "
        out += textwrap.wrap(", ".join(names), WIDTH, initial_indent=head, subsequent_indent=" " * len(head),
                             break_on_hyphens=False)
    return out


def plan_rows(plan: Plan) -> list[tuple[str, str, str, str]]:
    """(table, rows, column, how) lines describing a plan, columns in table order."""
    out = []
    for table in plan.tables:
        position = {name: column.position for name, column in table.table.columns.items()}
        lines = []
        for slot in table.slots:
            how = slot.generator.label
            if slot.deferred is not None:
                how += " (NULL first, UPDATE after: breaks a cycle)"
            lines.append((position[slot.columns[0]], ", ".join(slot.columns), how))
        lines += [(position[name], name, f"left to the database ({why})") for name, why in table.database_fills.items()]
        lines += [(position[c.left], c.left, f"kept {c.op} {c.right}" + (" (usual order)" if c.soft else " (CHECK)"))
                  for c in table.comparisons]
        lines.sort()
        if table.row_factory is not None:
            lines.append((0, "*", "module factory for whole rows"))
        for check in table.opaque:
            lines.append((0, ", ".join(c for c in check.columns if c != "VALUE") or "*",
                          f"CHECK {check.name} verified by PostgreSQL"))
        name = table.key + (f" (needed by {table.needed_by})" if table.needed_by else "")
        for index, (_, columns, how) in enumerate(lines):
            out.append((name if index == 0 else "", str(table.count) if index == 0 else "", columns, how))
    return out


def summary_rows(rows: list[tuple[str, int, float]], seconds: float) -> list[tuple[str, str, str, str]]:
    """(table, rows, seconds, rows/s) per table and a total."""
    def rate(count: int, spent: float) -> str:
        return f"{count / spent:,.0f}" if spent > 0 else "-"

    total = sum(count for _, count, _ in rows)
    out = [(name, f"{count:,}", f"{spent:.2f}", rate(count, spent)) for name, count, spent in rows]
    return out + [("total", f"{total:,}", f"{seconds:.2f}", rate(total, seconds))]


class PlainReporter(Reporter):
    """Progress as lines on *err*; the plan and the summary on *out*."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self.out, self.err = out, err
        self.verbose = True

    @staticmethod
    def _line(stream: IO[str], text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    def show_plan(self, plan: Plan) -> None:
        out = self.out
        self._line(out, f"plan: {len(plan.tables)} tables, {plan.total_rows} rows, size {plan.size}, seed {plan.seed}")
        for line in order_lines(plan):
            self._line(out, line)
        for edge in plan.broken:
            self._line(out, f"cycle broken at {edge.describe()} (filled by UPDATE after the load)")
        for table, rows, column, how in plan_rows(plan):
            if table:
                self._line(out, f"{table}: {rows} rows")
            self._line(out, f"  {column}: {how}")

    def note(self, text: str) -> None:
        self._line(self.out, text)

    def warn(self, text: str) -> None:
        self._line(self.err, f"devshell: warning: {text}")

    def begin(self, plan: Plan) -> None:
        """Small runs end in a blink: only runs of PLAIN_PROGRESS_ROWS rows or more log each table."""
        self.verbose = plan.total_rows >= PLAIN_PROGRESS_ROWS

    def start(self, table: str, total: int) -> None:
        if self.verbose:
            self._line(self.err, f"loading {table} ({total} rows)")

    def finish(self, table: str, rows: int, seconds: float) -> None:
        rate = rows / seconds if seconds > 0 else 0
        if self.verbose:
            self._line(self.err, f"loaded {table}: {rows} rows in {seconds:.2f}s ({rate:,.0f} rows/s)")

    def summary(self, rows: list[tuple[str, int, float]], seconds: float, seed: int,
                notes: Iterable[str] = ()) -> None:
        lines = [("table", "rows", "seconds", "rows/s"), *summary_rows(rows, seconds)]
        width = max(len(line[0]) for line in lines)
        for name, count, spent, rate in lines:
            self._line(self.out, f"{name:<{width}}  {count:>10}  {spent:>8}  {rate:>10}")
        for note in notes:
            self._line(self.out, note)
        self._line(self.out, f"seed {seed} (--seed {seed} makes the same rows)")


class RichReporter(Reporter):
    """Live bars with rows/s on *err*'s console; plan and summary tables on *out*'s."""

    def __init__(self, out: Any, err: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.out, self.err = out, err
        self.progress = Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]:>14}"), TimeElapsedColumn(), console=err,
                                 transient=False)
        self.task: Any = None
        self.overall: Any = None  # with many tables: one bar for them all, one for the table loading now
        self.started = False

    def begin(self, plan: Plan) -> None:
        if len(plan.tables) > LIVE_TABLES and self.overall is None:
            self._start()
            self.overall = self.progress.add_task(f"{len(plan.tables)} tables", total=len(plan.tables), rate="")

    def _start(self) -> None:
        if not self.started:
            self.progress.start()
            self.started = True

    def show_plan(self, plan: Plan) -> None:
        from rich.table import Table

        table = Table(title=f"populate plan — size {plan.size}, seed {plan.seed}, {plan.total_rows} rows")
        for header in ("table", "rows", "column", "generator"):
            table.add_column(header)
        for row in plan_rows(plan):
            table.add_row(*row)
        self.out.print(table)
        for line in order_lines(plan):
            self.out.print(line, highlight=False, markup=False)
        for edge in plan.broken:
            self.out.print(f"cycle broken at {edge.describe()} (filled by UPDATE after the load)")

    def note(self, text: str) -> None:
        self.out.print(text, highlight=False, markup=False)

    def warn(self, text: str) -> None:  # the text may hold brackets (a regex in a CHECK): not markup
        self.err.print("devshell: warning:", style="yellow", end=" ")
        self.err.print(text, highlight=False, markup=False)

    def start(self, table: str, total: int) -> None:
        self._start()
        if self.overall is not None:
            if self.task is not None:  # the previous table (it may have failed): only the last one shows
                self.progress.remove_task(self.task)
            self.progress.advance(self.overall, 1)
        self.task = self.progress.add_task(table, total=total, rate="")

    def advance(self, rows: int) -> None:
        self.progress.advance(self.task, rows)
        speed = next(task.speed for task in self.progress.tasks if task.id == self.task)
        if speed:
            self.progress.update(self.task, rate=f"{speed:,.0f} rows/s")

    def finish(self, table: str, rows: int, seconds: float) -> None:
        rate = rows / seconds if seconds > 0 else 0
        self.progress.update(self.task, completed=rows, rate=f"{rate:,.0f} rows/s")

    def close(self) -> None:
        if self.started:
            self.progress.stop()
            self.started = False

    def summary(self, rows: list[tuple[str, int, float]], seconds: float, seed: int,
                notes: Iterable[str] = ()) -> None:
        from rich.table import Table

        table = Table(title=f"populate, seed {seed}", caption=f"--seed {seed} makes the same rows again")
        for header in ("table", "rows", "seconds", "rows/s"):
            table.add_column(header, justify="left" if header == "table" else "right")
        for row in summary_rows(rows, seconds):
            table.add_row(*row)
        self.out.print(table)
        for note in notes:
            self.out.print(note, highlight=False, markup=False)


def choose_reporter(quiet: bool = False, out: IO[str] | None = None, err: IO[str] | None = None) -> Reporter:
    """Rich bars on a terminal or in Jupyter, plain lines otherwise, nothing when *quiet*."""
    if quiet:
        return Reporter()
    out, err = out or sys.stdout, err or sys.stderr
    if err.isatty() or "ipykernel" in sys.modules:
        from rich.console import Console

        return RichReporter(Console(file=out), Console(file=err))
    return PlainReporter(out, err)
