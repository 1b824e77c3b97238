"""The behavioural feature specification: names, parameters, version and hash.

One spec for training and inference. ``FEATURE_NAMES`` is laid out in blocks; ``BLOCKS`` maps
each block to its slice of the vector, and ``models.features.extract`` fills the blocks in this
exact order. Any change to a name, a parameter or a code table changes ``FEATURE_SPEC_HASH``,
so a model trained on another spec is refused by the device.

Value conventions (so that one int8 scale fits the whole input vector, see DESIGN "Models"):
counts, durations and latencies are ``log1p`` of the raw number; prices and areas are
``log10``; fractions and flags are in [0, 1]; locations are unit-sphere coordinates. Every
feature is finite and lies roughly within [-1, 12].
"""

from __future__ import annotations

import hashlib
import json

from models.features.columns import (
    CHANNELS,
    EVENT_TYPES,
    LANGUAGES,
    PROPERTY_TYPES,
    VERTICALS,
)
from sync.records import Channel, EventType

FEATURE_SPEC_VERSION = "behaviour-features/1"

#: Look-back windows in days.
WINDOWS_D: tuple[int, ...] = (1, 7, 30, 90)
#: Cap for "days since" features (also the value when the event never happened).
RECENCY_CAP_D = 365.0
#: Events further apart than this start a new session.
SESSION_GAP_MIN = 30.0
#: An inbound message or call within this many hours after an outreach is its reply.
REPLY_WINDOW_H = 72.0
#: Upper edges of the price bands (the last band is open).
PRICE_BANDS: tuple[float, ...] = (200e3, 400e3, 700e3, 1e6, 2e6, 5e6)
#: Night hours in the lead's local time: [22, 24) and [0, 6).
NIGHT_HOURS: tuple[int, ...] = (22, 23, 0, 1, 2, 3, 4, 5)
#: Working hours on weekdays, local time: [9, 17).
WORK_HOURS: tuple[int, int] = (9, 17)
EARTH_RADIUS_KM = 6371.0

OUTBOUND: tuple[EventType, ...] = (EventType.MESSAGE_OUT, EventType.CALL_OUT)
INBOUND_REPLIES: tuple[EventType, ...] = (EventType.MESSAGE_IN, EventType.CALL_IN)
#: Events the lead initiates (everything but outreach): the activity profile uses these.
LEAD_INITIATED: tuple[EventType, ...] = tuple(t for t in EVENT_TYPES if t not in OUTBOUND)
#: Outreach channels with their own response features; others count under "other".
RESPONSE_CHANNELS: tuple[Channel, ...] = (
    Channel.CALL,
    Channel.SMS,
    Channel.EMAIL,
    Channel.WHATSAPP,
)
#: Event types whose duration_s is summarized.
DURATION_TYPES: tuple[EventType, ...] = (
    EventType.CALL_IN,
    EventType.CALL_OUT,
    EventType.VOICE_NOTE,
    EventType.SHOWING_ATTENDED,
)
#: Listing groups summarized: viewed, saved, and engaged (any step beyond a view).
LISTING_GROUPS: dict[str, tuple[EventType, ...]] = {
    "viewed": (EventType.PROPERTY_VIEW,),
    "saved": (EventType.PROPERTY_SAVE,),
    "engaged": (
        EventType.PROPERTY_SAVE,
        EventType.PROPERTY_SHARE,
        EventType.INQUIRY,
        EventType.SHOWING_BOOKED,
        EventType.SHOWING_ATTENDED,
        EventType.OFFER,
    ),
}
#: Lead sources with their own flag, matched as substrings of the lowercased source.
SOURCES: tuple[str, ...] = (
    "referral",
    "zillow",
    "realtor",
    "redfin",
    "website",
    "open_house",
    "social",
    "google",
    "sign",
    "walk_in",
)

_PRICE_BAND_NAMES = (
    *(f"lt_{int(b / 1e3)}k" for b in PRICE_BANDS),
    f"ge_{int(PRICE_BANDS[-1] / 1e3)}k",
)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RESPONSE_STATS = (
    "log1p_outreach",
    "log1p_replied",
    "reply_rate",
    "log1p_latency_mean_h",
    "log1p_latency_min_h",
    "reply_within_1h_rate",
    "reply_within_24h_rate",
    "last_outreach_replied",
    "log1p_hours_since_outreach",
)
_LISTING_STATS = (
    "log1p_events",
    "log1p_distinct_listings",
    "log10_price_mean",
    "log10_price_std",
    "log10_price_min",
    "log10_price_max",
    "beds_mean",
    "beds_std",
    "baths_mean",
    "log10_sqft_mean",
    "log10_price_per_sqft_mean",
    "geo_x_mean",
    "geo_y_mean",
    "geo_z_mean",
    "log1p_geo_spread_km",
)


