"""Bedrooms and bathrooms: a count next to a room word, in digits or number words.

Besides "3 bedrooms" in every language, the local conventions: "3BHK" (India), "3LDK" (Japan),
"T3" (Portugal), "3+1" (Turkey), "三室" / "三居" (China), "방 3개" (Korea) and the Arabic dual
("غرفتا نوم" = two bedrooms). "4-Zimmer" and "трёхкомнатная" count rooms, not bedrooms: not read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

_NUMBER_WORDS: dict[str, dict[str, int]] = {
    "en": {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6},
    "es": {"un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6},
    "fr": {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6},
    "de": {"ein": 1, "eine": 1, "einem": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6},
    "it": {"un": 1, "una": 1, "due": 2, "tre": 3, "quattro": 4, "cinque": 5, "sei": 6},
    "pt": {"um": 1, "uma": 1, "dois": 2, "duas": 2, "três": 3, "quatro": 4, "cinco": 5, "seis": 6},
    "ru": {"одна": 1, "одной": 1, "две": 2, "два": 2, "три": 3, "четыре": 4, "пять": 5},
    "tr": {"bir": 1, "iki": 2, "İki": 2, "üç": 3, "dört": 4, "beş": 5},
    "ar": {
        "واحدة": 1,
        "اثنتان": 2,
        "اثنين": 2,
        "ثلاث": 3,
        "ثلاثة": 3,
        "أربع": 4,
        "أربعة": 4,
        "خمس": 5,
    },
    "hi": {"एक": 1, "दो": 2, "तीन": 3, "चार": 4, "पांच": 5, "पाँच": 5},
    "th": {"หนึ่ง": 1, "สอง": 2, "สาม": 3, "สี่": 4, "ห้า": 5},
    "vi": {"một": 1, "hai": 2, "ba": 3, "bốn": 4, "năm": 5},
    "tl": {
        "isang": 1,
        "dalawang": 2,
        "dalawa": 2,
        "tatlong": 3,
        "tatlo": 3,
        "apat": 4,
        "limang": 5,
    },
    "ja": {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5},
    "ko": {"한": 1, "두": 2, "세": 3, "네": 4, "다섯": 5, "하나": 1, "둘": 2, "셋": 3, "넷": 4},
    "zh": {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5},
}

# Room words: (count first, word first) fragments per language.
_BEDS: dict[str, tuple[str, str]] = {
    "en": (r"-?\s?(?:bed(?:room)?s?\b|br\b|bd\b|bhk\b)", r""),
    "es": (r"\s(?:habitaci[oó]n(?:es)?|dormitorios?|rec[aá]maras?|cuartos?)", r""),
    "fr": (r"\s(?:chambres?)", r""),
    "de": (r"\s(?:schlafzimmer\w*)", r""),
    "it": (r"\s(?:camer[ae](?: da letto)?)", r""),
    "pt": (r"\s(?:quartos?|dormitórios?|suítes?)", r""),
    "ru": (r"\s(?:спал\w+)", r""),
    "tr": (r"\s(?:yatak oda\w*)|\s?\+\s?1\b", r""),
    "ar": (r"\s(?:غرف(?:ة)? نوم)", r""),
    "hi": (r"\s?(?:बेडरूम|bhk\b|शयनकक्ष)", r""),
    "th": (r"\s?ห้องนอน", r"ห้องนอน\D{0,10}?"),
    "vi": (r"\s(?:phòng ngủ)", r""),
    "tl": (r"\s(?:na )?(?:kwarto|kuwarto|silid)", r""),
    "ja": (r"\s?(?:s?l?dk|つの寝室)", r"寝室\D{0,6}?"),
    "ko": (r"\s?(?:룸|베드룸)", r"(?:침실|방)\s?"),
    "zh": (r"\s?(?:个?卧室|室|居室?|房(?=\d|[一两二三四]厅))", r""),
}
_BATHS: dict[str, tuple[str, str]] = {
    "en": (r"\+?-?\s?(?:bath(?:room)?s?\b|ba\b)", r""),
    "es": (r"\s(?:baños?)", r""),
    "fr": (r"\s(?:salles? de (?:bains?|douche))", r""),
    "de": (r"\s(?:bäder|bad\b|badezimmer\w*)", r""),
    "it": (r"\s(?:bagn[io])", r""),
    "pt": (r"\s(?:banheiros?|casas? de banho)", r""),
    "ru": (r"\s(?:санузл\w*|ванн\w*)", r""),
    "tr": (r"\s(?:banyo\w*)", r""),
    "ar": (r"\s(?:حمامات|حمام)", r""),
    "hi": (r"\s?(?:बाथरूम)", r""),
    "th": (r"\s?ห้องน้ำ", r"ห้องน้ำ\D{0,12}?"),
    "vi": (r"\s(?:phòng tắm|wc)", r""),
    "tl": (r"\s(?:na )?(?:banyo|cr\b)", r""),
    "ja": (r"", r"(?:バス(?:ルーム)?|浴室|トイレ)\D{0,6}?"),
    "ko": (r"", r"(?:화장실|욕실)\s?"),
    "zh": (r"\s?(?:个?卫生间|个?洗手间|个?浴室|卫)", r""),
}
# The Arabic dual and other fixed phrases: (fragment, count) per language.
_FIXED_BEDS = {"ar": ((r"غرفتا نوم|غرفتي نوم|غرفتين", 2),), "ko": ((r"쓰리룸", 3), (r"투룸", 2))}
_FIXED_BATHS = {"ar": ((r"حمامان|حمامين", 2),)}
_NO_SPACES = frozenset({"ja", "ko", "zh", "th"})
_PT_T = re.compile(r"\bT([1-6])\b")


@functools.lru_cache(maxsize=64)
def _number_alt(langs: tuple[str, ...]) -> tuple[str, dict[str, int]]:
    words: dict[str, int] = {}
    for lang in langs:
        words.update(_NUMBER_WORDS.get(lang, {}))
    alt = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    return rf"(\d+(?:\.5)?|{alt})" if alt else r"(\d+(?:\.5)?)", {
        w.lower() if w[0] != "İ" else w: n for w, n in words.items()
    }


@functools.lru_cache(maxsize=128)
def _patterns(langs: tuple[str, ...], kind: str) -> tuple[tuple[re.Pattern[str], int | None], ...]:
    """The compiled patterns of ``kind`` (``beds`` or ``baths``) for ``langs``: each with its
    fixed count (the Arabic dual, say), or None when the count is the pattern's first group."""
    table = _BEDS if kind == "beds" else _BATHS
    fixed = _FIXED_BEDS if kind == "beds" else _FIXED_BATHS
    num, _ = _number_alt(langs)
    out: list[tuple[re.Pattern[str], int | None]] = []
    for lang in langs:
        after, before = table.get(lang, ("", ""))
        if after:
            edge = "" if lang in _NO_SPACES else r"(?<![\w.,])"
            rx = rf"{edge}{num}(?:\s?(?:or more|\+))?(?:{after})"
            out.append((re.compile(rx, re.IGNORECASE), None))
        if before:
            out.append((re.compile(rf"{before}{num}", re.IGNORECASE), None))
        out.extend((re.compile(frag), n) for frag, n in fixed.get(lang, ()))
    return tuple(out)


