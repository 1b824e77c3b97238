"""The Kivy client driven through its real widgets under Xvfb: taps, typing, what each screen shows.

One app runs for the whole module (Kivy has one window per process); the tests run in order
and each puts back the filters it changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mobile_client.conftest import LEADS, pump
from tests.mobile_client.png import variance

pytestmark = pytest.mark.timeout(180)


def walk(widget):
    """Every widget under ``widget``, itself included."""
    yield widget
    for child in widget.children:
        yield from walk(child)


def of_type(widget, cls) -> list:
    return [w for w in walk(widget) if isinstance(w, cls)]


def tap(widget) -> None:
    """Press and release a touch on ``widget``, as the window would deliver it.

    The touch goes to the widget itself, in its parent's coordinates, with the grab the window
    would give it; a ScrollView's delayed hand-over of quick taps is left out (it makes timing
    races, not behaviour, in a test).
    """
    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch

    touch = UnitTestTouch(*widget.to_window(*widget.center))
    touch.scale_for_screen(*Window.size)  # window coordinates, as the event loop sets them
    touch.push()
    touch.apply_transform_2d(widget.parent.to_widget)
    assert widget.collide_point(*touch.pos), f"{widget} is not under the touch"
    widget.dispatch("on_touch_down", touch)
    for grabbed in [ref() for ref in touch.grab_list]:
        touch.grab_current = grabbed
    widget.dispatch("on_touch_up", touch)
    touch.grab_current = None
    touch.pop()
    pump(lambda: True)


def idle(app) -> None:
    pump(lambda: app.bridge.idle)


def png_variance(path: Path) -> float:
    return variance(path)


# --- Leads -------------------------------------------------------------------------------


def test_leads_screen_lists_every_lead_by_predicted_conversion(client):
    from mobile_client.screens import LeadRow
    from mobile_client.words import chance, language_name, word

    screen = client.screens["leads"]
    rows = screen.rows
    assert len(rows) == LEADS
    assert [r["p_convert"] for r in rows] == sorted((r["p_convert"] for r in rows), reverse=True)
    shown = of_type(screen, LeadRow)
    assert len(shown) == LEADS
    first = rows[0]
    label = shown[-1].label  # children are stored last-first
    assert label.startswith(f"{first['name']}  ·  {chance(first['p_convert'])} deal")
    assert f"{language_name(first['language'])} · {word(first['vertical'])} · " in label
    assert "offline" in screen.summary.plain


def visible_text(widget) -> str:
    """Every label, button and text shown under ``widget``."""
    from kivy.uix.label import Label

    return "\n".join(w.text for w in walk(widget) if isinstance(w, Label) and w.text)


def test_leads_are_shown_by_name_with_words_not_ids_or_enum_names(client):
    import re

    from mobile_client.screens import LeadRow

    screen = client.screens["leads"]
    text = visible_text(screen) + "".join(r.label for r in of_type(screen, LeadRow))
    assert not re.search(r"\blead-\d+", text), "a lead id is shown"
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), re.findall(r"\b[a-z]+_[a-z_]+\b", text)
    for r in screen.rows:
        assert r["name"] in text


def test_scores_spread_so_sorting_by_them_says_something(client):
    from mobile_client.words import chance

    shown = [chance(r["p_convert"]) for r in client.screens["leads"].rows]
    assert shown.count(chance(0.0)) <= len(shown) // 2, shown
    assert len(set(shown)) >= len(shown) // 3, shown


def test_the_leads_screen_says_who_to_call_today_and_why(client):
    from mobile_client.words import chance

    screen = client.screens["leads"]
    today = screen.today.plain
    assert today.startswith("Call today:\n1. "), today
    open_rows = [r for r in screen.rows if r["status"] not in ("converted", "lost")]
    top = max(open_rows, key=lambda r: r["p_convert"])
    assert f"1. {top['name']}: {chance(top['p_convert'])} chance of a deal" in today
    assert "Why: " in today and "Planned: " in today


def test_typing_in_search_filters_the_leads_list(client):
    from mobile_client.screens import LeadRow

    screen = client.screens["leads"]
    name = screen.rows[3]["name"]
    screen.search.focus = True
    screen.search.insert_text(name)
    pump(lambda: True)
    expected = [r["id"] for r in screen.rows if name.casefold() in r["name"].casefold()]
    assert screen.visible == expected
    assert {row.lead_id for row in of_type(screen, LeadRow)} == set(expected)
    assert f"{len(expected)} of {LEADS} leads" in screen.summary.plain
    screen.search.text = "no such lead anywhere"
    pump(lambda: True)
    assert of_type(screen, LeadRow) == []
    screen.search.text = ""
    screen.search.focus = False
    pump(lambda: True)
    assert len(of_type(screen, LeadRow)) == LEADS


def test_tier_and_language_filters_narrow_the_list(client):
    screen = client.screens["leads"]
    tier = screen.rows[0]["tier"]
    screen.tier.text = tier
    pump(lambda: True)
    assert screen.visible == [r["id"] for r in screen.rows if r["tier"] == tier]
    screen.tier.text = "all tiers"
    from mobile_client.words import language_name

    code = screen.rows[-1]["language"]
    language = language_name(code)
    assert language in screen.language.values
    screen.language.text = language
    pump(lambda: True)
    assert screen.visible == [r["id"] for r in screen.rows if r["language"] == code]
    screen.language.text = "all languages"
    pump(lambda: True)
    assert len(screen.visible) == LEADS


# --- Lead detail -------------------------------------------------------------------------


def test_tapping_a_lead_opens_its_analysis_plan_and_drafted_message(client):
    from mobile_client.screens import LeadRow

    client.go("leads")
    pump(lambda: True)
    row = of_type(client.screens["leads"], LeadRow)[-1]  # the top of the list
    tap(row)
    idle(client)
    detail = client.screens["detail"]
    assert client.manager.current == "detail"
    assert client.current_lead == row.lead_id
    name = next(r["name"] for r in client.screens["leads"].rows if r["id"] == row.lead_id)
    assert detail.header.plain == name
    assert detail.analysis.plain.startswith("Chance of a deal: ")
    assert detail.vertical.plain
    assert detail.profile.plain
    assert detail.recommendations.plain.startswith("1. ")
    assert detail.plan.plain.startswith(("0. ", "1. ", "no steps: "))
    assert detail.message.text.strip(), detail.draft_info.plain
    assert " · send at " in detail.draft_info.plain


def test_the_lead_says_its_reply_chance_and_a_steps_reply_chance_differ_in_kind(client):
    from mobile_client.words import P_RESPOND_MEANS, STEP_MEANS

    detail = client.screens["detail"]
    assert P_RESPOND_MEANS in detail.analysis.plain
    assert "a typical lead" in detail.analysis.plain
    assert detail.plan_means.plain == STEP_MEANS
    assert "not the same figure" in STEP_MEANS
    assert "pts" not in detail.drivers.plain  # the effect is said once, with its verb
    *drivers, total = detail.drivers.plain.splitlines()
    for line in drivers:
        assert line.startswith("• ") and (" raises " in line or " lowers " in line), line
    assert total.startswith("All factors together: ") and "against a typical lead" in total


def test_choosing_another_intent_redrafts_the_message(client):
    detail = client.screens["detail"]
    before = detail.message.text
    assert "First contact" in detail.intent.values
    detail.intent.text = "First contact"
    idle(client)
    assert detail.message.text.strip()
    assert detail.message.text != before


def test_the_app_runs_the_step_scheduler(client):
    idle(client)
    scheduler = client.bridge.runtime.__dict__.get("_scheduler")
    assert scheduler is not None and scheduler._scheduler.running


def test_edited_message_marked_sent_is_recorded_in_the_outbox(client):
    detail = client.screens["detail"]
    rt = client.bridge.runtime
    pending = client.bridge.wait(rt.counts()).outbox_pending
    detail.message.text = "Edited by the agent: see you Saturday at 10."
    tap(detail.send)
    idle(client)
    assert client.bridge.wait(rt.counts()).outbox_pending == pending + 1
    latest = client.bridge.wait(rt.lead_detail(client.current_lead, 1)).recent_events[0]
    assert (latest.type, latest.text) == ("message_out", detail.message.text)
    assert f"{pending + 1} changes waiting in the outbox" in detail.status.plain


# --- Voice note --------------------------------------------------------------------------


def test_a_picked_wav_is_transcribed_stored_as_an_event_and_rescored(client, voice_clip):
    from kivy.uix.filechooser import FileChooserListView
    from kivy.uix.popup import Popup

    from mobile_client.widgets import TouchButton

    voice = client.screens["voice"]
    tap(client.tabs["voice"])
    assert client.manager.current == "voice"
    assert voice.lead.plain == f"Voice note for {client.lead_name(client.current_lead)}"
    tap(voice.pick)
    popup = next(w for w in client.root_window.children if isinstance(w, Popup))
    chooser = of_type(popup, FileChooserListView)[0]
    chooser.selection = [str(voice_clip)]
    use = next(b for b in of_type(popup, TouchButton) if b.label == "Transcribe selected file")
    tap(use)
    idle(client)
    assert voice.partials, "no partial transcript was shown while it ran"
    assert voice.final.plain and voice.final.plain != "(nothing recognized)"
    assert "stored as a voice note · chance of a deal" in voice.score.plain
    audio_s, processing_s, _language = voice.last_clip
    assert f"{processing_s:.2f} s: {processing_s / audio_s:.2f}× real time" in voice.state.plain
    assert "processing time ÷ audio length" in voice.state.plain
    assert client.bridge.latencies["transcribe"][-1] == processing_s * 1000
    rt = client.bridge.runtime
    latest = client.bridge.wait(rt.lead_detail(client.current_lead, 1)).recent_events[0]
    assert latest.type == "voice_note"
    assert latest.language == "ko"


# --- Sync --------------------------------------------------------------------------------


def test_sync_screen_shows_outbox_conflicts_and_model_versions_offline(client):
    sync = client.screens["sync"]
    tap(client.tabs["sync"])
    idle(client)
    pending = client.bridge.wait(client.bridge.runtime.counts()).outbox_pending
    assert f"pending outbox: {pending}" in sync.state.plain
    assert "conflicts logged: 0" in sync.state.plain
    assert "behaviour: " in sync.versions.plain
    tap(sync.check)
    assert sync.message.plain.startswith("offline")


def test_going_online_syncs_the_outbox_to_a_server(client, tmp_path):
    from tests.live_server import run_server

    sync = client.screens["sync"]
    tap(client.tabs["sync"])
    rt = client.bridge.runtime
    lead = client.bridge.wait(rt.get("lead", client.screens["leads"].rows[0]["id"]))
    with run_server(tmp_path / "server.db") as live:
        sync.server.text = live.url
        sync.token.text = live.token(agent=lead.agent_id, team=lead.team_id)
        tap(sync.online)
        idle(client)
        assert client.online
        assert sync.message.plain.startswith("sync ok: pushed "), sync.message.plain
        assert "pending outbox: 0" in sync.state.plain
        assert "never" not in sync.state.plain
        tap(sync.online)
        idle(client)
    assert not client.online


def publish_shipped(live, version: str, *, tamper: bool = False) -> None:
    """The shipped behaviour model published on ``live`` under ``version`` (no training);
    with ``tamper``, its stored blob is then altered on the server."""
    import asyncio

    import msgspec

    from models.artifact import ARTIFACT_DIR, read_manifest
    from tests.live_server import registry_of, spoil_version

    blob = (ARTIFACT_DIR / "behaviour.tflite").read_bytes()
    manifest = msgspec.structs.replace(read_manifest(ARTIFACT_DIR, "behaviour"), version=version)

    async def publish() -> None:
        async with registry_of(live) as registry:
            await registry.publish(blob, manifest)
            if tamper:
                altered = bytearray(blob)
                altered[len(altered) // 2] ^= 0xFF
                await spoil_version(registry, "behaviour", version, blob=bytes(altered))

    asyncio.run(publish())


def test_the_model_button_downloads_verifies_installs_and_the_device_runs_it(client, tmp_path):
    from mobile_client.screens import LeadRow
    from tests.live_server import run_server

    sync, detail = client.screens["sync"], client.screens["detail"]
    rt = client.bridge.runtime
    lead = client.bridge.wait(rt.get("lead", client.screens["leads"].rows[0]["id"]))
    running = rt.model_versions()["behaviour"]
    with run_server(tmp_path / "server.db") as live:
        import asyncio

        from server.admin import model_key

        # enrollment pins the server's model-signing key (a device trusts no key offered)
        key = asyncio.run(model_key(live.config.database_url)).public_key
        client.bridge.wait(rt.enroll_model_key(key))
        tap(client.tabs["sync"])
        sync.server.text = live.url
        sync.token.text = live.token(agent=lead.agent_id, team=lead.team_id)
        tap(sync.online)
        idle(client)
        tap(sync.check)
        idle(client)
        assert sync.message.plain.startswith(
            f"no newer model on the server: running behaviour {running}, "
        ), sync.message.plain
        new = "9.7.0-kivy"
        publish_shipped(live, new)
        tap(sync.check)
        idle(client)
        assert sync.message.plain.startswith(
            f"installed behaviour {new} (was {running}): signature, hash"
        ), sync.message.plain
        assert f"behaviour: {new}" in sync.versions.plain
        assert rt.model_manifest("behaviour").version == new
        # the device runs it: the lead screen's scores come from the new version
        client.go("leads")
        pump(lambda: True)
        tap(of_type(client.screens["leads"], LeadRow)[-1])
        idle(client)
        assert f"model {new}" in detail.analysis.plain, detail.analysis.plain
        # a newer version whose blob was altered on the server is refused, and the old one runs
        publish_shipped(live, "9.8.0-tampered", tamper=True)
        tap(client.tabs["sync"])
        tap(sync.check)
        idle(client)
        said = sync.message.plain
        assert said.startswith("refused behaviour: ") and "sha256" in said, said
        assert said.endswith(f"still running {new}")
        assert rt.model_manifest("behaviour").version == new
        tap(sync.online)
        idle(client)
    assert not client.online


# --- Performance -------------------------------------------------------------------------


def test_performance_screen_shows_p50_p95_per_operation_and_battery(client):
    from kivy.uix.label import Label

    perf = client.screens["performance"]
    tap(client.tabs["performance"])
    cells = [w.text for w in of_type(perf.table, Label)][::-1]
    assert cells[:4] == ["operation", "n", "p50 ms", "p95 ms"]
    for operation in ("analyze", "adapt_message", "mark_sent", "voice_note", "sync_status"):
        assert operation in cells
    analyze = cells.index("analyze")
    assert int(cells[analyze + 1]) >= LEADS
    assert float(cells[analyze + 3]) >= float(cells[analyze + 2]) > 0
    assert "% battery per hour" in perf.energy.plain
    assert perf.battery.plain.startswith("device battery: ")


def test_the_battery_figure_is_the_readme_model_and_the_clip_agrees_across_screens(client):
    from kivy.uix.label import Label

    perf = client.screens["performance"]
    tap(client.tabs["performance"])
    energy = client.bridge.runtime.energy
    readme = energy.active_agent_hour(assume_speech=True).battery_percent
    assert f"(README model): {readme:.2f} % battery per hour" in perf.energy.plain
    assert readme < 1.0, "the README's model: well under 1 % an hour"
    assert "pace" not in perf.energy.plain  # no burst of work extrapolated to an hour
    from mobile_client.words import speech_line

    voice = client.screens["voice"]
    line = speech_line(*voice.last_clip)  # the same clip line on both screens
    assert line in perf.energy.plain and line in voice.state.plain
    cells = [w.text for w in of_type(perf.table, Label)][::-1]
    at = cells.index("transcribe")
    assert cells[at + 2] == f"{voice.last_clip[1] * 1000:.1f}"


# --- every screen ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["leads", "today", "detail", "voice", "sync", "performance"])
def test_every_screen_draws_content_with_touch_sized_buttons(client, name, tmp_path):
    from kivy.metrics import dp
    from kivy.uix.button import Button

    client.go(name)
    pump(lambda: True)
    png = tmp_path / f"{name}.png"
    client.root.export_to_png(str(png))
    assert png_variance(png) > 100
    buttons = of_type(client.root, Button)
    assert buttons
    small = [b for b in buttons if b.height < dp(48) - 0.5]
    assert not small, [(getattr(b, "label", b.text), b.height) for b in small]
