"""The ORM: an environment bound to a database, a model per reflected table, recordsets and domains.

Layers, each importing only those before it (``tests/test_layout.py`` keeps it so):
``domain`` (Odoo-style domains compiled to SQL) → ``statements`` (the SQL of one table)
→ ``recordsets`` → ``models`` → ``environment`` (with ``cursor``, which counts writes and
echoes SQL). Models and recordsets meet through small protocols rather than imports of
each other.
"""

from __future__ import annotations

from ..db.catalog import QueryError as QueryError
from .environment import Environment as Environment, Registry as Registry, connect as connect
from .models import Model as Model
from .recordsets import Recordset as Recordset

__all__ = ["Environment", "Model", "QueryError", "Recordset", "Registry", "connect"]
