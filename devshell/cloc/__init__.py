"""``devshell cloc``: code, comment and blank lines per module and language, counted as the ``cloc`` tool
counts them (:mod:`.lines`), over the files of modules (:mod:`.modules`)."""

from __future__ import annotations

from .lines import LANGUAGES as LANGUAGES, Counts as Counts, count_lines as count_lines
from .lines import language_of as language_of, split_lines as split_lines
from .modules import ClocReport as ClocReport, ModuleCount as ModuleCount, cloc as cloc
from .modules import count_module as count_module, module_files as module_files

__all__ = ["LANGUAGES", "ClocReport", "Counts", "ModuleCount", "cloc", "count_lines", "count_module",
           "language_of", "module_files", "split_lines"]
