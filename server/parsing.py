"""The one layer that turns natural input into domain values, or refuses it naming the field.

Request bodies accept what a person types where a field is naturally written by hand: money
as a number or as ``"$450,000"`` / ``"450k"``, a moment as epoch milliseconds or ISO 8601.
Every function here returns a clean value or raises :class:`InvalidRequestError` whose
``path`` names the field, so no such value reaches a formatter or the database unparsed.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

import msgspec

from server.errors import InvalidRequestError, UnknownFieldError, path_in
from sync.records import Event, EventType

#: Largest amount accepted (as ``sync.records.Money``).
MAX_MONEY = 1e11
#: Latest moment accepted (as ``sync.records.EpochMs``): year 3000.
MAX_EPOCH_MS = 32_503_680_000_000

_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "mm": 1e6, "b": 1e9, "bn": 1e9}
_SIGN = r"(?:[a-z]{3}|us\$|c\$|a\$|r\$|mx\$|[$€£¥₩₹₱₫฿])"
#: An amount as typed: an optional currency sign or code before or after, comma thousands.
_AMOUNT = re.compile(
    rf"^{_SIGN}?(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    rf"(?P<scale>k|mm|m|bn|b)?{_SIGN}?$"
)


def parse_money(value: float | int | str, path: str) -> float:
    """An amount from a number or a typed string (``"$450,000"``, ``"450k"``, ``"USD 1.2m"``)."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"expected an amount, got {value!r}", path=path)
    if isinstance(value, str):
        text = re.sub(r"\s+", "", value).lower()
        found = _AMOUNT.match(text)
        if not found:
            raise InvalidRequestError(
                f'{value!r} is not an amount (write e.g. 450000, "$450,000" or "450k")',
                path=path,
            )
        amount = float(found["num"].replace(",", "")) * _SCALE[found["scale"] or ""]
    else:
        amount = float(value)
    if not math.isfinite(amount) or not 0 <= amount <= MAX_MONEY:
        raise InvalidRequestError(f"amount {value!r} is not in 0..{MAX_MONEY:g}", path=path)
    return amount


def parse_instant(value: int | str, path: str, zone: tzinfo | None = None) -> int:
    """UTC epoch milliseconds from epoch ms or an ISO 8601 text.

    A text without an offset is read in ``zone`` (the lead's time zone); without a zone it is
    refused, since the hour it names is not known.
    """
    if isinstance(value, bool):
        raise InvalidRequestError(f"expected a time, got {value!r}", path=path)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():  # "²" is a digit to isdigit(), not to int()
            return parse_instant(int(text), path, zone)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequestError(
                f"{value!r} is not ISO 8601 (e.g. 2026-12-05T10:00:00-08:00) nor epoch ms",
                path=path,
            ) from None
        if moment.tzinfo is None:
            if zone is None:
                raise InvalidRequestError(
                    f"{value!r} has no UTC offset (add one, e.g. Z or -08:00)", path=path
                )
            moment = moment.replace(tzinfo=zone)
        value = round(moment.timestamp() * 1000)
    if not 0 <= value <= MAX_EPOCH_MS:
        raise InvalidRequestError(
            f"time {value!r} is not in 0..{MAX_EPOCH_MS} epoch ms (years 1970..3000)", path=path
        )
    return int(value)


def refuse_unknown(given: Iterable[str], allowed: Iterable[str], prefix: str) -> None:
    """Refuse the first name of ``given`` that is not ``allowed``, naming it and the options."""
    known = set(allowed)
    for name in given:
        if name not in known:
            options = ", ".join(sorted(known)) or "none"
            raise UnknownFieldError(
                f"unknown parameter {name!r} (accepted: {options})", path=f"{prefix}.{name}"
            )


# --- integrator shapes (the advanced API's CRM-friendly bodies) --------------------------

#: Roles of a chat-style message that mean the lead wrote it, and the agent.
LEAD_ROLES = frozenset({"lead", "contact", "customer", "client", "user", "buyer", "seller"})
AGENT_ROLES = frozenset({"agent", "assistant", "realtor", "broker", "team", "system"})
#: A property interaction's action as the event type it records.
ACTION_EVENTS = {
    "view": EventType.PROPERTY_VIEW,
    "save": EventType.PROPERTY_SAVE,
    "share": EventType.PROPERTY_SHARE,
    "inquiry": EventType.INQUIRY,
    "showing_booked": EventType.SHOWING_BOOKED,
    "showing_attended": EventType.SHOWING_ATTENDED,
    "offer": EventType.OFFER,
}
#: Documented behavioural names: the event type counted over 30 days, or a recency feature.
_COUNTED = {
    "property_views": "property_view",
    "property_saves": "property_save",
    "property_shares": "property_share",
    "inquiries": "inquiry",
    "messages_received": "message_in",
    "messages_sent": "message_out",
    "calls_received": "call_in",
    "calls_made": "call_out",
    "email_opens": "email_open",
    "email_clicks": "email_click",
    "showings_booked": "showing_booked",
    "showings_attended": "showing_attended",
    "offers": "offer",
}
_DAYS = {
    "days_since_last_activity": "log1p_days_since_last_event",
    "days_since_created": "log1p_days_since_created",
}
#: Days beyond which recency features stop growing (as the feature extractor caps them).
RECENCY_CAP_D = 365.0


