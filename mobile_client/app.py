"""The Kivy app: a screen manager over the six screens and a bottom bar to switch between them.

``run_app`` starts it; with ``screenshots`` it walks every screen, writes one PNG per screen and
exits. Set Kivy's environment (``configure``) before this module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager

from mobile_client.bridge import RuntimeBridge
from mobile_client.screens import (
    LeadDetailScreen,
    LeadsScreen,
    PerformanceScreen,
    SyncScreen,
    TodayScreen,
    VoiceScreen,
)
from mobile_client.widgets import TOUCH, Text, TouchButton, paint

#: (screen name, tab label, PNG name); the tabs in this order (Today's PNG came last).
SCREENS = (
    ("leads", "Leads", "01-leads.png"),
    ("today", "Today", "06-today.png"),
    ("detail", "Lead", "02-lead-detail.png"),
    ("voice", "Voice", "03-voice-note.png"),
    ("sync", "Sync", "04-sync.png"),
    ("performance", "Perf", "05-performance.png"),
)
#: Leads in these languages show off the shipped fonts best in the screenshots.
SHOWCASE_LANGUAGES = ("ko", "zh", "ja", "ar", "th", "hi")


class RealtyEdgeApp(App):
    title = "realty-edge"

    def __init__(
        self,
        device: str | Path,
        *,
        server: str | None = None,
        token: str | None = None,
        screenshots: Path | None = None,
        voice_clip: Path | None = None,
        create: bool = False,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.device = Path(device)
        self.server = server
        self.token = token
        self.screenshots = screenshots
        self.voice_clip = voice_clip
        self.create = create
        self.online = False
        self.current_lead: str | None = None
        self.workdir = self.device.parent
        self._bridge: RuntimeBridge | None = None
        self.errors: list[str] = []

    @property
    def bridge(self) -> RuntimeBridge:
        """The runtime's bridge, opened by :meth:`build`."""
        if self._bridge is None:
            raise RuntimeError("the app is not built yet: no runtime is open")
        return self._bridge

    def build(self) -> BoxLayout:
        self._bridge = RuntimeBridge(self.device, create=self.create)
        root = BoxLayout(orientation="vertical")
        paint(root, (0.1, 0.11, 0.13, 1))
        self.banner = Text(
            "realty-edge", size=13, color=(0.7, 0.74, 0.8, 1), padding=(dp(10), dp(4))
        )
        self.manager = ScreenManager(transition=NoTransition())
        self.screens: dict[str, Any] = {
            "leads": LeadsScreen(self),
            "today": TodayScreen(self),
            "detail": LeadDetailScreen(self),
            "voice": VoiceScreen(self),
            "sync": SyncScreen(self),
            "performance": PerformanceScreen(self),
        }
        for screen in self.screens.values():
            self.manager.add_widget(screen)
        nav = BoxLayout(size_hint_y=None, height=dp(TOUCH + 8), spacing=dp(2), padding=dp(2))
        paint(nav, (0.06, 0.07, 0.08, 1))
        self.tabs: dict[str, TouchButton] = {}
        for name, label, _png in SCREENS:
            tab = TouchButton(label, height=TOUCH)
            tab.bind(on_release=lambda _b, n=name: self.go(n))
            self.tabs[name] = tab
            nav.add_widget(tab)
        root.add_widget(self.banner)
        root.add_widget(self.manager)
        root.add_widget(nav)
        return root

    def on_start(self) -> None:
        if self.bridge is not None:  # steps fire at their hour while the app runs
            self.bridge.submit("start_scheduler", self.bridge.runtime.start_scheduler())
        self.screens["leads"].load()
        self.go("leads")
        if self.screenshots is not None:
            ScreenshotTour(self, self.screenshots).start()

    def on_stop(self) -> None:
        if self._bridge is not None:
            self._bridge.close()

    def go(self, name: str) -> None:
        self.manager.current = name
        for tab_name, tab in self.tabs.items():
            tab.background_color = (
                (0.16, 0.45, 0.78, 1) if tab_name == name else (0.2, 0.22, 0.26, 1)
            )
        self.banner.show(
            f"realty-edge · {self.device.name} · {'online' if self.online else 'offline'}"
        )

    def open_lead(self, lead_id: str) -> None:
        self.current_lead = lead_id
        self.screens["detail"].show(lead_id)
        self.go("detail")

    def lead_name(self, lead_id: str) -> str:
        """The lead's name as the leads list has it (its id until the list is loaded)."""
        rows = self.screens["leads"].rows if self._bridge is not None else []
        return next((r["name"] for r in rows if r["id"] == lead_id), lead_id)

    def show_error(self, error: BaseException) -> None:
        self.errors.append(str(error))
        self.banner.show(f"error: {error}")


class ScreenshotTour:
    """Visit every screen, wait until the runtime has answered, write its PNG; then stop."""

    def __init__(self, app: RealtyEdgeApp, out: Path, timeout_s: float = 120):
        self.app = app
        self.out = out
        self.timeout_s = timeout_s
        png = {name: file for name, _label, file in SCREENS}
        self.steps: list[tuple[Callable[[], None], str]] = [
            (lambda: None, png["leads"]),
            (lambda: self.app.go("today"), png["today"]),
            (self.open_showcase_lead, png["detail"]),
            (self.voice_note, png["voice"]),
            (lambda: self.app.go("sync"), png["sync"]),
            (lambda: self.app.go("performance"), png["performance"]),
        ]
        self.written: list[Path] = []

    def start(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        Clock.schedule_once(lambda _dt: self._next(), 0.5)

    def open_showcase_lead(self) -> None:
        rows = self.app.screens["leads"].rows
        planned = [r for r in rows if r["next_step"] != "none planned"] or rows
        pick = next(
            (r for lang in SHOWCASE_LANGUAGES for r in planned if r["language"] == lang),
            planned[0] if planned else None,
        )
        if pick is not None:
            self.app.open_lead(pick["id"])

    def voice_note(self) -> None:
        korean = [r["id"] for r in self.app.screens["leads"].rows if r["language"] == "ko"]
        if korean and self.app.voice_clip is not None:  # the clip is Korean
            self.app.current_lead = korean[0]
        self.app.go("voice")
        if self.app.voice_clip is not None:
            self.app.screens["voice"].transcribe_file(str(self.app.voice_clip))

    def _next(self) -> None:
        if not self.steps:
            self.app.stop()
            return
        action, png = self.steps.pop(0)
        action()
        self._wait(png, 0.0)

    def _wait(self, png: str, waited: float) -> None:
        ready = self.app.bridge.idle and (png != SCREENS[0][2] or self.app.screens["leads"].rows)
        if not ready and waited < self.timeout_s:
            Clock.schedule_once(lambda _dt: self._wait(png, waited + 0.25), 0.25)
            return
        # two more frames so the last answers are laid out and drawn
        Clock.schedule_once(lambda _dt: self._shoot(png), 0.3)

    def _shoot(self, png: str) -> None:
        path = self.out / png
        self.app.root.export_to_png(str(path))
        self.written.append(path)
        self._next()


def run_app(device: Path, **options: Any) -> RealtyEdgeApp:
    """Open the client on ``device`` and run it until the window closes (or the tour ends)."""
    app = RealtyEdgeApp(device, **options)
    app.run()
    return app
