"""Synthetic listings drawn from the fitted prior (``listing_prior.json``), vectorized with numpy.

See :mod:`models.synthetic.world` for the whole generative process; this module draws only the
listings and returns them with the arrays the lead and event generators need (price, market,
area, vertical of each listing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from sync.records import Listing, ListingStatus, Location, PropertyType, Vertical

PRIOR_PATH = Path(__file__).with_name("listing_prior.json")
DAY_MS = 86_400_000

MARKETS: tuple[str, ...] = ("king_county", "ames")
MARKET_WEIGHTS = np.array([0.85, 0.15])
VERTICALS: tuple[Vertical, ...] = (
    Vertical.RESIDENTIAL,
    Vertical.LUXURY,
    Vertical.COMMERCIAL,
    Vertical.NEW_CONSTRUCTION,
)
LISTING_VERTICAL_WEIGHTS = np.array([0.70, 0.08, 0.10, 0.12])
STATUSES: tuple[ListingStatus, ...] = (
    ListingStatus.ACTIVE,
    ListingStatus.PENDING,
    ListingStatus.SOLD,
    ListingStatus.OFF_MARKET,
)
STATUS_WEIGHTS = np.array([0.75, 0.12, 0.08, 0.05])

RESIDENTIAL_FEATURES = (
    "garage",
    "fireplace",
    "hardwood floors",
    "updated kitchen",
    "fenced yard",
    "basement",
    "solar panels",
    "near schools",
    "deck",
    "mountain view",
)
LUXURY_AMENITIES = (
    "waterfront",
    "city view",
    "pool",
    "wine cellar",
    "home theater",
    "chef's kitchen",
    "smart home",
    "gated entry",
    "guest house",
    "elevator",
    "private dock",
    "spa",
)
COMMERCIAL_FEATURES = (
    "loading dock",
    "parking",
    "street signage",
    "high ceilings",
    "HVAC",
    "fiber internet",
    "corner lot",
    "freeway access",
)
NEW_CONSTRUCTION_FEATURES = (
    "energy star",
    "smart thermostat",
    "quartz countertops",
    "open floor plan",
    "EV charger",
    "builder warranty",
)
BUILDER_INCENTIVES = (
    "$10,000 toward closing costs",
    "Free upgrade package",
    "Rate buydown for the first year",
    "Free appliances",
    "Paid HOA dues for one year",
    "Reduced deposit",
)
COMMERCIAL_TYPES = (
    PropertyType.OFFICE,
    PropertyType.RETAIL,
    PropertyType.INDUSTRIAL,
    PropertyType.MIXED_USE,
)
COMMERCIAL_TYPE_WEIGHTS = np.array([0.35, 0.30, 0.25, 0.10])
ZONING: dict[PropertyType, tuple[str, ...]] = {
    PropertyType.OFFICE: ("C-2", "NC3-65", "B-3", "O-1"),
    PropertyType.RETAIL: ("C-1", "NC2-40", "B-2"),
    PropertyType.INDUSTRIAL: ("IG1", "IG2", "M-1", "M-2"),
    PropertyType.MIXED_USE: ("MU-1", "NC3-85", "MX"),
}


class PriorError(Exception):
    """The listing prior is missing or malformed."""


@cache
def load_prior(path: Path = PRIOR_PATH) -> dict[str, Any]:
    """The fitted listing prior (cached)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PriorError(f"cannot read listing prior {path}: {exc}") from exc


@dataclass(frozen=True)
class Area:
    """One location cluster of a market, as the generator uses it."""

    market: int
    index: int
    name: str
    city: str
    prior: dict[str, Any]


def areas(prior: dict[str, Any]) -> list[Area]:
    """Every area of every market, in a fixed order."""
    out: list[Area] = []
    for m, market in enumerate(MARKETS):
        for a in prior["markets"][market]["areas"]:
            out.append(Area(m, len(out), a["name"], a["city"], a))
    return out


@dataclass
class ListingDraw:
    """Listings plus the columns the lead and event generators need."""

    listings: list[Listing]
    price: np.ndarray
    market: np.ndarray
    area: np.ndarray
    vertical: np.ndarray
    listed_at: np.ndarray


