"""Text patterns from CHECKs (``~`` regular expressions, ``LIKE``, ``SIMILAR TO``) as Python regexes.

Two regexes come out of a pattern: one that *tests* a value the way PostgreSQL
would (anything whose meaning could differ, such as ``\\m`` word boundaries,
raises :class:`PatternError` and the CHECK is left to PostgreSQL), and one that
*generates* values with ``rstr`` (unbounded repeats bounded so values stay short,
``LIKE``'s ``%`` made of letters). A pattern with few possible values (``^[A-Z]{2}$``)
can also be enumerated, so a unique column draws distinct values up front.
"""

from __future__ import annotations

import functools
import itertools
import re
from random import Random

try:
    import re._parser as sre_parse  # type: ignore[import-not-found]
except ImportError:  # Python < 3.11
    import sre_parse  # type: ignore[no-redef]

import rstr

#: POSIX classes of PostgreSQL's regexes, in ASCII (stricter than PostgreSQL: a false "no" only costs a retry)
POSIX_CLASSES = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
                 "space": r" \t\n\r\f\v", "blank": r" \t", "xdigit": "0-9A-Fa-f", "word": r"\w",
                 "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "print": r"\x20-\x7e",
                 "graph": r"\x21-\x7e", "cntrl": r"\x00-\x1f"}
REPEAT_LIMIT = 8  # the most repeats a generated value gets for *, + and {n,}
ENUMERATE_LIMIT = 200_000  # patterns with at most this many values can be enumerated
LIKE_ANY = "[a-z0-9]{0,6}"


class PatternError(ValueError):
    """A pattern this module cannot translate faithfully."""


def regex_from_postgres(pattern: str) -> str:
    """A PostgreSQL advanced regular expression as a Python one (ValueError when it may differ)."""
    if pattern.startswith("***"):
        raise PatternError("regex director")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise PatternError("trailing backslash")
            escaped = pattern[i + 1]
            if escaped in "mMyY" or escaped.isdigit() and escaped != "0":
                raise PatternError(f"\\{escaped}")  # word boundaries and back-references differ
            out.append(pattern[i:i + 2])
            i += 2
        elif char == "[":
            end, body = _bracket(pattern, i)
            out.append(body)
            i = end
        elif char == "$":
            out.append(r"\Z")  # PostgreSQL's $ does not match before a final newline
            i += 1
        else:
            out.append(char)
            i += 1
    text = "".join(out)
    try:
        re.compile(text)
    except re.error as exc:
        raise PatternError(str(exc)) from None
    return text


def _bracket(pattern: str, start: int) -> tuple[int, str]:
    """The bracket expression at *start*: (index after it, Python text)."""
    i, out = start + 1, ["["]
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and not first:
            out.append("]")
            return i + 1, "".join(out)
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2:end] if end > 0 else ""
            if name not in POSIX_CLASSES:
                raise PatternError(f"class [:{name}:]")
            out.append(POSIX_CLASSES[name])
            i = end + 2
        elif pattern.startswith("[.", i) or pattern.startswith("[=", i):
            raise PatternError("collating element")
        elif char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
        elif char == "[":
            out.append("\\[")
            i += 1
        else:
            out.append(char)
            i += 1
        first = False
    raise PatternError("unclosed [")


