"""Distinct short codes for unique ``char(2)``, ``char(3)``, ``varchar(5)`` … columns.

Faker pools hold a few hundred values, and cutting them to two characters leaves
fewer still; a unique short column at ``--size large`` needs more. The space of
codes of the allowed lengths is counted exactly (upper-case letters first, then
digits too when the letters run out), so the planner knows how many rows can
exist, and the builder draws them all distinct up front.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from random import Random
from typing import Any, Sequence

from .generators import Generator, Row, Text

CODE_LENGTH = 6  # unique text this short (or shorter) is made of codes
LETTERS = string.ascii_uppercase
ALPHANUMERIC = string.ascii_uppercase + string.digits


@dataclass
class Codes(Generator):
    """Codes of ``min_length`` to ``max_length`` characters (``fixed``: padded ``char(n)``, so exactly n)."""

    min_length: int
    max_length: int
    fixed: bool = False

    def __post_init__(self) -> None:
        low = self.max_length if self.fixed else max(self.min_length, 1)
        self._lengths = list(range(low, self.max_length + 1))
        self.capacity = self._size(ALPHANUMERIC)
        self.label = f"codes of {low}" + (f"-{self.max_length}" if low != self.max_length else "") + " characters"

    def _size(self, alphabet: str) -> int:
        return sum(len(alphabet) ** length for length in self._lengths)

    def _code(self, alphabet: str, index: int) -> str:
        for length in self._lengths:
            count = len(alphabet) ** length
            if index < count:
                out = []
                for _ in range(length):
                    index, digit = divmod(index, len(alphabet))
                    out.append(alphabet[digit])
                return "".join(reversed(out))
            index -= count
        raise IndexError(index)

    def _alphabet(self, count: int) -> str:
        return LETTERS if count <= self._size(LETTERS) else ALPHANUMERIC

    def generate(self, rng: Random, rows: Sequence[int], row: Row) -> list[Any]:
        alphabet = self._alphabet(len(rows) * 4)
        size = self._size(alphabet)
        return [self._code(alphabet, rng.randrange(size)) for _ in rows]

    def distinct_values(self, rng: Random, count: int) -> list[Any] | None:
        alphabet = self._alphabet(count)
        return [self._code(alphabet, index) for index in rng.sample(range(self._size(alphabet)), count)]


def short_codes(generator: Generator, sql_type: str) -> Codes | None:
    """The codes that replace a plain text generator of a short unique column (None: keep it)."""
    if type(generator) is not Text or generator.max_length is None or generator.max_length > CODE_LENGTH:
        return None
    return Codes(generator.min_length, generator.max_length, fixed=sql_type == "character")
