"""The six screens: each callback asks ``EdgeRuntime`` (through the bridge), shows the answer."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.filechooser import FileChooserListView
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import Screen
from kivy.uix.spinner import Spinner
from kivy.uix.switch import Switch

from edge.errors import OutreachRefusedError
from mobile_client.widgets import (
    TOUCH,
    Heading,
    Input,
    Text,
    TouchButton,
    column,
    row,
    scrolling,
)
from mobile_client.words import (
    P_RESPOND_MEANS,
    RTF_MEANS,
    STEP_MEANS,
    TODAY_MEANS,
    call_today,
    chance,
    execution_words,
    language_name,
    refusal_words,
    speech_line,
    update_words,
    word,
    zone_words,
)

if TYPE_CHECKING:
    from mobile_client.app import RealtyEdgeApp

ALL_LANGUAGES = "all languages"
ALL_TIERS = "all tiers"
TIERS = ("hot", "warm", "cold", "new")
#: The intents the message drafter knows (edge.culture.Intent); the agent picks one by its words.
INTENTS = (
    "follow_up_after_silence",
    "first_contact",
    "new_listing_match",
    "price_change",
    "showing_reminder",
    "offer_update",
)
INTENT_BY_WORDS = {word(i): i for i in INTENTS}


def local_time(ts_ms: int, zone: str) -> str:
    """An epoch-ms instant as the lead's wall-clock time."""
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return datetime.fromtimestamp(ts_ms / 1000, tz).strftime("%a %d %b %H:%M")


def spinner(text: str, values: list[str]) -> Spinner:
    return Spinner(text=text, values=values, size_hint_y=None, height=dp(TOUCH))


class LeadRow(TouchButton):
    """One lead in the list; tap to open it."""

    def __init__(self, lead: dict[str, Any], on_open: Any):
        first = (
            f"{lead['name']}  ·  {chance(lead['p_convert'])} deal · "
            f"{chance(lead['p_respond'])} reply"
        )
        second = (
            f"{language_name(lead['language'])} · {word(lead['vertical'])} · "
            f"{word(lead['tier'])} · next: {lead['next_step']}"
        )
        super().__init__(f"{first}\n{second}", height=72, background_color=(0.18, 0.2, 0.24, 1))
        self.halign = "left"
        self.lead_id = lead["id"]
        self.bind(on_release=lambda *_: on_open(self.lead_id))


