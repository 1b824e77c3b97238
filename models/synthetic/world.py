"""A seeded synthetic world: agents, listings, leads, months of events, and the hidden truth.

``generate_world(agents, leads, listings, seed, now_ms)`` draws everything from one
``numpy.random.Generator(PCG64(seed))`` in a fixed order, so one seed gives identical records and
identical batch bytes. ``now_ms`` defaults to :data:`DEFAULT_NOW_MS` (a fixed instant, not the
clock) for the same reason. Every event has ``ts <= now_ms``.

Generative process
==================

Listings (``models.synthetic.listing``)
    Market King County (85%) or Ames (15%); vertical residential 70%, luxury 8%, commercial 10%,
    new construction 12%. An area (a cluster of King County zipcodes, or an Ames neighbourhood) is
    drawn by its sale count in the fitted prior (``listing_prior.json``; luxury favours expensive
    areas). Residential size, lot, year built, beds and baths come from the area's fitted
    distributions, and ``log price = intercept[area] + b . (log sqft, beds, baths, age) + e`` with
    the fitted coefficients and residual sd. Property type follows Ames' building-type mix plus
    condos (30% in urban areas, 8% elsewhere; an assumption). Luxury: +0.55 log sqft, price at
    least the market's 95th percentile, 3 to 5 amenities. Commercial: office / retail /
    industrial / mixed use, ~6,000 sqft median, price per sqft ~$220 (Ames 60% of that), 35% for
    lease at a monthly rent, ``cap_rate`` ~ N(6.2%, 1.2%) and ``noi = price * cap_rate`` for
    sales, a zoning code. New construction: built this year or next, a ``builder_incentive``,
    ``completion_date`` from 60 days ago to a year ahead. Prices are in source-year dollars.

Agents
    ``agent-01`` ... in teams of four (``team-a``, ``team-b`` ...); each speaks English plus up to
    two other languages (``agent-01`` speaks en and es).

Leads: latent traits (in :class:`LeadTruth`)
    ``intent`` z ~ N(0, 1) and ``responsiveness`` r = 0.3 z + sqrt(0.91) N(0, 1). Language from
    :data:`~models.synthetic.phrases.LANGUAGE_WEIGHTS` (all 16: en es zh vi ko tl ar fr ru pt hi
    ja de it th tr); then a locale, country and IANA time zone for that language
    (:data:`~models.synthetic.phrases.LOCALES`): people in the US who speak it at home
    (``ko_US`` in the market's zone, America/Los_Angeles or America/Chicago) or buyers abroad
    (``ko_KR`` Asia/Seoul, ``es_MX`` America/Mexico_City ...). Vertical of interest: residential
    68%, luxury 8%, commercial 10%, new construction 14%. An anchor listing of that market and
    vertical gives the lead's area and budget (anchor price x lognormal(0, 0.15)). The lead's agent
    is drawn with weight 5 for agents who speak the lead's language, else 1. Created 14 to 240 days
    before now; active until a point 35% to 100% of the way to now (``active_end``).

Active hours
    A weekday peak hour (local time): evening N(19, 1.5) for 60%, lunch N(12.5, 1) for 25%, early
    morning N(8, 1) for 15%; a weekend peak N(11, 2); a width U(1.5, 3.5) h; an amplitude
    U(1.2, 2.2); a weekend shift N(0, 0.3); a night penalty U(1, 2) for local hours 23:00-06:59.
    Lead-initiated events fall at a local hour drawn from N(peak, width) (65%) or U(7, 23) (35%).
    Local time uses the lead's time zone (offsets per day, so DST is respected).

Preferred channel and response (the intervention ground truth)
    Preferred channel: in the US call 25%, sms 35%, email 30%, whatsapp 10%; abroad call 10%,
    sms 10%, email 30%, whatsapp 50%. For an outreach on channel c at local hour-of-week h
    (0 = Monday 00:00 local)::

        logit P(response) = response_intercept + channel_effects[c] + hour_effect(h)
        response_intercept = -1.7 + 0.9 r + 0.3 z
        channel_effects[c] = base[c] + 0.9 [c is preferred] + N(0, 0.25)
            base (US):     call -0.5, sms 0.2, email -0.6, whatsapp -0.3
            base (abroad): call -0.8, sms -0.4, email -0.4, whatsapp 0.5
        hour_effect(h) = amplitude * exp(-d^2 / (2 width^2)) + weekend_shift [weekend]
                         - night_penalty [local hour < 7 or >= 23]
            d = circular distance in hours between the slot's middle and the day's peak hour

    :func:`response_probability` computes exactly this. ``p_respond`` is its mean over the four
    outreach channels and the waking slots (local 08:00-21:59, all seven days).

Observed behaviour (a noisy function of the latents)
    Activity rate per day ``exp(log 0.25 + 0.55 z + 0.3 r + 0.35 N)``; over the active window:
    property views ~ Poisson(rate x days) (70% of them near the budget in the lead's area, with
    longer dwell), saves ~ Binomial(views, sigmoid(-2.3 + 0.7 z + 0.3 N)) (a few minutes after a
    view of the same listing), shares ~ Binomial(views, sigmoid(-3.6 + 0.3 z + 0.5 r)),
    inquiries ~ Poisson(days/30 x 0.5 e^(0.4 z + 0.3 r)) with a text, campaign email opens ~
    Binomial(days/7, sigmoid(-0.6 + 0.7 r + 0.2 z)) and clicks ~ Binomial(opens,
    sigmoid(-1.2 + 0.6 z)), showings booked ~ Poisson(days/30 x 0.45 e^(0.8 z)) and attended with
    sigmoid(1 + 0.7 r) one to six days later, unprompted messages in ~ Poisson(days/30 x 0.6 e^(0.5
    r)) on the lead's messaging channel (the preferred one if it is sms, email or whatsapp, else
    sms in the US and whatsapp abroad) and calls in ~ Poisson(days/30 x 0.2 e^(0.4 r)), agent
    voice notes ~ Poisson(days/30 x 0.5) (English). Texts are short phrases in the lead's
    language (:mod:`models.synthetic.phrases`).

Outreach
    The agent reaches out ~ Poisson(1.5 + 1.0 x weeks) times between creation and the end of the
    outreach window (conversion, or ``active_end`` + 21 days, at most now - 2 days). Policy (an
    exploring one, so P(response | channel, hour) is learnable): the j-th of k outreaches falls
    on a day in the j-th k-th of the window (spaced, so a response is attributable); channel =
    the lead's preferred channel 25%, else call 20% / sms 35% / email 30% / whatsapp 15%, never a
    channel the lead has opted out of at that time; local hour = 09-17 (55%), 07-21 (35%) or any
    hour (10%), uniform minute. Each outreach is a ``message_out`` (sms, email, whatsapp; a
    text in the lead's language) or ``call_out`` (a voicemail, 15-45 s). The lead responds with
    the true probability above, after a lognormal latency (median ~40 min, shorter for
    responsive leads, 1 min to 20 h): ``message_in`` on the same channel, or ``call_in`` for a
    call. Unprompted messages and calls (above) are noise around these responses.

Consent
    Each channel is opted out with probability call 4%, sms 5%, email 7%, whatsapp 4%, at a
    uniform time (an ``opt_out`` event on that channel); ``Lead.consent`` holds the final state.

Conversion (the outcome)
    ``logit p_convert = -3.2 + 1.0 z + 0.3 r + 0.45 log1p(showings attended) + 0.2 log1p(saves)
    + 0.15 log1p(inquiries + unprompted messages in) + vertical (luxury -0.2, commercial -0.3,
    new construction +0.1) + N(0, 0.6)``; z, r and the last term are hidden (``p_convert``
    includes them), so observed behaviour predicts conversion well but not perfectly, and the
    outcome ``converted ~ Bernoulli(p_convert)`` keeps even the Bayes-optimal AUC below 1.
    Converted leads close ``deal_closed`` (with an amount) after ``active_end`` (exponential, mean
    10 days), preceded 3-21 days earlier by an ``offer`` on a listing they toured, saved or viewed;
    the listing becomes sold. Some non-converted leads who attended a showing make a failed offer
    (probability 0.3 sigmoid(z)). Offers and ``deal_closed`` are outcome events: a conversion model
    should use features from before them. Lead status: converted, lost (quiet for 45 days) or
    active (new when there are no events).

Records
    Ids: ``agent-01``, ``team-a``, ``lst-000001``, ``lead-000001``, ``evt-00000001`` (events are
    numbered in time order). A listing's ``listed_at`` is moved to at least 3 days before the
    first event on it. ``Lead.budget_min`` / ``budget_max`` are 0.85 / 1.1 x the budget. Local
    times use each zone's UTC offset at noon UTC of the day (exact except on DST-change days).
"""

