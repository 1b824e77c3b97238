"""Personalization: a lead's profile, listing recommendations and communication style.

- :class:`ListingIndex` embeds every listing on the device once per listings version with the
  listing tower (one batched invoke) and keeps the embeddings and a few attribute arrays in
  memory (20,000 listings x 32 float32 = 2.5 MB); ranking is a NumPy dot product.
- :func:`build_profile` learns preferences from behaviour (price band, beds, baths, areas,
  property types, must-haves), the vertical, the language and the style model's communication
  style.
- What the lead said (``edge.profile_text``) is merged in: a stated criterion wins over an
  inferred one.
- :func:`rank` ranks active listings the lead has not seen (sold, off-market and pending
  ones are never offered), nudged by the profile and the stated criteria, with diversity
  (maximal marginal relevance over the best 60); the score returned is the one the listing was
  picked with, so scores never increase down the list. :func:`explain` says why in words that
  are true of the lead: the criteria they stated, and behaviour only when there is some.
- :func:`adapt_style` picks formality, length, channel and language for one message.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from edge.culture import Intent, default_formality
from edge.profile_text import ProfileText, apply_stated, describe
from edge.vertical import VerticalGuess
from models.features import EventColumns
from models.features.columns import PROPERTY_TYPES, TYPE_CODE, VERTICALS
from models.personalization import lead_preference_vector, listing_matrix
from models.personalization.features import ENGAGED_TYPES, FEATURE_FLAGS
from models.tflite import TFLiteModel
from sync.records import (
    OUTREACH_CHANNELS,
    Channel,
    Consent,
    EventType,
    Formality,
    Lead,
    Listing,
    ListingStatus,
    MessageLength,
    Profile,
    Vertical,
)

#: Seconds between two checks of the listings table's version.
VERSION_CHECK_S = 5.0
#: Listings embedded per invoke of the listing tower.
EMBED_BATCH = 512
#: Candidates re-ranked for diversity, and the weight of similarity to those already picked.
MMR_POOL, MMR_LAMBDA = 60, 0.3
#: Standard deviations of the towers' score that a listing outside the areas the lead named
#: loses: a stated area wins over what the towers infer (the towers trained on six worlds
#: score their favourites several deviations above the rest, so 1.0 no longer sufficed).
STATED_AREA_PENALTY = 3.0
_listing_dec = msgspec.msgpack.Decoder(Listing)
_VIEW = TYPE_CODE[EventType.PROPERTY_VIEW]
_ENGAGED = np.array([TYPE_CODE[t] for t in ENGAGED_TYPES])
_PT = {p: i for i, p in enumerate(PROPERTY_TYPES)}
_FLAG_INDEX = {f: i for i, f in enumerate(FEATURE_FLAGS)}
assert len(FEATURE_FLAGS) <= 64, "listing feature flags are kept as a 64-bit mask"
_VT = {v: i for i, v in enumerate(VERTICALS)}
_FLAG_RE = re.compile(
    "|".join(re.escape(f) for f in sorted(FEATURE_FLAGS, key=len, reverse=True)), re.IGNORECASE
)


class ListingIndex:
    """Embeddings and attributes of every listing on the device, in ``ids`` order."""

    def __init__(
        self,
        pages: Iterable[Sequence[Sequence[Any]]],
        tower: TFLiteModel,
        version: tuple[int, int],
    ):
        """Build from ``pages`` of rows whose first column is a listing's stored ``data``;
        pages of ``EMBED_BATCH`` rows keep the peak memory that of one page (or use
        :meth:`add_page` and :meth:`finish` to read pages as they come)."""
        self.version = version
        self.tower = tower
        self.tower_version = tower.manifest.version
        self.checked_at = time.monotonic()
        self.ids: list[str] = []
        self._cols: dict[str, list[Any]] = {
            k: [] for k in ("price", "beds", "ptype", "vert", "active", "flags", "emb")
        }
        self._city: list[str] = []
        self._area: list[str] = []
        for rows in pages:
            self.add_page(rows)
        if pages:
            self.finish()

    def add_page(self, rows: Sequence[Sequence[Any]]) -> None:
        cols, city, area, tower = self._cols, self._city, self._area, self.tower
        chunk = [_listing_dec.decode(r[0]) for r in rows]
        if not chunk:
            return
        self.ids.extend(li.id for li in chunk)
        cols["price"].append(np.array([li.price for li in chunk], dtype=np.float64))
        cols["beds"].append(np.array([li.beds for li in chunk], dtype=np.float64))
        cols["ptype"].append(np.array([_PT[li.property_type] for li in chunk]))
        cols["vert"].append(np.array([_VT[li.vertical] for li in chunk]))
        cols["active"].append(np.array([li.status == ListingStatus.ACTIVE for li in chunk]))
        cols["flags"].append(np.array([_flag_bits(li.features) for li in chunk], dtype=np.uint64))
        city.extend(li.location.city for li in chunk)
        area.extend(li.location.neighborhood or li.location.city for li in chunk)
        x = listing_matrix(chunk)
        if len(chunk) < EMBED_BATCH:  # pad to the batch size: the interpreter never resizes
            x = np.concatenate([x, np.zeros((EMBED_BATCH - len(x), x.shape[1]), x.dtype)])
        cols["emb"].append(tower.predict1(x)[: len(chunk)].astype(np.float32))

    def finish(self) -> ListingIndex:
        cols, city, area = self._cols, self._city, self._area
        width = int(self.tower.manifest.outputs[0].shape[-1])
        empty = {
            "price": np.float64,
            "beds": np.float64,
            "ptype": np.int64,
            "vert": np.int64,
            "active": bool,
            "flags": np.uint64,
        }
        for k, dtype in empty.items():
            setattr(self, k, np.concatenate(cols[k]) if cols[k] else np.zeros(0, dtype=dtype))
        self.price: NDArray[Any]
        self.beds: NDArray[Any]
        self.ptype: NDArray[Any]
        self.vert: NDArray[Any]
        self.active: NDArray[Any]
        self.flags: NDArray[Any]
        self.emb = (
            np.ascontiguousarray(np.concatenate(cols["emb"]))
            if cols["emb"]
            else np.zeros((0, width), dtype=np.float32)
        )
        self.pos = {lid: i for i, lid in enumerate(self.ids)}
        self.city_names, city_code = np.unique(np.asarray(city, dtype=object), return_inverse=True)
        self.area_names, area_code = np.unique(np.asarray(area, dtype=object), return_inverse=True)
        self.city_code = city_code.astype(np.int32)
        #: The cities and neighbourhoods of the listings: the places a lead can name.
        self.places: tuple[str, ...] = tuple(sorted(set(city) | set(area)))
        self.area_code = area_code.astype(np.int32)
        # Norms, not a second (n, width) matrix of unit vectors: rank() needs unit vectors for
        # its pool of 60 only.
        self.norm = np.maximum(np.linalg.norm(self.emb, axis=1, keepdims=True), 1e-6)
        del self._cols, self._city, self._area
        return self

    def __len__(self) -> int:
        return len(self.ids)

    def area(self, i: int) -> str:
        return str(self.area_names[self.area_code[i]])

    def features(self, i: int) -> list[str]:
        bits = int(self.flags[i])
        return [FEATURE_FLAGS[b] for b in range(bits.bit_length()) if bits >> b & 1]


@functools.lru_cache(maxsize=8192)
def text_flags(text: str) -> tuple[str, ...]:
    """Listing features named in one text (lower case, in order of mention); memoized."""
    return tuple(m.group(0).lower() for m in _FLAG_RE.finditer(text))


def _flag_bits(features: Sequence[str]) -> int:
    bits = 0
    for f in features:
        j = _FLAG_INDEX.get(f)
        if j is not None:
            bits |= 1 << j
    return bits


class Recommendation(msgspec.Struct, frozen=True, kw_only=True):
    """One recommended listing: ``rank`` 1 is the best; ``score`` is its relevance in (0, 1),
    never higher than the score of the rank before it; ``reasons`` are true of the lead."""

    listing_id: str
    rank: int
    score: float
    price: float
    currency: str
    beds: int
    baths: float
    area: str
    vertical: Vertical
    reasons: list[str]


class RecommendContext(msgspec.Struct, frozen=True, kw_only=True):
    """Optional limits for one request (the agent's filters)."""

    max_price: float | None = None
    city: str | None = None
    vertical: Vertical | None = None
    include_seen: bool = False


class StyleContext(msgspec.Struct, frozen=True, kw_only=True):
    """What one message is for: its intent, the lead's consent, and whether it is urgent."""

    intent: Intent = Intent.FOLLOW_UP_AFTER_SILENCE
    #: The lead's recorded consent; None: not checked here (a style hint, not a send: the
    #: outreach rules of ``edge.outreach.rules`` decide what may be sent).
    consent: Consent | None = None
    channel: Channel | None = None  # the agent's choice wins when consented


class Style(msgspec.Struct, frozen=True, kw_only=True):
    formality: Formality
    length: MessageLength
    channel: Channel
    language: str
    reason: str


def profile_id(lead_id: str) -> str:
    pid = f"prof-{lead_id}"
    return pid if len(pid) <= 64 else "prof-" + hashlib.sha1(lead_id.encode()).hexdigest()[:24]


def _wquantile(values: NDArray[Any], weights: NDArray[Any], q: float) -> float:
    order = np.argsort(values)
    cw = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cw, q * cw[-1])])


