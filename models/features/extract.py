"""Vectorized extraction of the behavioural feature vector from ``EventColumns``.

No per-event Python loop: every block is a handful of masks, ``np.bincount`` calls, matrix
products and ``searchsorted`` look-ups over the lead's columns. Events after ``now_ms`` are
ignored, so the same function computes training features at a cutoff without leakage.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from models.features.columns import (
    CHANNEL_CODE,
    CHANNELS,
    EVENT_TYPES,
    LANGUAGES,
    OTHER_LANGUAGE,
    PROPERTY_TYPES,
    TYPE_CODE,
    VERTICALS,
    EventColumns,
    language_code,
)
from models.features.spec import (
    BLOCKS,
    DURATION_TYPES,
    EARTH_RADIUS_KM,
    INBOUND_REPLIES,
    LEAD_INITIATED,
    LISTING_GROUPS,
    N_FEATURES,
    NIGHT_HOURS,
    OUTBOUND,
    PRICE_BANDS,
    RECENCY_CAP_D,
    REPLY_WINDOW_H,
    RESPONSE_CHANNELS,
    SESSION_GAP_MIN,
    SOURCES,
    WINDOWS_D,
    WORK_HOURS,
)
from sync.records import EventType, Lead

DAY_MS = 86_400_000.0
HOUR_MS = 3_600_000.0
_NT = len(EVENT_TYPES)
_NW = len(WINDOWS_D)
_NB = _NW + 1  # window buckets: within each window, plus "older than the last one"
_WIN_EDGES = np.asarray(WINDOWS_D, dtype=np.float64)
_WIN_DAYS = np.asarray(WINDOWS_D, dtype=np.float64)
_LOG_CAP = float(np.log1p(RECENCY_CAP_D))

_VIEW = TYPE_CODE[EventType.PROPERTY_VIEW]
_OFFER = TYPE_CODE[EventType.OFFER]
_DUR_CODES = np.array([TYPE_CODE[t] for t in DURATION_TYPES])


def _lut(types: Sequence[EventType]) -> np.ndarray:
    lut = np.zeros(_NT, dtype=bool)
    lut[[TYPE_CODE[t] for t in types]] = True
    return lut


_IS_OUT = _lut(OUTBOUND)
_IS_REPLY = _lut(INBOUND_REPLIES)
_IS_INBOUND = _lut(LEAD_INITIATED)
_GROUP_LUT = np.stack([_lut(ts) for ts in LISTING_GROUPS.values()], axis=1).astype(np.float64)
_NG = _GROUP_LUT.shape[1]
_NC = len(RESPONSE_CHANNELS)
# channel code (+1, so -1 "none" is slot 0) -> response-channel slot; unlisted -> _NC ("other")
_RESP_SLOT = np.full(len(CHANNELS) + 1, _NC, dtype=np.int64)
for _i, _c in enumerate(RESPONSE_CHANNELS):
    _RESP_SLOT[CHANNEL_CODE[_c] + 1] = _i
_NPT, _NV, _NPB = len(PROPERTY_TYPES), len(VERTICALS), len(PRICE_BANDS) + 1
# one-hot tables with a trailing all-zero row for code -1
_EYE_PT = np.vstack([np.eye(_NPT), np.zeros((1, _NPT))])
_EYE_V = np.vstack([np.eye(_NV), np.zeros((1, _NV))])
_EYE_PB = np.eye(_NPB)
_PRICE_EDGES = np.asarray(PRICE_BANDS, dtype=np.float64)
_NIGHT = np.zeros(24, dtype=bool)
_NIGHT[list(NIGHT_HOURS)] = True
_HOURS_RAD = np.arange(24) * (2 * np.pi / 24)
_WORK = np.zeros((7, 24), dtype=bool)
_WORK[:5, WORK_HOURS[0] : WORK_HOURS[1]] = True
#: hour-of-week (168) -> weekend, night, work hours, sin(hour), cos(hour)
_HOW_AGG = np.stack(
    [
        np.repeat(np.arange(7) >= 5, 24),
        np.tile(_NIGHT, 7),
        _WORK.ravel(),
        np.tile(np.sin(_HOURS_RAD), 7),
        np.tile(np.cos(_HOURS_RAD), 7),
    ],
    axis=1,
).astype(np.float64)
_NA = 10 + _NPT + _NV + _NPB  # attribute columns summed per listing group (see _listing_block)
_A6 = np.arange(6)
_CAP_MS = RECENCY_CAP_D * DAY_MS
_CAP_H = RECENCY_CAP_D * 24.0
_WIN_RATIO = _WIN_DAYS[:-1] / _WIN_DAYS[1:]
_EYE_SLOT = np.eye(len(RESPONSE_CHANNELS) + 1)
_LOG_CAP_H = float(np.log1p(_CAP_H))
_BIG = 1e18


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return None


def utc_offset_ms(timezone: str, now_ms: int) -> int:
    """The zone's UTC offset at ``now_ms`` (0 for an unknown zone). Applied to all events."""
    zone = _zone(timezone)
    if zone is None:
        return 0
    off = datetime.fromtimestamp(now_ms / 1000.0, tz=UTC).astimezone(zone).utcoffset()
    return int(off.total_seconds() * 1000) if off is not None else 0