from __future__ import annotations

import math
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from models.synthetic.listing import (
    DAY_MS,
    MARKET_WEIGHTS,
    MARKETS,
    VERTICALS,
    ListingDraw,
    areas,
    draw_listings,
    load_prior,
)
from models.synthetic.phrases import (
    INBOUND,
    LANGUAGE_WEIGHTS,
    LANGUAGES,
    LOCALES,
    NAMES,
    OUTBOUND,
    VOICE_NOTES,
)
from sync.codec import Format, encode_batch
from sync.records import (
    OUTREACH_CHANNELS,
    Agent,
    Channel,
    Consent,
    Event,
    EventType,
    Lead,
    LeadStatus,
    Listing,
    ListingStatus,
    Vertical,
)

#: The default "now": a fixed instant, so that a seed alone fixes the output.
DEFAULT_NOW_MS = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000

LEAD_VERTICAL_WEIGHTS = np.array([0.68, 0.08, 0.10, 0.14])
VERTICAL_CONVERSION_OFFSET = np.array([0.0, -0.2, -0.3, 0.1])
CHANNEL_BASE_US = np.array([-0.5, 0.2, -0.6, -0.3])  # OUTREACH_CHANNELS order
CHANNEL_BASE_ABROAD = np.array([-0.8, -0.4, -0.4, 0.5])
PREFERRED_US = np.array([0.25, 0.35, 0.30, 0.10])
PREFERRED_ABROAD = np.array([0.10, 0.10, 0.30, 0.50])
AGENT_CHANNEL_HABIT = np.array([0.20, 0.35, 0.30, 0.15])
OPT_OUT_RATE = np.array([0.04, 0.05, 0.07, 0.04])
MARKET_TIMEZONES = ("America/Los_Angeles", "America/Chicago")
LEAD_SOURCES = ("zillow", "website", "referral", "open_house", "realtor.com", "facebook")
LEAD_SOURCE_WEIGHTS = np.array([0.3, 0.2, 0.15, 0.1, 0.15, 0.1])
CALLING_CODES = {
    "US": "1",
    "CA": "1",
    "GB": "44",
    "AU": "61",
    "MX": "52",
    "CO": "57",
    "ES": "34",
    "CN": "86",
    "TW": "886",
    "HK": "852",
    "VN": "84",
    "KR": "82",
    "PH": "63",
    "AE": "971",
    "SA": "966",
    "EG": "20",
    "FR": "33",
    "RU": "7",
    "KZ": "7",
    "BR": "55",
    "PT": "351",
    "IN": "91",
    "JP": "81",
    "DE": "49",
    "AT": "43",
    "CH": "41",
    "IT": "39",
    "TH": "66",
    "TR": "90",
}

# Internal event-type and channel codes (indexes into these tuples).
_ETYPES: tuple[EventType, ...] = tuple(EventType)
_CHANNELS: tuple[Channel, ...] = tuple(Channel)
_OUT_CH = np.array([_CHANNELS.index(c) for c in OUTREACH_CHANNELS])
_E = {t: i for i, t in enumerate(_ETYPES)}
_C = {c: i for i, c in enumerate(_CHANNELS)}
# Text codes: inbound phrase k -> k, outbound k -> 10 + k, voice note k -> 20 + k.
_TXT_OUT, _TXT_VOICE = 10, 20


class SyntheticError(Exception):
    """A synthetic world cannot be generated with the given arguments."""


class LeadTruth(msgspec.Struct, frozen=True, kw_only=True):
    """The hidden state of one lead and the true probabilities of the generative process."""

    lead_id: str
    agent_id: str
    intent: float
    responsiveness: float
    p_convert: float
    p_respond: float
    converted: bool
    converted_at: int | None
    vertical: Vertical
    market: str
    area: str
    budget: float
    preferred_channel: Channel
    response_intercept: float
    channel_effects: dict[str, float]
    peak_hour_weekday: float
    peak_hour_weekend: float
    hour_width: float
    hour_amplitude: float
    weekend_shift: float
    night_penalty: float
    active_end: int


