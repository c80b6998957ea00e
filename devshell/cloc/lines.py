"""How ``cloc`` (1.9x, default options) classifies the lines of one file, reproduced exactly.

Blank lines first, then each of the language's comment filters in cloc's order
(its string-aware and inline filters are off by default), blank lines dropped
after each; what remains is code, the rest of the non-blank lines are comments.
Files are read as bytes, like cloc does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: file suffix -> cloc's language name
LANGUAGES = {
    ".py": "Python", ".pyw": "Python", ".sql": "SQL",
    ".js": "JavaScript", ".mjs": "JavaScript", ".cjs": "JavaScript", ".css": "CSS",
    ".html": "HTML", ".htm": "HTML", ".xml": "XML", ".jinja": "Jinja Template", ".jinja2": "Jinja Template",
}
#: languages whose lines may end with a backslash continuation (a blank line after one is not blank to cloc)
CONTINUED = frozenset({"Python", "JavaScript"})
#: script languages: a first ``#!`` line is code
SCRIPTS = frozenset({"Python"})

_BLANK = re.compile(rb"\s*$")
_CONTINUATION = re.compile(rb"\\$")
_BOM = b"\xef\xbb\xbf"
Lines = list[bytes]


@dataclass
class Counts:
    """Files and lines of one language (or of everything)."""

    files: int = 0
    blank: int = 0
    comment: int = 0
    code: int = 0

    def add(self, other: "Counts") -> None:
        self.files += other.files
        self.blank += other.blank
        self.comment += other.comment
        self.code += other.code

    def as_dict(self) -> dict[str, int]:
        return {"files": self.files, "blank": self.blank, "comment": self.comment, "code": self.code}


def _drop_blank(lines: Lines, continued: bool) -> Lines:
    """Blank lines out; with *continued*, a blank line right after a ``\\`` continuation stays."""
    return [line for index, line in enumerate(lines)
            if not _BLANK.match(line) or (continued and index > 0 and _CONTINUATION.search(lines[index - 1]))]


def _drop_matching(pattern: bytes) -> Callable[[Lines], Lines]:
    regex = re.compile(pattern, re.IGNORECASE)
    return lambda lines: [line for line in lines if not regex.search(line)]


def _docstrings_to_c(lines: Lines) -> Lines:
    """Python docstrings become C comments (every triple quote alternately opens and closes one)."""
    inside = False
    out = []
    for line in lines:
        while b'"""' in line or b"'''" in line:
            if inside:
                line = re.sub(rb'"""|\'\'\'', b"*/", line, count=1)
            else:
                line = re.sub(rb'[uU]?(?:"""|\'\'\')', b"/*", line, count=1)
            inside = not inside
        out.append(line)
    return out


def _strip_comments(text: bytes, line_comments: bool) -> bytes:
    """Remove ``/* … */`` (and with *line_comments* ``// …\\n``) the way Regexp::Common's C/C++ patterns do."""
    kept: list[bytes] = []
    copied = scan = 0
    while True:
        starts = [found for found in (text.find(b"/*", scan), text.find(b"//", scan) if line_comments else -1)
                  if found >= 0]
        if not starts:
            break
        start = min(starts)
        if text.startswith(b"//", start):
            end = text.find(b"\n", start + 2)
            end = end + 1 if end >= 0 else -1
        else:
            end = text.find(b"*/", start + 2)
            end = end + 2 if end >= 0 else -1
        if end < 0:  # unterminated: no comment starts here
            scan = start + 1
            continue
        kept.append(text[copied:start])
        copied = scan = end
    kept.append(text[copied:])
    return b"".join(kept)


_HTML_DECLARATION = re.compile(rb"<!(?:--(?:[^-]|-(?=[^-]))*--\s*)*>")


