"""Populate: fast, schema-aware fake data for any PostgreSQL database.

``planner`` decides tables, order and a generator per column from the reflected
schema (``inference``, ``constraints``, ``ordering``); ``builder`` makes the rows
chunk by chunk; ``loader`` streams them with COPY in one transaction. See
:func:`populate`.

``devshell.populate`` names both this package and the function (SPEC: call
``devshell.populate(db, size=…)``); whichever one an import leaves behind on the
``devshell`` package, calling it runs the function.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .run import PopulateResult as PopulateResult, populate as populate

__all__ = ["PopulateResult", "populate"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> PopulateResult:
        return populate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