class World(msgspec.Struct, kw_only=True):
    """Everything one seed generates: records in ingest order, and the truth per lead."""

    seed: int
    now_ms: int
    agents: list[Agent]
    listings: list[Listing]
    leads: list[Lead]
    events: list[Event]
    truth: list[LeadTruth]

    def records(self) -> list[Agent | Listing | Lead | Event]:
        """Agents, listings, leads, events: the order in which references can be checked."""
        return [*self.agents, *self.listings, *self.leads, *self.events]


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def hour_effect(
    hour_of_week: np.ndarray | int,
    peak_weekday: np.ndarray | float,
    peak_weekend: np.ndarray | float,
    width: np.ndarray | float,
    amplitude: np.ndarray | float,
    weekend_shift: np.ndarray | float,
    night_penalty: np.ndarray | float,
) -> np.ndarray:
    """The hour-of-week term of the response logit (see the module docstring)."""
    how = np.asarray(hour_of_week)
    hour = how % 24
    weekend = how // 24 >= 5
    peak = np.where(weekend, peak_weekend, peak_weekday)
    d = np.abs((hour + 0.5) - peak) % 24
    d = np.minimum(d, 24 - d)
    night = (hour < 7) | (hour >= 23)
    return (
        np.asarray(amplitude) * np.exp(-0.5 * (d / width) ** 2)
        + np.where(weekend, weekend_shift, 0.0)
        - np.where(night, night_penalty, 0.0)
    )


def truth_hour_effect(truth: LeadTruth, hour_of_week: np.ndarray | int) -> np.ndarray:
    """:func:`hour_effect` with one lead's true parameters."""
    return hour_effect(
        hour_of_week,
        truth.peak_hour_weekday,
        truth.peak_hour_weekend,
        truth.hour_width,
        truth.hour_amplitude,
        truth.weekend_shift,
        truth.night_penalty,
    )


def response_probability(truth: LeadTruth, channel: Channel | str, hour_of_week: int) -> float:
    """True P(the lead responds) to an outreach on ``channel`` at local ``hour_of_week``."""
    ch = Channel(channel)
    if ch.value not in truth.channel_effects:
        raise SyntheticError(f"no response model for channel {ch.value!r}")
    if not 0 <= int(hour_of_week) <= 167:
        raise SyntheticError(f"hour_of_week must be in 0..167, got {hour_of_week!r}")
    logit = (
        truth.response_intercept
        + truth.channel_effects[ch.value]
        + float(truth_hour_effect(truth, int(hour_of_week)))
    )
    return 1.0 / (1.0 + math.exp(-logit))


def _team_id(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(97 + r) + letters
    return f"team-{letters}"


def _ascii(s: str) -> str:
    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch in ".-")


def _tz_offsets(zones: list[str], day0: int, ndays: int) -> np.ndarray:
    """UTC offset in seconds of each zone at noon UTC of each day (day numbers since epoch)."""
    out = np.zeros((len(zones), ndays))
    for z, name in enumerate(zones):
        tz = ZoneInfo(name)
        for d in range(ndays):
            dt = datetime.fromtimestamp((day0 + d) * 86400 + 43200, tz)
            off = dt.utcoffset()
            out[z, d] = off.total_seconds() if off is not None else 0.0
    return out


