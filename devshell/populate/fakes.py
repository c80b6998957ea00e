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

from .names import snake

POOL_SIZE = 256
#: kinds that need more variety (names make emails, words make text)
POOL_SIZES = {"first_name": 1000, "last_name": 1000, "word": 1000}
#: kinds Faker keeps as plain lists on its providers: used whole
PROVIDER_LISTS = {"first_name": "first_names", "last_name": "last_names", "word": "word_list"}
_FAKERS: dict[str, Any] = {}  # Faker instances are slow to build (provider discovery): one per locale
_FAKER_LOCK = threading.Lock()

#: people a column may be named after (``composer``, ``passenger_name``): it holds a person's name
PERSON_WORDS = (r"full|display|contact|customer|person|author|passenger|guest|employee|composer|artist|writer|"
                r"director|owner|driver|traveller|traveler|patient|student|teacher|buyer|seller|recipient|sender|"
                r"assignee|reporter|manager|member|player|actor|singer|performer|conductor|lyricist|pilot|agent|"
                r"client|attendee|speaker|editor|publisher_contact|holder|cardholder|beneficiary|tenant")

#: column-name patterns -> semantic kind of a text column (first match wins); names are matched in their
#: snake form (:func:`.names.snake`: ``PhoneNumber`` and ``phonenumber`` are ``phone_number``)
NAME_KINDS: list[tuple[str, str]] = [
    (r"e_?mail", "email"),
    (r"(^|_)(first|given|fore|middle)_?name|^fname$", "first_name"),
    (r"(^|_)(last|family|sur)_?name|^lname$", "last_name"),
    (rf"(^|_)({PERSON_WORDS})_?name($|_)", "full_name"),
    (rf"^({PERSON_WORDS})$", "full_name"),
    (r"(^|_)user_?name|^login$|^handle$|(^|_)nick", "username"),
    (r"(^|_)(pass(word|wd)?|pwd|password_hash|token)$", "password"),
    (r"(^|_)(phone|mobile|tel|fax|telephone|cell)($|_)", "phone"),
    (r"(^|_)(address|addr)_?(line)?_?2$", "address2"),
    (r"(^|_)(street|address|addr)", "street"),
    (r"(^|_)(city|town)($|_)", "city"),
    (r"(^|_)state_?(code|abbr)($|_)", "state_abbr"),
    (r"(^|_)(status|state|stage)$", "status"),
    (r"(^|_)(district|state|region|province|county)($|_)", "state"),
    (r"(^|_)(postal|zip|post_?code)", "postcode"),
    (r"(^|_)country_?code", "country_code"),
    (r"(^|_)(country|nation)($|_)", "country"),
    (r"(^|_)(company|organi[sz]ation|employer|vendor|supplier|brand)($|_)", "company"),
    (r"(^|_)(url|website|homepage|link)($|_)", "url"),
    (r"(^|_)domain($|_)", "domain"),
    (r"(^|_)ip(_?addr(ess)?)?$", "ip"),
    (r"(^|_)(tz|time_?zone)($|_)", "timezone"),
    (r"(^|_)(lang|locale|lang_code|language_code)($|_)", "locale"),
    (r"(^|_)(mime|mime_type|content_type|media_type)$", "mime"),
    (r"(^|_)(gender|sex)$", "gender"),
    (r"(^|_)priority$", "priority"),
    (r"(^|_)(type|kind)$", "type"),
    (r"(^|_)(job|occupation|profession)($|_)", "job"),
    (r"(^|_)(position|ordinal)$", "ordinal"),
    (r"(^|_)colou?r($|_)", "color"),
    (r"(^|_)currency", "currency"),
    (r"(^|_)language($|_)", "language"),
    (r"(^|_)slug($|_)", "slug"),
    (r"(^|_)(code|sku|ref|reference|serial)($|_)", "code"),
    (r"(^|_)(title|subject|headline)($|_)", "title"),
    (r"(^|_)(desc|description|text|note|comment|body|content|summary|bio|message|remark)", "text"),
]

