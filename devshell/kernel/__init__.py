"""Jupyter: the devshell kernel (``python -m devshell.kernel``), its kernelspecs, and the IPython extension.

``%load_ext devshell`` in any IPython (terminal, notebook, the devshell shell)
registers ``%devshell``, ``%%sql``, ``%commit`` and ``%rollback`` (see
:mod:`devshell.kernel.magics`). Nothing heavy is imported until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


def load_ipython_extension(ipython: "InteractiveShell") -> None:
    """``%load_ext devshell``: register the magics (``env`` comes from the namespace or ``%devshell connect``)."""
    from .magics import register

    register(ipython)