class _Events:
    """Columns of events being generated; one ``add`` per event kind, arrays or scalars."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {
            k: []
            for k in (
                "lead",
                "etype",
                "ts",
                "channel",
                "listing",
                "text",
                "dwell",
                "duration",
                "amount",
            )
        }

    def add(
        self,
        lead: np.ndarray,
        etype: EventType,
        ts: np.ndarray,
        *,
        channel: np.ndarray | Channel | None = None,
        listing: np.ndarray | None = None,
        text: np.ndarray | None = None,
        dwell: np.ndarray | None = None,
        duration: np.ndarray | None = None,
        amount: np.ndarray | None = None,
    ) -> None:
        k = len(lead)
        if k == 0:
            return

        def col(v: object, fill: float, dtype: type) -> np.ndarray:
            if v is None:
                return np.full(k, fill, dtype=dtype)
            if isinstance(v, Channel):
                return np.full(k, _C[v], dtype=dtype)
            return np.broadcast_to(np.asarray(v, dtype=dtype), (k,))

        self.cols["lead"].append(np.asarray(lead, dtype=np.int64))
        self.cols["etype"].append(np.full(k, _E[etype], dtype=np.int64))
        self.cols["ts"].append(np.asarray(ts, dtype=np.int64))
        self.cols["channel"].append(col(channel, -1, np.int64))
        self.cols["listing"].append(col(listing, -1, np.int64))
        self.cols["text"].append(col(text, -1, np.int64))
        self.cols["dwell"].append(col(dwell, np.nan, np.float64))
        self.cols["duration"].append(col(duration, np.nan, np.float64))
        self.cols["amount"].append(col(amount, np.nan, np.float64))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64))
            for k, v in self.cols.items()
        }


def _draw_agents(rng: np.random.Generator, n: int) -> tuple[list[Agent], list[set[str]]]:
    others = [lang for lang in LANGUAGES if lang != "en"]
    w = np.array([LANGUAGE_WEIGHTS[lang] for lang in others])
    agents, langs = [], []
    for i in range(n):
        if i == 0:
            spoken = {"en", "es"}
        else:
            k = int(rng.integers(0, 3))
            spoken = {"en", *(others[j] for j in rng.choice(len(others), k, False, w / w.sum()))}
        name_lang = sorted(spoken)[int(rng.integers(0, len(spoken)))]
        first, last = NAMES[name_lang]
        name = f"{first[int(rng.integers(0, 6))]} {last[int(rng.integers(0, 6))]}"
        agents.append(
            Agent(
                id=f"agent-{i + 1:02d}",
                team_id=_team_id(i // 4),
                name=name,
                languages=sorted(spoken),
            )
        )
        langs.append(spoken)
    return agents, langs


def this_hour_ms() -> int:
    """The current time rounded down to the hour: a generated world's present on a live device."""
    return int(time.time() // 3600 * 3600 * 1000)


def generate_world(
    agents: int, leads: int, listings: int, seed: int, now_ms: int | None = None
) -> World:
    """Generate a world deterministically from ``seed`` (see the module docstring)."""
    if agents < 1 or listings < 1 or leads < 0:
        raise SyntheticError(
            f"need agents >= 1, listings >= 1, leads >= 0; got {agents}, {listings}, {leads}"
        )
    now = DEFAULT_NOW_MS if now_ms is None else int(now_ms)
    if now < 400 * DAY_MS:
        raise SyntheticError(f"now_ms {now} is too early for months of history")
    rng = np.random.default_rng(seed)
    prior = load_prior()
    draw = draw_listings(rng, listings, now, prior)
    agent_list, agent_langs = _draw_agents(rng, agents)
    n = leads

    # --- Lead identity: language, locale, time zone, market, vertical, anchor listing.
    lang_w = np.array([LANGUAGE_WEIGHTS[lang] for lang in LANGUAGES])
    lang = rng.choice(len(LANGUAGES), n, p=lang_w / lang_w.sum())
    loc_u = rng.random(n)
    market = rng.choice(len(MARKETS), n, p=MARKET_WEIGHTS)
    vertical = rng.choice(len(VERTICALS), n, p=LEAD_VERTICAL_WEIGHTS)
    locale, country, tzname = [], [], []
    for i in range(n):
        opts = LOCALES[LANGUAGES[lang[i]]]
        cw = np.cumsum([o[3] for o in opts])
        o = opts[min(int(np.searchsorted(cw / cw[-1], loc_u[i])), len(opts) - 1)]
        locale.append(o[0])
        country.append(o[1])
        tzname.append(o[2] or MARKET_TIMEZONES[market[i]])
    abroad = np.array([c != "US" for c in country], dtype=bool)
    zones = sorted(set(tzname) | set(MARKET_TIMEZONES))
    tz_idx = np.array([zones.index(t) for t in tzname], dtype=np.int64)

    z = rng.normal(0, 1, n)
    r = 0.3 * z + math.sqrt(0.91) * rng.normal(0, 1, n)
    eng_noise = rng.normal(0, 1, n)
    save_noise = rng.normal(0, 1, n)
    conv_noise = rng.normal(0, 0.6, n)

    # Listing pools: by (market, vertical, area), (market, vertical), (vertical), all; by price.
    order = np.argsort(draw.price, kind="stable")
    lists3: dict[tuple[int, int, int], list[int]] = {}
    lists2: dict[tuple[int, int], list[int]] = {}
    lists1: dict[int, list[int]] = {}
    for j in order:
        m, v, a = int(draw.market[j]), int(draw.vertical[j]), int(draw.area[j])
        lists3.setdefault((m, v, a), []).append(j)
        lists2.setdefault((m, v), []).append(j)
        lists1.setdefault(v, []).append(j)
    keys3 = {k: np.array(v) for k, v in lists3.items()}
    keys2 = {k: np.array(v) for k, v in lists2.items()}
    keys1 = {k: np.array(v) for k, v in lists1.items()}
    all_sorted = order

    anchor_u = rng.random(n)
    budget_noise = rng.normal(0, 0.15, n)
    anchor = np.zeros(n, dtype=np.int64)
    broad: list[np.ndarray] = []
    for i in range(n):
        pool = keys2.get((int(market[i]), int(vertical[i])))
        if pool is None:
            pool = keys1.get(int(vertical[i]), all_sorted)
        anchor[i] = pool[int(anchor_u[i] * len(pool))]
        broad.append(pool)
    area = draw.area[anchor] if n else np.zeros(0, dtype=np.int64)
    budget = draw.price[anchor] * np.exp(budget_noise) if n else np.zeros(0)
    near: list[np.ndarray] = []
    for i in range(n):
        pool = keys3.get((int(market[i]), int(vertical[i]), int(area[i])))
        if pool is None or len(pool) < 3:
            pool = broad[i]
        pos = int(np.searchsorted(draw.price[pool], budget[i]))
        half = max(5, len(pool) // 10)
        near.append(pool[max(0, pos - half) : pos + half] if len(pool) > 2 * half else pool)

    # Agent assignment: weight 5 for agents who speak the lead's language.
    agent_u = rng.random(n)
    lead_agent = np.zeros(n, dtype=np.int64)
    for i in range(n):
        w = np.array([5.0 if LANGUAGES[lang[i]] in s else 1.0 for s in agent_langs])
        lead_agent[i] = min(int(np.searchsorted(np.cumsum(w) / w.sum(), agent_u[i])), agents - 1)

    # --- Active hours, channels, response model.
    peak_kind = rng.random(n)
    peak_wd = np.where(
        peak_kind < 0.6,
        rng.normal(19, 1.5, n),
        np.where(peak_kind < 0.85, rng.normal(12.5, 1.0, n), rng.normal(8, 1, n)),
    )
    peak_wd = np.round(peak_wd % 24, 3)
    peak_we = np.round(rng.normal(11, 2, n) % 24, 3)
    width = np.round(rng.uniform(1.5, 3.5, n), 3)
    amp = np.round(rng.uniform(1.2, 2.2, n), 3)
    wk_shift = np.round(rng.normal(0, 0.3, n), 3)
    night_pen = np.round(rng.uniform(1.0, 2.0, n), 3)
    pref_u = rng.random(n)
    pref = np.where(
        abroad,
        np.searchsorted(np.cumsum(PREFERRED_ABROAD), pref_u * PREFERRED_ABROAD.sum()),
        np.searchsorted(np.cumsum(PREFERRED_US), pref_u * PREFERRED_US.sum()),
    ).clip(0, 3)
    ch_eff = (
        np.where(abroad[:, None], CHANNEL_BASE_ABROAD, CHANNEL_BASE_US)
        + 0.9 * (np.arange(4)[None, :] == pref[:, None])
        + rng.normal(0, 0.25, (n, 4))
    )
    ch_eff = np.round(ch_eff, 4)
    resp_int = np.round(-1.7 + 0.9 * r + 0.3 * z, 4)

    # --- Time windows.
    created = (now - rng.uniform(14, 240, n) * DAY_MS).astype(np.int64)
    span = (now - created).astype(float)
    active_end = np.minimum(created + rng.uniform(0.35, 1.0, n) * span, now - HOUR_MS)
    active_end = active_end.astype(np.int64)
    days = (active_end - created) / DAY_MS
    day0 = int(created.min() // DAY_MS) - 3 if n else now // DAY_MS
    offsets = _tz_offsets(zones, day0, int(now // DAY_MS) - day0 + 4)

    def local_offset_s(lead_idx: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
        d = np.clip(t_ms // DAY_MS - day0, 0, offsets.shape[1] - 1)
        return offsets[tz_idx[lead_idx], d]

    def activity_ts(lead_idx: np.ndarray) -> np.ndarray:
        """Times of lead-initiated events: a uniform day, an hour from the lead's active hours."""
        k = len(lead_idx)
        lo, hi = created[lead_idx], active_end[lead_idx]
        t = lo + (rng.random(k) * (hi - lo)).astype(np.int64)
        off = local_offset_s(lead_idx, t)
        local_day = np.floor((t / 1000 + off) / 86400)
        weekend = (local_day + 3) % 7 >= 5
        peak = np.where(weekend, peak_we[lead_idx], peak_wd[lead_idx])
        hour = np.where(
            rng.random(k) < 0.65,
            (peak + rng.normal(0, 1, k) * width[lead_idx]) % 24,
            rng.uniform(7, 23, k),
        )
        ts = ((local_day * 86400 + hour * 3600 - off) * 1000).astype(np.int64)
        return np.clip(ts, lo, hi)

    ev = _Events()
    lead_range = np.arange(n)

    # --- Consent: opt-outs at a uniform time.
    opted = rng.random((n, 4)) < OPT_OUT_RATE
    opt_time = created[:, None] + rng.random((n, 4)) * (now - HOUR_MS - created[:, None])
    opt_time = np.where(opted, opt_time, np.inf)
    oi, oc = np.nonzero(opted)
    ev.add(oi, EventType.OPT_OUT, opt_time[oi, oc].astype(np.int64), channel=_OUT_CH[oc])

    # --- Browsing: views, saves, shares.
    rate = np.exp(math.log(0.25) + 0.55 * z + 0.3 * r + 0.35 * eng_noise)
    n_view = np.minimum(rng.poisson(rate * days), 400)
    view_lead = np.repeat(lead_range, n_view)
    view_ts = activity_ts(view_lead)
    view_listing = np.zeros(len(view_lead), dtype=np.int64)
    view_near = rng.random(len(view_lead)) < 0.7
    view_u = rng.random(len(view_lead))
    starts = np.concatenate([[0], np.cumsum(n_view)])
    for i in range(n):
        s, e = starts[i], starts[i + 1]
        if s == e:
            continue
        pools = (near[i], broad[i])
        for flag, pool in ((True, pools[0]), (False, pools[1])):
            sel = np.flatnonzero(view_near[s:e] == flag) + s
            view_listing[sel] = pool[(view_u[sel] * len(pool)).astype(np.int64)]
    dwell = np.clip(
        np.exp(
            np.log(40) + 0.25 * z[view_lead] + 0.3 * view_near + rng.normal(0, 0.8, len(view_lead))
        ),
        2,
        3600,
    ).round(1)
    ev.add(
        view_lead,
        EventType.PROPERTY_VIEW,
        view_ts,
        channel=Channel.WEB,
        listing=view_listing,
        dwell=dwell,
    )

    n_save = rng.binomial(n_view, _sigmoid(-2.3 + 0.7 * z + 0.3 * save_noise))
    n_share = rng.binomial(n_view, _sigmoid(-3.6 + 0.3 * z + 0.5 * r))
    save_pick: list[np.ndarray] = []
    share_pick: list[np.ndarray] = []
    for i in range(n):
        s, e = starts[i], starts[i + 1]
        if n_save[i]:
            w = np.where(view_near[s:e], 3.0, 1.0)
            save_pick.append(s + rng.choice(e - s, n_save[i], p=w / w.sum()))
        if n_share[i]:
            share_pick.append(s + rng.integers(0, e - s, n_share[i]))
    save_idx = np.concatenate(save_pick) if save_pick else np.zeros(0, dtype=np.int64)
    share_idx = np.concatenate(share_pick) if share_pick else np.zeros(0, dtype=np.int64)
    ev.add(
        view_lead[save_idx],
        EventType.PROPERTY_SAVE,
        view_ts[save_idx] + rng.integers(5_000, 600_000, len(save_idx)),
        channel=Channel.WEB,
        listing=view_listing[save_idx],
    )
    ev.add(
        view_lead[share_idx],
        EventType.PROPERTY_SHARE,
        view_ts[share_idx] + rng.integers(5_000, 900_000, len(share_idx)),
        channel=Channel.WEB,
        listing=view_listing[share_idx],
    )

    def lead_listing(lead_idx: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
        """A listing per event: from ``prefer`` indexes of views if the lead has any, else near."""
        u = rng.random(len(lead_idx))
        out = np.zeros(len(lead_idx), dtype=np.int64)
        for k, i in enumerate(lead_idx):
            cand = view_listing[starts[i] : starts[i + 1]]
            if prefer is not None:
                mine = prefer[view_lead[prefer] == i] if len(prefer) else prefer
                if len(mine):
                    cand = view_listing[mine]
            if not len(cand):
                cand = near[i]
            out[k] = cand[int(u[k] * len(cand))]
        return out

    # --- Inquiries, email campaign opens and clicks.
    n_inq = rng.poisson(days / 30 * 0.5 * np.exp(0.4 * z + 0.3 * r))
    inq_lead = np.repeat(lead_range, n_inq)
    ev.add(
        inq_lead,
        EventType.INQUIRY,
        activity_ts(inq_lead),
        channel=Channel.WEB,
        listing=lead_listing(inq_lead),
        text=rng.choice(np.array([0, 1, 2]), len(inq_lead)),
    )
    n_open = rng.binomial(np.floor(days / 7).astype(np.int64), _sigmoid(-0.6 + 0.7 * r + 0.2 * z))
    n_click = rng.binomial(n_open, _sigmoid(-1.2 + 0.6 * z))
    open_lead = np.repeat(lead_range, n_open)
    open_ts = activity_ts(open_lead)
    ev.add(open_lead, EventType.EMAIL_OPEN, open_ts, channel=Channel.EMAIL)
    click_sel = (
        np.concatenate(
            [
                starts_i + np.arange(c)
                for starts_i, c in zip(
                    np.concatenate([[0], np.cumsum(n_open)])[:-1], n_click, strict=True
                )
            ]
        ).astype(np.int64)
        if n
        else np.zeros(0, dtype=np.int64)
    )
    click_lead = open_lead[click_sel]
    ev.add(
        click_lead,
        EventType.EMAIL_CLICK,
        open_ts[click_sel] + rng.integers(5_000, 120_000, len(click_sel)),
        channel=Channel.EMAIL,
        listing=np.array(
            [
                near[i][int(u * len(near[i]))]
                for i, u in zip(click_lead, rng.random(len(click_lead)), strict=True)
            ],
            dtype=np.int64,
        ),
    )

    # --- Showings.
    n_book = rng.poisson(days / 30 * 0.45 * np.exp(0.8 * z))
    book_lead = np.repeat(lead_range, n_book)
    book_ts = activity_ts(book_lead)
    book_listing = lead_listing(book_lead, save_idx)
    ev.add(book_lead, EventType.SHOWING_BOOKED, book_ts, channel=Channel.WEB, listing=book_listing)
    att_ts = book_ts + (rng.uniform(1, 6, len(book_lead)) * DAY_MS).astype(np.int64)
    attended = (rng.random(len(book_lead)) < _sigmoid(1.0 + 0.7 * r[book_lead])) & (
        att_ts <= now - HOUR_MS
    )
    ev.add(
        book_lead[attended],
        EventType.SHOWING_ATTENDED,
        att_ts[attended],
        channel=Channel.IN_PERSON,
        listing=book_listing[attended],
    )
    n_attended = np.bincount(book_lead[attended], minlength=n)

    # --- Unprompted messages and calls in, voice notes.
    messaging = np.where(np.isin(pref, [1, 2, 3]), pref, np.where(abroad, 3, 1))
    n_msg = rng.poisson(days / 30 * 0.6 * np.exp(0.5 * r))
    msg_lead = np.repeat(lead_range, n_msg)
    ev.add(
        msg_lead,
        EventType.MESSAGE_IN,
        activity_ts(msg_lead),
        channel=_OUT_CH[messaging[msg_lead]],
        text=rng.integers(0, 5, len(msg_lead)),
    )
    n_call = rng.poisson(days / 30 * 0.2 * np.exp(0.4 * r))
    call_lead = np.repeat(lead_range, n_call)
    ev.add(
        call_lead,
        EventType.CALL_IN,
        activity_ts(call_lead),
        channel=Channel.CALL,
        duration=np.exp(rng.normal(math.log(150), 0.7, len(call_lead))).clip(5, 7200).round(),
    )
    n_voice = rng.poisson((now - created) / DAY_MS / 30 * 0.5)
    voice_lead = np.repeat(lead_range, n_voice)
    ev.add(
        voice_lead,
        EventType.VOICE_NOTE,
        created[voice_lead]
        + (rng.random(len(voice_lead)) * (now - HOUR_MS - created[voice_lead])).astype(np.int64),
        text=_TXT_VOICE + rng.integers(0, len(VOICE_NOTES), len(voice_lead)),
        duration=rng.uniform(5, 40, len(voice_lead)).round(1),
    )

    # --- Conversion.
    logit_c = (
        -3.2
        + 1.0 * z
        + 0.3 * r
        + 0.45 * np.log1p(n_attended)
        + 0.2 * np.log1p(n_save)
        + 0.15 * np.log1p(n_inq + n_msg)
        + VERTICAL_CONVERSION_OFFSET[vertical]
        + conv_noise
    )
    p_convert = _sigmoid(logit_c)
    converted = rng.random(n) < p_convert
    conv_at = np.minimum(active_end + rng.exponential(10, n) * DAY_MS, now - HOUR_MS)
    conv_at = np.maximum(conv_at, active_end).astype(np.int64)
    failed_offer = (~converted) & (n_attended > 0) & (rng.random(n) < 0.3 * _sigmoid(z))
    offer_lead = np.flatnonzero(converted | failed_offer)
    offer_ts = np.where(
        converted[offer_lead],
        conv_at[offer_lead] - (rng.uniform(3, 21, len(offer_lead)) * DAY_MS).astype(np.int64),
        activity_ts(offer_lead),
    )
    offer_ts = np.clip(offer_ts, created[offer_lead], conv_at[offer_lead])
    attended_idx = np.flatnonzero(attended)
    offer_listing = np.zeros(len(offer_lead), dtype=np.int64)
    ol_u = rng.random(len(offer_lead))
    for k, i in enumerate(offer_lead):
        toured = book_listing[attended_idx[book_lead[attended_idx] == i]]
        saved = view_listing[save_idx[view_lead[save_idx] == i]]
        viewed = view_listing[starts[i] : starts[i + 1]]
        cand = next((c for c in (toured, saved, viewed) if len(c)), np.array([anchor[i]]))
        offer_listing[k] = cand[int(ol_u[k] * len(cand))]
    offer_amount = (draw.price[offer_listing] * rng.uniform(0.92, 1.0, len(offer_lead))).round(-2)
    ev.add(offer_lead, EventType.OFFER, offer_ts, listing=offer_listing, amount=offer_amount)
    conv_mask = converted[offer_lead]
    deal_lead = offer_lead[conv_mask]
    deal_listing = offer_listing[conv_mask]
    deal_amount = (draw.price[deal_listing] * rng.uniform(0.96, 1.03, len(deal_lead))).round(-2)
    ev.add(
        deal_lead,
        EventType.DEAL_CLOSED,
        conv_at[deal_lead],
        listing=deal_listing,
        amount=deal_amount,
    )

    # --- Outreach and responses.
    out_start = created + HOUR_MS
    out_end = np.where(converted, conv_at, np.minimum(active_end + 21 * DAY_MS, now - 2 * DAY_MS))
    out_end = np.minimum(out_end, now - 2 * DAY_MS)
    out_days = np.clip((out_end - out_start) / DAY_MS, 0, None)
    n_out = np.where(out_days > 0, rng.poisson(1.5 + 1.0 * out_days / 7), 0)
    o_lead = np.repeat(lead_range, n_out)
    k = len(o_lead)
    # Spread over the window: the j-th of a lead's k outreaches falls in the j-th k-th of it.
    slot = np.arange(k) - np.repeat(np.concatenate([[0], np.cumsum(n_out)])[:-1], n_out)
    frac = (slot + rng.uniform(0.15, 0.85, k)) / np.maximum(n_out[o_lead], 1)
    t = out_start[o_lead] + (frac * (out_end[o_lead] - out_start[o_lead])).astype(np.int64)
    off = local_offset_s(o_lead, t)
    local_day = np.floor((t / 1000 + off) / 86400)
    dow = ((local_day + 3) % 7).astype(np.int64)
    pol = rng.random(k)
    hour = np.where(
        pol < 0.55,
        rng.integers(9, 18, k),
        np.where(pol < 0.9, rng.integers(7, 22, k), rng.integers(0, 24, k)),
    )
    o_ts = ((local_day * 86400 + hour * 3600 + rng.uniform(0, 3599, k) - off) * 1000).astype(
        np.int64
    )
    how = dow * 24 + hour
    ch = np.where(rng.random(k) < 0.25, pref[o_lead], rng.choice(4, k, p=AGENT_CHANNEL_HABIT))
    alt_u = rng.random(k)
    keep = (o_ts >= out_start[o_lead]) & (o_ts <= out_end[o_lead])
    blocked = keep & (o_ts >= opt_time[o_lead, ch])
    for e in np.flatnonzero(blocked):
        ok = np.flatnonzero(o_ts[e] < opt_time[o_lead[e]])
        if len(ok):
            ch[e] = ok[int(alt_u[e] * len(ok))]
        else:
            keep[e] = False
    o_lead, o_ts, how, ch = o_lead[keep], o_ts[keep], how[keep], ch[keep]
    k = len(o_lead)
    logit_r = (
        resp_int[o_lead]
        + ch_eff[o_lead, ch]
        + hour_effect(
            how,
            peak_wd[o_lead],
            peak_we[o_lead],
            width[o_lead],
            amp[o_lead],
            wk_shift[o_lead],
            night_pen[o_lead],
        )
    )
    responded = rng.random(k) < _sigmoid(logit_r)
    latency_s = np.exp(rng.normal(math.log(2400) - 0.4 * r[o_lead], 0.9)).clip(60, 72_000)
    out_text = _TXT_OUT + rng.integers(0, 3, k)
    in_text = rng.choice(np.array([3, 4, 1, 0]), k)
    is_call = ch == 0
    m_sel = ~is_call
    ev.add(
        o_lead[m_sel],
        EventType.MESSAGE_OUT,
        o_ts[m_sel],
        channel=_OUT_CH[ch[m_sel]],
        text=out_text[m_sel],
    )
    ev.add(
        o_lead[is_call],
        EventType.CALL_OUT,
        o_ts[is_call],
        channel=Channel.CALL,
        duration=rng.uniform(15, 45, int(is_call.sum())).round(1),
    )
    r_ts = o_ts + (latency_s * 1000).astype(np.int64)
    rm = responded & m_sel
    ev.add(o_lead[rm], EventType.MESSAGE_IN, r_ts[rm], channel=_OUT_CH[ch[rm]], text=in_text[rm])
    rc = responded & is_call
    ev.add(
        o_lead[rc],
        EventType.CALL_IN,
        r_ts[rc],
        channel=Channel.CALL,
        duration=np.exp(rng.normal(math.log(180), 0.6, int(rc.sum()))).clip(10, 7200).round(),
    )

    # --- p_respond: mean over the outreach channels and the waking slots.
    waking = np.array([d * 24 + h for d in range(7) for h in range(8, 22)])
    he = hour_effect(
        waking[None, :],
        peak_wd[:, None],
        peak_we[:, None],
        width[:, None],
        amp[:, None],
        wk_shift[:, None],
        night_pen[:, None],
    )
    p_respond = (
        _sigmoid(resp_int[:, None, None] + ch_eff[:, :, None] + he[:, None, :]).mean(axis=(1, 2))
        if n
        else np.zeros(0)
    )

    return _assemble(
        seed=seed,
        now=now,
        draw=draw,
        agent_list=agent_list,
        ev=ev,
        n=n,
        lang=lang,
        locale=locale,
        country=country,
        tzname=tzname,
        lead_agent=lead_agent,
        created=created,
        active_end=active_end,
        budget=budget,
        opted=opted,
        converted=converted,
        conv_at=conv_at,
        rng=rng,
        truth_cols={
            "z": z,
            "r": r,
            "p_convert": p_convert,
            "p_respond": p_respond,
            "vertical": vertical,
            "market": market,
            "area": area,
            "pref": pref,
            "resp_int": resp_int,
            "ch_eff": ch_eff,
            "peak_wd": peak_wd,
            "peak_we": peak_we,
            "width": width,
            "amp": amp,
            "wk_shift": wk_shift,
            "night_pen": night_pen,
        },
    )


def _assemble(
    *,
    seed: int,
    now: int,
    draw: ListingDraw,
    agent_list: list[Agent],
    ev: _Events,
    n: int,
    lang: np.ndarray,
    locale: list[str],
    country: list[str],
    tzname: list[str],
    lead_agent: np.ndarray,
    created: np.ndarray,
    active_end: np.ndarray,
    budget: np.ndarray,
    opted: np.ndarray,
    converted: np.ndarray,
    conv_at: np.ndarray,
    rng: np.random.Generator,
    truth_cols: dict[str, np.ndarray],
) -> World:
    """Turn the generated columns into records, in ingest order, events sorted by time."""
    cols = ev.arrays()
    ts = np.minimum(cols["ts"], now)
    order = np.lexsort((np.arange(len(ts)), ts))
    lead_ids = [f"lead-{i + 1:06d}" for i in range(n)]
    listing_ids = [x.id for x in draw.listings]
    events: list[Event] = []
    lead_col = cols["lead"][order].tolist()
    etype_col = cols["etype"][order].tolist()
    ts_col = ts[order].tolist()
    ch_col = cols["channel"][order].tolist()
    lst_col = cols["listing"][order].tolist()
    txt_col = cols["text"][order].tolist()
    dwell_col = cols["dwell"][order].tolist()
    dur_col = cols["duration"][order].tolist()
    amt_col = cols["amount"][order].tolist()
    langs = [LANGUAGES[i] for i in lang]
    for k in range(len(order)):
        li = lead_col[k]
        t = ts_col[k]
        txt = txt_col[k]
        text = language = None
        if txt >= 0:
            if txt >= _TXT_VOICE:
                text, language = VOICE_NOTES[txt - _TXT_VOICE], "en"
            else:
                language = langs[li]
                text = (
                    OUTBOUND[language][txt - _TXT_OUT]
                    if txt >= _TXT_OUT
                    else INBOUND[language][txt]
                )
        c, lst = ch_col[k], lst_col[k]
        dw, du, am = dwell_col[k], dur_col[k], amt_col[k]
        events.append(
            Event(
                id=f"evt-{k + 1:08d}",
                updated_at=t,
                lead_id=lead_ids[li],
                type=_ETYPES[etype_col[k]],
                ts=t,
                channel=_CHANNELS[c] if c >= 0 else None,
                listing_id=listing_ids[lst] if lst >= 0 else None,
                text=text,
                language=language,
                dwell_s=None if dw != dw else dw,
                duration_s=None if du != du else du,
                amount=None if am != am else am,
            )
        )

    # Listings: listed before anyone looked at them; sold when a deal closed on them.
    listings = list(draw.listings)
    first_seen = np.full(len(listings), np.iinfo(np.int64).max)
    has_lst = cols["listing"] >= 0
    np.minimum.at(first_seen, cols["listing"][has_lst], ts[has_lst])
    deal = cols["etype"] == _E[EventType.DEAL_CLOSED]
    sold_at = dict(zip(cols["listing"][deal].tolist(), ts[deal].tolist(), strict=True))
    for j, x in enumerate(listings):
        listed = min(x.listed_at, int(first_seen[j]) - 3 * DAY_MS)
        if j in sold_at:
            listings[j] = msgspec.structs.replace(
                x, listed_at=max(listed, 0), status=ListingStatus.SOLD, updated_at=sold_at[j]
            )
        elif listed != x.listed_at:
            listings[j] = msgspec.structs.replace(
                x, listed_at=max(listed, 0), updated_at=max(listed, 0)
            )

    last_ts = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_ts, cols["lead"], ts)
    area_names = [a.name for a in areas(load_prior())]
    first_u = rng.integers(0, 6, n)
    last_u = rng.integers(0, 6, n)
    src = rng.choice(len(LEAD_SOURCES), n, p=LEAD_SOURCE_WEIGHTS)
    phone_u = rng.integers(0, 10_000_000, n)
    lead_list: list[Lead] = []
    truth: list[LeadTruth] = []
    tc = truth_cols
    for i in range(n):
        lg = langs[i]
        first, last = NAMES[lg][0][first_u[i]], NAMES[lg][1][last_u[i]]
        agent = agent_list[int(lead_agent[i])]
        if converted[i]:
            status = LeadStatus.CONVERTED
        elif last_ts[i] < 0:
            status = LeadStatus.NEW
        elif active_end[i] < now - 45 * DAY_MS:
            status = LeadStatus.LOST
        else:
            status = LeadStatus.ACTIVE
        b = float(budget[i])
        lead_list.append(
            Lead(
                id=lead_ids[i],
                updated_at=int(max(created[i], last_ts[i])),
                agent_id=agent.id,
                team_id=agent.team_id,
                name=f"{first} {last}",
                language=lg,
                locale=locale[i],
                timezone=tzname[i],
                country=country[i],
                email=f"{_ascii(first)}.{_ascii(last)}.{i + 1}@example.com",
                phone=f"+{CALLING_CODES[country[i]]} 555 {phone_u[i]:07d}",
                consent=Consent(
                    **{c.value: not bool(opted[i, j]) for j, c in enumerate(OUTREACH_CHANNELS)}
                ),
                source=LEAD_SOURCES[int(src[i])],
                status=status,
                budget_min=round(b * 0.85, -3),
                budget_max=round(b * 1.1, -3),
                created_at=int(created[i]),
            )
        )
        truth.append(
            LeadTruth(
                lead_id=lead_ids[i],
                agent_id=agent.id,
                intent=round(float(tc["z"][i]), 4),
                responsiveness=round(float(tc["r"][i]), 4),
                p_convert=float(tc["p_convert"][i]),
                p_respond=float(tc["p_respond"][i]),
                converted=bool(converted[i]),
                converted_at=int(conv_at[i]) if converted[i] else None,
                vertical=VERTICALS[int(tc["vertical"][i])],
                market=MARKETS[int(tc["market"][i])],
                area=area_names[int(tc["area"][i])],
                budget=round(b, -2),
                preferred_channel=OUTREACH_CHANNELS[int(tc["pref"][i])],
                response_intercept=float(tc["resp_int"][i]),
                channel_effects={
                    c.value: float(tc["ch_eff"][i, j]) for j, c in enumerate(OUTREACH_CHANNELS)
                },
                peak_hour_weekday=float(tc["peak_wd"][i]),
                peak_hour_weekend=float(tc["peak_we"][i]),
                hour_width=float(tc["width"][i]),
                hour_amplitude=float(tc["amp"][i]),
                weekend_shift=float(tc["wk_shift"][i]),
                night_penalty=float(tc["night_pen"][i]),
                active_end=int(active_end[i]),
            )
        )
    return World(
        seed=seed,
        now_ms=now,
        agents=agent_list,
        listings=listings,
        leads=lead_list,
        events=events,
        truth=truth,
    )


def write_world(
    world: World, path: str | Path, fmt: Format | str = Format.MSGPACK, *, truth: bool = True
) -> Path:
    """Write the records as one batch file (agents, listings, leads, events); optionally the
    truth to ``<path>.truth.json``. Returns the batch path."""
    path = Path(path)
    path.write_bytes(encode_batch(world.records(), Format(fmt)))
    if truth:
        truth_path(path).write_bytes(msgspec.json.encode(world.truth))
    return path


def truth_path(path: str | Path) -> Path:
    """Where :func:`write_world` puts the truth sidecar of a batch file."""
    path = Path(path)
    return path.with_name(path.name + ".truth.json")


def read_truth(path: str | Path) -> list[LeadTruth]:
    """Read the truth sidecar written next to batch ``path``."""
    return msgspec.json.decode(truth_path(path).read_bytes(), type=list[LeadTruth])
