"""Small touch-friendly building blocks: every tappable thing is at least 48 dp tall."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Rectangle
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.uix.textinput import TextInput

from mobile_client.fonts import ARABIC, font_for, font_of, markup

TOUCH = 48  # dp: the smallest tappable height (Material and Android guidelines)
ACCENT = (0.16, 0.45, 0.78, 1)
MUTED = (0.75, 0.78, 0.82, 1)


def paint(widget: Any, rgba: tuple[float, float, float, float]) -> None:
    """Give ``widget`` a solid background (screenshots taken with export_to_png need one)."""
    with widget.canvas.before:
        Color(*rgba)
        rect = Rectangle(pos=widget.pos, size=widget.size)
    widget.bind(
        pos=lambda w, v: setattr(rect, "pos", v), size=lambda w, v: setattr(rect, "size", v)
    )


class Text(Label):
    """A wrapping label whose height follows its text; non-Latin runs get a font that has them."""

    def __init__(self, text: str = "", *, size: float = 15, bold: bool = False, **kw: Any):
        kw.setdefault("color", (0.95, 0.96, 0.98, 1))
        super().__init__(
            markup=True, font_size=sp(size), size_hint_y=None, halign="left", valign="top", **kw
        )
        self.bold_text = bold
        self.plain = ""
        self.bind(width=lambda w, v: setattr(w, "text_size", (v, None)))
        self.bind(texture_size=lambda w, v: setattr(w, "height", v[1] + dp(4)))
        self.show(text)

    def show(self, text: str) -> None:
        self.plain = text
        first = next((font_of(c) for c in text if font_of(c) is not None), None)
        self.halign = "right" if first == ARABIC else "left"  # a right-to-left paragraph
        body = markup(text)
        self.text = f"[b]{body}[/b]" if self.bold_text else body


class Heading(Text):
    def __init__(self, text: str = "", **kw: Any):
        kw.setdefault("color", (0.55, 0.78, 1, 1))
        super().__init__(text, size=18, bold=True, **kw)


class TouchButton(Button):
    """A button at least 48 dp tall, its label drawn with script-aware fonts."""

    def __init__(self, text: str = "", *, height: float = TOUCH, **kw: Any):
        kw.setdefault("background_color", ACCENT)
        super().__init__(
            markup=True,
            font_size=sp(15),
            size_hint_y=None,
            height=dp(height),
            halign="center",
            valign="middle",
            **kw,
        )
        self.bind(size=lambda w, v: setattr(w, "text_size", (v[0] - dp(12), v[1])))
        self.label = text
        self.text = markup(text)

    def relabel(self, text: str) -> None:
        self.label = text
        self.text = markup(text)


class Input(TextInput):
    """A text input whose font follows the script typed into it."""

    def __init__(self, *, height: float = TOUCH, **kw: Any):
        kw.setdefault("multiline", False)
        super().__init__(font_size=sp(15), size_hint_y=None, height=dp(height), **kw)
        self.bind(text=lambda w, v: setattr(w, "font_name", font_for(v)))


def column(spacing: float = 6, padding: float = 10) -> GridLayout:
    """A vertical stack that grows with its content (put it in a ScrollView)."""
    grid = GridLayout(cols=1, spacing=dp(spacing), padding=dp(padding), size_hint_y=None)
    grid.bind(minimum_height=grid.setter("height"))
    return grid


def scrolling(content: GridLayout) -> ScrollView:
    view = ScrollView(do_scroll_x=False, bar_width=dp(6))
    view.add_widget(content)
    return view


def row(*widgets: Any, height: float = TOUCH, spacing: float = 6) -> BoxLayout:
    box = BoxLayout(
        orientation="horizontal", size_hint_y=None, height=dp(height), spacing=dp(spacing)
    )
    for w in widgets:
        box.add_widget(w)
    return box