def _regexp_common(kind: str) -> Callable[[Lines], Lines]:
    """The whole file joined, every comment of *kind* removed, split into lines again (newlines lost)."""
    def strip(lines: Lines) -> Lines:
        if kind == "C++":  # cloc adds a newline to every line that does not end with a continuation
            text = b"".join(line if _CONTINUATION.search(line) else line + b"\n" for line in lines)
        else:
            text = b"".join(lines)
        if kind == "HTML":
            text = _HTML_DECLARATION.sub(b"", text)
        else:
            text = _strip_comments(text, line_comments=kind == "C++")
        lines = text.split(b"\n")
        while lines and not lines[-1]:  # Perl's split drops trailing empty fields
            lines.pop()
        return lines
    return strip


def _html_comments(lines: Lines) -> Lines:
    """cloc's ``remove_html_comments``: ``<!-- … -->`` line by line; a line opening one is dropped."""
    out = []
    inside = False
    for line in lines:
        if _BLANK.match(line):
            continue
        line = re.sub(rb"<!--.*?-->", b"", line)
        if _BLANK.match(line):
            continue
        if inside and b"-->" in line:
            line = re.sub(rb"^.*?-->", b"", line, count=1)
            inside = False
        if _BLANK.match(line):
            continue
        if re.match(rb".*?<!--", line):
            inside = True
        if inside:
            continue
        out.append(line)
    return out


def _between(start: bytes, end: bytes) -> Callable[[Lines], Lines]:
    """cloc's ``remove_between_general``: comments from *start* to *end*, code before one is kept."""
    one_line = re.compile(re.escape(start) + rb".*?" + re.escape(end))
    closing = re.compile(rb"^.*?" + re.escape(end))
    opening = re.compile(rb"(.*?)" + re.escape(start))
    tail = re.compile(rb"^(.*?)" + re.escape(start) + rb".*$")

    def strip(lines: Lines) -> Lines:
        out = []
        inside = False
        for line in lines:
            if _BLANK.match(line):
                continue
            line = one_line.sub(b"", line)
            if _BLANK.match(line):
                continue
            if inside:
                if end in line:
                    line = closing.sub(b"", line, count=1)
                    inside = False
                else:
                    continue
            if _BLANK.match(line):
                continue
            found = opening.match(line)
            if found:
                inside = True
                if _BLANK.match(found.group(1)):
                    continue
                line = tail.sub(rb"\1", line, count=1)
            out.append(line)
        return out
    return strip


#: language -> cloc's comment filters, in cloc's order (its string-aware and inline filters are off by default)
FILTERS: dict[str, list[Callable[[Lines], Lines]]] = {
    "Python": [_drop_matching(rb"/\*"), _drop_matching(rb"\*/"), _drop_matching(rb"^\s*#"), _docstrings_to_c,
               _regexp_common("C")],
    "SQL": [_regexp_common("C"), _drop_matching(rb"^\s*--")],
    "JavaScript": [_regexp_common("C++")],
    "CSS": [_regexp_common("C")],
    "HTML": [_html_comments, _regexp_common("HTML")],
    "XML": [_html_comments, _regexp_common("HTML")],
    "Jinja Template": [_between(b"{#", b"#}")],
}


def _chomp(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\n") else line


def split_lines(data: bytes) -> Lines:
    """Lines with their newline, a missing last newline added, a UTF-8 byte order mark dropped."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    lines = data.split(b"\n")
    last = lines.pop()
    lines = [line + b"\n" for line in lines]
    if last:
        lines.append(last + b"\n")
    return lines


def count_lines(data: bytes, language: str) -> Counts:
    """Blank, comment and code lines of one file's content in *language*."""
    continued = language in CONTINUED
    lines = split_lines(data)
    total = len(lines)
    lines = _drop_blank(lines, continued)
    blank = total - len(lines)
    if lines:
        first = _chomp(lines[0])
        for step in FILTERS[language]:
            lines = _drop_blank(step(lines), continued)
        if language in SCRIPTS and first.startswith(b"#!") and (not lines or _chomp(lines[0]) != first):
            lines.insert(0, first)  # cloc: a script's #! line is code
    return Counts(files=1, blank=blank, comment=total - blank - len(lines), code=len(lines))


def language_of(path: Path) -> str | None:
    return LANGUAGES.get(path.suffix.lower())
