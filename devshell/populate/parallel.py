"""Chunks of a big table made in several processes (``--jobs N``): the same rows whatever N.

A table of several chunks whose rows depend on nothing but their own chunk (no tree
over its own rows, no CHECK or index PostgreSQL evaluates, no module factory, no
exclusion constraint, no key set afterwards) is made *apart*: each chunk from seeds
of its own, its unique keys checked against the rows that existed before the run
only. This process then takes the chunks in order and *settles* each one: rows whose
unique keys an earlier chunk already holds are made again (still in chunk order, so
whatever made the chunks, the same rows come out), and its keys are published for
the tables after it. Which process made a chunk, and how many there were, changes
nothing; ``--jobs 1`` makes the same chunks here.

The workers are forked once the table's first chunk is made here (they see its
parents' keys, and Faker's pools, as they are then) and stop when it is done; at most
N, and never more than the chunks left.
"""

from __future__ import annotations

import collections
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import DevshellError
from .builder import CHUNK_ROWS, PopulateError, nested
from .generators import FactoryColumn, Row
from .references import LinkedKeys, SelfTree

if TYPE_CHECKING:
    from .builder import TableBuilder

AHEAD = 2  # chunks asked for per worker, ahead of the one COPY waits for
_BUILDER: "TableBuilder | None" = None  # the table the forked workers make chunks of
_ENCODING = "utf-8"


def default_jobs() -> int:
    """One process per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def made_apart(builder: "TableBuilder") -> bool:
    """Whether the table's chunks are made apart (see the module): a property of the table, never of --jobs."""
    plan = builder.plan
    if plan.count <= CHUNK_ROWS or builder.probe is not None or plan.row_factory is not None or plan.exclusions:
        return False
    for slot in plan.slots:
        if slot.deferred is not None:
            return False
        for generator in nested(slot.generator):
            if isinstance(generator, (SelfTree, FactoryColumn)) or \
                    (isinstance(generator, LinkedKeys) and any(link.is_self for link in generator.links)):
                return False
    return True


@dataclass
class _Failed:
    """What a worker raised, sent back as text (a DevshellError is the table's failure, the rest a bug)."""

    kind: str
    message: str
    expected: bool

    def exception(self) -> Exception:
        return PopulateError(self.message) if self.expected else RuntimeError(f"{self.kind}: {self.message}")


#: a chunk made apart: its COPY text, the columns of its published keys, its unique keys (name -> row -> key)
Made = tuple[bytes, Row, dict[str, dict[int, Any]]]


def chunks(builder: "TableBuilder", encoding: str, jobs: int) -> Iterator[tuple[int, bytes]]:
    """(rows, encoded COPY text) per chunk of *builder*'s table, in order; made by up to *jobs* processes."""
    if not made_apart(builder):
        for rows, text in builder.chunks():
            yield rows, text.encode(encoding)
        return
    builder.prepare()  # uniques drawn and key orders settled here, before any fork
    count = builder.plan.count
    starts = [(start, min(CHUNK_ROWS, count - start)) for start in range(0, count, CHUNK_ROWS)]
    workers = min(jobs, len(starts) - 1)
    here = starts if workers <= 1 else starts[:1]  # the first chunk here: Faker's pools filled before the fork
    for start, rows in here:
        yield rows, settle(builder, start, rows, _make(builder, start, rows, encoding), encoding)
    if workers > 1:
        yield from _in_workers(builder, starts[1:], workers, encoding)


def _in_workers(builder: "TableBuilder", starts: list[tuple[int, int]], workers: int,
                encoding: str) -> Iterator[tuple[int, bytes]]:
    import multiprocessing

    global _BUILDER, _ENCODING
    _BUILDER, _ENCODING = builder, encoding
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_worker_start)
    try:
        waiting: collections.deque[tuple[int, int, Future[Made | _Failed]]] = collections.deque()
        todo = iter(starts)
        for start, rows in todo:
            waiting.append((start, rows, pool.submit(_worker_chunk, start, rows)))
            if len(waiting) >= workers * AHEAD:
                break
        while waiting:
            start, rows, future = waiting.popleft()
            made = future.result()
            following = next(todo, None)
            if following is not None:
                waiting.append((*following, pool.submit(_worker_chunk, *following)))
            if isinstance(made, _Failed):
                raise made.exception()
            yield rows, settle(builder, start, rows, made, encoding)
    finally:
        _BUILDER = None
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_start() -> None:
    """A worker leaves Ctrl-C to the loading process (which stops the pool and rolls back)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_chunk(start: int, rows: int) -> "Made | _Failed":
    """In a forked worker: one chunk of the table being made."""
    assert _BUILDER is not None
    try:
        return _make(_BUILDER, start, rows, _ENCODING)
    except Exception as exc:  # noqa: BLE001 - sent back whole, raised again by the loading process
        return _Failed(type(exc).__name__, exc.message if isinstance(exc, DevshellError) else str(exc),
                       isinstance(exc, DevshellError))


def _make(builder: "TableBuilder", start: int, rows: int, encoding: str) -> Made:
    values = builder.rows(start, rows, apart=True)
    published = {name: values[name] for columns in builder.key_sets for name in columns if name in values}
    positions = list(range(rows))
    keys = {unique.name: unique.keys(values, positions) for unique in builder.checked
            if all(name in values for name in unique.reads)}
    return builder.copy_text(values, rows).encode(encoding), published, keys


def settle(builder: "TableBuilder", start: int, rows: int, made: Made, encoding: str) -> bytes:
    """A chunk made apart, made consistent with the chunks before it: the rows whose unique keys were taken
    are made again, the others' keys are taken; then its keys are published. Returns its COPY text."""
    data, values, keys = made
    clashing: set[int] = set()
    for name, found in keys.items():
        seen = builder.seen[name]
        clashing.update(p for p, key in found.items() if key in seen)
    for name, found in keys.items():
        builder.seen[name].update(key for p, key in found.items() if p not in clashing)
    if clashing:
        again = sorted(clashing)
        fresh = builder.remake(start, [start + p for p in again])
        lines = data.decode(encoding).split("\n")
        for p, line in zip(again, builder.copy_text(fresh, len(again)).split("\n")):
            lines[p] = line
        data = "\n".join(lines).encode(encoding)
        for name, column in values.items():
            for i, p in enumerate(again):
                column[p] = fresh[name][i]
    builder._publish_keys(range(start, start + rows), values, only_new=False)
    return data
