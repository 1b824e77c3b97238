"""Cultural adaptation: formats, registers, contact hours, holidays, catalogs and fallback."""

from __future__ import annotations

import datetime as dt
import logging
import shutil

import msgspec
import pytest
from babel.dates import format_date, format_time
from babel.messages.pofile import read_po, write_po

from edge.culture import (
    CONTACT_END_HOUR,
    CONTACT_START_HOUR,
    SUPPORTED_LANGUAGES,
    Catalogs,
    Gender,
    Intent,
    MessageContext,
    adapt_message,
    contact_window,
    is_quiet,
)
from edge.culture.catalog import DEFAULT_DIRECTORY, catalog_path, default_catalogs
from edge.culture.formatter import (
    DATE_FORMAT,
    TIME_FORMAT,
    babel_locale,
    format_area,
    format_money,
    format_when,
    number_locale,
    square_metres,
    time_zone,
)
from edge.culture.message import REQUIRED, place, placeholders
from edge.culture.register import THREE_REGISTER_LANGUAGES, register_for
from edge.errors import CatalogError, CultureError, MessageContextError
from sync.records import Channel, Formality, Lead, Location, MessageLength
from tests.factories import lead, listing
from tools.bench_culture import SAMPLE_LOCALES, measure, sample_context, sample_leads

NBSP = "\xa0"
NNBSP = "\u202f"


def ms(iso: str) -> int:
    """UTC epoch milliseconds of an ISO 8601 time with its offset."""
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


def lead_in(language: str) -> Lead:
    for lang, locale, zone, country in SAMPLE_LOCALES:
        if lang == language:
            return lead(1, name="Ana", language=lang, locale=locale, timezone=zone, country=country)
    raise AssertionError(language)


#: Monday 2025-11-24 at 17:00 UTC: within contact hours from Mexico City to Berlin.
MIDDAY_MS = ms("2025-11-24T17:00:00+00:00")
CONTEXT = MessageContext(
    agent_name="Sam Rivera",
    listing=listing(1, price=450_000.0, sqft=1500.0, beds=3),
    address="1200 Pine St",
    showing_at=ms("2025-11-25T15:00:00+00:00"),
    old_price=475_000.0,
    new_price=450_000.0,
    offer_amount=440_000.0,
)


# --- Locale formats (literal CLDR output of Babel 2.18) -------------------------------------


@pytest.mark.parametrize(
    ("locale", "currency", "expected"),
    [
        ("es_MX", "MXN", "$450,000"),
        ("es_MX", "USD", "USD450,000"),
        ("de_DE", "USD", f"450.000{NBSP}$"),
        ("de_DE", "EUR", f"450.000{NBSP}€"),
        ("fr_FR", "EUR", f"450{NNBSP}000{NBSP}€"),
        ("hi_IN", "INR", "₹4,50,000"),
        ("ja_JP", "JPY", "￥450,000"),
        ("ko_KR", "KRW", "₩450,000"),
        ("en_US", "USD", "$450,000"),
    ],
)
def test_money_is_formatted_in_the_leads_locale_without_conversion(locale, currency, expected):
    assert format_money(450_000, currency, babel_locale(locale)) == expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en_US", "1,500 sq ft"),
        ("en_LR", "1,500 sq ft"),
        ("my_MM", "1,500 ft²"),
        ("ko_KR", "139m²"),
        ("de_DE", "139 m²"),
        ("en_GB", "139 m²"),
        ("zh_CN", "139平方米"),
        ("fr_FR", f"139{NNBSP}m²"),
    ],
)
def test_area_is_in_square_feet_only_in_us_liberia_myanmar(locale, expected):
    assert format_area(1500, babel_locale(locale)) == expected


@pytest.mark.parametrize(
    ("sqft", "m2"), [(1500, 139), (1000, 93), (2153, 200), (1076.39, 100), (5.382, 1), (5.38, 0)]
)
def test_square_feet_become_whole_square_metres_rounded_half_up(sqft, m2):
    assert square_metres(sqft) == m2