def _round_price(x: float) -> float:
    step = 10_000.0 if x < 1e6 else 50_000.0
    return float(max(step, round(x / step) * step))


def style_labels(style_model: TFLiteModel, features: NDArray[Any]) -> dict[str, float]:
    y = style_model.predict1(features.reshape(1, -1))[0]
    return {label: float(v) for label, v in zip(style_model.manifest.labels, y, strict=True)}


def build_profile(
    lead: Lead,
    features: NDArray[Any],
    cols: EventColumns,
    texts: Sequence[str],
    listing_ids: Sequence[str | None],
    index: ListingIndex,
    style: dict[str, float],
    vertical: VerticalGuess,
    *,
    language: str | None = None,
    profile_id_: str | None = None,
    now_ms: int = 0,
    model_version: str = "",
    stated: ProfileText | None = None,
) -> Profile:
    """The lead's profile from its events, texts and the style model's outputs; the criteria the
    lead ``stated`` in words win over those inferred (see ``edge.profile_text.merge``)."""
    has = ~np.isnan(cols.price)
    eng = has & np.isin(cols.type, _ENGAGED)
    view = has & (cols.type == _VIEW)
    sel = eng if np.count_nonzero(eng) >= 3 else (eng | view)
    w = np.where(eng, 3.0, 1.0)[sel]
    price_min = price_max = beds_min = baths_min = None
    if np.count_nonzero(sel) >= 2:
        prices = cols.price[sel]
        price_min = _round_price(_wquantile(prices, w, 0.1) * 0.95)
        price_max = _round_price(_wquantile(prices, w, 0.9) * 1.05)
        beds = np.nan_to_num(cols.beds[sel])
        baths = np.nan_to_num(cols.baths[sel])
        beds_min = int(_wquantile(beds, w, 0.2))
        baths_min = float(np.floor(_wquantile(baths, w, 0.2) * 2) / 2)
    if lead.budget_max is not None:
        price_max = max(price_max or 0.0, float(lead.budget_max))
    if lead.budget_min is not None:
        price_min = min(price_min, float(lead.budget_min)) if price_min else lead.budget_min
    areas: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    idx = np.flatnonzero(sel)
    n_engaged = 0
    for i in idx:
        j = index.pos.get(listing_ids[i] or "")
        if j is None:
            continue
        areas[index.area(j)] += 3 if eng[i] else 1
        if eng[i]:
            n_engaged += 1
            flags.update(index.features(j))
    types: Counter[int] = Counter()
    for code, weight in zip(cols.property_type[sel].tolist(), w.tolist(), strict=True):
        if code >= 0:
            types[code] += weight
    total_t = sum(types.values()) or 1.0
    must = [f for f, c in flags.most_common(4) if n_engaged >= 2 and c >= 0.5 * n_engaged]
    for t in texts:
        for f in text_flags(t):
            if f not in (x.lower() for x in must):
                must.append(f)
    labels = style
    allowed = [c for c in OUTREACH_CHANNELS if lead.consent.allows(c)] or [Channel.EMAIL]
    channel = max(allowed, key=lambda c: labels.get(f"pref_{c.value}", 0.0))
    formality = (
        Formality.FORMAL
        if labels.get("formal", 0) > 0.5
        else Formality.CASUAL
        if labels.get("casual", 0) > 0.5
        else Formality.NEUTRAL
    )
    length = (
        MessageLength.SHORT
        if labels.get("short", 0) > 0.5
        else MessageLength.LONG
        if labels.get("long", 0) > 0.5
        else MessageLength.MEDIUM
    )
    profile = Profile(
        id=profile_id_ or profile_id(lead.id),
        updated_at=now_ms,
        lead_id=lead.id,
        language=language or lead.language,
        price_min=price_min,
        price_max=price_max,
        beds_min=beds_min,
        baths_min=baths_min,
        areas=[a for a, _ in areas.most_common(3)],
        property_types=[PROPERTY_TYPES[c] for c, v in types.most_common(3) if v / total_t >= 0.2],
        must_haves=must[:6],
        vertical=vertical.vertical,
        formality=formality,
        message_length=length,
        preferred_channel=channel,
        model_version=model_version,
    )
    return profile if stated is None else apply_stated(profile, stated, consent=lead.consent)


