"""Outreach messages drafted in the lead's language, register and locale.

A message is assembled from catalog parts, each looked up by context ``"<part>|<register>"``:

- ``short``:  greeting, body;
- ``medium``: greeting, body, closing;
- ``long``:   greeting, body, listing facts (when there is a listing and the body does not
  already give its area), extra, closing.

Placeholders (``%(name)s``) are filled with values formatted for the lead's locale and zone.
A part missing from the lead's catalog is taken from English, and the draft says so
(``fallback`` and ``missing``) and a warning is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum

import msgspec

from edge.culture.catalog import FALLBACK_LANGUAGE, Catalogs, Key, default_catalogs
from edge.culture.contact import contact_window, holiday_calendar
from edge.culture.formatter import (
    babel_locale,
    format_area,
    format_money,
    format_number,
    format_when,
    number_locale,
    time_zone,
)
from edge.culture.register import (
    SUPPORTED_LANGUAGES,
    Gender,
    default_formality,
    register_for,
    thai_particles,
)
from edge.errors import CatalogError, MessageContextError
from sync.records import OUTREACH_CHANNELS, Channel, Formality, Lead, Listing, MessageLength

log = logging.getLogger(__name__)


class Intent(StrEnum):
    """Why the agent reaches out."""

    FIRST_CONTACT = "first_contact"
    SHOWING_REMINDER = "showing_reminder"
    NEW_LISTING_MATCH = "new_listing_match"
    PRICE_CHANGE = "price_change"
    FOLLOW_UP_AFTER_SILENCE = "follow_up_after_silence"
    OFFER_UPDATE = "offer_update"


#: Placeholders each intent's body needs beyond the lead's and the agent's names.
REQUIRED: dict[Intent, tuple[str, ...]] = {
    Intent.FIRST_CONTACT: (),
    Intent.SHOWING_REMINDER: ("address", "when"),
    Intent.NEW_LISTING_MATCH: ("address", "price", "area", "beds"),
    Intent.PRICE_CHANGE: ("address", "old_price", "new_price"),
    Intent.FOLLOW_UP_AFTER_SILENCE: (),
    Intent.OFFER_UPDATE: ("address", "offer"),
}

#: Which context value supplies each placeholder, to name it in an error.
SOURCE: dict[str, str] = {
    "address": "listing or address",
    "when": "showing_at",
    "price": "listing",
    "area": "listing",
    "beds": "listing",
    "old_price": "old_price",
    "new_price": "new_price (or listing)",
    "offer": "offer_amount",
}

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
#: A value ending in an abbreviation ("10:00 a.m.") before a template's full stop.
_DOUBLE_STOP = re.compile(r"(?<!\.)\.\.(?!\.)")


class MessageContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the message talks about; amounts are in ``currency`` (else the listing's)."""

    agent_name: str
    lead_name: str | None = None  # defaults to the lead's name
    agent_gender: Gender | None = None  # Thai particles ครับ/ค่ะ
    listing: Listing | None = None
    address: str | None = None  # defaults to the listing's neighbourhood and city
    showing_at: int | None = None  # UTC epoch ms
    old_price: float | None = None
    new_price: float | None = None  # defaults to the listing's price
    offer_amount: float | None = None
    currency: str | None = None  # defaults to the listing's currency, else USD

    def with_overrides(self, overrides: Mapping[str, object]) -> MessageContext:
        """This context with the non-None ``overrides`` in place (TypeError for an unknown name)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return msgspec.structs.replace(self, **given)


class DraftMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A drafted message, when it may be sent, and how faithfully it was localized."""

    lead_id: str
    intent: Intent
    language: str  # the language the text is (mostly) written in
    locale: str
    formality: Formality
    register: str  # the catalog register used: formal, neutral or casual
    length: MessageLength
    channel: Channel
    text: str
    send_at: int  # UTC epoch ms: the next allowed contact time
    send_at_local: str  # ISO 8601 in the lead's zone
    delayed: bool = False
    holiday: str | None = None  # first public holiday skipped
    consented: bool = True  # the lead's consent allows this channel (the planner decides)
    fallback: bool = False  # some part came from the English catalog
    missing: list[str] = []  # "lang:context:msgid" of each part that fell back