@pytest.mark.parametrize(
    ("locale", "zone", "wall_clock"),
    [
        ("en_US", "America/New_York", "2025-11-25T10:00"),
        ("de_DE", "Europe/Berlin", "2025-11-25T16:00"),
        ("ja_JP", "Asia/Tokyo", "2025-11-26T00:00"),
        ("ko_KR", "Asia/Seoul", "2025-11-26T00:00"),
        ("es_MX", "America/Mexico_City", "2025-11-25T09:00"),
    ],
)
def test_showing_time_is_shown_in_the_leads_time_zone(locale, zone, wall_clock):
    """The date and the hour in the lead's zone are ours; their wording is CLDR's.

    How a locale spells a date or "AM" changes with Babel's CLDR data (Babel 2.19 writes
    ``오전 12:00`` where 2.16 wrote ``AM 12:00``), so the words are asked of Babel for the
    expected wall-clock time, and the test checks the zone, the date, the hour and the order.
    """
    loc = babel_locale(locale)
    when = format_when(ms("2025-11-25T15:00:00+00:00"), time_zone(zone), loc)
    wall = dt.datetime.fromisoformat(wall_clock)
    date = format_date(wall, DATE_FORMAT, locale=loc)
    time = format_time(wall.time(), TIME_FORMAT, locale=loc)
    pattern = str(loc.datetime_formats["medium"])
    assert when == pattern.replace("{1}", date).replace("{0}", time)
    assert str(wall.day) in date and when.index(date) != when.index(time)


@pytest.mark.parametrize(
    ("locale", "amount", "expected"),
    [
        ("en_US", 396_800.0, "$396,800"),
        ("en_US", 396_800.5, "$396,800.50"),
        ("hi_US", 396_800.0, "$396,800"),  # a lead in the US: no lakh grouping
        ("hi_IN", 396_800.0, "$3,96,800"),
        ("de_DE", 1_234.56, f"1.234,56{NBSP}$"),
        ("xx_ZZ", 1_000.0, "$1,000"),  # nothing known: English
    ],
)
def test_whole_prices_have_no_cents_and_the_territory_groups_digits(locale, amount, expected):
    assert format_money(amount, "USD", number_locale(locale, locale[:2])) == expected


def test_a_neighbourhood_named_like_its_city_is_said_once():
    assert place("Bellevue", "Bellevue") == "Bellevue"
    assert place("Fremont", "Seattle") == "Fremont, Seattle"
    assert place(None, "Seattle") == "Seattle"
    bellevue = listing(1, location=Location(city="Bellevue", neighborhood="Bellevue"))
    ctx = msgspec.structs.replace(CONTEXT, listing=bellevue, address=None)
    draft = adapt_message(lead_in("en"), Intent.NEW_LISTING_MATCH, ctx, now_ms=MIDDAY_MS)
    assert "Bellevue" in draft.text and "Bellevue, Bellevue" not in draft.text


def test_draft_carries_locale_formats():
    es = adapt_message(lead_in("es"), Intent.NEW_LISTING_MATCH, CONTEXT, now_ms=MIDDAY_MS)
    assert "USD450,000" in es.text and "139 m²" in es.text
    us = adapt_message(lead_in("en"), Intent.NEW_LISTING_MATCH, CONTEXT, now_ms=MIDDAY_MS)
    assert "$450,000" in us.text and "1,500 sq ft" in us.text
    ko = adapt_message(lead_in("ko"), Intent.NEW_LISTING_MATCH, CONTEXT, now_ms=MIDDAY_MS)
    assert "US$450,000" in ko.text and "139m²" in ko.text
    de = adapt_message(lead_in("de"), Intent.PRICE_CHANGE, CONTEXT, now_ms=MIDDAY_MS)
    assert f"von 475.000{NBSP}$ auf 450.000{NBSP}$" in de.text


def test_abbreviation_before_a_full_stop_leaves_one_stop():
    draft = adapt_message(lead_in("es"), Intent.SHOWING_REMINDER, CONTEXT, now_ms=MIDDAY_MS)
    assert f"2025, 9:00{NNBSP}a.m. Si necesita" in draft.text


# --- Registers --------------------------------------------------------------------------------