def lead_embedding(tower: TFLiteModel, lead: Lead, cols: EventColumns) -> NDArray[Any]:
    embedding: NDArray[Any] = tower.predict1(lead_preference_vector(lead, cols).reshape(1, -1))[0]
    return embedding


def rank(
    index: ListingIndex,
    embedding: NDArray[Any],
    profile: Profile,
    seen: Sequence[str | None],
    k: int = 10,
    context: RecommendContext | None = None,
    stated: ProfileText | None = None,
) -> list[tuple[str, float]]:
    """Ids and scores of the ``k`` best unseen active listings for the lead, diverse.

    A score is the listing's relevance in (0, 1) when it was picked (after the diversity
    penalties), so scores never increase with rank. Areas and must-haves the lead ``stated``
    pull their listings up.
    """
    context = context or RecommendContext()
    if k <= 0 or len(index) == 0:
        return []
    s = index.emb @ embedding.astype(np.float32)
    spread = np.float32(s.std() or 1.0)
    ok = index.active.copy()
    if not context.include_seen:
        seen_idx = [index.pos[x] for x in set(seen) if x in index.pos]
        ok[seen_idx] = False
    if context.max_price is not None:
        ok &= index.price <= context.max_price
    if context.vertical is not None:
        ok &= index.vert == _VT[context.vertical]
    if context.city is not None:
        hit = np.flatnonzero(index.city_names == context.city)
        ok &= np.isin(index.city_code, hit)
    score = s / spread
    if profile.price_min is not None:
        score = score - 1.0 * (index.price < 0.9 * profile.price_min)
    if profile.price_max is not None:
        score = score - 1.0 * (index.price > 1.1 * profile.price_max)
    if stated is not None and stated.areas:
        wanted_area = (
            np.isin(index.city_names, stated.areas)[index.city_code]
            | np.isin(index.area_names, stated.areas)[index.area_code]
        )
        score = score - STATED_AREA_PENALTY * ~wanted_area
    if stated is not None and stated.must_haves:
        for f in stated.must_haves:  # each must-have the listing has pulls it up
            j = _FLAG_INDEX.get(f)
            if j is not None:
                score = score + 0.3 * ((index.flags >> np.uint64(j)) & np.uint64(1))
    if profile.beds_min is not None:
        score = score - 0.5 * (index.beds < profile.beds_min)
    if profile.property_types:
        wanted = np.ones(len(PROPERTY_TYPES), dtype=np.float32)
        wanted[[_PT[p] for p in profile.property_types]] = 0.0
        score = score - 0.5 * wanted[index.ptype]
    score = score - 0.7 * (index.vert != _VT[profile.vertical])
    score = np.where(ok, score, -np.inf)
    n_ok = int(np.count_nonzero(ok))
    if n_ok == 0:
        return []
    pool_n = min(MMR_POOL, n_ok)
    pool = np.argpartition(-score, pool_n - 1)[:pool_n]
    pool = pool[np.argsort(-score[pool], kind="stable")]
    chosen: list[int] = []
    sim = np.zeros(pool_n, dtype=np.float32)
    ps = score[pool].astype(np.float32)
    unit = index.emb[pool] / index.norm[pool]
    area_code = np.unique(index.area_code[pool], return_inverse=True)[1]
    area_pen = np.zeros(int(area_code.max()) + 1, dtype=np.float32)
    taken = np.zeros(pool_n, dtype=bool)
    picked: list[float] = []
    area_step = 0.0 if stated is not None and stated.areas else 0.3  # they named their areas
    for _ in range(min(k, pool_n)):
        mmr = np.where(taken, -np.inf, ps - MMR_LAMBDA * 3 * sim - area_pen[area_code])
        b = int(np.argmax(mmr))
        taken[b] = True
        chosen.append(int(pool[b]))
        picked.append(float(mmr[b]))  # penalties only grow: never above the previous pick's
        area_pen[area_code[b]] += area_step  # a second pick in the same area must earn it
        np.maximum(sim, unit @ unit[b], out=sim)
    return [(index.ids[j], _relevance(v)) for j, v in zip(chosen, picked, strict=True)]