def adapt_message(
    lead: Lead,
    intent: Intent,
    context: MessageContext,
    *,
    now_ms: int,
    formality: Formality | None = None,
    length: MessageLength | None = None,
    channel: Channel = Channel.SMS,
    catalogs: Catalogs | None = None,
) -> DraftMessage:
    """Draft ``intent`` for ``lead`` in the lead's language, register, locale and contact hours.

    ``formality`` and ``length`` usually come from the lead's ``Profile``; without them the
    culture's default formality (:func:`default_formality`) and a medium length are used.
    """
    intent = Intent(intent)
    catalogs = catalogs or default_catalogs()
    language = lead.language
    first_contact = intent is Intent.FIRST_CONTACT
    formality = formality or default_formality(language, first_contact=first_contact)
    length = length or MessageLength.MEDIUM
    entries = catalogs.entries(language)
    missing: list[str] = []
    if entries is None:
        missing.append(f"{language}:*:*")
        log.warning("no catalog for language %r; drafting in English", language)
        register = register_for(FALLBACK_LANGUAGE, formality)
    else:
        register = register_for(language, formality)
    # English has every register, so a part that falls back keeps the tone of the others.
    english = catalogs.fallback_entries()

    def text_of(part: str, msgid: str, *, registered: bool = True) -> str:
        ctxt = f"{part}|{register}" if registered else part
        if entries is not None:
            found = entries.get((ctxt, msgid))
            if found is not None:
                return found
            missing.append(f"{language}:{ctxt}:{msgid}")
            log.warning("catalog %r lacks %s/%s; using English", language, ctxt, msgid)
        key: Key = (ctxt, msgid)
        try:
            return english[key]
        except KeyError:
            raise CatalogError(f"the English catalog lacks {key[0]!r}/{key[1]!r}") from None

    values = _values(lead, intent, context, language)
    body = text_of(intent.value, "body")
    parts = [text_of("greeting", "greeting"), body]
    if length is MessageLength.LONG:
        if "area" in values and "%(area)s" not in body:
            parts.append(text_of("listing_facts", "facts", registered=False))
        parts.append(text_of("extra", "extra"))
    if length is not MessageLength.SHORT:
        parts.append(text_of("closing", "closing"))

    text = _DOUBLE_STOP.sub(".", "\n\n".join(_fill(p, values, intent) for p in parts))
    window = contact_window(lead, now_ms, channel)
    return DraftMessage(
        lead_id=lead.id,
        intent=intent,
        language=language if entries is not None else FALLBACK_LANGUAGE,
        locale=lead.locale,
        formality=formality,
        register=register,
        length=length,
        channel=channel,
        text=text,
        send_at=window.send_at,
        send_at_local=window.send_at_local,
        delayed=window.delayed,
        holiday=window.holiday,
        consented=channel not in OUTREACH_CHANNELS or lead.consent.allows(channel),
        fallback=bool(missing),
        missing=missing,
    )


def warm_caches(leads: Iterable[Lead], catalogs: Catalogs | None = None) -> None:
    """Parse the catalogs, locales, holiday calendars and text patterns these leads need, ahead
    of time.

    The first draft in a language otherwise pays for them (tens to hundreds of milliseconds,
    the first holiday calendar the most); later drafts take about a millisecond.
    """
    from edge.profile_text import warm as warm_profile_text

    catalogs = catalogs or default_catalogs()
    catalogs.fallback_entries()
    languages = set()
    for lead in leads:
        catalogs.entries(lead.language)
        babel_locale(lead.locale, lead.language)
        time_zone(lead.timezone)
        holiday_calendar(lead.country)
        languages.add(lead.language)
    warm_profile_text(languages)  # the patterns that read what leads say, per language


def place(neighborhood: str | None, city: str | None) -> str:
    """``Fremont, Seattle``; a neighbourhood named like its city is said once (``Bellevue``)."""
    parts: list[str] = []
    for part in (neighborhood, city):
        if part and part.strip().casefold() not in {p.casefold() for p in parts}:
            parts.append(part.strip())
    return ", ".join(parts)


def _values(lead: Lead, intent: Intent, context: MessageContext, language: str) -> dict[str, str]:
    locale = babel_locale(lead.locale, lead.language)
    numbers = number_locale(lead.locale, lead.language)
    listing = context.listing
    currency = context.currency or (listing.currency if listing else "USD")
    values = {
        "lead_name": context.lead_name or lead.name,
        "agent_name": context.agent_name,
    }
    if language == "th":
        values["polite"], values["polite_q"] = thai_particles(context.agent_gender)
    address = context.address
    if address is None and listing is not None:
        address = place(listing.location.neighborhood, listing.location.city)
    if address:
        values["address"] = address
    if listing is not None:
        values["price"] = format_money(listing.price, currency, numbers)
        values["area"] = format_area(listing.sqft, locale)
        values["beds"] = format_number(listing.beds, numbers)
    new_price = context.new_price
    if new_price is None and listing is not None and intent is Intent.PRICE_CHANGE:
        new_price = listing.price
    if new_price is not None:
        values["new_price"] = format_money(new_price, currency, numbers)
    if context.old_price is not None:
        values["old_price"] = format_money(context.old_price, currency, numbers)
    if context.offer_amount is not None:
        values["offer"] = format_money(context.offer_amount, currency, numbers)
    if context.showing_at is not None:
        values["when"] = format_when(context.showing_at, time_zone(lead.timezone), locale)
    for name in REQUIRED[intent]:
        if name not in values:
            raise MessageContextError(
                f"intent {intent.value!r} needs {name!r} from the context's {SOURCE[name]}"
            )
    return values


def _fill(template: str, values: dict[str, str], intent: Intent) -> str:
    try:
        return template % values
    except KeyError as e:
        name = e.args[0]
        raise MessageContextError(
            f"a {intent.value!r} template needs {name!r}, which the context does not give"
        ) from None
    except (TypeError, ValueError) as e:
        raise CatalogError(f"malformed template {template!r}: {e}") from None


def placeholders(template: str) -> set[str]:
    """The ``%(name)s`` placeholders a template uses."""
    return set(_PLACEHOLDER.findall(template))


__all__ = [
    "SUPPORTED_LANGUAGES",
    "DraftMessage",
    "Intent",
    "MessageContext",
    "adapt_message",
    "placeholders",
    "warm_caches",
]