class LeadsScreen(Screen):
    """Who to call today and why, then the leads by chance of a deal; search and filters work
    offline."""

    def __init__(self, app: RealtyEdgeApp, **kw: Any):
        super().__init__(name="leads", **kw)
        self.app = app
        self.rows: list[dict[str, Any]] = []
        self.visible: list[str] = []
        box = BoxLayout(orientation="vertical", padding=dp(8), spacing=dp(6))
        self.search = Input(hint_text="Search name, language, vertical, tier")
        self.search.bind(text=lambda *_: self.refresh())
        self.language = spinner(ALL_LANGUAGES, [ALL_LANGUAGES])
        self.tier = spinner(ALL_TIERS, [ALL_TIERS, *TIERS])
        for s in (self.language, self.tier):
            s.bind(text=lambda *_: self.refresh())
        self.summary = Text("loading leads…", size=13)
        self.today = Text("", size=14, color=(1, 0.9, 0.6, 1))
        self.list = column(spacing=4, padding=0)
        box.add_widget(self.search)
        box.add_widget(row(self.language, self.tier))
        box.add_widget(self.today)
        box.add_widget(self.summary)
        box.add_widget(scrolling(self.list))
        self.add_widget(box)

    def load(self) -> None:
        self.app.bridge.submit("load_leads", self._rows(), self._loaded, self.app.show_error)

    async def _rows(self) -> list[dict[str, Any]]:
        rt, timed = self.app.bridge.runtime, self.app.bridge.timed
        rows: list[dict[str, Any]] = []
        for lead in await rt.leads():
            a = await timed("analyze", rt.analyze(lead.id))
            step = a.plan.steps[0] if a.plan.steps else None
            nxt = (
                f"{word(step.channel)} {local_time(step.due_at, lead.timezone)}"
                if step
                else "none planned"
            )
            b = a.behaviour
            reasons = [d.label for d in b.drivers if d.effect > 0 or d.effect_respond > 0]
            rows.append(
                {
                    "id": lead.id,
                    "name": lead.name,
                    "language": a.language,
                    "vertical": str(a.vertical.vertical),
                    "tier": str(b.tier),
                    "p_convert": b.p_convert,
                    "p_respond": b.p_respond,
                    "next_step": nxt,
                    "status": str(lead.status),
                    "reasons": reasons,
                }
            )
        rows.sort(key=lambda r: (-r["p_convert"], -r["p_respond"], r["name"]))
        return rows

    def _loaded(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        names = sorted({language_name(r["language"]) for r in rows})
        self.language.values = [ALL_LANGUAGES, *names]
        self.today.show(call_today(rows))
        self.refresh()

    def matches(self, r: dict[str, Any]) -> bool:
        query = self.search.text.strip().casefold()
        hay = " ".join([r["name"], language_name(r["language"]), word(r["vertical"]), r["tier"]])
        return (
            (not query or query in hay.casefold())
            and self.language.text in (ALL_LANGUAGES, language_name(r["language"]))
            and self.tier.text in (ALL_TIERS, r["tier"])
        )

    def refresh(self) -> None:
        shown = [r for r in self.rows if self.matches(r)]
        self.visible = [r["id"] for r in shown]
        self.list.clear_widgets()
        for r in shown:
            self.list.add_widget(LeadRow(r, self.app.open_lead))
        self.summary.show(
            f"{len(shown)} of {len(self.rows)} leads · sorted by chance of a deal"
            f" · {'online' if self.app.online else 'offline'}"
        )


class StepCard(GridLayout):
    """One step of today: who, which channel, when in the lead's zone, why; and its buttons."""

    def __init__(self, step: Any, screen: TodayScreen):
        super().__init__(cols=1, spacing=dp(4), padding=(0, dp(6)), size_hint_y=None)
        self.bind(minimum_height=self.setter("height"))
        self.step = step
        theirs = f"{step.lead_time.split(' ', 1)[0]} {zone_words(step.lead_zone)}"
        when = f"{theirs} (your {step.at})" if not step.lead_time.startswith(step.at) else theirs
        if step.status == "unknown":
            when = f"was due {when}"
        elif step.overdue:
            when = f"due {when}, now"
        self.title = Text(f"{step.lead_name} · {word(step.channel)} · {when}", size=15, bold=True)
        self.add_widget(self.title)
        if step.status == "unknown":
            about = (
                f"Check whether {step.lead_name} got it: the send was cut short, so it may"
                " have gone. It is never sent again by itself."
            )
        else:
            about = (
                f"Why: {step.why} · {chance(step.p_response)} chance of a reply on "
                f"{word(step.channel)} at that hour"
            )
        if step.status == "due" and step.outcome:
            about += f"\nWaiting for you: {step.outcome}"
        self.about = Text(about, size=13, color=(0.8, 0.83, 0.88, 1))
        self.add_widget(self.about)
        self.buttons: dict[str, TouchButton] = {}
        if step.status == "unknown":
            actions = [("reached", "Reached"), ("not_reached", "Not reached")]
        else:
            verb = "Call" if step.channel == "call" else "Send"
            actions = [("send", verb), ("done", "Done"), ("skip", "Skip"), ("snooze", "Snooze")]
        for action, label in actions:
            button = TouchButton(label)
            button.bind(on_release=lambda _b, a=action: screen.act(self.step, a))
            self.buttons[action] = button
        self.add_widget(row(*self.buttons.values()))


class TodayScreen(Screen):
    """Today's steps by lead name, channel and the lead's time, with why; one tap to send
    (through the phone's channel), mark done by hand, skip or snooze. Refusals in words."""

    #: How long Snooze puts a step off.
    SNOOZE_MIN = 60

    def __init__(self, app: RealtyEdgeApp, **kw: Any):
        super().__init__(name="today", **kw)
        self.app = app
        self.steps: list[Any] = []
        box = column()
        self.summary = Text("loading today's outreach…", size=13)
        self.message = Text(TODAY_MEANS, size=14, color=(1, 0.9, 0.6, 1))
        self.list = column(spacing=8, padding=0)
        self.reload = TouchButton("Refresh")
        self.reload.bind(on_release=lambda *_: self.load())
        for w in (row(Heading("Today"), self.reload), self.summary, self.message, self.list):
            box.add_widget(w)
        self.add_widget(scrolling(box))

    def on_pre_enter(self, *_: Any) -> None:
        self.load()

    def load(self) -> None:
        rt = self.app.bridge.runtime
        self.app.bridge.submit("today", rt.today(), self._loaded, self.app.show_error)

    def _loaded(self, steps: list[Any]) -> None:
        self.steps = steps
        self.list.clear_widgets()
        for step in steps:
            self.list.add_widget(StepCard(step, self))
        if not steps:
            self.summary.show("Nothing due today. Plan outreach on a lead's screen.")
            return
        late = sum(1 for s in steps if s.overdue and s.status != "unknown")
        check = sum(1 for s in steps if s.status == "unknown")
        self.summary.show(
            f"{len(steps)} steps today · {late} due now" + (f" · {check} to check" if check else "")
        )

    def card(self, step_id: str) -> StepCard:
        """The card of ``step_id`` on screen."""
        return next(c for c in self.list.children if c.step.step_id == step_id)

    def act(self, step: Any, action: str) -> None:
        """One tap: the runtime does it, the screen says what became of it, the list reloads."""
        rt, name, channel = self.app.bridge.runtime, step.lead_name, step.channel
        calls = {
            "send": lambda: rt.execute_step(step.step_id),
            "done": lambda: rt.complete_step(step.step_id),
            "skip": lambda: rt.skip_step(step.step_id),
            "snooze": lambda: rt.snooze_step(step.step_id, self.SNOOZE_MIN),
            "reached": lambda: rt.resolve_step(step.step_id, True),
            "not_reached": lambda: rt.resolve_step(step.step_id, False),
        }

        def done(result: Any) -> None:
            match action:
                case "send":
                    detail = result.delivery.detail if result.delivery else ""
                    words = execution_words(str(result.status), name, channel, detail)
                case "done":
                    words = f"Recorded: you reached {name} by {word(channel)}."
                case "skip":
                    words = f"Skipped: nothing goes to {name} for this step."
                case "snooze":
                    later = local_time(result.due_at, step.lead_zone)
                    words = f"Snoozed: {name} comes back at {later} {zone_words(step.lead_zone)}."
                case _:
                    words = (
                        f"Settled: {name} got it."
                        if action == "reached"
                        else f"Settled: {name} did not get it."
                    )
            self.message.show(words)
            self.load()

        def refused(error: BaseException) -> None:
            if isinstance(error, OutreachRefusedError):
                retry = (
                    f"{local_time(error.retry_at, step.lead_zone)} {zone_words(step.lead_zone)}"
                    if error.retry_at
                    else None
                )
                self.message.show(f"{name}: {refusal_words(error.reason, name, channel, retry)}")
            else:
                self.message.show(f"{name}: could not {action.replace('_', ' ')}: {error}")
            self.load()

        self.message.show(f"{name}: working…")
        self.app.bridge.submit(f"today_{action}", calls[action](), done, refused)


class LeadDetailScreen(Screen):
    """Analysis with drivers, vertical, profile, listings with reasons, plan, drafted message."""

    def __init__(self, app: RealtyEdgeApp, **kw: Any):
        super().__init__(name="detail", **kw)
        self.app = app
        self.lead_id: str | None = None
        self.zone = "UTC"
        self.channel = "sms"
        self.language = "en"
        self.content = column()
        self.header = Heading("Pick a lead on the Leads screen")
        self.analysis = Text()
        self.drivers = Text(size=14)
        self.vertical = Text(size=14)
        self.profile = Text(size=14)
        self.recommendations = Text(size=14)
        self.plan = Text(size=14)
        self.plan_means = Text(STEP_MEANS, size=12, color=(0.7, 0.74, 0.8, 1))
        self.intent = spinner(word(INTENTS[0]), list(INTENT_BY_WORDS))
        self.intent.bind(text=lambda *_: self.draft())
        self.message = Input(multiline=True, height=140)
        self.draft_info = Text(size=13)
        self.send = TouchButton("Mark sent")
        self.send.bind(on_release=lambda *_: self.mark_sent())
        self.replan = TouchButton("Plan outreach")
        self.replan.bind(on_release=lambda *_: self.plan_outreach())
        self.voice = TouchButton("Voice note")
        self.voice.bind(on_release=lambda *_: app.go("voice"))
        self.status = Text(size=13)
        actions = row(self.send, self.replan, self.voice)
        for title, widget in (
            (None, self.header),
            (None, self.analysis),
            ("Why, against a typical lead", self.drivers),
            ("Intervention plan", self.plan),
            (None, self.plan_means),
            ("Drafted message", self.intent),
            (None, self.message),
            (None, self.draft_info),
            (None, actions),
            (None, self.status),
            ("Vertical", self.vertical),
            ("Profile", self.profile),
            ("Recommended listings", self.recommendations),
        ):
            if title:
                self.content.add_widget(Heading(title))
            self.content.add_widget(widget)
        self.add_widget(scrolling(self.content))

    def show(self, lead_id: str) -> None:
        self.lead_id = lead_id
        self.status.show("")
        self.app.bridge.submit(
            "analyze", self.app.bridge.runtime.analyze(lead_id), self._analysis, self.app.show_error
        )

    def _analysis(self, a: Any) -> None:
        lead_id = a.lead_id
        self.language = a.language
        b, v, p = a.behaviour, a.vertical, a.profile
        self.header.show(a.name)
        self.analysis.show(
            f"Chance of a deal: {chance(b.p_convert)} ({b.reference} {chance(b.reference_convert)})"
            f"\nChance of a reply: {chance(b.p_respond)} ({b.reference} "
            f"{chance(b.reference_respond)}): {P_RESPOND_MEANS}\n"
            f"{word(b.tier)} · {language_name(a.language)} · model {b.model_version}"
        )
        total = (
            f"All factors together: {(b.p_convert - b.reference_convert) * 100:+.1f} "
            f"points of deal chance, {(b.p_respond - b.reference_respond) * 100:+.1f} of "
            f"reply chance against {b.reference}."
        )
        self.drivers.show("\n".join([*(f"• {d.text}" for d in b.drivers), total]))
        self.vertical.show(f"{word(v.vertical)} ({v.confidence:.0%}): " + "; ".join(v.evidence[:3]))
        band = (
            f"{p.price_min:,.0f}–{p.price_max:,.0f}"
            if p.price_min and p.price_max
            else "budget unknown"
        )
        self.profile.show(
            f"{band} · {p.beds_min or '?'}+ beds · {', '.join(p.areas) or '?'} · "
            f"{word(p.formality)}, {word(p.message_length).lower()} messages, "
            f"prefers {word(p.preferred_channel)}"
        )
        self.recommendations.show(
            "\n".join(
                f"{r.rank}. {r.listing_id} · {r.price:,.0f} {r.currency} · {r.beds} bd · {r.area}"
                f" — {'; '.join(r.reasons)}"
                for r in a.recommendations[:5]
            )
            or "none"
        )
        self.app.bridge.submit(
            "lead_detail",
            self.app.bridge.runtime.lead_detail(lead_id, 1),
            lambda d: self._plan(a.plan, d.lead.timezone),
        )
        self.draft()

    def _plan(self, plan: Any, zone: str) -> None:
        self.zone = zone
        steps = [
            f"{s.seq}. {local_time(s.due_at, zone)} {zone_words(zone)} · {word(s.channel)} · "
            f"{word(s.intent)} · {chance(s.p_response)} reply"
            for s in plan.steps
        ]
        self.plan.show("\n".join(steps) if steps else f"no steps: {plan.reason}")

    def draft(self) -> None:
        if self.lead_id is None:
            return
        rt = self.app.bridge.runtime
        intent = INTENT_BY_WORDS.get(self.intent.text, self.intent.text)
        self.app.bridge.submit(
            "adapt_message",
            rt.adapt_message(self.lead_id, intent),
            self._drafted,
            self._draft_failed,
        )

    def _drafted(self, d: Any) -> None:
        self.channel = str(d.channel)
        self.message.text = d.text
        self.draft_info.show(
            f"{language_name(d.language)} · {word(d.register)} · "
            f"{word(d.channel)} · send at "
            f"{d.send_at_local}" + (f" (after {d.holiday})" if d.holiday else "")
        )

    def _draft_failed(self, error: BaseException) -> None:
        self.message.text = ""
        self.draft_info.show(f"cannot draft {self.intent.text.lower()}: {error}")

    def mark_sent(self) -> None:
        lead_id = self.lead_id
        if lead_id is None or not self.message.text.strip():
            self.status.show("nothing to send")
            return
        rt = self.app.bridge.runtime

        async def send() -> int:
            await rt.record_event(
                lead_id,
                "message_out",
                text=self.message.text,
                channel=self.channel,
                language=self.language,
            )
            return (await rt.counts()).outbox_pending

        self.app.bridge.submit(
            "mark_sent",
            send(),
            lambda n: self.status.show(
                f"sent by {word(self.channel)}: recorded, {n} changes waiting in the outbox"
            ),
            self.app.show_error,
        )

    def plan_outreach(self) -> None:
        if self.lead_id is None:
            return
        rt = self.app.bridge.runtime
        self.app.bridge.submit(
            "plan_interventions",
            rt.plan_interventions(self.lead_id),
            lambda plan: self._plan(plan, self.zone),
            self.app.show_error,
        )


class VoiceScreen(Screen):
    """Record or pick a WAV; partial transcript while it runs; stored as an event; re-scored."""

    def __init__(self, app: RealtyEdgeApp, **kw: Any):
        super().__init__(name="voice", **kw)
        self.app = app
        self.recording = False
        self.partials: list[str] = []
        #: (audio seconds, processing seconds, language) of the last clip, measured once.
        self.last_clip: tuple[float, float, str] | None = None
        box = column()
        self.lead = Heading("Voice note")
        self.mic = TouchButton("Record from microphone")
        self.mic.bind(on_release=lambda *_: self.toggle_mic())
        self.pick = TouchButton("Pick a WAV file")
        self.pick.bind(on_release=lambda *_: self.choose_file())
        self.state = Text(size=13)
        self.partial = Text(color=(1, 0.85, 0.5, 1))
        self.final = Text()
        self.score = Text()
        for w in (
            self.lead,
            self.mic,
            self.pick,
            self.state,
            Heading("Live transcript"),
            self.partial,
            Heading("Stored note"),
            self.final,
            self.score,
        ):
            box.add_widget(w)
        self.add_widget(scrolling(box))
        self.mic_available = self._has_mic()
        if not self.mic_available:
            self.mic.disabled = True
            self.mic.relabel("No microphone backend here: pick a WAV")

    @staticmethod
    def _has_mic() -> bool:
        try:
            from plyer.utils import platform

            if importlib.util.find_spec(f"plyer.platforms.{platform}.audio") is None:
                return False  # plyer has no recorder for this platform (e.g. Linux desktops)
            from plyer import audio
            from plyer.facades import Audio

            audio.state  # noqa: B018 - loads the platform's implementation, if there is one
            return type(object.__getattribute__(audio, "_obj")) is not Audio
        except (NotImplementedError, ImportError, AttributeError):
            return False

    def on_pre_enter(self, *_: Any) -> None:
        lead = self.app.current_lead
        self.lead.show(
            f"Voice note for {self.app.lead_name(lead)}" if lead else "Open a lead first"
        )

    def toggle_mic(self) -> None:
        from plyer import audio

        if not self.recording:
            audio.file_path = str(self.app.workdir / "voice-note.wav")
            audio.start()
            self.recording = True
            self.mic.relabel("Stop and transcribe")
        else:
            audio.stop()
            self.recording = False
            self.mic.relabel("Record from microphone")
            self.transcribe_file(audio.file_path)

    def choose_file(self) -> None:
        chooser = FileChooserListView(filters=["*.wav", "*.WAV"], path=str(self.app.workdir))
        use = TouchButton("Transcribe selected file")
        box = BoxLayout(orientation="vertical")
        box.add_widget(chooser)
        box.add_widget(use)
        popup = Popup(title="Pick a WAV file", content=box, size_hint=(0.95, 0.9))

        def chosen(*_: Any) -> None:
            if chooser.selection:
                popup.dismiss()
                self.transcribe_file(chooser.selection[0])

        use.bind(on_release=chosen)
        popup.open()

    def transcribe_file(self, path: str) -> None:
        lead_id = self.app.current_lead
        if lead_id is None:
            self.state.show("open a lead first")
            return
        rt = self.app.bridge.runtime
        self.partials = []
        self.partial.show("…")
        self.state.show(f"transcribing {path}")

        def stream(language: str | None) -> Any:
            final = None
            for piece in rt.transcribe_stream(path, language):
                if hasattr(piece, "audio_s"):
                    Clock.schedule_once(lambda _dt, t=piece.text: self._partial(t))
                else:
                    final = piece
            return final

        async def run() -> tuple[Any, float, float, float]:
            before = (await rt.analyze(lead_id)).behaviour.p_convert
            lead = await rt.get("lead", lead_id)
            spoken = getattr(lead, "language", None)
            language = spoken if spoken in rt.voice_languages() else None
            bridge = self.app.bridge  # the model loads once, outside the clip's time
            await bridge.timed("voice_model_load", asyncio.to_thread(rt.load_voice_model, language))
            t0 = time.perf_counter()
            t = await asyncio.to_thread(stream, language)
            processing_s = time.perf_counter() - t0
            bridge.record("transcribe", processing_s * 1000)
            await rt.record_event(
                lead_id,
                "voice_note",
                text=t.text or "(silence)",
                language=t.language,
                duration_s=t.duration_s,
            )
            after = (await bridge.timed("analyze", rt.analyze(lead_id))).behaviour
            return t, processing_s, before, after.p_convert

        self.app.bridge.submit("voice_note", run(), self._done, self._failed)

    def _partial(self, text: str) -> None:
        self.partials.append(text)
        self.partial.show(text or "…")

    def _done(self, result: tuple[Any, float, float, float]) -> None:
        t, processing_s, before, after = result
        self.last_clip = (t.duration_s, processing_s, t.language)
        self.state.show(f"{speech_line(*self.last_clip)}\n{RTF_MEANS}")
        self.final.show(t.text or "(nothing recognized)")
        self.score.show(
            f"stored as a voice note · chance of a deal {chance(before)} before, "
            f"{chance(after)} after"
        )

    def _failed(self, error: BaseException) -> None:
        self.state.show(f"could not transcribe: {error}")


class SyncScreen(Screen):
    """Online switch, last sync, outbox, conflicts, model versions and an update check."""

    def __init__(self, app: RealtyEdgeApp, **kw: Any):
        super().__init__(name="sync", **kw)
        self.app = app
        self.last_sync = "never this session"
        box = column()
        self.online = Switch(active=False, size_hint=(None, None), size=(dp(100), dp(TOUCH)))
        self.online.bind(active=lambda _w, v: self.set_online(v))
        self.server = Input(text=app.server or "", hint_text="server URL")
        self.token = Input(text=app.token or "", hint_text="token", password=True)
        self.sync_now = TouchButton("Sync now")
        self.sync_now.bind(on_release=lambda *_: self.sync())
        self.check = TouchButton("Check for model update")
        self.check.bind(on_release=lambda *_: self.check_update())
        self.state = Text()
        self.versions = Text(size=14)
        self.message = Text(size=13)
        label = Label(text="Online", size_hint=(None, None), size=(dp(80), dp(TOUCH)))
        for w in (
            self.server,
            self.token,
            row(self.sync_now, self.check),
            self.state,
            Heading("Model versions"),
            self.versions,
            self.message,
        ):
            box.add_widget(w)
        # The switch stays outside the ScrollView: a quick tap there never reaches a Switch.
        page = BoxLayout(orientation="vertical", padding=(dp(10), dp(4), 0, 0))
        page.add_widget(row(label, self.online))
        page.add_widget(scrolling(box))
        self.add_widget(page)
        self._timer: Any = None

    def on_pre_enter(self, *_: Any) -> None:
        self.refresh()

    def set_online(self, online: bool) -> None:
        self.app.online = online
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if online:
            self.sync()
            self._timer = Clock.schedule_interval(lambda _dt: self.sync(), 60)
        self.refresh()

    def refresh(self) -> None:
        rt = self.app.bridge.runtime

        async def status() -> tuple[Any, int, int, int, dict[str, str]]:
            return (
                await rt.counts(),
                await rt.quarantined(),
                await rt.conflicts(),
                await rt.sync_checkpoint(),
                rt.model_versions(),
            )

        self.app.bridge.submit("sync_status", status(), self._status, self.app.show_error)

    def _status(self, s: tuple[Any, int, int, int, dict[str, str]]) -> None:
        counts, quarantined, conflicts, checkpoint, versions = s
        self.state.show(
            f"{'online' if self.app.online else 'offline'} · last sync: {self.last_sync}\n"
            f"pending outbox: {counts.outbox_pending} · quarantined: {quarantined}\n"
            f"conflicts logged: {conflicts} · server checkpoint: {checkpoint}"
        )
        self.versions.show("\n".join(f"{k}: {v}" for k, v in sorted(versions.items())))

    def sync(self, then: Any = None) -> None:
        if not self.app.online or not self.server.text.strip():
            self.message.show(
                "offline: changes wait in the outbox"
                if not self.app.online
                else "set a server URL to sync"
            )
            return
        rt = self.app.bridge.runtime
        coro = rt.sync(self.server.text.strip(), self.token.text.strip())

        def done(report: Any) -> None:
            if report.status == "ok":
                self.last_sync = time.strftime("%H:%M:%S")
            self.message.show(
                f"sync {report.status}: pushed {report.pushed}, pulled "
                f"{report.pulled}, conflicts {report.conflicts}"
                + (f" ({report.detail})" if report.detail else "")
            )
            self.refresh()
            if then is not None:
                then()

        self.app.bridge.submit("sync", coro, done, self.app.show_error)

    def check_update(self) -> None:
        """Ask the server for newer models; download, verify and install them (the runtime's
        :meth:`check_model_updates`); say what was installed, refused or kept."""
        rt = self.app.bridge.runtime
        server = self.server.text.strip()
        if not self.app.online or not server:
            self.message.show(
                "offline: go online to check for a new model version"
                if not self.app.online
                else "set a server URL to check"
            )
            return
        before = rt.model_versions()
        self.message.show("checking for a new model version…")

        def done(report: Any) -> None:
            self.message.show(update_words(report, before))
            self.refresh()

        def failed(error: BaseException) -> None:
            self.message.show(f"could not check for a new model: {error}")

        self.app.bridge.submit(
            "check_model_updates",
            rt.check_model_updates(server, self.token.text.strip()),
            done,
            failed,
        )


class PerformanceScreen(Screen):
    """p50/p95 per operation this session, the energy model's %/hour, the real battery."""

    def __init__(self, app: RealtyEdgeApp, **kw: Any):
        super().__init__(name="performance", **kw)
        self.app = app
        box = column()
        self.table = GridLayout(
            cols=4, size_hint_y=None, row_force_default=True, row_default_height=dp(26)
        )
        self.table.bind(minimum_height=self.table.setter("height"))
        self.energy = Text(size=14)
        self.battery = Text(size=14)
        for w in (
            Heading("Latency this session"),
            self.table,
            Heading("Battery impact"),
            self.energy,
            self.battery,
        ):
            box.add_widget(w)
        self.add_widget(scrolling(box))
        self._timer: Any = None

    def on_pre_enter(self, *_: Any) -> None:
        self.refresh()
        self._timer = Clock.schedule_interval(lambda _dt: self.refresh(), 1.0)

    def on_leave(self, *_: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def refresh(self) -> None:
        bridge = self.app.bridge
        self.table.clear_widgets()
        header = ("operation", "n", "p50 ms", "p95 ms")
        cells = [header] + [
            (op, str(n), f"{p50:.1f}", f"{p95:.1f}") for op, n, p50, p95 in bridge.stats()
        ]
        for line in cells:
            for i, cell in enumerate(line):
                label = Label(
                    text=cell,
                    bold=line is header,
                    font_size=sp(14),
                    valign="middle",
                    halign="left" if i == 0 else "right",
                    size_hint_x=2.2 if i == 0 else 1,
                )
                label.bind(size=label.setter("text_size"))
                self.table.add_widget(label)
        self.energy.show(
            energy_text(
                bridge.runtime.energy,
                time.monotonic() - bridge.started,
                self.app.screens["voice"].last_clip,
            )
        )
        self.battery.show(battery_text())


def energy_text(meter: Any, elapsed_s: float, clip: tuple[float, float, str] | None) -> str:
    """What the session cost so far (not extrapolated), and the README's active agent hour at
    the costs measured here, with speech as assumed there and as measured here."""
    spent = meter.total()
    readme = meter.active_agent_hour(assume_speech=True)
    lines = [
        f"Session so far: {spent.joules:.1f} J, {spent.battery_percent:.3f} % of the battery "
        f"({elapsed_s / 60:.1f} min, not extrapolated).",
        f"Active agent hour (README model): {readme.battery_percent:.2f} % battery per hour, "
        "speech at its assumed phone speed",
    ]
    rtf = meter.speech_rtf()
    if rtf is not None:
        measured = meter.active_agent_hour()
        lines[-1] += (
            f"; {measured.battery_percent:.2f} %/h at the speech CPU measured here "
            f"({rtf:.2f} s per audio s, ×3 for a phone)"
        )
    lines[-1] += "."
    if clip is not None:
        lines.append(f"Last voice note: {speech_line(*clip)}.")
    return "\n".join(lines)


def battery_text() -> str:
    """The device's battery level and charging state, where plyer can read them."""
    status: dict[str, Any] = {}
    with contextlib.suppress(Exception):  # plyer raises NotImplementedError or backend errors
        from plyer import battery

        status = battery.status or {}
    level, charging = status.get("percentage"), status.get("isCharging")
    if level is None:
        return "device battery: not reported on this platform"
    state = "charging" if charging else "on battery"
    return f"device battery: {level:.0f}% · {state}"
