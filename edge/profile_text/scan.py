"""Shared scanning helpers: digit normalization, per-language lexicons, negation and clauses.

Every lexicon maps a canonical value to regular-expression fragments per language; a text is
scanned with the fragments of its language plus English (leads code-switch), or with every
language when its language is not known. Matching is case-insensitive and leftmost-longest.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Generic, TypeVar

#: The languages with lexicons (those of ``edge/locales``).
LANGUAGES: tuple[str, ...] = (
    "ar",
    "de",
    "en",
    "es",
    "fr",
    "hi",
    "it",
    "ja",
    "ko",
    "pt",
    "ru",
    "th",
    "tl",
    "tr",
    "vi",
    "zh",
)

# Digits of other scripts (Arabic-Indic, Persian, Devanagari, Thai, full-width) to ASCII, and
# the Arabic thousands and decimal separators; one character for one, so offsets are kept.
_DIGITS = str.maketrans(
    {
        **{
            chr(base + i): str(i)
            for base in (0x660, 0x6F0, 0x966, 0xE50, 0xFF10)
            for i in range(10)
        },
        "\u066c": ",",
        "\u066b": ".",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
    }
)


def normalize(text: str) -> str:
    """``text`` with ASCII digits and plain spaces, of the same length (offsets are kept)."""
    return text.translate(_DIGITS)


#: Characters that end a clause: a negation or a period of the day does not reach past them.
CLAUSE_BREAK = re.compile(
    r"[.;!?,:\n()\u060c\u061b\u3001\u3002\uff0c\uff1b\uff01\uff1f]|\s[-–—]\s|"
    r"\b(?:but|pero|mais|aber|ma|mas|но|ama|walang|plutôt|lieber|meglio|mejor)\b|อยากได้|想要"
)

T = TypeVar("T")


def languages_for(language: str | None) -> tuple[str, ...]:
    """The lexicons to use for a text in ``language`` (None: all of them)."""
    if language is None or language not in LANGUAGES:
        return LANGUAGES
    return (language,) if language == "en" else (language, "en")


class Lexicon(Generic[T]):
    """Canonical values with per-language regex fragments, compiled once per language set."""

    def __init__(self, entries: Mapping[str, Mapping[T, Sequence[str]]]):
        self.entries = entries

    @functools.lru_cache(maxsize=64)  # noqa: B019 - lexicons live for the process
    def pattern(self, langs: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[T, ...]]:
        """One alternation of every fragment of ``langs``, with the value of each group."""
        frags: list[tuple[str, T]] = []
        for lang in langs:
            for value, items in self.entries.get(lang, {}).items():
                frags.extend((f, value) for f in items)
        frags.sort(key=lambda fv: -len(fv[0]))  # longer fragments first: leftmost-longest
        firsts = [first_chars(f) for f, _ in frags]
        if not frags or not all(firsts):
            body = "|".join(f"({f})" for f, _ in frags) or "(?!)"
            return re.compile(body, re.IGNORECASE), tuple(v for _, v in frags)
        # One branch per first character, behind a look-ahead: Python's re tries alternatives
        # one by one, so this tries a few dozen instead of hundreds at each position.
        by_char: dict[str, list[tuple[str, T]]] = {}
        for (f, v), chars in zip(frags, firsts, strict=True):
            for c in {ch.lower() for ch in chars or ()}:
                by_char.setdefault(c, []).append((f, v))
        branches: list[str] = []
        values: list[T] = []
        for c, group in sorted(by_char.items()):
            cases = re.escape("".join(sorted({c, c.upper()})))
            branches.append(f"(?=[{cases}])(?:" + "|".join(f"({f})" for f, _ in group) + ")")
            values.extend(v for _, v in group)
        return re.compile("|".join(branches), re.IGNORECASE), tuple(values)

    def finditer(self, text: str, langs: tuple[str, ...]) -> Iterator[tuple[T, int, int]]:
        """(value, start, end) of every match in ``text``, left to right."""
        rx, values = self.pattern(langs)
        for m in rx.finditer(text):
            yield values[(m.lastindex or 1) - 1], m.start(), m.end()


_LEAD = re.compile(r"^(?:\\b|\(\?<!(?:\[[^\]]*\]|[^)])*\))+")


def first_chars(fragment: str) -> set[str] | None:
    """The characters a match of ``fragment`` can start with (both cases), None if unsure."""
    f = _LEAD.sub("", fragment)
    out: set[str] = set()
    if f.startswith("(?:"):
        inner, _, rest = f[3:].partition(")")
        if "(" in inner or rest.startswith(("?", "*")):
            return None
        for alt in inner.split("|"):
            got = first_chars(alt)
            if not got:
                return None
            out |= got
        return out
    if f.startswith("\\d"):
        return set("0123456789")
    if f.startswith("["):
        body = f[1 : f.index("]")]
        if "-" in body or body.startswith("^"):
            return None
        out = set(body)
    elif f and f[0] not in "\\(.?*+|^$" and f[1:2] not in ("?", "*"):
        out = {f[0]}
    else:
        return None
    return {c for ch in out for c in (ch, ch.lower(), ch.upper()) if len(c) == 1}


def clause_before(text: str, start: int, width: int = 24) -> str:
    """Up to ``width`` characters before ``start``, cut at the last clause break."""
    window = text[max(0, start - width) : start]
    cut = 0
    for m in CLAUSE_BREAK.finditer(window):
        cut = m.end()
    return window[cut:]


def clause_after(text: str, end: int, width: int = 16) -> str:
    """Up to ``width`` characters after ``end``, cut at the first clause break."""
    window = text[end : end + width]
    m = CLAUSE_BREAK.search(window)
    return window[: m.start()] if m else window


# Negation cues before a term (most languages) and after it (ja, ko, tr, hi; "not X" order).
_NEG_BEFORE = re.compile(
    r"\b(?:not?|non|never|without|avoid|sin|nada de|sans|pas d[e']|pas|ni|kein\w*|nicht|ohne|"
    r"niente|senza|não|nem|sem|не|без|ни|لا|ليس|بدون|غير|ayaw|hindi|không|chứ không)\b|"
    r"不要|不想|不是|不用|ไม่เอา|ไม่ใช่|ไม่อยาก|ไม่ต้องการ",
    re.IGNORECASE,
)
_NEG_AFTER = re.compile(
    r"^\s?(?:ではなく|じゃなく|以外|は不要|はいらない|말고|아니|은 싫|는 싫|제외|"
    r"olmasın|değil|istemiyoruz|istemiyorum|hariç|नहीं|ไม่เอา|não\b)",
    re.IGNORECASE,
)


def negated(text: str, start: int, end: int) -> bool:
    """Whether the term at ``text[start:end]`` is negated within its clause."""
    if _NEG_BEFORE.search(clause_before(text, start, 18)):
        return True
    return bool(_NEG_AFTER.search(text[end : end + 12]))


def mask(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with the characters of ``spans`` replaced by spaces (offsets are kept)."""
    chars = list(text)
    for s, e in spans:
        chars[s:e] = " " * (e - s)
    return "".join(chars)
