"""The groups of features an agent recognises, and the words for what a lead did in each.

Every feature belongs to exactly one group (:data:`GROUP_IDX` partitions the vector). A group's
*evidence* is read from the lead's own feature vector (how many views, days since the last
contact...) and its *label* is chosen from that evidence alone: 0 views is "no property
browsing" whatever the model makes of it. The verb (raises/lowers) comes later, from the sign
of the group's effect (:func:`driver_text`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from models.features import BLOCKS, FEATURE_INDEX, FEATURE_NAMES
from models.features.spec import RECENCY_CAP_D

#: Effects smaller than this (probability, i.e. 0.2 points) are not shown as a driver.
MIN_EFFECT = 0.002


class Evidence(NamedTuple):
    """What the lead did in one group: a label chosen from the value, and the fact itself."""

    label: str  # e.g. "no property browsing"
    fact: str  # e.g. "0 property views in the last 90 days"


def count(x: NDArray[Any], *types: str, window: str = "90d") -> int:
    """How many events of ``types`` in ``window``, read back from the log1p features."""
    total = sum(math.expm1(float(x[FEATURE_INDEX[f"log1p_count_{t}_{window}"]])) for t in types)
    return round(total)


def days_since(x: NDArray[Any], name: str) -> float | None:
    """Days since the event of feature ``name``; None when it never happened (the cap)."""
    days = math.expm1(float(x[FEATURE_INDEX[name]]))
    return None if days >= RECENCY_CAP_D - 0.5 else days


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _offers(x: NDArray[Any]) -> Evidence:
    n = count(x, "offer")
    return Evidence(
        "made an offer" if n else "no offer yet", f"{_n(n, 'offer', 'offers')} in the last 90 days"
    )


def _showings(x: NDArray[Any]) -> Evidence:
    n = count(x, "showing_booked", "showing_attended")
    fact = f"{_n(n, 'showing', 'showings')} booked or attended in the last 90 days"
    return Evidence("books showings" if n else "no showings yet", fact)


def _saves(x: NDArray[Any]) -> Evidence:
    n = count(x, "property_save", "property_share")
    label = (
        "saves and shares listings"
        if n >= 3
        else "few listings saved"
        if n
        else ("no listings saved")
    )
    return Evidence(label, f"{_n(n, 'listing', 'listings')} saved or shared in the last 90 days")


def _inquiries(x: NDArray[Any]) -> Evidence:
    n = count(x, "inquiry")
    return Evidence(
        "asks about specific listings" if n else "no inquiries",
        f"{_n(n, 'inquiry', 'inquiries')} in the last 90 days",
    )


def _views(x: NDArray[Any]) -> Evidence:
    n = count(x, "property_view")
    label = (
        "steady property browsing"
        if n >= 15
        else "some property browsing"
        if n >= 5
        else "little property browsing"
        if n
        else "no property browsing"
    )
    return Evidence(label, f"{_n(n, 'property view', 'property views')} in the last 90 days")


def _replies(x: NDArray[Any]) -> Evidence:
    got, sent = count(x, "message_in", "call_in"), count(x, "message_out", "call_out")
    label = (
        "answers the agent"
        if got
        else "outreach goes unanswered"
        if sent
        else ("no conversation yet")
    )
    return Evidence(
        label,
        f"{_n(got, 'message or call', 'messages or calls')} from the lead, "
        f"{sent} from the agent in the last 90 days",
    )


def _outreach(x: NDArray[Any]) -> Evidence:
    n = count(x, "message_out", "call_out")
    label = (
        "a lot of outreach by the agent"
        if n >= 4
        else "some outreach by the agent"
        if n
        else ("no outreach yet")
    )
    return Evidence(
        label, f"{_n(n, 'message or call', 'messages or calls')} by the agent in the last 90 days"
    )


def _email(x: NDArray[Any]) -> Evidence:
    n = count(x, "email_open", "email_click")
    fact = f"{_n(n, 'email open or click', 'email opens or clicks')} in the last 90 days"
    return Evidence("opens the agent's emails" if n else "does not open emails", fact)


def _recency(x: NDArray[Any]) -> Evidence:
    days = days_since(x, "log1p_days_since_last_inbound")
    if days is None:
        return Evidence("never active", "no activity by the lead on record")
    d = round(days)
    fact = "last active today" if d == 0 else f"last active {_n(d, 'day', 'days')} ago"
    label = (
        "active recently" if d <= 3 else "active this month" if d <= 30 else (f"quiet for {d} days")
    )
    return Evidence(label, fact)


def _budget(x: NDArray[Any]) -> Evidence:
    if float(x[FEATURE_INDEX["has_budget"]]) < 0.5:
        return Evidence("no stated budget", "no budget on record")
    within = float(x[FEATURE_INDEX["viewed_frac_within_budget"]])
    if count(x, "property_view") == 0:
        return Evidence("has a stated budget", "a budget on record, no homes viewed yet")
    label = "looks at homes within budget" if within >= 0.5 else "looks outside the stated budget"
    return Evidence(label, f"{within:.0%} of the homes viewed are within the stated budget")


def _timing(x: NDArray[Any]) -> Evidence:
    hours = [float(x[FEATURE_INDEX[f"activity_frac_hour_{h:02d}"]]) for h in range(24)]
    if sum(hours) < 0.5:
        return Evidence("no activity pattern yet", "no activity by the lead on record")
    work = float(x[FEATURE_INDEX["activity_frac_work_hours"]])
    night = float(x[FEATURE_INDEX["activity_frac_night"]])
    label = (
        "active late at night"
        if night >= 0.3
        else "active in working hours"
        if work >= 0.5
        else "active mostly evenings and weekends"
    )
    return Evidence(label, f"{work:.0%} of activity in working hours, {night:.0%} at night")


def _details(_x: NDArray[Any]) -> Evidence:
    return Evidence("the lead's details", "source, language, consent and other signals")


def _in_block(*blocks: str) -> Callable[[str], bool]:
    names = {n for b in blocks for n in FEATURE_NAMES[BLOCKS[b]]}
    return lambda n: n in names


def _has(*parts: str) -> Callable[[str], bool]:
    return lambda n: any(p in n for p in parts)


def _starts(*prefixes: str) -> Callable[[str], bool]:
    return lambda n: n.startswith(prefixes)


def _either(*tests: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda n: any(t(n) for t in tests)


_REPLY_PREFIXES = (
    "reply_",
    "log1p_replied",
    "log1p_latency",
    "last_outreach",
    "log1p_unanswered",
    "log1p_inbound_minus",
)
_RECENCY_BLOCKS = (
    "count_all",
    "has",
    "recency",
    "recency_all",
    "active_days",
    "sessions",
    "trend",
    "gap",
)

#: (key, does a feature belong to it, the evidence in words). First match wins; the last
#: group takes every feature left, so the groups partition the vector.
GROUPS: list[tuple[str, Callable[[str], bool], Callable[[NDArray[Any]], Evidence]]] = [
    ("budget", _in_block("price_extra"), _budget),
    ("offers", _has("offer"), _offers),
    ("showings", _has("showing_"), _showings),
    (
        "saves",
        _either(_has("property_save", "property_share"), _starts("saved_", "engaged_")),
        _saves,
    ),
    ("inquiries", _has("inquiry"), _inquiries),
    ("views", _either(_has("property_view"), _starts("viewed_")), _views),
    ("replies", _either(_starts(*_REPLY_PREFIXES), _has("message_in", "call_in")), _replies),
    (
        "outreach",
        _either(_has("message_out", "call_out", "outreach"), _starts("log1p_outbound")),
        _outreach,
    ),
    ("email", _has("email_"), _email),
    ("recency", _in_block(*_RECENCY_BLOCKS), _recency),
    ("timing", _starts("activity_"), _timing),
    ("details", lambda _n: True, _details),
]
GROUP_KEYS: tuple[str, ...] = tuple(g[0] for g in GROUPS)


def _group_index() -> list[NDArray[Any]]:
    taken = np.zeros(len(FEATURE_NAMES), dtype=bool)
    out = []
    for _key, member, _evidence in GROUPS:
        idx = [i for i, n in enumerate(FEATURE_NAMES) if not taken[i] and member(n)]
        taken[idx] = True
        out.append(np.asarray(idx, dtype=np.int64))
    return out


#: The features of each group, in :data:`GROUPS` order; together, every feature exactly once.
GROUP_IDX: list[NDArray[Any]] = _group_index()


def evidence(key: str, x: NDArray[Any]) -> Evidence:
    """The evidence of group ``key`` in the lead's vector ``x``."""
    return GROUPS[GROUP_KEYS.index(key)][2](x)


def effect_words(effect: float, outcome: str) -> str:
    """'raises the chance of a deal by 1.2 points' (the verb from the sign)."""
    verb = "raises" if effect > 0 else "lowers"
    return f"{verb} the chance of {outcome} by {abs(effect) * 100:.1f} points"


def driver_text(ev: Evidence, convert: float, respond: float) -> str | None:
    """The driver in words, or None when both effects are about zero."""
    parts = [
        effect_words(e, what)
        for e, what in ((convert, "a deal"), (respond, "a reply"))
        if abs(e) >= MIN_EFFECT
    ]
    if not parts:
        return None
    return f"{ev.label} ({ev.fact}): {' and '.join(parts)}"