def body(language: str, intent: Intent, formality: Formality | None = None, **ctx) -> str:
    fields = {f: getattr(CONTEXT, f) for f in CONTEXT.__struct_fields__}
    context = MessageContext(**{**fields, **ctx})
    draft = adapt_message(
        lead_in(language),
        intent,
        context,
        now_ms=MIDDAY_MS,
        formality=formality,
        length=MessageLength.SHORT,
    )
    assert not draft.fallback, draft.missing
    return draft.text


def test_spanish_usted_by_default_and_tu_when_casual():
    formal = body("es", Intent.FIRST_CONTACT)
    assert "Estimado(a) Ana:" in formal and "seré su agente" in formal and "le queda" in formal
    casual = body("es", Intent.FIRST_CONTACT, Formality.CASUAL)
    assert "¡Hola, Ana!" in casual and "tu agente" in casual and "te queda" in casual
    assert body("es", Intent.OFFER_UPDATE, Formality.NEUTRAL).count("su oferta") == 1


@pytest.mark.parametrize(
    ("language", "formal", "casual"),
    [
        ("fr", "votre offre", "ton offre"),
        ("de", "Ihrem Angebot", "deinem Angebot"),
        ("it", "Sua offerta", "tua offerta"),
        ("ru", "Вашему предложению", "твоему предложению"),
        ("pt", "Quando podemos conversar?", "Você tem um minutinho"),
        ("tr", "verdiğiniz", "verdiğin"),
        ("zh", "您", "你"),
        ("hi", "आपके", "तुम्हारे"),
        ("tl", "po", "mong"),
    ],
)
def test_t_v_languages_are_formal_unless_casual(language, formal, casual):
    assert formal in body(language, Intent.OFFER_UPDATE)
    assert formal in body(language, Intent.OFFER_UPDATE, Formality.NEUTRAL)
    casual_text = body(language, Intent.OFFER_UPDATE, Formality.CASUAL)
    assert casual in casual_text and formal not in casual_text


def test_korean_speech_levels():
    first = body("ko", Intent.FIRST_CONTACT)  # formal by default on first contact
    assert "안녕하십니까" in first and "드리겠습니다" in first
    polite = body("ko", Intent.SHOWING_REMINDER)  # haeyo-che once the relationship exists
    assert "예정되어 있어요" in polite and "습니다" not in polite
    formal = body("ko", Intent.SHOWING_REMINDER, Formality.FORMAL)
    assert "안내해 드립니다" in formal and "주십시오" in formal
    casual = body("ko", Intent.SHOWING_REMINDER, Formality.CASUAL)
    assert "잊지 마!" in casual and "요." not in casual and "습니다" not in casual


def test_japanese_keigo_teineigo_and_plain():
    keigo = body("ja", Intent.FIRST_CONTACT)
    assert "Ana様" in keigo and "と申します" in keigo and "いたします" in keigo
    teineigo = body("ja", Intent.PRICE_CHANGE)
    assert "変わりました" in teineigo and "ますか" in teineigo
    plain = body("ja", Intent.PRICE_CHANGE, Formality.CASUAL)
    assert "変わったよ" in plain and "ます" not in plain and "です" not in plain


def test_vietnamese_pronouns_follow_formality():
    assert "Quý khách" in body("vi", Intent.FIRST_CONTACT)
    neutral = body("vi", Intent.FOLLOW_UP_AFTER_SILENCE)
    assert "anh/chị" in neutral and "Quý khách" not in neutral
    assert "Bạn còn đang tìm nhà" in body("vi", Intent.FOLLOW_UP_AFTER_SILENCE, Formality.CASUAL)


@pytest.mark.parametrize(
    ("gender", "statement", "question"),
    [(Gender.MALE, "ครับ", "ครับ"), (Gender.FEMALE, "ค่ะ", "คะ"), (None, "", "")],
)
def test_thai_particles_follow_agent_gender(gender, statement, question):
    text = body("th", Intent.PRICE_CHANGE, agent_gender=gender)
    assert f"เป็น US$450,000 แล้ว{statement} หาก" in text
    assert f"ยินดีนัดหมายให้{statement}" in text
    casual = body("th", Intent.NEW_LISTING_MATCH, Formality.CASUAL, agent_gender=gender)
    assert casual.endswith(f"อยากไปดูไหม{question}")


