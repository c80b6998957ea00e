"""Realistic text from Faker, fast: Faker fills small pools once, rows sample them.

A Faker call costs 20–150 µs (``name()`` rebuilds weighted tables on every call),
so each kind of value (cities, companies…) is drawn from Faker a few hundred
times per run, with Faker seeded from the populate seed (names and words come
straight from Faker's own lists), and rows then pick from those pools with the
column's own ``random.Random``: sampling, not calling Faker per field. Emails and user names are built from the row's
own names, so a row stays coherent.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from random import Random
from typing import Any, Callable

POOL_SIZE = 256
#: kinds that need more variety (names make emails, words make text)
POOL_SIZES = {"first_name": 1000, "last_name": 1000, "word": 1000}
#: kinds Faker keeps as plain lists on its providers: used whole
PROVIDER_LISTS = {"first_name": "first_names", "last_name": "last_names", "word": "word_list"}
_FAKERS: dict[str, Any] = {}  # Faker instances are slow to build (provider discovery): one per locale
_FAKER_LOCK = threading.Lock()

#: column-name patterns -> semantic kind of a text column (first match wins)
NAME_KINDS: list[tuple[str, str]] = [
    (r"e_?mail", "email"),
    (r"(^|_)(first|given|fore)_?name|^fname$", "first_name"),
    (r"(^|_)(last|family|sur)_?name|^lname$", "last_name"),
    (r"(^|_)(full|display|contact|customer|person|author)_?name", "full_name"),
    (r"(^|_)user_?name|^login$|^handle$|(^|_)nick", "username"),
    (r"(^|_)(pass(word|wd)?|pwd|password_hash|token)$", "password"),
    (r"(^|_)(phone|mobile|tel|fax|telephone)($|_)", "phone"),
    (r"(^|_)(address|addr)_?(line)?_?2$", "address2"),
    (r"(^|_)(street|address|addr)", "street"),
    (r"(^|_)(city|town)($|_)", "city"),
    (r"(^|_)(district|state|region|province|county)($|_)", "state"),
    (r"(^|_)(postal|zip|post_?code)", "postcode"),
    (r"(^|_)country_?code", "country_code"),
    (r"(^|_)(country|nation)($|_)", "country"),
    (r"(^|_)(company|organi[sz]ation|employer|vendor|supplier|brand)($|_)", "company"),
    (r"(^|_)(url|website|homepage|link)($|_)", "url"),
    (r"(^|_)domain($|_)", "domain"),
    (r"(^|_)ip(_?addr(ess)?)?$", "ip"),
    (r"(^|_)(job|occupation|position)($|_)", "job"),
    (r"(^|_)colou?r($|_)", "color"),
    (r"(^|_)currency", "currency"),
    (r"(^|_)(language|lang|locale)($|_)", "language"),
    (r"(^|_)slug($|_)", "slug"),
    (r"(^|_)(code|sku|ref|reference|serial)($|_)", "code"),
    (r"(^|_)(title|subject|headline)($|_)", "title"),
    (r"(^|_)(desc|text|note|comment|body|content|summary|bio|message|remark)", "text"),
]

#: table-name patterns -> what a bare ``name`` column holds there
TABLE_NAME_KINDS: list[tuple[str, str]] = [
    (r"person|people|customer|user|employee|staff|author|member|contact|client|student|patient|actor|"
     r"partner|owner|manager|teacher|driver|player", "full_name"),
    (r"company|companies|organi[sz]ation|vendor|supplier|store|shop|brand|firm", "company"),
    (r"city|cities|town", "city"),
    (r"countr", "country"),
    (r"lang", "language"),
    (r"colou?r", "color"),
    (r"currenc", "currency"),
]

#: kind -> Faker methods to try, in order (locales lack some)
FAKER_METHODS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name",), "last_name": ("last_name",), "username": ("user_name",),
    "phone": ("phone_number",), "street": ("street_address",),
    "address2": ("secondary_address", "building_number"), "city": ("city",),
    "state": ("administrative_unit", "state", "city"), "postcode": ("postcode",), "country": ("country",),
    "country_code": ("country_code",), "company": ("company",), "url": ("url",), "domain": ("domain_name",),
    "ip": ("ipv4",), "job": ("job",), "color": ("color_name",), "currency": ("currency_code",),
    "language": ("language_name",), "email_domain": ("free_email_domain", "domain_name"), "word": ("word",),
}


@functools.lru_cache(maxsize=4096)
def kind_for_text(table: str, column: str) -> str:
    """The semantic kind of a text column from its (and its table's) name; ``words`` when unknown."""
    name = column.lower()
    if name == "name":
        for pattern, kind in TABLE_NAME_KINDS:
            if re.search(pattern, table.lower()):
                return kind
        return "label"
    for pattern, kind in NAME_KINDS:
        if re.search(pattern, name):
            return kind
    return "words"


@functools.lru_cache(maxsize=4096)
def ascii_slug(text: str) -> str:
    """``Zoë O'Neil`` -> ``zoeoneil`` (empty for scripts without a Latin form)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


class FakerPools:
    """Pools of Faker values for one locale and seed, filled on first use."""

    def __init__(self, locale: str, seed: int) -> None:
        self.locale = locale
        self.seed = seed
        self._faker: Any = None
        self._pools: dict[str, list[str]] = {}

    @property
    def faker(self) -> Any:
        if self._faker is None:
            if self.locale not in _FAKERS:
                from faker import Faker

                _FAKERS[self.locale] = Faker(self.locale, use_weighting=False)
            self._faker = _FAKERS[self.locale]
        return self._faker

    def pool(self, kind: str) -> list[str]:
        values = self._pools.get(kind)
        if values is None:
            values = self._provider_list(kind)
            if values is None:
                with _FAKER_LOCK:  # one Faker per locale, shared: seed and draw without interleaving
                    method = self._method(kind)
                    self.faker.seed_instance(f"{self.seed}:{kind}")
                    values = [str(method()) for _ in range(POOL_SIZES.get(kind, POOL_SIZE))]
            self._pools[kind] = values
        return values

    def _provider_list(self, kind: str) -> list[str] | None:
        """Faker's own list for names and words (all of them, no call needed), when the locale has one."""
        attribute = PROVIDER_LISTS.get(kind)
        if attribute is None:
            return None
        for provider in self.faker.factories[0].get_providers():
            found = getattr(provider, attribute, None)
            if found is not None:
                values = list(found)
                if len(values) >= 20 and all(isinstance(value, str) for value in values):
                    return values
                return None
        return None

    def _method(self, kind: str) -> Callable[[], Any]:
        for name in FAKER_METHODS.get(kind, (kind,)):
            try:
                return getattr(self.faker, name)  # type: ignore[no-any-return]
            except AttributeError:
                continue
        raise LookupError(f"Faker has no {kind} values for locale {self.locale}")


def word_groups(rng: Random, words: list[str], n: int, low: int, high: int) -> list[list[str]]:
    """*n* lists of *low*..*high* words from *words*, drawn in one go (one ``choices`` call, not *n*)."""
    random, span = rng.random, high - low + 1
    sizes = [low + int(random() * span) for _ in range(n)]
    flat = rng.choices(words, k=sum(sizes))
    out, at = [], 0
    for size in sizes:
        out.append(flat[at:at + size])
        at += size
    return out


def sentences(rng: Random, words: list[str], n: int, low: int, high: int) -> list[str]:
    """*n* sentences of *low*..*high* words sampled from *words*."""
    out = []
    for group in word_groups(rng, words, n, low, high):
        text = " ".join(group)
        out.append(text[:1].upper() + text[1:] + ".")
    return out


def titles(rng: Random, words: list[str], n: int, low: int, high: int) -> list[str]:
    return [" ".join(group).title() for group in word_groups(rng, words, n, low, high)]


def make_text(kind: str, n: int, rng: Random, pools: FakerPools, row: dict[str, list[Any]],
              sources: dict[str, str]) -> list[str]:
    """*n* values of a semantic *kind*; *sources* maps ``first_name``/``last_name``/``full_name``
    to the row's columns holding them (for coherent names, emails and user names)."""
    choices = rng.choices
    if kind == "full_name":
        first, last = _names(n, rng, pools, row, sources, full=False)
        return [f"{f} {l}" for f, l in zip(first, last)]
    if kind in ("email", "username"):
        first, last = _names(n, rng, pools, row, sources, full=True)
        users = _users(first, last, rng, "." if kind == "email" else "")
        if None in users:  # names without a Latin form: Faker's own user names
            fallback = iter(choices(pools.pool("username"), k=users.count(None)))
            users = [user or next(fallback) for user in users]
        if kind == "username":
            return users  # type: ignore[return-value]
        return [f"{user}@{domain}" for user, domain in zip(users, choices(pools.pool("email_domain"), k=n))]
    if kind == "password":
        return [f"{rng.getrandbits(128):032x}" for _ in range(n)]
    if kind == "text":
        return sentences(rng, pools.pool("word"), n, 6, 18)
    if kind == "title":
        return titles(rng, pools.pool("word"), n, 2, 4)
    if kind == "label":
        return titles(rng, pools.pool("word"), n, 1, 2)
    if kind == "words":
        return [" ".join(group) for group in word_groups(rng, pools.pool("word"), n, 1, 3)]
    if kind == "slug":
        return ["-".join(group) for group in word_groups(rng, pools.pool("word"), n, 2, 4)]
    if kind == "code":
        return ["".join(choices("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", k=8)) for _ in range(n)]
    return choices(pools.pool(kind), k=n)


def _names(n: int, rng: Random, pools: FakerPools, row: dict[str, list[Any]], sources: dict[str, str],
           *, full: bool) -> tuple[list[str], list[str]]:
    """First and last names of each row: its own columns when it has them, else sampled."""
    first = row.get(sources.get("first_name", ""))
    last = row.get(sources.get("last_name", ""))
    whole = row.get(sources.get("full_name", "")) if full else None
    if (first is None or last is None) and whole is not None:
        split = [(value or "").split(" ", 1) + [""] for value in whole]
        return [parts[0] for parts in split], [parts[1] for parts in split]
    if first is None:
        first = rng.choices(pools.pool("first_name"), k=n)
    if last is None:
        last = rng.choices(pools.pool("last_name"), k=n)
    return [value or "" for value in first], [value or "" for value in last]


def _users(first: list[str], last: list[str], rng: Random, separator: str) -> list[str | None]:
    """``jane.doe``, ``jdoe`` or ``janedoe42`` from each row's names (None when they have no Latin form)."""
    random, out = rng.random, list[str | None]()
    append = out.append
    for first_name, last_name in zip(first, last):
        f, l = ascii_slug(first_name), ascii_slug(last_name)
        if not f or not l:
            append(None)
            continue
        style = random()
        if style < 0.4:
            append(f + separator + l)
        elif style < 0.7:
            append(f[0] + l)
        else:
            append(f"{f}{l}{int(style * 10000) % 99 + 1}")
    return out
