"""Budgets: amounts with a currency or a magnitude word, ranges, and "under" / "at least" cues.

A number is money when a currency (symbol, code or word) or a magnitude word ("k", "million",
"lakh", "万", "억", ...) is attached to it: a phone number, a street number or a year is not.
A range ("between 1.1 and 1.4 million", "70万〜85万ドル") gives a minimum and a maximum; a single
amount is a maximum unless a cue says it is a minimum ("at least", "à partir de", "以上", ...).
Amounts in a question about one listing ("is it still available at $749,000?") are not a budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.profile_text.scan import clause_after, clause_before

# Magnitude words: (fragment, factor), for every language; matched right after the number.
_MAGNITUDES: tuple[tuple[str, float], ...] = (
    (r"k\b", 1e3),
    (r"thousand\b", 1e3),
    (r"grand\b", 1e3),
    (r"m(?![²2\w])", 1e6),
    (r"mm\b", 1e6),
    (r"mn\b", 1e6),
    (r"millions?\b", 1e6),
    (r"billions?\b", 1e9),
    (r"mil\b", 1e3),
    (r"mill[oó]n(?:es)?\b", 1e6),
    (r"mila\b", 1e3),
    (r"milion[ei]\b", 1e6),
    (r"milh(?:ão|ões)\b", 1e6),
    (r"mio\.?", 1e6),
    (r"millionen\b", 1e6),
    (r"mrd\.?", 1e9),
    (r"tsd\.?", 1e3),
    (r"tausend\b", 1e3),
    (r"тысяч\w*|тыс\.?", 1e3),
    (r"млн\.?|миллион\w*", 1e6),
    (r"млрд\.?", 1e9),
    (r"bin\b", 1e3),
    (r"milyon\b", 1e6),
    (r"milyar\b", 1e9),
    (r"libo\b", 1e3),
    (r"ألف|آلاف", 1e3),
    (r"مليون|ملايين", 1e6),
    (r"مليار", 1e9),
    (r"हज़ार|हजार", 1e3),
    (r"लाख", 1e5),
    (r"करोड़|करोड", 1e7),
    (r"พัน", 1e3),
    (r"หมื่น", 1e4),
    (r"แสน", 1e5),
    (r"ล้าน", 1e6),
    (r"nghìn\b|ngàn\b", 1e3),
    (r"triệu\b", 1e6),
    (r"tỷ\b|tỉ\b", 1e9),
    (r"千万", 1e7),
    (r"万", 1e4),
    (r"億|亿", 1e8),
    (r"千", 1e3),
    (r"천만", 1e7),
    (r"만", 1e4),
    (r"억", 1e8),
    (r"천", 1e3),
)
_MAG_RX = re.compile(
    r"\s?(?:" + "|".join(f"({f})" for f, _ in sorted(_MAGNITUDES, key=lambda x: -len(x[0]))) + ")",
    re.IGNORECASE,
)
_MAG_VALUES = tuple(v for _, v in sorted(_MAGNITUDES, key=lambda x: -len(x[0])))

# Currencies: symbols and codes before or after the amount, words after it.
_CURRENCIES: tuple[tuple[str, str], ...] = (
    (
        r"US\$|USD|\$|dollars?|d[oó]lar(?:es)?|dollar[oi]|dolar\w*|доллар\w*|долл\.?|دولار|डॉलर|"
        r"ดอลลาร์|đô(?: la)?|ドル|달러|美元|美金",
        "USD",
    ),
    (r"R\$|BRL|reais|real\b", "BRL"),
    (r"€|EUR|euros?|евро|يورو|ユーロ|유로|欧元", "EUR"),
    (r"£|GBP|pounds?", "GBP"),
    (r"円|JPY", "JPY"),
    (r"元|人民币|RMB|CNY|¥", "CNY"),
    (r"₩|원|KRW", "KRW"),
    (r"₹|INR|रुपये|रुपए|rupees?|Rs\.?", "INR"),
    (r"฿|บาท|THB", "THB"),
    (r"₫|đồng|VND", "VND"),
    (r"₱|PHP|piso\b", "PHP"),
    (r"₺|TL\b|TRY|lira", "TRY"),
    (r"₽|руб\w*|RUB", "RUB"),
    (r"درهم|AED", "AED"),
    (r"ريال|SAR", "SAR"),
)
_CUR_ALT = "|".join(f"({f})" for f, _ in _CURRENCIES)
_CUR_AFTER = re.compile(r"^\s?(?:(?:de|di|d'|of)\s?)?(?:" + _CUR_ALT + ")", re.IGNORECASE)
_CUR_BEFORE = re.compile(r"(?:" + _CUR_ALT + r")\s?$", re.IGNORECASE)
_CUR_CODES = tuple(c for _, c in _CURRENCIES)

_NUMBER = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:[.,]\d{3})+|\d{1,3}(?: \d{3})+(?![\d.,])|\d+)"
    r"(?:[.,](\d{1,2})(?!\d))?"
)

_MIN_CUE = re.compile(
    r"(?:\bat least|\bminimum|\bmin\.?|\bfrom|\bover|\babove|\bmore than|\bstarting at|"
    r"\ba partir de|à partir de|\ba partire da|\bm[ií]nimo|\bmás de|\bdesde|\bau moins|"
    r"\bplus de|\bab|\bmindestens|\büber|"
    r"\bmehr als|\balmeno|\boltre|\bpiù di|\bpelo menos|\bacima de|\bmais de|\bне менее|"
    r"\bминимум|\bот|\ben az|ابتداءً من|ابتداء من|على الأقل|أكثر من|कम से कम|ตั้งแต่|อย่างน้อย|"
    r"\btừ|\bít nhất|\btrên|\bsimula|\bmula|\bhindi bababa|至少)\W{0,3}$",
    re.IGNORECASE,
)
_MAX_CUE = re.compile(
    r"(?:\bno more than|\bnot more than|\bnicht mehr als|\bpas plus de|\bnon più di|"
    r"\bnão mais (?:que|de)|\bno más de|\bне более|\bне больше|\bне дороже|\bhindi hihigit|"
    r"\bkhông quá|ไม่เกิน|لا يزيد عن|لا يتجاوز|不超过)\W{0,3}$",
    re.IGNORECASE,
)
_MIN_AFTER = re.compile(
    r"^\W{0,2}(?:\+|and up|or more|et plus|o más|ou mais|o più|und mehr|и выше|"
    r"'?(?:dan|den|tan|ten) başlayan|üzeri|üstü|以上|から|起|이상|부터|"
    r"से ऊपर|से ज़्यादा(?! नहीं)|से अधिक|ขึ้นไป|trở lên)",
    re.IGNORECASE,
)
_MAX_AFTER = re.compile(
    r"^\W{0,2}(?:max\b|maximum|or less|以下|以内|まで|未満|を超えない|이하|이내|까지|미만|넘지|"
    r"之内|以下|'?[yd]?[ae] kadar|kadar|altında|geçmesin|तक|से कम|से ज़्यादा नहीं)",
    re.IGNORECASE,
)
_RANGE_JOIN = re.compile(
    r"^\s*(?:-|–|—|~|〜|～|to|and|y|et|und|e|a|до|ile|에서|到|至|و|से|ถึง|đến|hanggang|bis)\s*$",
    re.IGNORECASE,
)
#: A question about one listing: its price is not the lead's budget.
_LISTING_QUESTION = re.compile(
    r"still available|listed at|is it available|sigue disponible|toujours disponible|"
    r"noch zu haben|ancora disponibile|ainda está disponível|ещё продаётся|еще продается|"
    r"hâlâ satılık|まだ空いて|아직 있나요|还在吗|ما زال متاح|अभी भी उपलब्ध|ยังว่างอยู่|còn không|"
    r"available pa",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Amount:
    """One number of a text, with what is attached to it."""

    start: int
    end: int
    value: float
    factor: float  # the magnitude word's, 1.0 without one
    currency: str | None
    compound: bool = False  # 74万9000: part of the amount before it


def _parse_number(whole: str, frac: str | None) -> float:
    if re.fullmatch(r"\d{1,3}(?:[., ]\d{3})+", whole):
        return float(re.sub(r"[., ]", "", whole)) + (float("0." + frac) if frac else 0.0)
    return float(whole + ("." + frac if frac else ""))


def amounts(text: str) -> list[Amount]:
    """Every number of ``text`` with its magnitude word and currency, compounds folded in."""
    out: list[Amount] = []
    for m in _NUMBER.finditer(text):
        value = _parse_number(m.group(1), m.group(2))
        end, factor = m.end(), 1.0
        while True:  # stacked magnitudes: 5천만, 1.2 crore
            mm = _MAG_RX.match(text, end)
            if not mm:
                break
            factor *= _MAG_VALUES[(mm.lastindex or 1) - 1]
            end = mm.end()
        currency = None
        after = _CUR_AFTER.match(text[end : end + 12])
        if after:
            currency = _CUR_CODES[(after.lastindex or 1) - 1]
            end += after.end()
        else:
            before = _CUR_BEFORE.search(text[max(0, m.start() - 6) : m.start()])
            if before:
                currency = _CUR_CODES[(before.lastindex or 1) - 1]
        amt = Amount(m.start(), end, value, factor, currency)
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.factor >= 1e4
            and prev.currency is None
            and text[prev.end : m.start()].strip() == ""
            and value * factor < prev.factor
        ):  # 74万9000ドル, 3억 5천만원
            prev.value += value * factor / prev.factor
            prev.end, prev.currency = end, currency
            continue
        out.append(amt)
    return out


def _is_money(a: Amount) -> bool:
    return a.currency is not None or a.factor >= 1e3


def budget(text: str) -> tuple[float | None, float | None, str | None]:
    """(minimum, maximum, currency) of the budget stated in ``text``."""
    if _LISTING_QUESTION.search(text):
        return None, None, None
    found = amounts(text)
    lo = hi = None
    currency = None
    i = 0
    while i < len(found):
        a = found[i]
        b = found[i + 1] if i + 1 < len(found) else None
        join = text[a.end : b.start] if b else ""
        if b is not None and _is_money(b) and _RANGE_JOIN.match(re.sub(r"[$€£₹₩₱¥]", "", join)):
            if a.factor == 1.0 and b.factor > 1.0 and a.value < b.value:
                a.factor = b.factor  # "between 1.1 and 1.4 million"
            a.currency = a.currency or b.currency
            lo, hi = a.value * a.factor, b.value * b.factor
            currency = currency or b.currency
            i += 2
            continue
        if _is_money(a):
            v = a.value * a.factor
            before = clause_before(text, a.start, 28)
            if _MAX_CUE.search(before):
                hi = v
            elif _MIN_CUE.search(before) or _MIN_AFTER.search(clause_after(text, a.end, 20)):
                lo = v
            else:
                hi = v
            currency = currency or a.currency
        i += 1
    return lo, hi, currency