def _relevance(x: float) -> float:
    """A score on (0, 1), in the same order (the logistic function)."""
    return float(1.0 / (1.0 + np.exp(-x)))


def _money(x: float) -> str:
    return f"${x / 1e6:.2f}M" if x >= 1e6 else f"${x / 1e3:.0f}k"


def stated_of(profile: Profile) -> ProfileText:
    """A profile's criteria as if stated: for a lead with no engagement, every criterion of its
    profile came from its words or its record, none from behaviour."""
    return ProfileText(
        price_min=profile.price_min,
        price_max=profile.price_max,
        beds_min=profile.beds_min,
        baths_min=profile.baths_min,
        areas=list(profile.areas),
        property_types=list(profile.property_types),
        must_haves=list(profile.must_haves),
    )


def _stated_met(li: Listing, s: ProfileText) -> list[str]:
    """The criteria the lead stated that ``li`` meets, in their words."""
    met = ProfileText(
        beds_min=s.beds_min if s.beds_min is not None and li.beds >= s.beds_min else None,
        baths_min=s.baths_min if s.baths_min is not None and li.baths >= s.baths_min else None,
        price_min=s.price_min if s.price_min is None or li.price >= s.price_min else None,
        price_max=s.price_max if s.price_max is None or li.price <= s.price_max else None,
        currency=s.currency,
        property_types=[li.property_type] if li.property_type in s.property_types else [],
        areas=[a for a in s.areas if a in (li.location.city, li.location.neighborhood)],
    )
    if (s.price_min is not None and met.price_min is None) or (
        s.price_max is not None and met.price_max is None
    ):
        met = msgspec.structs.replace(met, price_min=None, price_max=None)
    return describe(met)