def _count(text: str, langs: Sequence[str], kind: str) -> float | None:
    _, words = _number_alt(tuple(langs))
    best: float | None = None
    for rx, fixed_n in _patterns(tuple(langs), kind):
        for m in rx.finditer(text):
            if fixed_n is not None:
                n = float(fixed_n)
            else:
                raw = m.group(1) or ""
                if not raw:
                    continue
                n = (
                    float(raw)
                    if raw[0].isdigit()
                    else float(words.get(raw) or words.get(raw.lower(), 0))
                )
            if 0 < n <= 20:
                best = n if best is None else max(best, n)
    return best


def warm(langs: tuple[str, ...]) -> None:
    """Compile the patterns of ``langs`` now rather than on first use."""
    _patterns(langs, "beds")
    _patterns(langs, "baths")


def bedrooms(text: str, langs: Sequence[str]) -> int | None:
    """The number of bedrooms asked for (the largest stated), or None."""
    n = _count(text, langs, "beds")
    if n is None and "pt" in langs:
        m = _PT_T.search(text)
        n = float(m.group(1)) if m else None
    return int(n) if n is not None else None


def bathrooms(text: str, langs: Sequence[str]) -> float | None:
    """The number of bathrooms asked for (halves kept), or None."""
    return _count(text, langs, "baths")