def _log1p_days(ms: np.ndarray | float) -> np.ndarray | float:
    return np.log1p(np.minimum(np.asarray(ms) / DAY_MS, RECENCY_CAP_D))


def extract(lead: Lead, cols: EventColumns, now_ms: int) -> np.ndarray:
    """The feature vector (float32, ``FEATURE_NAMES`` order) of ``lead`` at ``now_ms``."""
    out = np.zeros(N_FEATURES, dtype=np.float64)
    _lead_block(out, lead, now_ms)
    cols = cols.before(now_ms)
    n = len(cols.ts)
    if n == 0:
        _empty_defaults(out)
        return out.astype(np.float32)

    tsf = cols.ts.astype(np.float64)
    typ = cols.type.astype(np.int64)
    age_ms = now_ms - tsf
    age_d = age_ms / DAY_MS
    wb = np.searchsorted(_WIN_EDGES, age_d, side="left")  # 0 = within 1 day, ..., _NW = older

    # One matrix product gives, per (type, window bucket): events, view dwell (sum, count),
    # duration (sum, count) and session starts. Cumulative sums turn buckets into windows.
    dwell, dur = cols.dwell_s, cols.duration_s
    v = np.empty((n, 6))
    v[:, 0] = 1.0
    has_dwell = ~np.isnan(dwell) & (typ == _VIEW)
    v[:, 1] = np.where(has_dwell, dwell, 0.0)
    v[:, 2] = has_dwell
    has_dur = ~np.isnan(dur)
    v[:, 3] = np.where(has_dur, dur, 0.0)
    v[:, 4] = has_dur
    v[0, 5] = 1.0
    np.greater(np.diff(tsf), SESSION_GAP_MIN * 60_000.0, out=v[1:, 5])
    cell = ((typ * _NB + wb)[:, None] * 6 + _A6).ravel()
    r = np.bincount(cell, weights=v.ravel(), minlength=_NT * _NB * 6).reshape(_NT, _NB, 6)
    c = np.cumsum(r[:, :_NW], axis=1)  # (types, windows, 6)
    counts = c[:, :, 0]
    out[BLOCKS["count"]] = np.log1p(counts).ravel()
    all_w = counts.sum(axis=0)
    in_w = counts[_IS_INBOUND].sum(axis=0)
    out[BLOCKS["count_all"]] = np.log1p(np.concatenate([all_w, in_w]))
    total = r[:, :, 0].sum(axis=1)
    has = total > 0
    out[BLOCKS["has"]] = has

    # recency per type: latest event by ufunc.at ("never" reads as the cap)
    last = np.full(_NT, now_ms - _CAP_MS)
    np.maximum.at(last, typ, tsf)
    out[BLOCKS["recency"]] = np.log1p(np.minimum((now_ms - last) / DAY_MS, RECENCY_CAP_D))
    inbound = _IS_INBOUND[typ]
    out_mask = _IS_OUT[typ]
    last_in = last[_IS_INBOUND].max()
    last_out = last[_IS_OUT].max()
    s = BLOCKS["recency_all"].start
    rec = np.array([age_ms[0], age_ms[-1], now_ms - last_in, now_ms - last_out]) / DAY_MS
    out[s : s + 4] = np.log1p(np.minimum(rec, RECENCY_CAP_D))

    # active days and sessions per window, trend of inbound activity
    ud = np.unique(age_d.astype(np.int64))
    out[BLOCKS["active_days"]] = np.searchsorted(ud, _WIN_DAYS, side="left") / _WIN_DAYS
    sess_w = c[:, :, 5].sum(axis=0)
    s = BLOCKS["sessions"].start
    out[s : s + _NW] = np.log1p(sess_w)
    out[s + _NW] = np.log1p(all_w[-1] / max(sess_w[-1], 1.0))
    out[BLOCKS["trend"]] = np.log1p(in_w[:-1]) - np.log1p(in_w[1:] * _WIN_RATIO)

    # mean gap per type in the last 90 days: (last - first) / (count - 1)
    in90 = wb < _NW
    first = last.copy()
    np.minimum.at(first, typ[in90], tsf[in90])
    c90 = counts[:, -1]
    gap_h = np.where(c90 > 1, (last - first) / (np.maximum(c90 - 1, 1) * HOUR_MS), _CAP_H)
    g = BLOCKS["gap"]
    in90_mask = inbound & in90
    t_in = tsf[in90_mask]
    k = len(t_in)
    gap_in = (t_in[-1] - t_in[0]) / ((k - 1) * HOUR_MS) if k > 1 else _CAP_H
    out[g] = np.log1p(np.append(gap_h, gap_in))

    # dwell of property views per window: sum, mean, max (running max, youngest first)
    s = BLOCKS["dwell"].start
    dsum, dcnt = c[_VIEW, :, 1], c[_VIEW, :, 2]
    out[s : s + 2 * _NW] = np.log1p(np.concatenate([dsum, dsum / np.maximum(dcnt, 1.0)]))
    if dcnt[-1] > 0:
        dv = v[::-1, 1]
        run_max = np.maximum.accumulate(dv)
        kk = np.searchsorted(age_d[::-1], _WIN_DAYS, side="right")
        out[s + 2 * _NW : s + 3 * _NW] = np.log1p(np.where(kk > 0, run_max[kk - 1], 0.0))

    # durations of calls, voice notes and showings: sums per window, mean over 90 days
    s = BLOCKS["duration"].start
    m = len(_DUR_CODES) * _NW
    dd = c[_DUR_CODES]
    out[s : s + m] = np.log1p(dd[:, :, 3]).ravel()
    out[s + m : s + m + len(_DUR_CODES)] = np.log1p(dd[:, -1, 3] / np.maximum(dd[:, -1, 4], 1.0))

    _listing_block(out, lead, cols, typ, wb)
    _response_block(out, cols, typ, tsf, now_ms, out_mask, inbound, in90)
    _profile_block(out, lead, cols, tsf, now_ms, in90_mask)
    return out.astype(np.float32)


