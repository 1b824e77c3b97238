"""Inputs of the personalization towers, built from records with NumPy only (device-safe).

``listing_matrix(listings)`` gives one row per listing (``LISTING_NAMES``): log price, beds,
baths, log sqft, log lot, age, property type and vertical one-hots, market, local coordinates
(km / 10 from the market's centre, so a few km still move the int8 input), lease and status
flags, and one flag per amenity/feature string of the synthetic catalogue.

``lead_preference_vector(lead, cols)`` gives the lead tower's input (``LEAD_NAMES``) from the
lead's ``EventColumns`` (``models.features``): the dwell-weighted mean listing of the viewed
listings and the mean listing of the engaged ones (saved, shared, inquired, toured, clicked),
the spread of viewed prices and places, counts, and the stated budget. Only the listing
attributes the event columns carry are used (price, beds, baths, sqft, type, vertical, lat,
lon), so the device builds it from the same SQL query as the behavioural features.

Every value is scaled by fixed constants into about [-6, 6]: no fitted statistics, one int8
scale per tensor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from models.features import EventColumns
from models.features.columns import PROPERTY_TYPES, TYPE_CODE, VERTICALS
from models.synthetic.listing import (
    COMMERCIAL_FEATURES,
    LUXURY_AMENITIES,
    NEW_CONSTRUCTION_FEATURES,
    RESIDENTIAL_FEATURES,
)
from sync.records import EventType, Lead, Listing, ListingStatus

PERSONALIZATION_VERSION = "personalization-towers/1"
#: Market centres (lat, lon): King County, Ames. A listing belongs to the nearest one.
MARKET_CENTRES = np.array([[47.55, -122.2], [42.03, -93.62]])
REFERENCE_YEAR = 2026
KM_PER_DEG = 111.2
FEATURE_FLAGS: tuple[str, ...] = tuple(
    dict.fromkeys(
        RESIDENTIAL_FEATURES + LUXURY_AMENITIES + COMMERCIAL_FEATURES + NEW_CONSTRUCTION_FEATURES
    )
)
_ATTR = (
    "log10_price",
    "beds",
    "baths",
    "log10_sqft",
    *(f"type_{p.value}" for p in PROPERTY_TYPES),
    *(f"vertical_{v.value}" for v in VERTICALS),
    "market_ames",
    "local_north",
    "local_east",
)
LISTING_NAMES: tuple[str, ...] = (
    *_ATTR,
    "log10_lot",
    "age",
    "for_lease",
    "active",
    *(f"feature_{f.replace(' ', '_')}" for f in FEATURE_FLAGS),
)
LEAD_NAMES: tuple[str, ...] = (
    *(f"viewed_{a}" for a in _ATTR),
    *(f"engaged_{a}" for a in _ATTR),
    "viewed_log10_price_sd",
    "viewed_local_spread",
    "log1p_views",
    "log1p_engaged",
    "has_budget",
    "budget_log10_mid",
)
N_LISTING, N_LEAD, N_ATTR = len(LISTING_NAMES), len(LEAD_NAMES), len(_ATTR)
#: Hash of both tower inputs: goes into both manifests.
PERSONALIZATION_SPEC_HASH = hashlib.sha256(
    "|".join((PERSONALIZATION_VERSION, *LISTING_NAMES, *LEAD_NAMES)).encode()
).hexdigest()

ENGAGED_TYPES: tuple[EventType, ...] = (
    EventType.PROPERTY_SAVE,
    EventType.PROPERTY_SHARE,
    EventType.INQUIRY,
    EventType.SHOWING_BOOKED,
    EventType.SHOWING_ATTENDED,
    EventType.EMAIL_CLICK,
)
_VIEW = TYPE_CODE[EventType.PROPERTY_VIEW]
_ENGAGED = np.array([TYPE_CODE[t] for t in ENGAGED_TYPES])
_PT = {p: i for i, p in enumerate(PROPERTY_TYPES)}
_VT = {v: i for i, v in enumerate(VERTICALS)}
_FLAG = {f: i for i, f in enumerate(FEATURE_FLAGS)}


def _attributes(price, beds, baths, sqft, ptype, vert, lat, lon) -> np.ndarray:
    """The shared attribute block (n, N_ATTR) from arrays; codes -1 give all-zero one-hots."""
    n = len(price)
    out = np.zeros((n, N_ATTR), dtype=np.float64)
    out[:, 0] = np.log10(np.maximum(price, 1.0)) - 5.5
    out[:, 1] = np.minimum(beds, 12) / 2.0
    out[:, 2] = np.minimum(baths, 12) / 2.0
    out[:, 3] = np.log10(np.maximum(sqft, 1.0)) - 3.3
    rows = np.arange(n)
    npt, nv = len(PROPERTY_TYPES), len(VERTICALS)
    ok = ptype >= 0
    out[rows[ok], 4 + ptype[ok]] = 1.0
    ok = vert >= 0
    out[rows[ok], 4 + npt + vert[ok]] = 1.0
    s = 4 + npt + nv
    d2 = (lat[:, None] - MARKET_CENTRES[None, :, 0]) ** 2 + (
        lon[:, None] - MARKET_CENTRES[None, :, 1]
    ) ** 2
    m = np.argmin(d2, axis=1)
    out[:, s] = m == 1
    c = MARKET_CENTRES[m]
    out[:, s + 1] = np.clip((lat - c[:, 0]) * KM_PER_DEG / 10.0, -6, 6)
    out[:, s + 2] = np.clip(
        (lon - c[:, 1]) * KM_PER_DEG * np.cos(np.radians(c[:, 0])) / 10.0, -6, 6
    )
    return out


def listing_matrix(listings: Sequence[Listing]) -> np.ndarray:
    """Listing-tower input, (len(listings), N_LISTING) float32, in the given order."""
    n = len(listings)
    if n == 0:
        return np.zeros((0, N_LISTING), dtype=np.float32)
    attr = _attributes(
        np.array([li.price for li in listings], dtype=np.float64),
        np.array([li.beds for li in listings], dtype=np.float64),
        np.array([li.baths for li in listings], dtype=np.float64),
        np.array([li.sqft for li in listings], dtype=np.float64),
        np.array([_PT[li.property_type] for li in listings]),
        np.array([_VT[li.vertical] for li in listings]),
        np.array([li.location.lat for li in listings], dtype=np.float64),
        np.array([li.location.lon for li in listings], dtype=np.float64),
    )
    out = np.zeros((n, N_LISTING), dtype=np.float64)
    out[:, :N_ATTR] = attr
    out[:, N_ATTR] = [np.log10(1.0 + li.lot_sqft) - 3.5 for li in listings]
    out[:, N_ATTR + 1] = [
        np.clip((REFERENCE_YEAR - li.year_built) / 25.0, -1, 6) for li in listings
    ]
    out[:, N_ATTR + 2] = [li.for_lease for li in listings]
    out[:, N_ATTR + 3] = [li.status == ListingStatus.ACTIVE for li in listings]
    base = N_ATTR + 4
    for i, li in enumerate(listings):
        for f in li.features:
            j = _FLAG.get(f)
            if j is not None:
                out[i, base + j] = 1.0
    return out.astype(np.float32)


def lead_preference_vector(lead: Lead, cols: EventColumns) -> np.ndarray:
    """Lead-tower input (N_LEAD,) float32 from the lead's events (pass ``cols.before(t)``)."""
    out = np.zeros(N_LEAD, dtype=np.float64)
    has = ~np.isnan(cols.price)
    view = has & (cols.type == _VIEW)
    eng = has & np.isin(cols.type, _ENGAGED)
    for k, sel, weighted in ((0, view, True), (1, eng, False)):
        idx = np.flatnonzero(sel)
        if not len(idx):
            continue
        attr = _attributes(
            cols.price[idx],
            np.nan_to_num(cols.beds[idx]),
            np.nan_to_num(cols.baths[idx]),
            np.nan_to_num(cols.sqft[idx], nan=1.0),
            cols.property_type[idx].astype(np.int64),
            cols.vertical[idx].astype(np.int64),
            np.nan_to_num(cols.lat[idx]),
            np.nan_to_num(cols.lon[idx]),
        )
        w = np.log1p(np.nan_to_num(cols.dwell_s[idx], nan=30.0)) if weighted else np.ones(len(idx))
        w = w / max(w.sum(), 1e-9)
        out[k * N_ATTR : (k + 1) * N_ATTR] = w @ attr
        if k == 0:
            out[2 * N_ATTR] = np.sqrt(max(w @ attr[:, 0] ** 2 - (w @ attr[:, 0]) ** 2, 0.0)) * 4
            spread = (w @ attr[:, -2:] ** 2) - (w @ attr[:, -2:]) ** 2
            out[2 * N_ATTR + 1] = np.sqrt(max(float(spread.sum()), 0.0))
    out[2 * N_ATTR + 2] = np.log1p(np.count_nonzero(view))
    out[2 * N_ATTR + 3] = np.log1p(np.count_nonzero(eng))
    lo, hi = lead.budget_min, lead.budget_max
    if lo is not None or hi is not None:
        mid = float(np.mean([float(v) for v in (lo, hi) if v is not None]))
        out[2 * N_ATTR + 4] = 1.0
        out[2 * N_ATTR + 5] = np.log10(max(mid, 1.0)) - 5.5
    return out.astype(np.float32)


def top_k(lead_embedding: np.ndarray, listing_embeddings: np.ndarray, k: int = 10) -> np.ndarray:
    """Indexes of the ``k`` best listings (highest dot product first)."""
    scores = listing_embeddings @ np.asarray(lead_embedding, dtype=np.float32).reshape(-1)
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]
