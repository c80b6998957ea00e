""".gitignore rules, for ``devshell deploy`` (which uploads what git would commit).

The usual syntax: ``#`` comments, ``!`` re-includes, a trailing ``/`` for folders
only, a ``/`` at the start or in the middle anchors the pattern to the folder of
its ``.gitignore``, ``*`` ``?`` ``[...]`` stay within one path segment and ``**``
spans several. The last matching rule wins; a file inside an ignored folder stays
ignored (the walk does not enter such folders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Rule:
    """One pattern of the .gitignore of folder *base* (relative to the walk's root; for a .gitignore
    above the root, *base* is None and *above* is the root seen from that .gitignore's folder)."""

    regex: re.Pattern[str]
    negate: bool
    folders_only: bool
    base: PurePosixPath | None = PurePosixPath(".")
    above: PurePosixPath | None = None

    def applies_to(self, path: PurePosixPath) -> str | None:
        """*path* (relative to the walk's root) as this rule's .gitignore sees it, or None if out of its reach."""
        if self.above is not None:
            return (self.above / path).as_posix()
        assert self.base is not None
        if self.base == PurePosixPath("."):
            return path.as_posix()
        try:
            return path.relative_to(self.base).as_posix()
        except ValueError:
            return None


def _translate(glob: str) -> str:
    """A gitignore glob (without anchoring slashes) as a regular expression over a relative path."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2:]:
            end = glob.index("]", i + 2)
            body = glob[i + 1:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif glob[i] == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def parse_rules(text: str, base: PurePosixPath | None = PurePosixPath("."),
                above: PurePosixPath | None = None) -> list[Rule]:
    """The rules of one .gitignore (see :class:`Rule` for *base* and *above*)."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip() if not raw.rstrip().endswith("\\") else raw.rstrip() + " "
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate or line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        folders_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        pattern = _translate(line)
        if not anchored:
            pattern = "(?:.*/)?" + pattern
        rules.append(Rule(re.compile(pattern + r"\Z", re.DOTALL), negate, folders_only, base, above))
    return rules


class IgnoreRules:
    """Every .gitignore that applies below *root*: those of its parents up to the repository, then its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rules: list[Rule] = []
        parents: list[Path] = []
        for folder in root.parents:
            parents.append(folder)
            if (folder / ".git").exists():
                break
        else:
            parents = []  # not in a git repository: only the module's own files count
        for folder in reversed(parents):
            self._read(folder / ".gitignore", None, PurePosixPath(root.relative_to(folder).as_posix()))
        self._read(root / ".gitignore", PurePosixPath("."), None)

    def _read(self, path: Path, base: PurePosixPath | None, above: PurePosixPath | None) -> None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        self.rules.extend(parse_rules(text, base, above))

    def enter(self, folder: PurePosixPath) -> None:
        """Read the .gitignore of *folder* (relative to root, not the root itself) when the walk reaches it."""
        self._read(self.root / folder / ".gitignore", folder, None)

    def ignored(self, path: PurePosixPath, is_folder: bool) -> bool:
        """Is *path* (relative to root) ignored? The last rule that matches decides."""
        verdict = False
        for rule in self.rules:
            if rule.folders_only and not is_folder:
                continue
            relative = rule.applies_to(path)
            if relative is not None and rule.regex.match(relative):
                verdict = not rule.negate
        return verdict