def explain(
    li: Listing,
    rank: int,
    score: float,
    p: Profile,
    *,
    stated: ProfileText | None = None,
    engaged: bool = True,
) -> Recommendation:
    """A recommendation with its reasons in words (what matters for the listing's vertical).

    Reasons are true of the lead: the criteria they ``stated`` that the listing meets, and
    reasons from behaviour (their price band, areas they keep viewing, similarity to what they
    engaged with) only when the lead has ``engaged`` with listings.
    """
    stated = stated or ProfileText()
    reasons: list[str] = []
    met = _stated_met(li, stated)
    if met:
        reasons.append("as they asked: " + ", ".join(met))
    said_price = stated.price_min is not None or stated.price_max is not None
    if engaged and p.price_min is not None and p.price_max is not None and not said_price:
        if p.price_min <= li.price <= p.price_max:
            reasons.append(
                f"{_money(li.price)} is within the {_money(p.price_min)}–"
                f"{_money(p.price_max)} band they look at"
            )
        else:
            reasons.append(f"{_money(li.price)}, outside their usual band, worth a look")
    if (
        engaged
        and stated.beds_min is None
        and p.beds_min is not None
        and li.beds
        and li.beds >= p.beds_min
    ):
        reasons.append(f"{li.beds} beds (they look for {p.beds_min}+)")
    area = li.location.neighborhood or li.location.city
    if engaged and area in p.areas and area not in stated.areas:
        reasons.append(f"in {area}, an area they keep viewing")
    have = [f for f in p.must_haves if f.lower() in (x.lower() for x in li.features)]
    if have:
        reasons.append("has " + ", ".join(have))
    if li.vertical is Vertical.COMMERCIAL:
        facts = [
            f"cap rate {li.cap_rate:.1%}" if li.cap_rate is not None else "",
            f"NOI {_money(li.noi)}" if li.noi is not None else "",
            f"zoned {li.zoning}" if li.zoning else "",
        ]
        if any(facts):
            reasons.append(", ".join(f for f in facts if f))
    elif li.vertical is Vertical.NEW_CONSTRUCTION:
        if li.builder_incentive:
            reasons.append(f"builder incentive: {li.builder_incentive}")
        if li.completion_date:
            reasons.append(
                "completion " + time.strftime("%b %Y", time.gmtime(li.completion_date / 1000))
            )
    elif li.vertical is Vertical.LUXURY:
        lux = [
            f
            for f in li.features
            if f
            in (
                "waterfront",
                "gated entry",
                "private dock",
                "pool",
                "city view",
                "spa",
                "guest house",
            )
        ][:3]
        if lux:
            reasons.append("privacy and amenities: " + ", ".join(lux))
    if not reasons:
        reasons.append(
            "similar to the listings they engaged with"
            if engaged
            else "among the best-ranked active listings for them"
        )
    return Recommendation(
        listing_id=li.id,
        rank=rank,
        score=round(score, 3),
        price=li.price,
        currency=li.currency,
        beds=li.beds,
        baths=li.baths,
        area=area,
        vertical=li.vertical,
        reasons=reasons,
    )


