"""How and when the lead wants to be reached: a channel and a window of hours (local time).

Hours are ``(start, end)`` on a 24-hour clock, either side open: "after 6pm" is ``(18, None)``,
"before 9am" ``(None, 9)``, "between 5 and 7pm" ``(17, 19)``. A period of the day alone gives
its usual window (morning 8-12, afternoon 12-18, evening 18-22); a period next to a clock time
says whether the time is a.m. or p.m. ("6 de la tarde", "저녁 6시", "6 โมงเย็น").
"""

from __future__ import annotations

import re

from edge.profile_text.scan import Lexicon, negated
from sync.records import Channel

S, K, E, W = Channel.SMS, Channel.CALL, Channel.EMAIL, Channel.WHATSAPP

CHANNELS: Lexicon[Channel] = Lexicon(
    {
        "en": {
            S: (r"\btext(?:s|ing|ed)?\b(?! message)", r"\btext messages?", r"\bsms\b"),
            K: (
                r"\bcall(?:s|ing)?\b(?! (?:me )?at \d)",
                r"\bcall me\b",
                r"\bphone me\b",
                r"\bgive me a ring\b",
                r"\bby phone\b",
            ),
            E: (r"\be-?mails?\b",),
            W: (r"(?<![a-z])whats ?app(?![a-z])",),
        },
        "es": {
            S: (r"\bmensajes? de texto", r"\bsms\b"),
            K: (r"\bll[aá]m\w+", r"\bllamadas?\b"),
            E: (r"\bcorreo\b", r"\be-?mail\b"),
        },
        "fr": {
            S: (r"\btextos?\b", r"\bsms\b"),
            K: (r"\bappel\w*", r"\bappelez", r"\bcoup de fil"),
            E: (r"\be-?mails?\b", r"\bcourriels?\b"),
        },
        "de": {
            S: (r"\bsms\b",),
            K: (r"\banruf\w*", r"\brufen sie mich\b", r"\btelefonisch"),
            E: (r"\be-?mail\b",),
        },
        "it": {
            S: (r"\bsms\b", r"\bmessaggi\b"),
            K: (r"\bchiam\w+", r"\btelefonata"),
            E: (r"\be-?mail\b",),
        },
        "pt": {
            S: (r"\bmensage(?:m|ns) de texto", r"\bsms\b"),
            K: (r"\blig(?:ue|ar|ações|ação)\b", r"\btelefonema"),
            E: (r"\be-?mail\b",),
        },
        "ru": {
            S: (r"\bсмс\b", r"\bsms\b"),
            K: (r"\bпозвон\w*", r"\bзвон\w*", r"\bсозвон\w*"),
            E: (r"\bэлектронн\w* почт\w*", r"\bпочт[аеуы]\b", r"\bemail\b"),
        },
        "tr": {
            S: (r"\bsms\b", r"\bmesaj\b"),
            K: (r"\bara(?:yın|yabilirsiniz|r mısınız)\b", r"\btelefonla\b"),
            E: (r"\be-?posta\w*",),
        },
        "ja": {
            S: ("ショートメール", "SMS", "ショートメッセージ"),
            K: ("電話", "お電話"),
            E: ("メール(?!アドレス)",),
        },
        "ko": {S: ("문자",), K: ("전화", "통화"), E: ("이메일", "메일"), W: ("왓츠앱",)},
        "zh": {S: ("短信",), K: ("打电话", "电话"), E: ("邮件", "电邮")},
        "ar": {
            S: ("رسالة نصية", "رسائل نصية", "الرسائل النصية"),
            K: ("اتصل", "مكالمة", "اتصال"),
            E: ("البريد الإلكتروني", "إيميل"),
            W: ("واتساب", "واتس اب"),
        },
        "hi": {K: ("फ़ोन", "फोन", "कॉल"), E: ("ईमेल",), W: ("व्हाट्सएप",)},
        "th": {K: ("โทร(?!ศัพท์มือถือ)",), E: ("อีเมล",), W: ("วอทส์แอป",)},
        "vi": {S: (r"\bnhắn tin",), K: (r"\bgọi\b", r"\bgọi điện"), E: (r"\bemail\b",)},
        "tl": {S: (r"\bmag-?text\b",), K: (r"\btawag\w*", r"\btumawag"), E: ()},
    }
)

#: (start, end) of each period of the day.
MORNING, AFTERNOON, EVENING = (8, 12), (12, 18), (18, 22)
_PERIODS: tuple[tuple[str, tuple[int, int]], ...] = (
    (
        r"\bafternoons?\b|\bpor la tarde\b|\bde la tarde\b|\baprès-midi\b|\bnachmittags?\b|"
        r"\bpomeriggio\b|\bà tarde\b|\bde tarde\b|\bднём\b|\bднем\b|\böğleden sonra\b|"
        r"午後|오후|下午|"
        r"بعد الظهر|दोपहर|บ่าย|\bchiều\b|\bhapon\b",
        AFTERNOON,
    ),
    (
        r"\bevenings?\b|\btonight\b|\bde la noche\b|\bpor la noche\b|\ble soir\b|\bsoirée\b|"
        r"\babends?\b|\bsera\b|\bà noite\b|\bde noite\b|\bвечер\w*|\bakşam\w*|"
        r"夜|夕方|저녁|晚上|المساء|مساء|"
        r"शाम|เย็น|\btối\b(?! đa)|\bgabi\b",
        EVENING,
    ),
    (
        r"\bmornings?\b|\bpor las? mañanas?\b|\bde la mañana\b|\ble matin\b|\bvormittags?\b|"
        r"\bmorgens\b|\bmattin[ao]\b|\bde manhã\b|\bутр\w*|\bsabah\w*|午前|朝|오전|아침|上午|早上|"
        r"صباح\w*|सुबह|เช้า|\bsáng\b|\bumaga\b",
        MORNING,
    ),
)
_PERIOD_RX = [(re.compile(p, re.IGNORECASE), w) for p, w in _PERIODS]