def regex_from_like(pattern: str, *, generating: bool = False) -> str:
    """A LIKE pattern (``%``, ``_``, ``\\`` escapes) as an anchored Python regex."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append((LIKE_ANY if generating else ".*") if char == "%" else
                   ("[a-z0-9]" if generating else ".") if char == "_" else re.escape(char))
        i += 1
    return "^" + "".join(out) + r"\Z"


def regex_from_similar(pattern: str, *, generating: bool = False) -> str:
    """A SIMILAR TO pattern as an anchored Python regex."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif char == "[":
            i, body = _bracket(pattern, i)
            out.append(body)
        else:
            out.append((LIKE_ANY if generating else ".*") if char == "%" else
                       ("[a-z0-9]" if generating else ".") if char == "_" else
                       re.escape(char) if char in ".^$" else char)
            i += 1
    text = "^(?:" + "".join(out) + r")\Z"
    try:
        re.compile(text)
    except re.error as exc:
        raise PatternError(str(exc)) from None
    return text


def bounded(regex: str, limit: int = REPEAT_LIMIT) -> str:
    """*regex* with ``*``, ``+`` and ``{n,}`` bounded to *limit* repeats (for generation)."""
    out, i = [], 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            out.append(regex[i:i + 2])
            i += 2
        elif char == "[":
            end = i + 1
            if end < len(regex) and regex[end] == "^":
                end += 1
            if end < len(regex) and regex[end] == "]":
                end += 1
            while end < len(regex) and regex[end] != "]":
                end += 2 if regex[end] == "\\" else 1
            out.append(regex[i:end + 1])
            i = end + 1
        elif char in "*+":
            out.append(f"{{{0 if char == '*' else 1},{limit}}}")
            i += 1
        elif char == "{":
            match = re.match(r"\{(\d+),\}", regex[i:])
            if match:
                low = int(match.group(1))
                out.append(f"{{{low},{low + limit}}}")
                i += match.end()
            else:
                out.append(char)
                i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def generate(regex: str, rng: Random, count: int, low: int = 0, high: int | None = None,
             tries: int = 6) -> list[str]:
    """*count* strings matching *regex*, preferring lengths within [low, high]."""
    maker = rstr.Rstr(rng)
    out = []
    for _ in range(count):
        value = maker.xeger(regex)
        for _ in range(tries):
            if len(value) >= low and (high is None or len(value) <= high):
                break
            value = maker.xeger(regex)
        out.append(value)
    return out


@functools.lru_cache(maxsize=256)
def enumeration(regex: str) -> list[list[str]] | None:
    """The values of a small pattern as positions of alternatives (their product), or None."""
    try:
        parsed = sre_parse.parse(regex)
    except re.error:
        return None
    positions = _positions(list(parsed))
    if positions is None:
        return None
    total = 1
    for options in positions:
        total *= len(options)
    return positions if total <= ENUMERATE_LIMIT else None


def _positions(items: list[tuple[object, object]]) -> list[list[str]] | None:
    positions: list[list[str]] = []
    for opcode, value in items:
        name = str(opcode).lower()
        if name == "at":
            continue
        options = _options(name, value)
        if options is None:
            return None
        if name.endswith("repeat") and isinstance(options, list) and options and isinstance(options[0], list):
            positions.extend(options)  # type: ignore[arg-type]
        else:
            positions.append(options)  # type: ignore[arg-type]
    return positions


def _options(name: str, value: object) -> list[str] | list[list[str]] | None:
    if name == "literal":
        return [chr(value)]  # type: ignore[arg-type]
    if name == "in":
        chars: list[str] = []
        for opcode, item in value:  # type: ignore[attr-defined]
            kind = str(opcode).lower()
            if kind == "literal":
                chars.append(chr(item))
            elif kind == "range":
                chars += [chr(code) for code in range(item[0], item[1] + 1)]
            elif kind == "category" and str(item).lower() == "category_digit":
                chars += list("0123456789")
            else:
                return None
        return list(dict.fromkeys(chars))
    if name == "category":
        return list("0123456789") if str(value).lower() == "category_digit" else None
    if name == "subpattern":
        inner = _positions(list(value[-1]))  # type: ignore[index]
        return None if inner is None else _flatten(inner)
    if name == "branch":
        out: list[str] = []
        for alternative in value[1]:  # type: ignore[index]
            inner = _positions(list(alternative))
            if inner is None:
                return None
            flat = _flatten(inner)
            if flat is None:
                return None
            out += flat
        return list(dict.fromkeys(out))
    if name in ("max_repeat", "min_repeat"):
        low: int = value[0]  # type: ignore[index]
        high: int = value[1]  # type: ignore[index]
        inner = _positions(list(value[2]))  # type: ignore[index]
        if inner is None or high > 16:
            return None
        flat = _flatten(inner)
        if flat is None:
            return None
        if low == high:
            return [flat] * low  # type: ignore[return-value]
        words = [""]
        out = []
        for times in range(high + 1):
            if times >= low:
                out += words
            words = [word + piece for word in words for piece in flat]
            if len(words) > ENUMERATE_LIMIT:
                return None
        return list(dict.fromkeys(out))
    return None


def _flatten(positions: list[list[str]]) -> list[str] | None:
    total = 1
    for options in positions:
        total *= len(options)
        if total > ENUMERATE_LIMIT:
            return None
    return ["".join(parts) for parts in itertools.product(*positions)]


def value_at(positions: list[list[str]], index: int) -> str:
    """The *index*-th value of an enumeration (mixed radix)."""
    parts = []
    for options in reversed(positions):
        index, digit = divmod(index, len(options))
        parts.append(options[digit])
    return "".join(reversed(parts))