def _empty_defaults(out: np.ndarray) -> None:
    """Values for a lead with no events: recency and gaps at their caps, the rest zero."""
    out[BLOCKS["recency"]] = _LOG_CAP
    s = BLOCKS["recency_all"]
    out[s.start : s.start + 4] = _LOG_CAP
    out[BLOCKS["gap"]] = np.log1p(RECENCY_CAP_D * 24.0)
    s = BLOCKS["response"].start
    out[s + 8 : s + (_NC + 1) * 9 : 9] = _LOG_CAP_H  # hours since outreach


def _lead_block(out: np.ndarray, lead: Lead, now_ms: int) -> None:
    s = BLOCKS["lead"]
    c = lead.consent
    src = lead.source.lower().replace(" ", "_").replace("-", "_")
    # consent is opt-in: 1 only where it is recorded as granted (unknown counts as not).
    flags = [c.call is True, c.sms is True, c.email is True, c.whatsapp is True]
    flags += [bool(lead.email), bool(lead.phone)]
    flags += [bool(src) and k in src for k in SOURCES]
    matched = any(flags[6:])
    flags += [bool(src) and not matched, not src]
    out[s] = flags
    if lead.language:
        out[BLOCKS["language"].start + language_code(lead.language)] = 1.0
    if lead.created_at and lead.created_at <= now_ms:
        out[BLOCKS["recency_all"].start + 4] = _log1p_days(now_ms - lead.created_at)
    s = BLOCKS["price_extra"]
    bmin, bmax = lead.budget_min, lead.budget_max
    out[s.start + 2] = bmin is not None or bmax is not None
    out[s.start + 3] = np.log10(1.0 + bmin) if bmin is not None else 0.0
    out[s.start + 4] = np.log10(1.0 + bmax) if bmax is not None else 0.0