def test_english_is_neutral_by_default_and_arabic_uses_the_respectful_plural():
    assert body("en", Intent.FIRST_CONTACT).startswith("Hi Ana,")
    assert body("en", Intent.FIRST_CONTACT, Formality.FORMAL).startswith("Dear Ana,")
    assert body("en", Intent.FIRST_CONTACT, Formality.CASUAL).startswith("Hey Ana!")
    assert "متى يناسبكم" in body("ar", Intent.FIRST_CONTACT)


def test_lengths_add_parts():
    ld = lead_in("en")
    short, medium, long = (
        adapt_message(ld, Intent.PRICE_CHANGE, CONTEXT, now_ms=MIDDAY_MS, length=length).text
        for length in (MessageLength.SHORT, MessageLength.MEDIUM, MessageLength.LONG)
    )
    assert short.count("\n\n") == 1 and "Sam Rivera" not in short
    assert medium.endswith("Best,\nSam Rivera")
    assert "Price: $450,000 | Area: 1,500 sq ft | Bedrooms: 3" in long
    assert "If you have any questions" in long and long.endswith("Sam Rivera")
    match = adapt_message(
        ld, Intent.NEW_LISTING_MATCH, CONTEXT, now_ms=MIDDAY_MS, length=MessageLength.LONG
    )
    assert "Bedrooms: 3" not in match.text  # the body already gives the facts


# --- Contact hours and holidays -------------------------------------------------------------


def test_contact_hours_constants():
    assert (CONTACT_START_HOUR, CONTACT_END_HOUR) == (8, 21)


def test_request_at_2330_local_moves_to_0800_next_day():
    window = contact_window(lead(1), ms("2025-11-24T23:30:00-06:00"))
    assert window.send_at_local == "2025-11-25T08:00-06:00"
    assert window.send_at == ms("2025-11-25T08:00:00-06:00")
    assert window.delayed and window.quiet_hours and window.holiday is None


def test_request_before_eight_moves_to_eight_same_day_and_daytime_is_unchanged():
    early = contact_window(lead(1), ms("2025-11-24T06:15:00-06:00"))
    assert early.send_at_local == "2025-11-24T08:00-06:00"
    now = ms("2025-11-24T20:59:00-06:00")
    assert contact_window(lead(1), now).send_at == now
    assert not contact_window(lead(1), now).delayed


def test_quiet_night_across_a_daylight_saving_change():
    la = lead(1, language="en", locale="en_US", timezone="America/Los_Angeles", country="US")
    window = contact_window(la, ms("2025-03-08T23:30:00-08:00"))
    assert window.send_at_local == "2025-03-09T08:00-07:00"


def test_us_lead_on_july_4th_gets_the_next_morning():
    ny = lead(1, language="en", locale="en_US", timezone="America/New_York", country="US")
    draft = adapt_message(
        ny, Intent.FOLLOW_UP_AFTER_SILENCE, CONTEXT, now_ms=ms("2025-07-04T12:00:00-04:00")
    )
    assert draft.send_at_local == "2025-07-05T08:00-04:00"
    assert draft.send_at == ms("2025-07-05T08:00:00-04:00")
    assert draft.holiday == "Independence Day" and draft.delayed


def test_korean_lead_on_chuseok_waits_for_the_end_of_the_holidays():
    window = contact_window(lead_in("ko"), ms("2025-10-06T10:00:00+09:00"))
    assert window.send_at_local == "2025-10-10T08:00+09:00"
    assert window.holidays == [
        "Chuseok",
        "The second day of Chuseok",
        "Alternative holiday for Chuseok",
        "Hangul Day",
    ]
    draft = adapt_message(
        lead_in("ko"), Intent.FIRST_CONTACT, CONTEXT, now_ms=ms("2025-10-06T10:00:00+09:00")
    )
    assert draft.holiday == "Chuseok" and draft.send_at == window.send_at


def test_is_quiet_by_channel():
    ld = lead(1)
    night = ms("2025-11-24T22:00:00-06:00")
    assert is_quiet(ld, night, Channel.SMS) and is_quiet(ld, night, Channel.CALL)
    assert not is_quiet(ld, night, Channel.EMAIL)
    assert not is_quiet(ld, ms("2025-11-24T12:00:00-06:00"), Channel.WHATSAPP)
    christmas = ms("2025-12-25T12:00:00-06:00")
    assert is_quiet(ld, christmas, Channel.SMS)
    assert contact_window(ld, night, Channel.EMAIL).send_at == night


