"""Arabic letters in their joined forms, for a text renderer that does not shape (Kivy's SDL2).

Each letter becomes its isolated, final, initial or medial presentation form (Unicode block
Arabic Presentation Forms-B) from its neighbours, lam-alef pairs become their ligature, and the
run is reversed into visual (right-to-left) order with numbers kept left to right.
"""

from __future__ import annotations

import re

# letter -> isolated form; dual-joining letters have 4 consecutive forms (iso, fin, ini, med),
# right-joining ones 2 (iso, fin); hamza has 1.
_DUAL = {
    0x0626: 0xFE89,
    0x0628: 0xFE8F,
    0x062A: 0xFE95,
    0x062B: 0xFE99,
    0x062C: 0xFE9D,
    0x062D: 0xFEA1,
    0x062E: 0xFEA5,
    0x0633: 0xFEB1,
    0x0634: 0xFEB5,
    0x0635: 0xFEB9,
    0x0636: 0xFEBD,
    0x0637: 0xFEC1,
    0x0638: 0xFEC5,
    0x0639: 0xFEC9,
    0x063A: 0xFECD,
    0x0641: 0xFED1,
    0x0642: 0xFED5,
    0x0643: 0xFED9,
    0x0644: 0xFEDD,
    0x0645: 0xFEE1,
    0x0646: 0xFEE5,
    0x0647: 0xFEE9,
    0x064A: 0xFEF1,
}
_RIGHT = {
    0x0622: 0xFE81,
    0x0623: 0xFE83,
    0x0624: 0xFE85,
    0x0625: 0xFE87,
    0x0627: 0xFE8D,
    0x0629: 0xFE93,
    0x062F: 0xFEA9,
    0x0630: 0xFEAB,
    0x0631: 0xFEAD,
    0x0632: 0xFEAF,
    0x0648: 0xFEED,
    0x0649: 0xFEEF,
}
_LAM_ALEF = {0x0622: 0xFEF5, 0x0623: 0xFEF7, 0x0625: 0xFEF9, 0x0627: 0xFEFB}  # isolated forms
_TATWEEL = 0x0640


def _transparent(c: str) -> bool:
    return 0x064B <= ord(c) <= 0x065F or ord(c) == 0x0670  # harakat and other marks


def _joins_forward(c: str | None) -> bool:
    """Whether ``c`` connects to the letter after it."""
    return c is not None and (ord(c) in _DUAL or ord(c) == _TATWEEL)


def _joins_back(c: str | None) -> bool:
    """Whether ``c`` connects to the letter before it."""
    return c is not None and (ord(c) in _DUAL or ord(c) in _RIGHT or ord(c) == _TATWEEL)


def shape(text: str) -> str:
    """``text`` (logical order) with each Arabic letter in its joined presentation form."""
    letters = [c for c in text]
    out: list[str] = []
    i = 0
    while i < len(letters):
        c = letters[i]
        code = ord(c)
        prev = next((p for p in reversed(letters[:i]) if not _transparent(p)), None)
        joined = _joins_forward(prev)
        nxt = next((n for n in letters[i + 1 :] if not _transparent(n)), None)
        if code == 0x0644 and nxt is not None and ord(nxt) in _LAM_ALEF:
            out.append(chr(_LAM_ALEF[ord(nxt)] + (1 if joined else 0)))
            i = letters.index(nxt, i + 1) + 1
            continue
        if code in _DUAL:
            forward = _joins_back(nxt)
            form = (3 if forward else 1) if joined else (2 if forward else 0)
            out.append(chr(_DUAL[code] + form))
        elif code in _RIGHT:
            out.append(chr(_RIGHT[code] + (1 if joined else 0)))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def visual(run: str) -> str:
    """A right-to-left run shaped and put in visual order; digit groups stay left to right."""
    shaped = shape(run)
    parts = re.split(r"(\d[\d.,]*)", shaped)
    return "".join(p if p[:1].isdigit() else p[::-1] for p in reversed(parts))