def _lead_only_mask() -> np.ndarray:
    """The positions :func:`_lead_block` writes: they do not depend on the lead's events."""
    mask = np.zeros(N_FEATURES, dtype=bool)
    mask[BLOCKS["lead"]] = True
    lang = BLOCKS["language"].start
    mask[lang : lang + len(LANGUAGES) + 1] = True  # the one-hot, "other" included
    mask[BLOCKS["recency_all"].start + 4] = True  # days since the lead was created
    price = BLOCKS["price_extra"].start
    mask[price + 2 : price + 5] = True  # budget given, log budget min / max
    return mask


_LEAD_ONLY = _lead_only_mask()
_NO_EVENTS = np.zeros(N_FEATURES, dtype=np.float64)
_empty_defaults(_NO_EVENTS)
_NO_EVENTS[_LEAD_ONLY] = 0.0


def without_events(x: np.ndarray) -> np.ndarray:
    """``extract(lead, <no events>, now)`` from ``x = extract(lead, cols, now)``, without
    extracting again: the lead's own positions are kept, every event position takes the value
    a lead with no events has."""
    return np.where(_LEAD_ONLY, x, _NO_EVENTS).astype(np.float32)


def _listing_block(out, lead: Lead, cols: EventColumns, typ, wb) -> None:
    price = cols.price
    idx = np.flatnonzero(~np.isnan(price))
    n = len(idx)
    if n == 0:
        return
    m = _GROUP_LUT[typ[idx]]  # (n, groups) membership
    mt = m.T
    cnt = m.sum(axis=0)
    p = price[idx]
    lp = np.log10(p + 1.0)
    beds = cols.beds[idx]
    sqft = cols.sqft[idx]
    lat = np.radians(cols.lat[idx])
    lon = np.radians(cols.lon[idx])
    coslat = np.cos(lat)
    a = np.empty((n, _NA))
    a[:, 0] = lp
    a[:, 1] = lp * lp
    a[:, 2] = beds
    a[:, 3] = beds * beds
    a[:, 4] = cols.baths[idx]
    a[:, 5] = np.log10(sqft + 1.0)
    a[:, 6] = lp - a[:, 5]  # log10 price per sqft (approximately)
    a[:, 7] = coslat * np.cos(lon)
    a[:, 8] = coslat * np.sin(lon)
    a[:, 9] = np.sin(lat)
    a[:, 10 : 10 + _NPT] = _EYE_PT[cols.property_type[idx]]
    a[:, 10 + _NPT : 10 + _NPT + _NV] = _EYE_V[cols.vertical[idx]]
    a[:, 10 + _NPT + _NV :] = _EYE_PB[np.searchsorted(_PRICE_EDGES, p, side="right")]
    mean = (mt @ a) / np.maximum(cnt, 1.0)[:, None]  # (groups, attrs)
    sel = mt > 0
    key = cols.listing[idx]
    order = np.argsort(key, kind="stable")
    ks = key[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ks[1:], ks[:-1], out=new[1:])
    run_start = np.flatnonzero(new)
    distinct = np.add.reduceat(m[order], run_start, axis=0) > 0  # (listings, groups)
    stats = np.empty((_NG, 15))
    stats[:, 0] = np.log1p(cnt)
    stats[:, 1] = np.log1p(distinct.sum(axis=0))
    stats[:, 2] = mean[:, 0]
    stats[:, 3] = np.sqrt(np.maximum(mean[:, 1] - mean[:, 0] ** 2, 0.0))
    stats[:, 4] = np.where(sel, lp, np.inf).min(axis=1)
    stats[:, 5] = np.where(sel, lp, -np.inf).max(axis=1)
    stats[:, 6] = mean[:, 2]
    stats[:, 7] = np.sqrt(np.maximum(mean[:, 3] - mean[:, 2] ** 2, 0.0))
    stats[:, 8:14] = mean[:, 4:10]
    rbar = np.minimum(np.sqrt((mean[:, 7:10] ** 2).sum(axis=1)), 1.0)
    stats[:, 14] = np.log1p(EARTH_RADIUS_KM * np.sqrt(2.0 * (1.0 - rbar)))
    stats[cnt == 0] = 0.0
    s = BLOCKS["listing"].start
    out[s : s + _NG * 15] = stats.ravel()
    s = BLOCKS["listing_mix"].start
    out[s : s + _NG * (_NPT + _NV + _NPB)] = np.concatenate(
        [
            mean[:, 10 : 10 + _NPT].ravel(),
            mean[:, 10 + _NPT : 10 + _NPT + _NV].ravel(),
            mean[:, 10 + _NPT + _NV :].ravel(),
        ]
    )

    # price extras on viewed listings
    s = BLOCKS["price_extra"].start
    if cnt[0] > 0:
        vsel = sel[0]
        lpv = lp[vsel]
        dw = cols.dwell_s[idx][vsel]
        dw = np.where(np.isnan(dw), 0.0, dw)
        wsum = dw.sum()
        out[s] = (lpv @ dw) / wsum if wsum > 0 else mean[0, 0]
        recent = wb[idx][vsel] < 2  # within 7 days
        out[s + 1] = lpv[recent].mean() - mean[0, 0] if recent.any() else 0.0
        bmin, bmax = lead.budget_min, lead.budget_max
        if bmin is not None or bmax is not None:
            pv = p[vsel]
            lo = bmin if bmin is not None else 0.0
            hi = bmax if bmax is not None else np.inf
            out[s + 5] = np.count_nonzero((pv >= lo) & (pv <= hi)) / len(pv)
        if bmax is not None:
            out[s + 6] = mean[0, 0] - np.log10(1.0 + bmax)
    # vertical signals: the vertical most engaged with (engaged listings, else viewed)
    s = BLOCKS["vertical"].start
    row = 2 if cnt[2] > 0 else 0
    if cnt[row] > 0:
        out[s + int(np.argmax(mean[row, 10 + _NPT : 10 + _NPT + _NV]))] = 1.0
    om = (typ == _OFFER) & ~np.isnan(cols.amount)
    if om.any():
        amax = cols.amount[om].max()
        out[s + _NV] = 1.0
        out[s + _NV + 1] = np.log10(1.0 + amax)
        if cnt[0] > 0:
            out[s + _NV + 2] = min(amax / (10 ** mean[0, 0]), 10.0)