def test_draft_reports_consent_for_its_channel():
    ld = lead(1)  # the factory's lead refuses calls
    assert not adapt_message(
        ld, Intent.FIRST_CONTACT, CONTEXT, now_ms=MIDDAY_MS, channel=Channel.CALL
    ).consented
    assert adapt_message(
        ld, Intent.FIRST_CONTACT, CONTEXT, now_ms=MIDDAY_MS, channel=Channel.SMS
    ).consented


def test_unknown_time_zone_is_an_error_that_names_it():
    with pytest.raises(CultureError, match="Mars/Olympus"):
        contact_window(lead(1, timezone="Mars/Olympus"), MIDDAY_MS)


# --- Catalogs: every language, every intent ---------------------------------------------------


def test_catalog_files_exist_for_all_16_languages():
    assert len(SUPPORTED_LANGUAGES) == 16
    for language in SUPPORTED_LANGUAGES:
        assert catalog_path(DEFAULT_DIRECTORY, language).is_file(), language
    assert default_catalogs().languages() == sorted(SUPPORTED_LANGUAGES)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_catalog_is_complete_and_keeps_the_english_placeholders(language):
    entries = default_catalogs().entries(language)
    english = default_catalogs().fallback_entries()
    registers = (
        ["formal", "neutral", "casual"]
        if language in THREE_REGISTER_LANGUAGES
        else ["formal", "casual"]
    )
    parts = [("greeting", "greeting"), ("extra", "extra"), ("closing", "closing")]
    parts += [(intent.value, "body") for intent in Intent]
    for register in registers:
        for part, msgid in parts:
            text = entries[(f"{part}|{register}", msgid)]
            reference = placeholders(
                english[(f"{part}|{register_for('en', Formality(register))}", msgid)]
            )
            assert placeholders(text) - {"polite", "polite_q"} <= reference, (part, register)
            if msgid == "body":
                assert set(REQUIRED[Intent(part)]) <= placeholders(text), (part, register)
    assert placeholders(entries[("listing_facts", "facts")]) == {"price", "area", "beds"}


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_intent_renders_in_every_register_and_length(language):
    ld = lead_in(language)
    for intent in Intent:
        for formality in (None, *Formality):
            for length in MessageLength:
                draft = adapt_message(
                    ld, intent, CONTEXT, now_ms=MIDDAY_MS, formality=formality, length=length
                )
                assert not draft.fallback and draft.missing == []
                assert "%(" not in draft.text and ")s" not in draft.text
                assert draft.language == language and draft.text.strip()


def test_missing_context_value_is_an_error_that_names_it():
    context = MessageContext(agent_name="Sam", listing=listing(1))
    with pytest.raises(MessageContextError, match="'old_price'"):
        adapt_message(lead(1), Intent.PRICE_CHANGE, context, now_ms=MIDDAY_MS)
    with pytest.raises(MessageContextError, match="'when'"):
        adapt_message(lead(1), Intent.SHOWING_REMINDER, context, now_ms=MIDDAY_MS)


# --- Fallback to English ----------------------------------------------------------------------


@pytest.fixture
def catalogs_lacking_one_spanish_message(tmp_path):
    """A catalog directory whose Spanish catalog lacks price_change|formal and has an empty
    offer_update|formal."""
    for language in ("en", "es"):
        target = catalog_path(tmp_path, language)
        target.parent.mkdir(parents=True)
        shutil.copy(catalog_path(DEFAULT_DIRECTORY, language), target)
    path = catalog_path(tmp_path, "es")
    with path.open("rb") as f:
        catalog = read_po(f)
    catalog.delete("body", context="price_change|formal")
    catalog.get("body", context="offer_update|formal").string = ""
    with path.open("wb") as f:
        write_po(f, catalog)
    return Catalogs(tmp_path)


