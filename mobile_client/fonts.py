"""Fonts per script: text is cut into runs of one script, each run drawn with a font that has it.

Kivy's default font (Roboto) covers Latin, Greek and Cyrillic; the shipped fonts cover the rest
(see ``fonts/README.md``). Labels use markup (``[font=...]run[/font]``); a text input takes the
font of the first non-Latin script it contains.
"""

from __future__ import annotations

from pathlib import Path

from kivy.utils import escape_markup

from mobile_client.arabic import visual

FONT_DIR = Path(__file__).resolve().parent / "fonts"
CJK = str(FONT_DIR / "DroidSansFallbackFull.ttf")
ARABIC = str(FONT_DIR / "NotoSansArabic-Regular.ttf")
DEVANAGARI = str(FONT_DIR / "NotoSansDevanagari-Regular.ttf")
THAI = str(FONT_DIR / "NotoSansThai-Regular.ttf")
HANGUL = str(FONT_DIR / "NanumBarunGothic.ttf")
LATIN = "Roboto"

_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0600, 0x06FF, ARABIC),
    (0x0750, 0x077F, ARABIC),
    (0x08A0, 0x08FF, ARABIC),
    (0xFB50, 0xFDFF, ARABIC),
    (0xFE70, 0xFEFF, ARABIC),
    (0x0900, 0x097F, DEVANAGARI),
    (0x0E00, 0x0E7F, THAI),
    (0x1100, 0x11FF, HANGUL),
    (0x3130, 0x318F, HANGUL),
    (0xAC00, 0xD7AF, HANGUL),
    (0x2E80, 0x2FDF, CJK),
    (0x3000, 0x30FF, CJK),
    (0x3100, 0x31FF, CJK),
    (0x3200, 0x9FFF, CJK),
    (0xF900, 0xFAFF, CJK),
    (0xFF00, 0xFFEF, CJK),
)


def font_of(char: str) -> str | None:
    """The font a character needs; ``None`` for neutral characters (spaces, digits, punctuation)."""
    code = ord(char)
    for low, high, font in _RANGES:
        if low <= code <= high:
            return font
    if char.isalpha():
        return LATIN
    return None


def runs(text: str) -> list[tuple[str, str]]:
    """``text`` as (font, run) pairs; neutral characters join the run they sit in."""
    out: list[tuple[str, str]] = []
    font, start = LATIN, 0
    for i, char in enumerate(text):
        need = font_of(char)
        if need is None or need == font:
            continue
        if i > start:
            out.append((font, text[start:i]))
        font, start = need, i
    if start < len(text):
        out.append((font, text[start:]))
    return out


def markup(text: str) -> str:
    """Kivy markup for ``text`` with a font tag around each non-Latin run (markup escaped)."""
    parts = []
    for font, run in runs(text):
        if font == ARABIC:
            run = visual(run)  # Kivy's SDL2 text provider neither shapes nor reorders
        escaped = escape_markup(run)
        parts.append(escaped if font == LATIN else f"[font={font}]{escaped}[/font]")
    return "".join(parts)


def font_for(text: str) -> str:
    """One font for a whole text (text inputs cannot mix): its first non-Latin script's."""
    for char in text:
        need = font_of(char)
        if need not in (None, LATIN):
            return need
    return LATIN
