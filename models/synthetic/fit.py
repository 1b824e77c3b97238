"""Fit the listing prior: a small summary of two public house-sale data sets, never their rows.

Reads ``kc_house_data.csv`` (King County, WA, 2014-2015) and ``AmesHousing.csv`` (Ames, IA,
2006-2010) and writes ``listing_prior.json`` next to this module. The synthetic-world generator
reads only that JSON, so it works on a machine without the CSVs.

What is fitted, per market:

- areas: King County zipcodes grouped into ``KC_AREAS`` areas by weighted k-means on the zipcode
  centroids; each Ames neighbourhood is an area. Per area: sale count, zipcodes with their weights,
  lat/lon centroid and spread, log-price mean/sd/median, log-sqft mean/sd, log-lot mean/sd,
  year-built deciles, and its intercept in the price regression below.
- price regression: ``log(price) = intercept[area] + b1*log(sqft) + b2*beds + b3*baths + b4*age
  + e``, least squares with one intercept per area; ``e`` has the residual sd.
- beds and baths given size: ``beds = a + b*log(sqft) + e`` and the same for baths (to draw
  plausible rooms for a drawn size), and the beds histogram.
- price quantiles of the market (luxury thresholds), and, for Ames, the building-type mix mapped to
  our property types.

Prices are in the dollars of the source years (no appreciation is applied).

Run ``realty-edge fit-prior [--data-dir DIR] [--out PATH]`` from the repository root.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

PRIOR_PATH = Path(__file__).with_name("listing_prior.json")
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
KC_AREAS = 20

#: King County zipcode -> city (public postal geography; approximate for zipcodes that span two).
_KC_CITY_BY_ZIP: dict[str, str] = {
    **dict.fromkeys(
        (
            "98102",
            "98103",
            "98105",
            "98106",
            "98107",
            "98108",
            "98109",
            "98112",
            "98115",
            "98116",
            "98117",
            "98118",
            "98119",
            "98122",
            "98125",
            "98126",
            "98133",
            "98136",
            "98144",
            "98177",
            "98199",
        ),
        "Seattle",
    ),
    "98001": "Auburn",
    "98002": "Auburn",
    "98092": "Auburn",
    "98003": "Federal Way",
    "98023": "Federal Way",
    "98004": "Bellevue",
    "98005": "Bellevue",
    "98006": "Bellevue",
    "98007": "Bellevue",
    "98008": "Bellevue",
    "98010": "Black Diamond",
    "98011": "Bothell",
    "98014": "Carnation",
    "98019": "Duvall",
    "98022": "Enumclaw",
    "98024": "Fall City",
    "98027": "Issaquah",
    "98029": "Issaquah",
    "98028": "Kenmore",
    "98030": "Kent",
    "98031": "Kent",
    "98032": "Kent",
    "98042": "Kent",
    "98033": "Kirkland",
    "98034": "Kirkland",
    "98038": "Maple Valley",
    "98039": "Medina",
    "98040": "Mercer Island",
    "98045": "North Bend",
    "98052": "Redmond",
    "98053": "Redmond",
    "98055": "Renton",
    "98056": "Renton",
    "98058": "Renton",
    "98059": "Renton",
    "98065": "Snoqualmie",
    "98070": "Vashon",
    "98072": "Woodinville",
    "98077": "Woodinville",
    "98074": "Sammamish",
    "98075": "Sammamish",
    "98146": "Burien",
    "98148": "Burien",
    "98166": "Burien",
    "98168": "Tukwila",
    "98178": "Seattle",
    "98188": "SeaTac",
    "98198": "Des Moines",
    "98155": "Shoreline",
}

#: Ames neighbourhood codes (De Cock's data documentation) -> names.
_AMES_NEIGHBORHOODS: dict[str, str] = {
    "Blmngtn": "Bloomington Heights",
    "Blueste": "Bluestem",
    "BrDale": "Briardale",
    "BrkSide": "Brookside",
    "ClearCr": "Clear Creek",
    "CollgCr": "College Creek",
    "Crawfor": "Crawford",
    "Edwards": "Edwards",
    "Gilbert": "Gilbert",
    "Greens": "Greens",
    "GrnHill": "Green Hills",
    "IDOTRR": "Iowa DOT and Rail Road",
    "Landmrk": "Landmark",
    "MeadowV": "Meadow Village",
    "Mitchel": "Mitchell",
    "NAmes": "North Ames",
    "NoRidge": "Northridge",
    "NPkVill": "Northpark Villa",
    "NridgHt": "Northridge Heights",
    "NWAmes": "Northwest Ames",
    "OldTown": "Old Town",
    "SWISU": "South & West of Iowa State",
    "Sawyer": "Sawyer",
    "SawyerW": "Sawyer West",
    "Somerst": "Somerset",
    "StoneBr": "Stone Brook",
    "Timber": "Timberland",
    "Veenker": "Veenker",
}

#: Ames "Bldg Type" -> our property type.
_AMES_BLDG_TYPE = {
    "1Fam": "house",
    "TwnhsE": "townhouse",
    "Twnhs": "townhouse",
    "Twnhsl": "townhouse",
    "Duplex": "multi_family",
    "Duplx": "multi_family",
    "2fmCon": "multi_family",
    "2FmCon": "multi_family",
}

AMES_CENTER = (42.0308, -93.6319)


def _read_csv(path: Path) -> dict[str, list[str]]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols: dict[str, list[str]] = {h: [] for h in header}
        for row in reader:
            for h, v in zip(header, row, strict=True):
                cols[h].append(v)
    return cols


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def _kmeans(points: np.ndarray, weights: np.ndarray, k: int, iters: int = 100) -> np.ndarray:
    """Weighted k-means, deterministic (farthest-point initialisation from the heaviest point)."""
    centers = [points[int(np.argmax(weights))]]
    for _ in range(1, k):
        d = np.min([((points - c) ** 2).sum(1) for c in centers], axis=0)
        centers.append(points[int(np.argmax(d * np.sqrt(weights)))])
    c = np.array(centers)
    labels = np.zeros(len(points), dtype=int)
    for _ in range(iters):
        labels = np.argmin(((points[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        new = np.array(
            [
                np.average(points[labels == j], axis=0, weights=weights[labels == j])
                if np.any(labels == j)
                else c[j]
                for j in range(k)
            ]
        )
        if np.allclose(new, c):
            break
        c = new
    return labels


def _regression(
    log_price: np.ndarray,
    log_sqft: np.ndarray,
    beds: np.ndarray,
    baths: np.ndarray,
    age: np.ndarray,
    area: np.ndarray,
    n_areas: int,
) -> tuple[np.ndarray, dict[str, float], float]:
    dummies = np.zeros((len(log_price), n_areas))
    dummies[np.arange(len(log_price)), area] = 1.0
    x = np.column_stack([dummies, log_sqft, beds, baths, age])
    coef, *_ = np.linalg.lstsq(x, log_price, rcond=None)
    resid = log_price - x @ coef
    slopes = {
        "log_sqft": _r(coef[-4]),
        "beds": _r(coef[-3]),
        "baths": _r(coef[-2]),
        "age": _r(coef[-1], 6),
    }
    return coef[:n_areas], slopes, _r(resid.std())


def _linear(y: np.ndarray, x: np.ndarray) -> dict[str, float]:
    a = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return {"a": _r(coef[0]), "b": _r(coef[1]), "sd": _r((y - a @ coef).std())}


def _area_summary(
    mask: np.ndarray,
    log_price: np.ndarray,
    log_sqft: np.ndarray,
    log_lot: np.ndarray,
    year: np.ndarray,
    intercept: float,
) -> dict[str, object]:
    return {
        "n": int(mask.sum()),
        "log_price_mean": _r(log_price[mask].mean()),
        "log_price_sd": _r(log_price[mask].std()),
        "median_price": round(float(np.exp(np.median(log_price[mask]))), -2),
        "log_sqft_mean": _r(log_sqft[mask].mean()),
        "log_sqft_sd": _r(max(log_sqft[mask].std(), 0.05)),
        "log_lot_mean": _r(log_lot[mask].mean()),
        "log_lot_sd": _r(max(log_lot[mask].std(), 0.05)),
        "year_deciles": [int(v) for v in np.quantile(year[mask], np.linspace(0, 1, 11))],
        "intercept": _r(intercept),
    }


def _market_common(
    log_price: np.ndarray,
    log_sqft: np.ndarray,
    beds: np.ndarray,
    baths: np.ndarray,
) -> dict[str, object]:
    values, counts = np.unique(np.clip(beds, 0, 8), return_counts=True)
    price = np.exp(log_price)
    return {
        "n": len(log_price),
        "price_quantiles": {
            q: round(float(np.quantile(price, float(q))), -2)
            for q in ("0.05", "0.25", "0.5", "0.75", "0.9", "0.95", "0.99")
        },
        "beds_given_log_sqft": _linear(beds, log_sqft),
        "baths_given_log_sqft": _linear(baths, log_sqft),
        "beds_histogram": {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)},
        "log_sqft_min": _r(log_sqft.min()),
        "log_sqft_max": _r(log_sqft.max()),
    }


def fit_king_county(path: Path) -> dict[str, object]:
    """Summarise King County sales: areas of grouped zipcodes and the price regression."""
    cols = _read_csv(path)
    price = np.array(cols["price"], dtype=float)
    beds = np.array(cols["bedrooms"], dtype=float)
    baths = np.array(cols["bathrooms"], dtype=float)
    sqft = np.array(cols["sqft_living"], dtype=float)
    lot = np.array(cols["sqft_lot"], dtype=float)
    year = np.array(cols["yr_built"], dtype=int)
    sale_year = np.array([d[:4] for d in cols["date"]], dtype=int)
    lat = np.array(cols["lat"], dtype=float)
    lon = np.array(cols["long"], dtype=float)
    zips = np.array(cols["zipcode"])

    uz, zi, zc = np.unique(zips, return_inverse=True, return_counts=True)
    zlat = np.bincount(zi, lat) / zc
    zlon = np.bincount(zi, lon) / zc
    coslat = np.cos(np.radians(47.5))
    zlabels = _kmeans(np.column_stack([zlat, zlon * coslat]), zc.astype(float), KC_AREAS)
    area = zlabels[zi]

    log_price, log_sqft, log_lot = np.log(price), np.log(sqft), np.log(lot)
    age = np.clip(sale_year - year, 0, None).astype(float)
    intercepts, slopes, resid_sd = _regression(
        log_price, log_sqft, beds, baths, age, area, KC_AREAS
    )

    areas = []
    used_names: set[str] = set()
    for j in range(KC_AREAS):
        mask = area == j
        zmask = zlabels == j
        order = np.argsort(-zc[zmask])
        area_zips = [str(z) for z in uz[zmask][order]]
        weights = [int(c) for c in zc[zmask][order]]
        cities = [_KC_CITY_BY_ZIP.get(z, "King County") for z in area_zips]
        city = max(
            set(cities),
            key=lambda c: sum(w for cc, w in zip(cities, weights, strict=True) if cc == c),
        )
        name = city if city not in used_names else f"{city} {area_zips[0]}"
        used_names.add(name)
        summary = _area_summary(mask, log_price, log_sqft, log_lot, year, intercepts[j])
        areas.append(
            {
                "name": name,
                "city": city,
                "zipcodes": area_zips,
                "zip_weights": weights,
                "lat": _r(lat[mask].mean()),
                "lon": _r(lon[mask].mean()),
                "lat_sd": _r(lat[mask].std()),
                "lon_sd": _r(lon[mask].std()),
                "urban": city == "Seattle" or city == "Bellevue",
                **summary,
            }
        )
    return {
        "source": "kc-house-sales/kc_house_data.csv (King County, WA, sales 2014-2015)",
        "reference_year": 2015,
        "timezone": "America/Los_Angeles",
        "areas": areas,
        "price_model": {**slopes, "resid_sd": resid_sd},
        **_market_common(log_price, log_sqft, beds, baths),
    }


def fit_ames(path: Path) -> dict[str, object]:
    """Summarise Ames sales: neighbourhoods, the price regression and the building-type mix."""
    cols = _read_csv(path)
    price = np.array(cols["SalePrice"], dtype=float)
    beds = np.array(cols["Bedroom AbvGr"], dtype=float)
    baths = np.array(cols["Full Bath"], dtype=float)
    baths += 0.5 * np.array(cols["Half Bath"], dtype=float)
    sqft = np.array(cols["GrLivArea"], dtype=float)
    lot = np.array(cols["Lot Area"], dtype=float)
    year = np.array(cols["YearBuilt"], dtype=int)
    sale_year = np.array(cols["Yr Sold"], dtype=int)
    hood = np.array(cols["Neighborhood"])
    bldg = [b.strip() for b in cols["Bldg Type"]]

    uh, hi = np.unique(hood, return_inverse=True)
    log_price, log_sqft, log_lot = np.log(price), np.log(sqft), np.log(lot)
    age = np.clip(sale_year - year, 0, None).astype(float)
    intercepts, slopes, resid_sd = _regression(log_price, log_sqft, beds, baths, age, hi, len(uh))
    areas = []
    for j, code in enumerate(uh):
        mask = hi == j
        # The source has no coordinates: neighbourhoods are placed on a ring around the city
        # centre, ordered by median price (an assumption, only for a plausible map).
        angle = 2 * np.pi * j / len(uh)
        areas.append(
            {
                "name": _AMES_NEIGHBORHOODS.get(str(code), str(code)),
                "code": str(code),
                "city": "Ames",
                "zipcodes": ["50010", "50014"],
                "zip_weights": [1, 1],
                "lat": _r(AMES_CENTER[0] + 0.03 * np.sin(angle)),
                "lon": _r(AMES_CENTER[1] + 0.04 * np.cos(angle)),
                "lat_sd": 0.006,
                "lon_sd": 0.008,
                "urban": False,
                **_area_summary(mask, log_price, log_sqft, log_lot, year, intercepts[j]),
            }
        )
    mix: dict[str, int] = {}
    for b in bldg:
        pt = _AMES_BLDG_TYPE.get(b, "house")
        mix[pt] = mix.get(pt, 0) + 1
    return {
        "source": "ames-housing/AmesHousing.csv (Ames, IA, sales 2006-2010)",
        "reference_year": 2010,
        "timezone": "America/Chicago",
        "areas": areas,
        "price_model": {**slopes, "resid_sd": resid_sd},
        "building_type_mix": {k: round(v / len(bldg), 4) for k, v in sorted(mix.items())},
        **_market_common(log_price, log_sqft, beds, baths),
    }


def fit_listing_prior(data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, object]:
    """Fit both markets and return the prior (a JSON-ready dict, no data rows)."""
    return {
        "version": 1,
        "note": "Fitted summaries only; prices in source-year dollars (models/synthetic/fit.py).",
        "markets": {
            "king_county": fit_king_county(data_dir / "kc-house-sales" / "kc_house_data.csv"),
            "ames": fit_ames(data_dir / "ames-housing" / "AmesHousing.csv"),
        },
    }


def write_listing_prior(data_dir: Path = DEFAULT_DATA_DIR, out: Path = PRIOR_PATH) -> Path:
    """Fit and write the prior as compact, stable JSON; return its path."""
    prior = fit_listing_prior(data_dir)
    out.write_text(json.dumps(prior, indent=1, sort_keys=True) + "\n")
    return out
