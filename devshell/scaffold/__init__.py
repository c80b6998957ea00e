"""Scaffold: new modules and projects from Jinja2 templates (``devshell scaffold NAME [DEST]``).

``devshell.scaffold`` names both this package and the function (SPEC: call
``devshell.scaffold(name, dest, template=…)``); whichever one an import leaves
behind on the ``devshell`` package, calling it runs the function.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .render import (BUILTIN_TEMPLATES as BUILTIN_TEMPLATES, ScaffoldResult as ScaffoldResult,
                     Template as Template, list_templates as list_templates, render_into as render_into,
                     scaffold as scaffold, validate_name as validate_name)

__all__ = ["BUILTIN_TEMPLATES", "ScaffoldResult", "Template", "list_templates", "render_into", "scaffold",
           "validate_name"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> ScaffoldResult:
        return scaffold(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
