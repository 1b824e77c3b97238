"""Merging what a lead said into a profile learned from behaviour, and saying it back.

Precedence, field by field: a stated value wins over an inferred one (the lead's own words are
the best evidence of what they want); a field the lead did not mention keeps its inferred value.
Budget: a stated bound replaces the inferred one; an inferred bound on the other side is kept
only if it does not contradict the stated one; a budget in another currency than the
listings' is not applied (no exchange rates on the device). Property types, areas and
must-haves: stated ones first, then the inferred ones, less any type the lead refused ("not a
condo"); a mention ("is the house still available?") is weaker evidence than weeks of views,
so it leads the list without wiping it. Channel: the stated one, when the lead's consent allows
it. Contact hours: only ever stated.
"""

from __future__ import annotations

from typing import Any

from msgspec import structs

from edge.profile_text.extract import ProfileText
from sync.records import Consent, Profile

#: The largest amount a profile holds (``sync.records.Money``): a larger one is not applied.
MAX_MONEY = 1e11


def apply_stated(
    profile: Profile, stated: ProfileText, *, currency: str = "USD", consent: Consent | None = None
) -> Profile:
    """``profile`` with the criteria the lead stated merged in (see the module's precedence)."""
    if stated.is_empty():
        return profile
    changes: dict[str, Any] = {}
    amounts = (stated.price_min, stated.price_max)
    if stated.currency in (None, currency) and all(
        a is None or 0 <= a <= MAX_MONEY for a in amounts
    ):
        lo, hi = profile.price_min, profile.price_max
        if stated.price_max is not None:
            hi = stated.price_max
            lo = (
                stated.price_min
                if stated.price_min is not None
                else (lo if lo is not None and lo < hi else None)
            )
        elif stated.price_min is not None:
            lo = stated.price_min
            hi = hi if hi is not None and hi > lo else None
        changes.update(price_min=lo, price_max=hi)
    if stated.beds_min is not None:
        changes["beds_min"] = stated.beds_min
    if stated.baths_min is not None:
        changes["baths_min"] = stated.baths_min
    if stated.property_types or stated.refused_types:
        inferred = [t for t in profile.property_types if t not in stated.refused_types]
        changes["property_types"] = list(dict.fromkeys([*stated.property_types, *inferred]))[:3]
    if stated.areas:
        changes["areas"] = _first(stated.areas, profile.areas)
    if stated.must_haves:
        changes["must_haves"] = _first(stated.must_haves, profile.must_haves)[:8]
    if stated.hours is not None:
        changes.update(contact_hours_start=stated.hours_start, contact_hours_end=stated.hours_end)
    ch = stated.preferred_channel
    if ch is not None and (consent is None or consent.allows(ch)):
        changes["preferred_channel"] = ch
    return structs.replace(profile, **changes)


def _first(stated: list[str], inferred: list[str]) -> list[str]:
    seen = {s.lower() for s in stated}
    return [*stated, *(x for x in inferred if x.lower() not in seen)]


def money(x: float, currency: str | None = "USD") -> str:
    """An amount as an agent writes it: ``$900,000``, or ``1,500,000,000 KRW``."""
    return f"${x:,.0f}" if currency in (None, "USD") else f"{x:,.0f} {currency}"


def describe(stated: ProfileText) -> list[str]:
    """The stated criteria in words, e.g. ``["3 bedrooms", "under $900,000", "in Bellevue"]``."""
    parts: list[str] = []
    if stated.beds_min is not None:
        parts.append(f"{stated.beds_min} bedroom{'s' if stated.beds_min != 1 else ''}")
    if stated.baths_min is not None:
        parts.append(f"{stated.baths_min:g} bathroom{'s' if stated.baths_min != 1 else ''}")
    lo, hi, cur = stated.price_min, stated.price_max, stated.currency
    if lo is not None and hi is not None:
        parts.append(f"{money(lo, cur)}–{money(hi, cur)}")
    elif hi is not None:
        parts.append(f"under {money(hi, cur)}")
    elif lo is not None:
        parts.append(f"from {money(lo, cur)}")
    if stated.property_types:
        parts.append(" or ".join(p.value.replace("_", "-") for p in stated.property_types))
    if stated.areas:
        parts.append("in " + " or ".join(stated.areas))
    return parts