def conversation_texts(messages: Sequence[Any], zone: tzinfo | None) -> list[str]:
    """The lead's words from plain texts and conversation messages, in time order.

    Plain strings are the lead's; a message's ``direction`` (or ``role``) says who wrote it.
    """
    timed: list[tuple[int, int, str]] = []
    for i, m in enumerate(messages):
        path = f"$.conversation_history[{i}]"
        if isinstance(m, str):
            timed.append((0, i, m))
            continue
        if (m.text is None) == (m.content is None):
            raise InvalidRequestError(
                "a message has its words in text (or content), one of them", path=f"{path}.text"
            )
        inbound = True
        if m.direction is not None:
            inbound = m.direction == "inbound"
        elif m.role is not None:
            role = m.role.strip().lower()
            if role not in LEAD_ROLES | AGENT_ROLES:
                raise InvalidRequestError(
                    f"role {m.role!r} is neither the lead's ({', '.join(sorted(LEAD_ROLES))}) "
                    f"nor the agent's ({', '.join(sorted(AGENT_ROLES))})",
                    path=f"{path}.role",
                )
            inbound = role in LEAD_ROLES
        at = parse_instant(m.time, f"{path}.time", zone) if m.time is not None else 0
        if inbound:
            timed.append((at, i, m.text if m.text is not None else m.content))
    return [text for _, _, text in sorted(timed)]


def interaction_events(
    items: Sequence[Any], lead_id: str, zone: tzinfo | None, now_ms: int
) -> list[Event]:
    """Events from property interactions: ``{listing_id, action, time}`` or internal events."""
    events: list[Event] = []
    for i, item in enumerate(items):
        path = f"$.property_interactions[{i}]"
        given = {k: v for k, v in msgspec.structs.asdict(item).items() if v is not None}
        internal = {
            "kind",
            "id",
            "lead_id",
            "type",
            "ts",
            "updated_at",
            "text",
            "language",
            "duration_s",
        } & set(given)
        if internal:
            mixed = sorted({"action", "time", "amount"} & set(given))
            if mixed:
                raise InvalidRequestError(
                    f"{mixed[0]} belongs to the {{listing_id, action, time}} shape, not to an "
                    "internal event (kind, id, lead_id, type, ts)",
                    path=f"{path}.{mixed[0]}",
                )
            try:
                event = msgspec.convert({"kind": "event", **given}, Event)
            except msgspec.ValidationError as exc:
                raise InvalidRequestError(
                    f"event refused: {exc}", path=path_in(str(exc), path)
                ) from None
            if event.lead_id != lead_id:
                raise InvalidRequestError(
                    f"event {event.id!r} is of lead {event.lead_id!r}, not {lead_id!r}",
                    path=f"{path}.lead_id",
                )
            events.append(event)
            continue
        for name in ("listing_id", "action", "time"):
            if name not in given:
                raise InvalidRequestError(
                    f"an interaction needs listing_id, action and time; {name} is missing",
                    path=f"{path}.{name}",
                )
        ts = parse_instant(item.time, f"{path}.time", zone)
        kind = ACTION_EVENTS[str(item.action)]
        digest = hashlib.sha256(f"{lead_id}|{item.listing_id}|{kind}|{ts}".encode()).hexdigest()
        amount = None
        if item.amount is not None:
            if kind is not EventType.OFFER:
                raise InvalidRequestError("amount is the amount of an offer", path=f"{path}.amount")
            amount = parse_money(item.amount, f"{path}.amount")
        events.append(
            Event(
                id=f"pi-{digest[:24]}",
                updated_at=now_ms,
                lead_id=lead_id,
                type=kind,
                ts=ts,
                listing_id=item.listing_id,
                dwell_s=item.dwell_s if kind is EventType.PROPERTY_VIEW else None,
                amount=amount,
            )
        )
    return events


def behavioural_values(data: dict[str, float], known: Iterable[str]) -> dict[str, float]:
    """Feature values from behavioural data by documented name or internal feature name."""
    features = set(known)
    out: dict[str, float] = {}
    for name, value in data.items():
        path = f"$.behavioral_data.{name}"
        if not math.isfinite(value):
            raise InvalidRequestError(f"{name} is {value!r}, not a number", path=path)
        if name in features:
            out[name] = value
        elif name in _COUNTED:
            if value < 0:
                raise InvalidRequestError(f"{name} is a count; {value!r} is negative", path=path)
            event = _COUNTED[name]
            out[f"log1p_count_{event}_30d"] = math.log1p(value)
            out[f"has_{event}"] = 1.0 if value > 0 else 0.0
        elif name in _DAYS:
            if value < 0:
                raise InvalidRequestError(f"{name} is in days; {value!r} is negative", path=path)
            out[_DAYS[name]] = math.log1p(min(value, RECENCY_CAP_D))
        else:
            documented = ", ".join(sorted([*_COUNTED, *_DAYS]))
            raise InvalidRequestError(
                f"unknown behavioural data {name!r}: a documented name ({documented}) or a "
                "feature name of models.features.FEATURE_NAMES",
                path=path,
            )
    return out