def _response_block(out, cols: EventColumns, typ, tsf, now_ms, out_mask, inbound, in90) -> None:
    s = BLOCKS["response"].start
    reply_ts = tsf[_IS_REPLY[typ]]
    out_idx = np.flatnonzero(out_mask)
    out_ts = tsf[out_idx]
    n_out = len(out_idx)
    nr = len(reply_ts)
    if n_out:
        slot = _RESP_SLOT[cols.channel[out_idx] + 1]
        if nr:
            j = np.searchsorted(reply_ts, out_ts, side="right")
            lat_h = (np.append(reply_ts, np.inf)[j] - out_ts) * (1.0 / HOUR_MS)
        else:
            lat_h = np.full(n_out, np.inf)
        w = np.empty((n_out, 8))
        w[:, 0] = 1.0
        replied = np.less_equal(lat_h, REPLY_WINDOW_H, out=w[:, 1])  # as 0.0 / 1.0
        # outreach still inside its reply window with no reply yet is pending: not counted
        np.maximum(replied, (now_ms - out_ts) > REPLY_WINDOW_H * HOUR_MS, out=w[:, 2])
        lat_r = np.where(replied > 0, lat_h, 0.0)
        np.log1p(lat_r, out=w[:, 3])
        np.multiply(replied, lat_r <= 1.0, out=w[:, 4])
        np.multiply(replied, lat_r <= 24.0, out=w[:, 5])
        w[:, 6] = np.arange(1, n_out + 1)
        w[:, 7] = np.where(replied > 0, lat_h, _BIG)
        oh = _EYE_SLOT[slot]  # (n_out, slots incl. "other")
        agg = np.empty((_NC + 1, 6))
        agg[:_NC] = (oh.T @ w[:, :6])[:_NC]
        agg[_NC] = w[:, :6].sum(axis=0)
        last = np.empty(_NC + 1)
        last[:_NC] = (oh * w[:, 6:7]).max(axis=0)[:_NC]  # 1-based index of the latest, 0 none
        last[_NC] = n_out
        lmin = np.empty(_NC + 1)
        lmin[:_NC] = (oh * w[:, 7:8] + (1.0 - oh) * _BIG).min(axis=0)[:_NC]
        lmin[_NC] = w[:, 7].min()
        res = np.empty((_NC + 1, 9))
        res[:, 0:2] = np.log1p(agg[:, 0:2])
        den = 1.0 / np.maximum(agg[:, 2], 1.0)
        res[:, 2] = agg[:, 1] * den
        res[:, 3] = agg[:, 3] / np.maximum(agg[:, 1], 1.0)
        res[:, 4] = np.log1p(np.where(lmin < _BIG, lmin, 0.0))
        res[:, 5] = agg[:, 4] * den
        res[:, 6] = agg[:, 5] * den
        li = last.astype(np.int64) - 1
        ok = li >= 0
        li[~ok] = 0
        res[:, 7] = ok * replied[li]
        hrs = np.minimum((now_ms - out_ts[li]) * (1.0 / HOUR_MS), _CAP_H)
        res[:, 8] = np.where(ok, np.log1p(hrs), _LOG_CAP_H)
        out[s : s + (_NC + 1) * 9] = res.ravel()
    else:
        out[s + 8 : s + (_NC + 1) * 9 : 9] = _LOG_CAP_H
    s += (_NC + 1) * 9
    last_reply = reply_ts[-1] if nr else -np.inf
    out[s] = np.log1p(n_out - int(np.searchsorted(out_ts, last_reply, side="right")))
    # channel mix over 90 days (every event is either lead-initiated or outreach)
    nch = len(CHANNELS) + 1
    mix = np.bincount((cols.channel + 1 + nch * out_mask)[in90], minlength=2 * nch)
    out[s + 1] = np.log1p(mix[:nch].sum()) - np.log1p(mix[nch:].sum())
    sm = BLOCKS["channel_mix"].start
    out[sm : sm + 2 * (nch - 1)] = np.log1p(np.r_[mix[1:nch], mix[nch + 1 :]])


