"""Column names as words: ``FirstName`` -> ``first_name``, ``passengername`` -> ``passenger_name``.

Inference matches names against patterns of words (``(^|_)phone($|_)``), so a name
written in camelCase or with its words run together (``phonenumber``, ``jobtitle``)
would fall through to generic values. Such names are split first: camelCase at its
capitals, then each run of letters into the words inference knows (the words of its
own patterns, plus a few glue words), an unknown word allowed only in front
(``billing`` + ``address``). A name that cannot be covered that way is left whole
(``statement`` is not ``state`` + ``ment``).
"""

from __future__ import annotations

import functools
import re

#: words found in column names that none of the patterns spell out on their own
GLUE_WORDS = frozenset({
    "id", "of", "no", "num", "number", "date", "time", "type", "name", "unit", "email", "mail", "line", "zone",
    "update", "updated", "created", "modified", "hire", "hired", "start", "end", "order", "item", "invoice",
    "release", "released", "born", "death", "expiry", "expires", "valid", "until", "per", "home", "work",
    "billing", "shipping", "short", "long", "sort", "sequence", "seq", "display", "first", "last", "middle",
    "discount", "account",
})
MIN_PREFIX = 3  # an unknown word in front of known ones has at least this many letters
MIN_WORD = 2


@functools.lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """Every word of the name patterns inference and the Faker kinds match on."""
    from . import fakes, windows

    patterns = [pattern for pattern, _ in fakes.NAME_KINDS + fakes.TABLE_NAME_KINDS + windows.INT_WINDOWS]
    patterns += [pattern for pattern, _ in windows.TEMPORAL_WINDOWS]
    patterns += [windows.MONEY_NAMES, fakes.ADDRESS_COLUMNS, fakes.TRANSLATABLE_NAMES]
    words = set(GLUE_WORDS)
    for pattern in patterns:
        words.update(re.findall(r"[a-z]{2,}", pattern))
    return frozenset(words)


@functools.lru_cache(maxsize=8192)
def snake(name: str) -> str:
    """The name in lower case, its words separated by ``_`` (``UnitPrice`` -> ``unit_price``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)  # HTMLBody -> HTML_Body
    parts = []
    for part in re.split(r"[^a-z0-9]+", text.lower()):
        letters, digits = re.fullmatch(r"([a-z]*)(.*)", part).groups()  # type: ignore[union-attr]
        words = split_words(letters) if letters else []
        parts.append("_".join(words) + digits if words else part)
    return "_".join(part for part in parts if part) or name.lower()


@functools.lru_cache(maxsize=8192)
def split_words(word: str) -> list[str]:
    """``phonenumber`` -> ``["phone", "number"]``; a known or unsplittable word comes back whole."""
    known = vocabulary()
    if word in known or len(word) < 2 * MIN_WORD:
        return [word]
    whole = _cover(word, known)
    if whole is not None:
        return whole
    for cut in range(MIN_PREFIX, len(word) - MIN_WORD + 1):  # an unknown word in front: the shortest that works
        rest = _cover(word[cut:], known)
        if rest is not None:
            return [word[:cut], *rest]
    return [word]


def _cover(word: str, known: frozenset[str]) -> list[str] | None:
    """*word* as the fewest known words, or None."""
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 20), end - MIN_WORD + 1):
            before = best[start]
            piece = word[start:end]
            if before is not None and piece in known:
                candidate = before + [piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[len(word)]
