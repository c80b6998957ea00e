"""Multi-level partitions: a partition that is itself partitioned takes only the rows its partitions take.

The first level's bounds restrict the partition key column (:func:`.constraints.apply_partitions`).
Below it, PostgreSQL routes a row to a partition by that partition's constraint, which
includes every ancestor's bounds (``pg_get_partition_constraintdef``). So each
partitioned partition that does not take every row it is given adds one CHECK on
the table: "outside this partition, or inside one of its partitions" — a disjunction
kept row by row like any other (:mod:`.rowchecks`: a failing row is repaired by
making one alternative true, so its values land inside some leaf's bounds at every
level). The CHECKs declared on partitions at any depth come along, each holding for
the rows routed there (:func:`.constraints.partition_check`).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Iterator

from ..db.catalog import Partition, Table
from .constraints import partition_check

_MODULUS = re.compile(r"MODULUS\s+(\d+)", re.IGNORECASE)


def every_partition(partitions: tuple[Partition, ...]) -> Iterator[Partition]:
    """The partitions at every depth below a table, parents before their partitions."""
    for partition in partitions:
        yield partition
        yield from every_partition(partition.partitions)


def takes_every_row(partition: Partition) -> bool:
    """True for a leaf, and for a partitioned partition whose partitions together take any row routed to it
    (a DEFAULT partition, or HASH remainders that cover every hash), at every level below."""
    if partition.partition_key is None:
        return True
    children = partition.partitions
    if not children or not all(takes_every_row(child) for child in children):
        return False
    if any(child.bound.strip().upper() == "DEFAULT" for child in children):
        return True
    if partition.partition_key.strip().upper().startswith("HASH"):
        moduli = [_MODULUS.search(child.bound) for child in children]
        return all(moduli) and sum(Fraction(1, int(m.group(1))) for m in moduli if m) >= 1
    return False


def partition_columns(key: str | None) -> set[str]:
    """Column names in a partition key (``RANGE (created_at)``, ``LIST ("Region")``)."""
    inner = (key or "").split("(", 1)[-1] if key else ""
    return {quoted.replace('""', '"') or plain for quoted, plain in re.findall(r'"((?:[^"]|"")+)"|(\w+)', inner)}


def key_columns(table: Table) -> set[str]:
    """The columns of the partition keys of *table* and of its partitions, at every depth."""
    keys = [table.partition_key] + [partition.partition_key for partition in every_partition(table.partitions)]
    return {name for key in keys for name in partition_columns(key) if name in table.columns}


def leaf_checks(table: Table) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, ``CHECK (…)``, columns) that keep the rows inside some leaf partition, and the CHECKs
    declared on partitions at every depth, as CHECKs of *table*."""
    found = []
    for partition in every_partition(table.partitions):
        if partition.constraint:
            found += [(check.name, partition_check(partition.constraint, check.expression), tuple(check.columns))
                      for check in partition.checks]
        if partition.partition_key is None or takes_every_row(partition) or not partition.constraint:
            continue
        inside = [f"({child.constraint})" for child in partition.partitions if child.constraint]
        body = " OR ".join([f"(NOT ({partition.constraint}))"] + inside)
        columns = key_columns(table)
        found.append((f"partitions of {partition.name}", f"CHECK ({body})", tuple(sorted(columns))))
    return found
