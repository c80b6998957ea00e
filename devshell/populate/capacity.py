"""How many rows a table's constraints let exist: a capped table gets that many, and the run goes on.

A singleton (``boolean UNIQUE CHECK (x IS TRUE)``), a unique over a 5-value
domain, a ``char(2)`` code (36 x 36 values), ids that reach the end of their
sequence: asking for more rows than can exist is not an error of the whole run.
The table gets the rows that can exist, and the plan says why (``TablePlan.capped``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tableplan import TablePlan


def capacity(plan: "TablePlan") -> tuple[int, str] | None:
    """The most rows the table's constraints allow (rows already there included), and why; None when
    they allow every row asked."""
    slots = {name: slot for slot in plan.slots for name in slot.columns}
    needed = plan.count + plan.existing
    limits = [(limit + plan.existing, reason) for limit, reason in plan.caps]
    for key in plan.unique_keys:
        if not key.plain or any(name not in slots for name in key.columns):
            continue  # a column the database fills (a default, a sequence) is not counted here
        product: int | None = 1
        for slot in {id(slots[name]): slots[name] for name in key.columns}.values():
            generator = slot.generator
            size = None if generator.distinct else getattr(generator, "inner", generator).capacity
            if size is None or product is None:
                product = None
                break
            product *= size
        if product is not None and product < needed:
            limits.append((product, f"its unique ({', '.join(key.columns)}) allows only {product} distinct "
                                    f"value{'s' if product != 1 else ''}"))
    if not limits:
        return None
    limit, reason = min(limits)
    return (limit, reason) if limit < needed else None


def apply_capacity(plan: "TablePlan") -> None:
    """Fewer rows when the constraints cannot hold more (a singleton, a 2-letter code): the run goes on."""
    found = capacity(plan)
    if found is not None:
        limit, reason = found
        rows = max(limit - plan.existing, 0)
        plan.capped = (plan.count, rows, reason)
        plan.count = rows
