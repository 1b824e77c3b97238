"""The words the screens use instead of raw values."""

from __future__ import annotations

from mobile_client.words import (
    call_today,
    chance,
    language_name,
    real_time_factor,
    word,
    zone_words,
)


def test_enums_read_as_words():
    assert word("follow_up_after_silence") == "Follow up after silence"
    assert word("new_construction") == "New construction"
    assert (word("sms"), word("whatsapp"), word("hot")) == ("SMS", "WhatsApp", "Hot")
    assert (language_name("ko"), language_name("xx")) == ("Korean", "xx")


def test_chances_are_whole_percent():
    shown = [chance(p).replace("\u00a0", " ") for p in (0.0, 0.0099, 0.01, 0.0898, 0.355)]
    assert shown == ["<1 %", "<1 %", "1 %", "9 %", "36 %"]
    assert zone_words("America/Los_Angeles") == "Los Angeles time"


def test_real_time_factor_is_processing_time_over_audio_length():
    assert real_time_factor(6.961, 4.0) == 6.961 / 4.0
    assert real_time_factor(1.0, 0.0) == 0.0


def test_call_today_names_the_likeliest_open_leads_and_why():
    rows = [
        {
            "name": "Ana",
            "p_convert": 0.30,
            "p_respond": 0.6,
            "status": "active",
            "reasons": ["books showings", "answers the agent", "x"],
            "next_step": "Call Mon 10:00",
        },
        {
            "name": "Bo",
            "p_convert": 0.50,
            "p_respond": 0.6,
            "status": "converted",
            "reasons": [],
            "next_step": "none planned",
        },
        {
            "name": "Cy",
            "p_convert": 0.05,
            "p_respond": 0.2,
            "status": "new",
            "reasons": [],
            "next_step": "none planned",
        },
    ]
    assert call_today(rows, k=2) == (
        "Call today:\n"
        "1. Ana: 30 % chance of a deal, 60 % of a reply. Why: books showings, answers the "
        "agent. Planned: Call Mon 10:00.\n"
        "2. Cy: 5 % chance of a deal, 20 % of a reply. Why: no strong signal yet. "
        "Planned: none planned."
    ).replace("%", "\u00a0%").replace(" \u00a0%", "\u00a0%")
    assert call_today(rows[1:2]) == "No open leads to call today."