_SHORT_INTENTS = frozenset({Intent.SHOWING_REMINDER, Intent.OFFER_UPDATE})
_CHANNEL_ORDER = (Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.CALL)


def adapt_style(profile: Profile, context: StyleContext | None = None) -> Style:
    """Formality, length, channel and language for one message to the profile's lead."""
    ctx = context or StyleContext()
    why: list[str] = []
    formality = profile.formality
    if ctx.intent is Intent.FIRST_CONTACT:
        default = default_formality(profile.language, first_contact=True)
        if formality is Formality.CASUAL:
            formality = default
            why.append("first contact: no casual register yet")
    length = profile.message_length
    if ctx.intent in _SHORT_INTENTS:
        length = MessageLength.SHORT
        why.append(f"{ctx.intent.value} is best short")
    channel = ctx.channel or profile.preferred_channel
    consent = ctx.consent
    if consent is not None and channel in OUTREACH_CHANNELS and not consent.allows(channel):
        fallback = [c for c in _CHANNEL_ORDER if consent.allows(c)]
        why.append(f"no consent for {channel.value}")
        channel = fallback[0] if fallback else Channel.IN_PERSON
    if channel is Channel.EMAIL and length is MessageLength.SHORT:
        length = MessageLength.MEDIUM
    return Style(
        formality=formality,
        length=length,
        channel=channel,
        language=profile.language,
        reason="; ".join(why) or "the lead's profile",
    )