def test_missing_translation_falls_back_to_english_and_is_reported(
    catalogs_lacking_one_spanish_message, caplog
):
    catalogs = catalogs_lacking_one_spanish_message
    with caplog.at_level(logging.WARNING, logger="edge.culture.message"):
        draft = adapt_message(
            lead(1), Intent.PRICE_CHANGE, CONTEXT, now_ms=MIDDAY_MS, catalogs=catalogs
        )
    assert draft.fallback and draft.missing == ["es:price_change|formal:body"]
    assert draft.text.startswith("Estimado(a) Lead 1:")  # the rest stays Spanish
    assert "The price of the property at 1200 Pine St has changed from USD475,000" in draft.text
    assert "price_change|formal/body" in caplog.text
    empty = adapt_message(
        lead(1), Intent.OFFER_UPDATE, CONTEXT, now_ms=MIDDAY_MS, catalogs=catalogs
    )
    assert empty.missing == ["es:offer_update|formal:body"]
    assert "I have an update regarding your offer of USD440,000" in empty.text
    complete = adapt_message(
        lead(1), Intent.FOLLOW_UP_AFTER_SILENCE, CONTEXT, now_ms=MIDDAY_MS, catalogs=catalogs
    )
    assert not complete.fallback and complete.missing == []


def test_language_without_a_catalog_is_drafted_in_english_with_local_formats():
    swahili = lead(1, language="sw", locale="sw_KE", timezone="Africa/Nairobi", country="KE")
    draft = adapt_message(swahili, Intent.NEW_LISTING_MATCH, CONTEXT, now_ms=MIDDAY_MS)
    assert draft.fallback and draft.missing == ["sw:*:*"] and draft.language == "en"
    assert draft.text.startswith("Hi Lead 1,")
    assert f"US${NBSP}450,000, m² 139, bedrooms: 3" in draft.text  # sw_KE formats


def test_missing_english_catalog_is_an_error(tmp_path):
    with pytest.raises(CatalogError, match="fallback catalog"):
        adapt_message(
            lead(1), Intent.FIRST_CONTACT, CONTEXT, now_ms=MIDDAY_MS, catalogs=Catalogs(tmp_path)
        )


def test_catalogs_are_parsed_once():
    catalogs = default_catalogs()
    assert catalogs.entries("ja") is catalogs.entries("ja")
    assert babel_locale("ko_KR") is babel_locale("ko_KR")


# --- Performance ------------------------------------------------------------------------------


def test_adapt_message_is_fast_once_warm():
    """The target is p95 <= 5 ms; CPU time is asserted, wall time on a shared CI host is not."""
    result = measure(320)
    assert result["cpu_p95_ms"] < 5.0, result
    assert sample_leads() and sample_context().listing is not None


def test_fuzzy_and_empty_entries_count_as_missing(tmp_path):
    from babel.messages.catalog import Catalog

    from edge.culture.catalog import parse_catalog

    catalog = Catalog(locale="es")
    catalog.add("greeting", "Hola, %(lead_name)s:", context="greeting|formal")
    catalog.add("body", "Borrador", context="first_contact|formal", flags=["fuzzy"])
    catalog.add("extra", "", context="extra|formal")
    path = tmp_path / "messages.po"
    with path.open("wb") as f:
        write_po(f, catalog)
    assert parse_catalog(path) == {("greeting|formal", "greeting"): "Hola, %(lead_name)s:"}


def test_unreadable_catalog_is_an_error_that_names_the_file(tmp_path):
    path = catalog_path(tmp_path, "en")
    path.parent.mkdir(parents=True)
    path.write_bytes(b'msgctxt "greeting|formal"\nmsgid "greeting"\nmsgtext "Dear"\n')
    with pytest.raises(CatalogError, match=r"en/LC_MESSAGES/messages\.po"):
        Catalogs(tmp_path).fallback_entries()


def test_country_without_a_holiday_calendar_keeps_contact_hours(caplog):
    nowhere = lead(1, country="ZZ")
    with caplog.at_level(logging.WARNING, logger="edge.culture.contact"):
        window = contact_window(nowhere, ms("2025-12-25T23:30:00-06:00"))
    assert window.send_at_local == "2025-12-26T08:00-06:00" and window.holidays == []
    assert "no public holiday calendar for country 'ZZ'" in caplog.text
