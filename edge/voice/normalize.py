"""Clean a recognizer's text: drop noise markers, spell numbers the way the language writes them.

Vosk's Korean model has number words in its vocabulary written as ``[0]``..``[99]``, ``[05]``,
``[쩜]``, ``(십)`` and symbols such as ``%``. Korean notes and the reference transcripts spell
numbers out in Hangul (``육십사쩜오퍼센트``), so those tokens become Hangul: Sino-Korean
numerals by default, native numerals (``두 개``, ``한 번``) for a single digit before a
native counter (tens stay Sino-Korean: ``육십 평``).
Other languages keep digits (``[12]`` -> ``12``). Markers such as ``[noise]``, ``<unk>`` and
``<SPOKEN_NOISE>`` are dropped everywhere.
"""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"^[\[(](?P<inner>[^\])]*)[\])]$")

_SINO_DIGITS = "영일이삼사오육칠팔구"
_NATIVE_UNITS = ["", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉"]
_NATIVE_TENS = ["", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"]

#: Counters read with native numerals: ``두 개``, ``세 명``, ``한 번``, ``다섯 살``.
NATIVE_COUNTERS = (
    "개",
    "번",
    "명",
    "마리",
    "살",
    "시간",
    "시",
    "가지",
    "군데",
    "달",
    "잔",
    "병",
    "권",
    "채",
    "대",
    "사람",
    "곳",
    "장",
)

_KO_SYMBOLS = {"%": "퍼센트", "$": "달러", "+": "플러스", "㎡": "제곱미터"}


def sino_korean(n: int) -> str:
    """0..9999 read with Sino-Korean numerals: 64 -> 육십사, 10 -> 십, 0 -> 영."""
    if n == 0:
        return "영"
    out = []
    for value, unit in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
        digit, n = divmod(n, value)
        if digit:
            out.append(("" if digit == 1 and unit else _SINO_DIGITS[digit]) + unit)
    return "".join(out)


def native_korean(n: int) -> str:
    """1..99 with native numerals as said before a counter: 2 -> 두, 20 -> 스무, 35 -> 서른다섯."""
    tens, units = divmod(n, 10)
    if n == 20:
        return "스무"
    return _NATIVE_TENS[tens] + _NATIVE_UNITS[units]


def _is_native_counter(word: str | None) -> bool:
    return word is not None and word.startswith(NATIVE_COUNTERS)


def _korean_number(inner: str, following: str | None) -> str | None:
    if not inner.isdigit():
        return inner if re.fullmatch(r"[가-힣]+", inner) else None  # [쩜] -> 쩜, (십) -> 십
    if len(inner) > 1 and inner.startswith("0"):
        return "".join("공" if d == "0" else _SINO_DIGITS[int(d)] for d in inner)  # [05] -> 공오
    n = int(inner)
    if 0 < n < 10 and _is_native_counter(following):
        return native_korean(n)
    return sino_korean(n)


def normalize_transcript(text: str, language: str) -> str:
    """The recognizer's ``text`` cleaned for ``language`` (``"ko"``, ``"en"`` ...)."""
    tokens = _SPACE.split(text.strip())
    korean = language.lower().startswith("ko")
    out: list[str] = []
    for i, token in enumerate(tokens):
        if not token:
            continue
        if token.startswith("<") and token.endswith(">"):
            continue  # <unk>, <SPOKEN_NOISE>
        match = _TOKEN.match(token)
        if match is not None:
            inner = match["inner"]
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if korean:
                word = _korean_number(inner, following)
            else:
                word = inner if inner.isdigit() else None
            if word:
                out.append(word)
            continue  # [noise], [laughter]
        if korean and token in _KO_SYMBOLS:
            out.append(_KO_SYMBOLS[token])
            continue
        out.append(token)
    return " ".join(out)