# A clock time: an hour with a marker ("6pm", "18h", "18:00", "18 Uhr", "6時", "6시", "6点",
# "6 बजे", "6 โมง", "6 giờ", "الساعة 6", "6'dan", "le 18", "las 6").
_HOUR = (
    r"(?:(?:alle|le|las|à|às|das|les|dalle|delle|الساعة|mag-|ng)\s?)?(\d{1,2})"
    r"(?:[:.h](\d{2}))?\s?(am|pm|a\.m\.|p\.m\.|h\b|uhr|hrs|o'clock|時|시|点|बजे|โมง|ทุ่ม|"
    r"giờ|'?(?:da|de|ta|te)n\b)?"
)
_HOUR_RX = re.compile(_HOUR, re.IGNORECASE)
_MARKED_PREFIX = re.compile(
    r"(?:alle|le|las|à|às|das|les|dalle|delle|الساعة|mag-|ng)\s?$", re.IGNORECASE
)
_AFTER = re.compile(
    r"(?:\bafter|\bdespués de|\baprès|\bnach|\bdopo|\bdepois|\bпосле|\bpagkatapos(?: ng)?|"
    r"\bsau|بعد|หลัง)\W{0,3}(?:\w{1,4}\s)?$",
    re.IGNORECASE,
)
_AFTER_POST = re.compile(
    r"^\s?(?:以降|以後|以后|之后|이후|후에|\bsonra|के बाद|onwards|on)", re.IGNORECASE
)
_BEFORE = re.compile(
    r"(?:\bbefore|\bantes de|\bavant|\bvor|\bprima|\bantes|\bдо|\bbago(?: mag-?)?|\btrước|قبل|ก่อน)"
    r"\W{0,3}(?:\w{1,5}\s)?$",
    re.IGNORECASE,
)
_BEFORE_POST = re.compile(r"^\s?(?:前|전에|전|之前|以前|\bönce|से पहले)", re.IGNORECASE)
_JOIN = re.compile(
    r"^\s?(?:-|–|to|and|y|et|und|e|a|до|ile|에서|到|至|و|से|ถึง|đến|hanggang|から|〜|~)\s?"
    r"(?:las|le|les|das|alle|الساعة)?\s?$",
    re.IGNORECASE,
)


def channel(text: str, langs: tuple[str, ...]) -> Channel | None:
    """The first channel the lead asks for (a negated one is skipped)."""
    for value, start, end in CHANNELS.finditer(text, langs):
        if not negated(text, start, end):
            return value
    return None


def _period(text: str) -> tuple[int, int] | None:
    for rx, window in _PERIOD_RX:
        if rx.search(text):
            return window
    return None


def _clock(m: re.Match[str], text: str) -> tuple[int, bool] | None:
    """The hour of a match and whether it carried a marker, or None for no hour."""
    hour = int(m.group(1))
    marker = (m.group(3) or "").lower()
    marked = bool(
        marker or m.group(2) or _MARKED_PREFIX.search(text[max(0, m.start() - 8) : m.start(1)])
    )
    if hour > 24 or (m.group(2) and int(m.group(2)) >= 60):
        return None
    if marker in ("pm", "p.m.") and hour < 12:
        hour += 12
    if marker in ("am", "a.m.") and hour == 12:
        hour = 0
    return hour, marked


def hours(text: str) -> tuple[int | None, int | None] | None:
    """The window of hours the lead prefers, or None when the text names none."""
    period = _period(text)
    times: list[tuple[int, int, int, bool]] = []  # (start, end, hour, marked)
    for m in _HOUR_RX.finditer(text):
        if m.start(1) > 0 and text[m.start(1) - 1].isdigit():
            continue
        after = text[m.end() : m.end() + 3]
        if re.match(r"\s?(?:[-.]\d|\d|%|k\b|m\b|[$€£])", after) or re.match(
            r"\s?(?:万|만|억|lakh|लाख)", after
        ):
            continue
        c = _clock(m, text)
        if c is not None:
            times.append((m.start(), m.end(), *c))
    pm = period is not None and period[0] >= 12
    am = period is not None and period[0] < 12

    def fix(h: int, marked: bool) -> int:
        return h + 12 if pm and h < 12 and (marked or period is not None) else h

    for i, (s, e, h, marked) in enumerate(times):
        nxt = times[i + 1] if i + 1 < len(times) else None
        if nxt is not None and _JOIN.match(text[e : nxt[0]]) and (marked or nxt[3] or period):
            a, b = fix(h, True), fix(nxt[2], True)
            if b < a and b + 12 > a and not am:
                b += 12
            if a < b <= 24 and a < 12 and b >= 12 and nxt[3] and not marked and not am:
                a = a + 12 if a + 12 < b else a  # "between 5 and 7pm"
            return (a, b) if 0 <= a < b <= 24 else None
        if not marked and period is None:
            continue
        h = fix(h, marked)
        if _AFTER.search(text[max(0, s - 16) : s]) or _AFTER_POST.match(text[e : e + 8]):
            return h, None
        if _BEFORE.search(text[max(0, s - 16) : s]) or _BEFORE_POST.match(text[e : e + 8]):
            return None, h
    if period is not None and not negated(text, 0, 0):
        return period
    return None