def _profile_block(out, lead: Lead, cols: EventColumns, tsf, now_ms, sel) -> None:
    s = BLOCKS["time_profile"].start
    ts = cols.ts[sel]
    n = len(ts)
    if n:
        # local hour of week, 0 = Monday 00:00 (1970-01-01 was a Thursday: +72 h)
        local_h = (ts + utc_offset_ms(lead.timezone, now_ms)) // 3_600_000
        how = np.bincount((local_h + 72) % 168, minlength=168) * (1.0 / n)
        grid = how.reshape(7, 24)
        out[s : s + 7] = grid.sum(axis=1)
        out[s + 7 : s + 31] = grid.sum(axis=0)
        agg = how @ _HOW_AGG  # weekend, night, work hours, sin, cos
        out[s + 31 : s + 36] = agg
        out[s + 36] = np.hypot(agg[3], agg[4])
    s = BLOCKS["language"].start + len(LANGUAGES) + 1
    lang = cols.language
    has = lang >= 0
    nl = int(np.count_nonzero(has))
    if nl:
        own = language_code(lead.language or None)
        out[s] = nl / len(lang)
        out[s + 1] = np.count_nonzero(has & (lang != own)) / nl
        present = np.bincount(lang[has], minlength=OTHER_LANGUAGE + 1)
        out[s + 2] = np.log1p(np.count_nonzero(present))


def extract_batch(
    leads: Sequence[Lead], columns: Sequence[EventColumns], now_ms: int | Sequence[int]
) -> np.ndarray:
    """Feature matrix (n_leads, N_FEATURES) float32; ``now_ms`` is one time or one per lead."""
    if len(leads) != len(columns):
        raise ValueError(f"{len(leads)} leads but {len(columns)} column sets")
    times = [now_ms] * len(leads) if isinstance(now_ms, int | np.integer) else list(now_ms)
    if len(times) != len(leads):
        raise ValueError(f"{len(leads)} leads but {len(times)} times")
    x = np.empty((len(leads), N_FEATURES), dtype=np.float32)
    for i, (lead, cols, t) in enumerate(zip(leads, columns, times, strict=True)):
        x[i] = extract(lead, cols, int(t))
    return x