def _pick(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def draw_listings(
    rng: np.random.Generator, n: int, now_ms: int, prior: dict[str, Any] | None = None
) -> ListingDraw:
    """Draw ``n`` listings: market, vertical, area, size, rooms, age, price, vertical fields."""
    prior = prior or load_prior()
    all_areas = areas(prior)
    now_year = datetime.fromtimestamp(now_ms / 1000, UTC).year

    market = _pick(rng, MARKET_WEIGHTS, n)
    vertical = _pick(rng, LISTING_VERTICAL_WEIGHTS, n)
    area = np.zeros(n, dtype=int)
    for m in range(len(MARKETS)):
        idx = [a.index for a in all_areas if a.market == m]
        counts = np.array([all_areas[i].prior["n"] for i in idx], dtype=float)
        lux = np.exp(2.0 * np.array([all_areas[i].prior["log_price_mean"] for i in idx]))
        lux_w = counts * lux / (counts * lux).sum()
        for v in range(len(VERTICALS)):
            sel = np.flatnonzero((market == m) & (vertical == v))
            w = lux_w if VERTICALS[v] is Vertical.LUXURY else counts
            area[sel] = np.asarray(idx)[_pick(rng, w, len(sel))]

    # Per-listing area parameters.
    ap = [all_areas[i].prior for i in area]
    mk = [prior["markets"][MARKETS[m]] for m in market]
    ls_mean = np.array([p["log_sqft_mean"] for p in ap])
    ls_sd = np.array([p["log_sqft_sd"] for p in ap])
    lot_mean = np.array([p["log_lot_mean"] for p in ap])
    lot_sd = np.array([p["log_lot_sd"] for p in ap])
    intercept = np.array([p["intercept"] for p in ap])
    urban = np.array([bool(p["urban"]) for p in ap])
    deciles = np.array([p["year_deciles"] for p in ap], dtype=float)
    pm = {
        k: np.array([x["price_model"][k] for x in mk])
        for k in ("log_sqft", "beds", "baths", "age", "resid_sd")
    }
    bg = {k: np.array([x["beds_given_log_sqft"][k] for x in mk]) for k in ("a", "b", "sd")}
    bh = {k: np.array([x["baths_given_log_sqft"][k] for x in mk]) for k in ("a", "b", "sd")}
    ref_year = np.array([x["reference_year"] for x in mk])
    q95 = np.array([x["price_quantiles"]["0.95"] for x in mk])
    ls_min = np.array([x["log_sqft_min"] for x in mk])
    ls_max = np.array([x["log_sqft_max"] for x in mk])

    # Residential property type: Ames building-type mix, plus condos (an assumption: 30% of
    # listings in urban areas, 8% elsewhere).
    mix = prior["markets"]["ames"]["building_type_mix"]
    base_types = (PropertyType.HOUSE, PropertyType.TOWNHOUSE, PropertyType.MULTI_FAMILY)
    base_w = np.array([mix.get(t.value, 0.0) for t in base_types])
    ptype = np.array(base_types, dtype=object)[_pick(rng, base_w, n)]
    condo = rng.random(n) < np.where(urban, 0.30, 0.08)
    ptype[condo] = PropertyType.CONDO

    log_sqft = np.clip(rng.normal(ls_mean, ls_sd), ls_min, ls_max)
    log_sqft += np.select(
        [
            ptype == PropertyType.CONDO,
            ptype == PropertyType.TOWNHOUSE,
            ptype == PropertyType.MULTI_FAMILY,
        ],
        [-0.45, -0.15, 0.3],
        0.0,
    )
    is_lux = vertical == VERTICALS.index(Vertical.LUXURY)
    log_sqft[is_lux] += 0.55 + np.abs(rng.normal(0, 0.2, is_lux.sum()))
    beds = np.rint(bg["a"] + bg["b"] * log_sqft + rng.normal(0, 1, n) * bg["sd"])
    beds = np.clip(beds, np.where(ptype == PropertyType.CONDO, 0, 1), 8).astype(int)
    baths = np.clip(
        np.rint(2 * (bh["a"] + bh["b"] * log_sqft + rng.normal(0, 1, n) * bh["sd"])) / 2, 1, 8
    )
    u = rng.random(n) * 10
    lo = np.floor(u).astype(int)
    year = deciles[np.arange(n), lo] + (u - lo) * (
        deciles[np.arange(n), np.minimum(lo + 1, 10)] - deciles[np.arange(n), lo]
    )
    year = np.rint(year).astype(int)
    is_new = vertical == VERTICALS.index(Vertical.NEW_CONSTRUCTION)
    completion_days = rng.uniform(-60, 360, n)
    year[is_new] = now_year + (completion_days[is_new] > 200)
    age = np.clip(ref_year - year, 0, None)
    log_price = (
        intercept
        + pm["log_sqft"] * log_sqft
        + pm["beds"] * beds
        + pm["baths"] * baths
        + pm["age"] * age
        + rng.normal(0, 1, n) * pm["resid_sd"]
    )
    log_price[is_new] += 0.1
    log_price[is_lux] = np.maximum(
        log_price[is_lux] + 0.35, np.log(q95[is_lux]) + np.abs(rng.normal(0, 0.35, is_lux.sum()))
    )
    price = np.exp(log_price)
    lot = np.exp(rng.normal(lot_mean, lot_sd))
    lot[ptype == PropertyType.CONDO] = 0.0
    lot[ptype == PropertyType.TOWNHOUSE] *= 0.2

    # Commercial: own sizes and prices (assumptions: median 6,000 sqft, $220 per sqft in King
    # County and 60% of that in Ames, cap rates around 6.2%, 35% for lease at a monthly rent).
    is_com = vertical == VERTICALS.index(Vertical.COMMERCIAL)
    nc = int(is_com.sum())
    com_type = np.array(COMMERCIAL_TYPES, dtype=object)[_pick(rng, COMMERCIAL_TYPE_WEIGHTS, nc)]
    com_sqft = np.clip(np.exp(rng.normal(np.log(6000), 0.9, nc)), 800, 500_000)
    psf = np.exp(rng.normal(np.log(220), 0.4, nc)) * np.where(market[is_com] == 1, 0.6, 1.0)
    for_lease = np.zeros(n, dtype=bool)
    for_lease[is_com] = rng.random(nc) < 0.35
    com_price = np.where(for_lease[is_com], com_sqft * rng.uniform(15, 40, nc) / 12, com_sqft * psf)
    cap_rate = np.clip(rng.normal(0.062, 0.012, nc), 0.035, 0.11)
    ptype[is_com] = com_type
    price[is_com] = com_price
    log_sqft[is_com] = np.log(com_sqft)
    beds[is_com] = 0
    baths[is_com] = np.clip(np.rint(com_sqft / 4000), 1, 12)
    lot[is_com] = com_sqft * rng.uniform(1.2, 3.0, nc)

    # Luxury and new-construction property types.
    lux_types = np.array((PropertyType.HOUSE, PropertyType.CONDO), dtype=object)
    ptype[is_lux] = lux_types[_pick(rng, np.array([0.85, 0.15]), int(is_lux.sum()))]
    new_types = np.array(
        (PropertyType.HOUSE, PropertyType.TOWNHOUSE, PropertyType.CONDO), dtype=object
    )
    ptype[is_new] = new_types[_pick(rng, np.array([0.6, 0.25, 0.15]), int(is_new.sum()))]

    listed_at = now_ms - np.minimum(rng.exponential(60, n), 700) * DAY_MS
    listed_at = listed_at.astype(np.int64)
    status = _pick(rng, STATUS_WEIGHTS, n)
    lat = np.array([p["lat"] for p in ap]) + rng.normal(0, 1, n) * np.array(
        [p["lat_sd"] for p in ap]
    )
    lon = np.array([p["lon"] for p in ap]) + rng.normal(0, 1, n) * np.array(
        [p["lon_sd"] for p in ap]
    )
    zip_u = rng.random(n)
    feat_rank = np.argsort(rng.random((n, 12)), axis=1)
    n_feat = rng.integers(1, 4, n) + 2 * is_lux
    incentive = rng.integers(0, len(BUILDER_INCENTIVES), n)
    zoning_u = rng.random(n)

    price = np.clip(price, 100, 1e10)
    price = np.where(price >= 1e5, np.round(price, -2), np.round(price))
    com_pos = (np.cumsum(is_com) - 1).tolist()
    zipcode = np.empty(n, dtype=object)
    for j, a in enumerate(all_areas):
        sel = np.flatnonzero(area == j)
        zw = np.cumsum(np.asarray(a.prior["zip_weights"], dtype=float))
        pos = np.searchsorted(zw / zw[-1], zip_u[sel]).clip(0, len(zw) - 1)
        zipcode[sel] = np.asarray(a.prior["zipcodes"], dtype=object)[pos]
    pools = {
        Vertical.RESIDENTIAL: RESIDENTIAL_FEATURES,
        Vertical.LUXURY: LUXURY_AMENITIES,
        Vertical.COMMERCIAL: COMMERCIAL_FEATURES,
        Vertical.NEW_CONSTRUCTION: NEW_CONSTRUCTION_FEATURES,
    }
    cols = {
        "price": price.tolist(),
        "beds": beds.tolist(),
        "baths": baths.astype(float).tolist(),
        "sqft": np.maximum(np.round(np.exp(log_sqft)), 100.0).tolist(),
        "lot": np.round(lot).tolist(),
        "year": np.clip(year, 1700, 2100).tolist(),
        "status": status.tolist(),
        "lease": for_lease.tolist(),
        "vertical": vertical.tolist(),
        "lat": np.round(lat, 5).clip(-90, 90).tolist(),
        "lon": np.round(lon, 5).clip(-180, 180).tolist(),
        "listed": listed_at.tolist(),
        "n_feat": n_feat.tolist(),
        "area": area.tolist(),
        "completion": np.maximum(0, now_ms + completion_days * DAY_MS).astype(np.int64).tolist(),
        "cap_rate": np.round(cap_rate, 4).tolist(),
        "incentive": incentive.tolist(),
        "zoning_u": zoning_u.tolist(),
        "feat_rank": feat_rank.tolist(),
    }
    out: list[Listing] = []
    for i in range(n):
        a = all_areas[cols["area"][i]]
        v = VERTICALS[cols["vertical"][i]]
        pool = pools[v]
        picks = sorted([f for f in cols["feat_rank"][i] if f < len(pool)][: cols["n_feat"][i]])
        extra: dict[str, Any] = {}
        if v is Vertical.COMMERCIAL:
            if not cols["lease"][i]:
                cr = cols["cap_rate"][com_pos[i]]
                extra = {"cap_rate": cr, "noi": round(cols["price"][i] * cr, -2)}
            zones = ZONING[ptype[i]]
            extra["zoning"] = zones[int(cols["zoning_u"][i] * len(zones))]
        elif v is Vertical.NEW_CONSTRUCTION:
            extra["builder_incentive"] = BUILDER_INCENTIVES[cols["incentive"][i]]
            extra["completion_date"] = cols["completion"][i]
        out.append(
            Listing(
                id=f"lst-{i + 1:06d}",
                updated_at=cols["listed"][i],
                price=cols["price"][i],
                beds=cols["beds"][i],
                baths=cols["baths"][i],
                sqft=cols["sqft"][i],
                lot_sqft=cols["lot"][i],
                year_built=cols["year"][i],
                property_type=ptype[i],
                vertical=v,
                status=STATUSES[cols["status"][i]],
                for_lease=cols["lease"][i],
                location=Location(
                    city=a.city,
                    zipcode=zipcode[i],
                    neighborhood=a.name,
                    lat=cols["lat"][i],
                    lon=cols["lon"][i],
                ),
                features=[pool[p] for p in picks],
                listed_at=cols["listed"][i],
                **extra,
            )
        )
    return ListingDraw(out, price, market, area, vertical, listed_at)
