"""What a lead states about what they want, read from one message or a conversation."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from edge.profile_text import contact, money, places, rooms
from edge.profile_text.scan import languages_for, mask, negated, normalize
from edge.profile_text.terms import AT_HOME, MUST_HAVES, PROPERTY_TYPES, WORK_FROM_HOME
from sync.records import Channel, PropertyType

_WFH = re.compile(WORK_FROM_HOME, re.IGNORECASE)
_AT_HOME = re.compile(AT_HOME, re.IGNORECASE)
#: Longest text read; anything after it is ignored (a pasted e-mail thread, say).
MAX_CHARS = 4000
#: Messages of a conversation read, the most recent: criteria change, and reading stays cheap.
RECENT = 12


class ProfileText(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Criteria a lead stated in words; None or empty where the text says nothing.

    Money is in ``currency`` (ISO 4217; None when no currency was named); ``hours_start`` and
    ``hours_end`` bound the preferred contact window on a 24-hour local clock (either open).
    """

    price_min: float | None = None
    price_max: float | None = None
    currency: str | None = None
    beds_min: int | None = None
    baths_min: float | None = None
    areas: list[str] = []
    property_types: list[PropertyType] = []
    #: Types the lead said no to ("not a condo"): taken out of the inferred ones.
    refused_types: list[PropertyType] = []
    must_haves: list[str] = []
    preferred_channel: Channel | None = None
    hours_start: int | None = None
    hours_end: int | None = None

    @property
    def hours(self) -> tuple[int | None, int | None] | None:
        if self.hours_start is None and self.hours_end is None:
            return None
        return self.hours_start, self.hours_end

    def is_empty(self) -> bool:
        return self == ProfileText()


def _terms(
    text: str, langs: tuple[str, ...]
) -> tuple[list[PropertyType], list[PropertyType], list[str]]:
    """(types wanted, types refused, must-haves) named in ``text``."""
    musts: list[str] = []
    spans: list[tuple[int, int]] = [m.span() for m in _AT_HOME.finditer(text)]
    for value, s, e in MUST_HAVES.finditer(text, langs):
        spans.append((s, e))
        if value not in musts and not negated(text, s, e):
            musts.append(value)
    wfh = bool(_WFH.search(text))
    types: list[PropertyType] = []
    refused: list[PropertyType] = []
    masked = mask(text, spans)
    for ptype, s, e in PROPERTY_TYPES.finditer(masked, langs):
        if ptype is PropertyType.OFFICE and wfh:  # "I work from home ... an office"
            if "home office" not in musts:
                musts.append("home office")
        elif negated(masked, s, e):
            if ptype not in refused:
                refused.append(ptype)
        elif ptype not in types:
            types.append(ptype)
    return types, [t for t in refused if t not in types], musts


def extract(
    text: str, language: str | None = None, known_places: Iterable[str] = ()
) -> ProfileText:
    """The criteria stated in one message.

    ``language`` (ISO 639-1) picks the lexicons (its own and English; all when None);
    ``known_places`` are the cities and neighbourhoods the store's listings are in.
    """
    text = normalize(text[:MAX_CHARS])
    langs = languages_for(language)
    if not text:  # compile what the language needs, and say nothing
        for lexicon in (PROPERTY_TYPES, MUST_HAVES, contact.CHANNELS):
            lexicon.pattern(langs)
        rooms.warm(langs)
        places.areas("X", known_places)
        return ProfileText()
    lo, hi, currency = money.budget(text)
    types, refused, musts = _terms(text, langs)
    window = contact.hours(text)
    return ProfileText(
        price_min=lo,
        price_max=hi,
        currency=currency if (lo or hi) else None,
        beds_min=rooms.bedrooms(text, langs),
        baths_min=rooms.bathrooms(text, langs),
        areas=places.areas(text, known_places),
        property_types=types,
        must_haves=musts,
        refused_types=refused,
        preferred_channel=contact.channel(text, langs),
        hours_start=window[0] if window else None,
        hours_end=window[1] if window else None,
    )


@functools.lru_cache(maxsize=4096)
def _cached(text: str, language: str | None, known_places: tuple[str, ...]) -> ProfileText:
    return extract(text, language, known_places)


def extract_all(
    texts: Sequence[str], language: str | None = None, known_places: Iterable[str] = ()
) -> ProfileText:
    """The criteria of a conversation (its ``RECENT`` last messages), oldest first: a later
    statement of a field replaces an earlier one; lists gather every message's items."""
    names = tuple(known_places)
    out: dict[str, Any] = {}
    texts = texts[-RECENT:]
    lists: dict[str, Any] = {
        "areas": [],
        "property_types": [],
        "must_haves": [],
        "refused_types": [],
    }
    for t in texts:
        one = _cached(t, language, names)
        for field in lists:
            lists[field].extend(v for v in getattr(one, field) if v not in lists[field])
        if one.price_min is not None or one.price_max is not None:
            out.update(price_min=one.price_min, price_max=one.price_max, currency=one.currency)
        if one.hours is not None:
            out.update(hours_start=one.hours_start, hours_end=one.hours_end)
        for field in ("beds_min", "baths_min", "preferred_channel"):
            if getattr(one, field) is not None:
                out[field] = getattr(one, field)
    lists["refused_types"] = [t for t in lists["refused_types"] if t not in lists["property_types"]]
    return ProfileText(**out, **lists)


def as_labels(found: ProfileText) -> dict[str, Any]:
    """The fields in the shape of the labelled set (``tests/data/profile_text``)."""
    return {
        "price_min": found.price_min,
        "price_max": found.price_max,
        "currency": found.currency,
        "beds": found.beds_min,
        "baths": found.baths_min,
        "areas": found.areas,
        "property_types": [p.value for p in found.property_types],
        "must_haves": found.must_haves,
        "channel": found.preferred_channel.value if found.preferred_channel else None,
        "hours": list(found.hours) if found.hours else None,
    }


def labelled(text: str, language: str | None, known_places: Sequence[str]) -> dict[str, Any]:
    """:func:`extract` in the labelled set's shape: the extractor ``realty-edge eval`` scores."""
    return as_labels(extract(text, language, known_places))


def warm(languages: Iterable[str | None], known_places: Iterable[str] = ()) -> None:
    """Compile the patterns of these languages (and places) ahead of time: the first message in
    a language otherwise pays for them (about 10 ms each)."""
    names = tuple(known_places)
    for language in set(languages):
        extract("", language, names)