def _blocks() -> dict[str, list[str]]:
    w = [f"{d}d" for d in WINDOWS_D]
    types = [t.value for t in EVENT_TYPES]
    b: dict[str, list[str]] = {}
    b["count"] = [f"log1p_count_{t}_{x}" for t in types for x in w]
    b["count_all"] = [f"log1p_count_all_{x}" for x in w] + [f"log1p_count_inbound_{x}" for x in w]
    b["has"] = [f"has_{t}" for t in types]
    b["recency"] = [f"log1p_days_since_{t}" for t in types]
    b["recency_all"] = [
        "log1p_days_since_first_event",
        "log1p_days_since_last_event",
        "log1p_days_since_last_inbound",
        "log1p_days_since_last_outbound",
        "log1p_days_since_created",
    ]
    b["active_days"] = [f"active_days_frac_{x}" for x in w]
    b["sessions"] = [f"log1p_sessions_{x}" for x in w] + ["log1p_events_per_session_90d"]
    b["trend"] = [
        "trend_inbound_1d_vs_7d",
        "trend_inbound_7d_vs_30d",
        "trend_inbound_30d_vs_90d",
    ]
    b["gap"] = [f"log1p_mean_gap_h_{t}_90d" for t in types] + ["log1p_mean_gap_h_inbound_90d"]
    b["dwell"] = (
        [f"log1p_dwell_sum_s_property_view_{x}" for x in w]
        + [f"log1p_dwell_mean_s_property_view_{x}" for x in w]
        + [f"log1p_dwell_max_s_property_view_{x}" for x in w]
    )
    b["duration"] = [f"log1p_duration_sum_s_{t.value}_{x}" for t in DURATION_TYPES for x in w] + [
        f"log1p_duration_mean_s_{t.value}_90d" for t in DURATION_TYPES
    ]
    b["listing"] = [f"{g}_{s}" for g in LISTING_GROUPS for s in _LISTING_STATS]
    b["listing_mix"] = (
        [f"{g}_frac_type_{p.value}" for g in LISTING_GROUPS for p in PROPERTY_TYPES]
        + [f"{g}_frac_vertical_{v.value}" for g in LISTING_GROUPS for v in VERTICALS]
        + [f"{g}_frac_price_{p}" for g in LISTING_GROUPS for p in _PRICE_BAND_NAMES]
    )
    b["price_extra"] = [
        "viewed_log10_price_dwell_weighted",
        "viewed_log10_price_drift_7d_vs_90d",
        "has_budget",
        "log10_budget_min",
        "log10_budget_max",
        "viewed_frac_within_budget",
        "viewed_log10_price_over_budget_max",
    ]
    chans = [c.value for c in RESPONSE_CHANNELS] + ["any"]
    b["response"] = [f"{s}_{c}" for c in chans for s in _RESPONSE_STATS] + [
        "log1p_unanswered_outreach_streak",
        "log1p_inbound_minus_log1p_outbound_90d",
    ]
    b["channel_mix"] = [f"log1p_inbound_{c.value}_90d" for c in CHANNELS] + [
        f"log1p_outbound_{c.value}_90d" for c in CHANNELS
    ]
    b["time_profile"] = (
        [f"activity_frac_{d}" for d in _DAYS]
        + [f"activity_frac_hour_{h:02d}" for h in range(24)]
        + [
            "activity_frac_weekend",
            "activity_frac_night",
            "activity_frac_work_hours",
            "activity_hour_sin",
            "activity_hour_cos",
            "activity_hour_concentration",
        ]
    )
    b["language"] = [f"language_{code}" for code in LANGUAGES] + [
        "language_other",
        "events_frac_with_language",
        "events_frac_other_language",
        "log1p_distinct_event_languages",
    ]
    b["vertical"] = [f"top_vertical_{v.value}" for v in VERTICALS] + [
        "has_offer_amount",
        "log10_offer_amount_max",
        "offer_amount_over_viewed_price",
    ]
    b["lead"] = (
        [
            "consent_call",
            "consent_sms",
            "consent_email",
            "consent_whatsapp",
            "has_email",
            "has_phone",
        ]
        + [f"source_{s}" for s in SOURCES]
        + ["source_other", "source_empty"]
    )
    return b


_BLOCK_NAMES = _blocks()
FEATURE_NAMES: tuple[str, ...] = tuple(n for names in _BLOCK_NAMES.values() for n in names)
FEATURE_INDEX: dict[str, int] = {n: i for i, n in enumerate(FEATURE_NAMES)}
N_FEATURES = len(FEATURE_NAMES)


def _slices() -> dict[str, slice]:
    out, start = {}, 0
    for block, names in _BLOCK_NAMES.items():
        out[block] = slice(start, start + len(names))
        start += len(names)
    return out


#: Where each block lives in the vector.
BLOCKS: dict[str, slice] = _slices()


def spec_parameters() -> dict:
    """Every parameter and code table the extraction depends on (hashed with the names)."""
    return {
        "windows_d": list(WINDOWS_D),
        "recency_cap_d": RECENCY_CAP_D,
        "session_gap_min": SESSION_GAP_MIN,
        "reply_window_h": REPLY_WINDOW_H,
        "price_bands": list(PRICE_BANDS),
        "night_hours": list(NIGHT_HOURS),
        "work_hours": list(WORK_HOURS),
        "earth_radius_km": EARTH_RADIUS_KM,
        "event_types": [t.value for t in EVENT_TYPES],
        "channels": [c.value for c in CHANNELS],
        "property_types": [p.value for p in PROPERTY_TYPES],
        "verticals": [v.value for v in VERTICALS],
        "languages": list(LANGUAGES),
        "outbound": [t.value for t in OUTBOUND],
        "inbound_replies": [t.value for t in INBOUND_REPLIES],
        "response_channels": [c.value for c in RESPONSE_CHANNELS],
        "duration_types": [t.value for t in DURATION_TYPES],
        "listing_groups": {g: [t.value for t in ts] for g, ts in LISTING_GROUPS.items()},
        "sources": list(SOURCES),
    }


def spec_hash(version: str, names: tuple[str, ...], parameters: dict) -> str:
    """sha256 (hex) over the canonical JSON of version, names and parameters."""
    payload = json.dumps(
        {"version": version, "names": list(names), "parameters": parameters},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


FEATURE_SPEC_HASH: str = spec_hash(FEATURE_SPEC_VERSION, FEATURE_NAMES, spec_parameters())