#: a ``state`` column of these tables, or next to these columns, is a region, not a status
ADDRESS_TABLES = r"address|location|store|warehouse|shop|branch|office|site|venue|cit(y|ies)"
ADDRESS_COLUMNS = r"(^|_)(city|town|zip|zip_code|postal_code|postcode|street|address|country)($|_)"
#: jsonb columns named so hold translations in Odoo style: ``{"en_US": "Belgium"}``
TRANSLATABLE_NAMES = (r"^(name|display_name|complete_name|description|title|label|help|summary|caption|note|"
                      r"comment|legend|tagline|subtitle)$")

#: kinds made of a small vocabulary of lowercase codes, with their usual shares
CODE_WORDS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "status": (("draft", "open", "pending", "done", "cancel"), (0.15, 0.35, 0.1, 0.35, 0.05)),
    "type": (("standard", "service", "internal", "external", "other"), (0.45, 0.2, 0.15, 0.12, 0.08)),
    "gender": (("female", "male", "other"), (0.49, 0.49, 0.02)),
    "priority": (("low", "normal", "high", "urgent"), (0.3, 0.45, 0.2, 0.05)),
}

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
    "state_abbr": ("state_abbr", "administrative_unit", "city"), "timezone": ("timezone",), "mime": ("mime_type",),
    "ip": ("ipv4",), "job": ("job",), "color": ("color_name",), "currency": ("currency_code",),
    "language": ("language_name",), "email_domain": ("free_email_domain", "domain_name"), "word": ("word",),
}


@functools.lru_cache(maxsize=4096)
def kind_for_text(table: str, column: str, columns: tuple[str, ...] = ()) -> str:
    """The semantic kind of a text column from its name, its table's and (for ``state``: a region in an
    address, a status elsewhere) its sibling *columns*; ``words`` when unknown."""
    name = snake(column)
    if name == "name":
        for pattern, kind in TABLE_NAME_KINDS:
            if re.search(pattern, table.lower()):
                return kind
        return "label"
    for pattern, kind in NAME_KINDS:
        if re.search(pattern, name):
            if kind == "status" and name.endswith("state") and _in_address(table, name, columns):
                return "state"
            return kind
    return "words"


def _in_address(table: str, name: str, columns: tuple[str, ...]) -> bool:
    """A ``state`` column that is part of an address (``ship_state``, or in a table of addresses)."""
    return bool(re.search(r"(^|_)(bill|billing|ship|shipping|mail|mailing|home|work|residence)_state$", name)
                or re.search(ADDRESS_TABLES, table.lower())
                or any(re.search(ADDRESS_COLUMNS, snake(other)) for other in columns))


def is_translatable(column: str) -> bool:
    """A json column whose name says it holds one text per language (Odoo's translatable fields)."""
    return bool(re.search(TRANSLATABLE_NAMES, snake(column)))


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


#: kinds made from open-ended combinations (names, words, codes): no small limit on distinct values
COMBINED = frozenset({"full_name", "email", "username", "password", "text", "title", "label", "words", "slug",
                      "code", "first_name", "last_name", "word"})


def variety(kind: str) -> int | None:
    """About how many distinct values a kind has (None: plenty)."""
    if kind in COMBINED:
        return None
    if kind in CODE_WORDS:
        return len(CODE_WORDS[kind][0])
    return {"ordinal": 20, "locale": 100}.get(kind, POOL_SIZES.get(kind, POOL_SIZE))


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
    if kind in CODE_WORDS:
        words, weights = CODE_WORDS[kind]
        return choices(words, weights, k=n)
    if kind == "ordinal":
        random = rng.random
        return [str(1 + int(random() ** 2 * 20)) for _ in range(n)]
    if kind == "locale":
        return choices(locale_codes(pools.locale), k=n)
    return choices(pools.pool(kind), k=n)


@functools.lru_cache(maxsize=8)
def locale_codes(own: str) -> list[str]:
    """Locale codes like ``en_US`` (Faker's, of that exact form), the run's own one as often as all others."""
    from faker.config import AVAILABLE_LOCALES

    codes = sorted(code for code in AVAILABLE_LOCALES if re.fullmatch(r"[a-z]{2}_[A-Z]{2}", code))
    return codes + [own] * len(codes) if own in codes else codes


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
