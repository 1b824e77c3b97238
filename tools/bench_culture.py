"""Latency of :func:`adapt_message` over leads in all 16 languages.

``realty-edge bench culture [--calls N]`` prints p50, p95 and max in milliseconds, of
wall-clock time and of the thread's CPU time (the CPU figures are immune to a busy or throttled
host). The first call per language parses its catalog, builds its locale and
holiday calendar, and is measured apart (``cold``).
"""

from __future__ import annotations

import time

from edge.culture.message import Intent, MessageContext, adapt_message
from edge.latency import percentile
from sync.records import Consent, Formality, Lead, Listing, Location, MessageLength

#: One lead per supported language: (language, locale, time zone, country).
SAMPLE_LOCALES: tuple[tuple[str, str, str, str], ...] = (
    ("en", "en_US", "America/Los_Angeles", "US"),
    ("es", "es_MX", "America/Mexico_City", "MX"),
    ("zh", "zh_CN", "Asia/Shanghai", "CN"),
    ("vi", "vi_VN", "Asia/Ho_Chi_Minh", "VN"),
    ("ko", "ko_KR", "Asia/Seoul", "KR"),
    ("tl", "tl_PH", "Asia/Manila", "PH"),
    ("ar", "ar_SA", "Asia/Riyadh", "SA"),
    ("fr", "fr_FR", "Europe/Paris", "FR"),
    ("ru", "ru_RU", "Europe/Moscow", "RU"),
    ("pt", "pt_BR", "America/Sao_Paulo", "BR"),
    ("hi", "hi_IN", "Asia/Kolkata", "IN"),
    ("ja", "ja_JP", "Asia/Tokyo", "JP"),
    ("de", "de_DE", "Europe/Berlin", "DE"),
    ("it", "it_IT", "Europe/Rome", "IT"),
    ("th", "th_TH", "Asia/Bangkok", "TH"),
    ("tr", "tr_TR", "Europe/Istanbul", "TR"),
)

#: 2025-11-24T16:00:00Z, a Monday.
BENCH_NOW_MS = 1_764_000_000_000


def sample_leads() -> list[Lead]:
    """One lead per supported language, in its usual locale, zone and country."""
    return [
        Lead(
            id=f"bench-{language}",
            agent_id="agent-01",
            team_id="team-a",
            name=f"Lead {language.upper()}",
            language=language,
            locale=locale,
            timezone=zone,
            country=country,
            consent=Consent.granted(),
        )
        for language, locale, zone, country in SAMPLE_LOCALES
    ]


def sample_context() -> MessageContext:
    """A context that every intent can be drafted from."""
    listing = Listing(
        id="bench-listing",
        price=450_000.0,
        sqft=1_500.0,
        beds=3,
        location=Location(city="Seattle", neighborhood="Fremont"),
    )
    return MessageContext(
        agent_name="Sam Rivera",
        listing=listing,
        showing_at=BENCH_NOW_MS + 26 * 3_600_000,
        old_price=475_000.0,
        offer_amount=440_000.0,
    )


def measure(calls: int = 1000) -> dict[str, float]:
    """Time ``calls`` drafts cycling through languages, intents, formalities and lengths (ms)."""
    leads = sample_leads()
    context = sample_context()
    intents = list(Intent)
    formalities = [None, *Formality]
    lengths = list(MessageLength)
    cold: list[float] = []
    for lead in leads:  # first use per language: parse catalog, build locale, holidays
        start = time.perf_counter()
        adapt_message(lead, Intent.FIRST_CONTACT, context, now_ms=BENCH_NOW_MS)
        cold.append((time.perf_counter() - start) * 1000)
    wall: list[float] = []
    cpu: list[float] = []
    for i in range(calls):
        lead = leads[i % len(leads)]
        start, start_cpu = time.perf_counter(), time.thread_time()
        adapt_message(
            lead,
            intents[i % len(intents)],
            context,
            now_ms=BENCH_NOW_MS + i * 600_000,
            formality=formalities[i % len(formalities)],
            length=lengths[i % len(lengths)],
        )
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return {
        "calls": float(calls),
        "p50_ms": percentile(wall, 0.50),
        "p95_ms": percentile(wall, 0.95),
        "max_ms": max(wall),
        "cpu_p50_ms": percentile(cpu, 0.50),
        "cpu_p95_ms": percentile(cpu, 0.95),
        "cold_max_ms": max(cold),
    }
