"""Opt-out keywords in the 16 supported languages, and the test of an inbound message.

A message is an opt-out when, after :func:`normalize` (Unicode NFKC, case folded, punctuation
and surrounding spaces removed), it is one of the keywords, or it starts with one and has at
most :data:`MAX_WORDS` words ("STOP please", "Alto por favor"), or for scripts written
without spaces (Chinese, Japanese, Thai) it starts with one and adds at most
:data:`MAX_EXTRA_CHARS` characters. In doubt the rule errs towards opting out: a person who
meant to stop must never be texted again, and one who did not can opt back in by telling the
agent. English keywords count in every language (carriers use them everywhere).
"""

from __future__ import annotations

import unicodedata

#: Opt-out keywords by language (ISO 639-1), as a person would type them.
OPT_OUT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "STOP",
        "STOPALL",
        "STOP ALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "OPT OUT",
        "OPTOUT",
        "REVOKE",
    ),
    "es": ("ALTO", "PARAR", "BAJA", "DETENER", "CANCELAR", "NO MAS", "NO MÁS"),
    "zh": ("停止", "退订", "退訂", "取消订阅", "取消訂閱", "不要再发"),
    "vi": ("DỪNG", "DUNG", "HỦY", "HUY", "HỦY ĐĂNG KÝ", "HUY DANG KY"),
    "ko": ("수신거부", "수신 거부", "중지", "그만"),
    "tl": ("TIGIL", "ITIGIL", "HINTO", "AYOKO NA"),
    "ar": ("توقف", "إيقاف", "ايقاف", "إلغاء", "الغاء"),
    "fr": (
        "ARRET",
        "ARRÊT",
        "ARRETER",
        "ARRÊTER",
        "DESABONNER",
        "DÉSABONNER",
        "DESINSCRIRE",
        "DÉSINSCRIRE",
    ),
    "ru": ("СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА", "ХВАТИТ"),
    "pt": ("PARAR", "SAIR", "CANCELAR", "DESCADASTRAR"),
    "hi": ("रोकें", "रोको", "बंद करें", "बंद", "सदस्यता रद्द"),
    "ja": ("停止", "配信停止", "解除", "やめて"),
    "de": ("STOPP", "ABMELDEN", "ABBESTELLEN", "AUFHÖREN"),
    "it": ("ALT", "BASTA", "DISISCRIVI", "CANCELLAMI", "ANNULLA"),
    "th": ("หยุด", "ยกเลิก", "เลิกรับ"),
    "tr": ("DUR", "İPTAL", "IPTAL", "ABONELİKTEN ÇIK", "RET"),
}

#: Words a message may have and still be read as an opt-out that starts with a keyword.
MAX_WORDS = 3
#: Characters a message without spaces may add after a keyword and still be an opt-out.
MAX_EXTRA_CHARS = 3


def normalize(text: str) -> str:
    """NFKC, case folded, punctuation to single spaces, stripped (marks of Indic and Thai
    vowels are kept: they are letters there)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in folded)
    return " ".join(kept.split())


_KEYWORDS: frozenset[str] = frozenset(normalize(k) for ks in OPT_OUT_KEYWORDS.values() for k in ks)
_UNSPACED = frozenset(normalize(k) for lang in ("zh", "ja", "th") for k in OPT_OUT_KEYWORDS[lang])


def is_opt_out(text: str | None) -> bool:
    """Whether an inbound message asks to stop (see the module docstring for the rule)."""
    if not text:
        return False
    words = normalize(text)
    if not words:
        return False
    if words in _KEYWORDS:
        return True
    parts = words.split()
    if len(parts) <= MAX_WORDS:
        for n in range(len(parts), 0, -1):
            if " ".join(parts[:n]) in _KEYWORDS:
                return True
    return any(words.startswith(k) and len(words) - len(k) <= MAX_EXTRA_CHARS for k in _UNSPACED)
