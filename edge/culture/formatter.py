"""Locale formatting through Babel (CLDR): money, numbers, areas, dates in the lead's zone.

Nothing is converted between currencies: a price is formatted in the listing's own currency with
the lead's locale conventions. Areas are shown in square feet where the locale's territory
measures property that way (US, Liberia, Myanmar: :data:`SQUARE_FOOT_TERRITORIES`) and in square
metres everywhere else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import re
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal
from babel.units import format_unit

from edge.errors import CultureError

log = logging.getLogger(__name__)

#: Territories (CLDR's "US" measurement system) where floor area is given in square feet.
SQUARE_FOOT_TERRITORIES: frozenset[str] = frozenset({"US", "LR", "MM"})

#: One international foot is exactly 0.3048 m, so one square foot is exactly 0.09290304 m².
SQUARE_METRES_PER_SQUARE_FOOT = Decimal("0.09290304")

#: CLDR width of a showing's date: "full" spells the weekday out ("Tuesday, November 25, 2025").
DATE_FORMAT = "full"
#: CLDR width of a showing's time of day ("10:00 AM").
TIME_FORMAT = "short"


@functools.lru_cache(maxsize=256)
def babel_locale(locale: str, language: str = "en") -> Locale:
    """The Babel locale for a lead's ``locale`` (``es_MX``), else its language, else English."""
    for candidate in (locale, language, "en_US"):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            log.debug("unknown locale %r; trying the next candidate", candidate)
    raise CultureError(f"no usable locale among {locale!r}, {language!r}")  # pragma: no cover


@functools.lru_cache(maxsize=256)
def number_locale(locale: str, language: str = "en") -> Locale:
    """The locale whose number conventions (grouping, separators, currency pattern) apply.

    The lead's own locale when CLDR knows it; otherwise (``hi_US``) the main locale of its
    territory (``en_US``), not its language's (``hi``, which groups in lakhs): a lead in the
    United States reads $396,800, never $3,96,800.
    """
    with contextlib.suppress(UnknownLocaleError, ValueError):
        return Locale.parse(locale)
    territory = locale.partition("_")[2]
    spoken: dict[str, dict[str, float]] = get_global("territory_languages").get(territory, {})
    for lang in sorted(spoken, key=lambda x: -spoken[x]["population_percent"]):
        with contextlib.suppress(UnknownLocaleError, ValueError):
            return Locale.parse(f"{lang}_{territory}")
    return babel_locale(locale, language)


@functools.lru_cache(maxsize=512)
def time_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; an unknown zone is an error that names it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise CultureError(f"unknown time zone {name!r}") from e


def uses_square_feet(locale: Locale) -> bool:
    """Whether property area is shown in square feet in this locale."""
    return (locale.territory or "") in SQUARE_FOOT_TERRITORIES


def square_metres(sqft: float) -> int:
    """Square feet to whole square metres, rounded half up on the exact decimal product."""
    exact = Decimal(repr(float(sqft))) * SQUARE_METRES_PER_SQUARE_FOOT
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_money(amount: float, currency: str, locale: Locale) -> str:
    """A price in ``currency`` with the locale's symbol and grouping; cents only when not whole.

    ``$450,000`` and ``450.000 €``, but ``$450,000.50``.
    """
    if float(amount).is_integer():
        pattern = _WHOLE.sub("", locale.currency_formats["standard"].pattern)
        return format_currency(
            amount, currency, format=pattern, locale=locale, currency_digits=False
        )
    return format_currency(amount, currency, locale=locale)


#: The fraction part of a CLDR currency pattern (``¤#,##0.00`` → ``¤#,##0``).
_WHOLE = re.compile(r"\.[0#]+")


def format_number(value: float, locale: Locale) -> str:
    """A number with the locale's digits and grouping."""
    return format_decimal(value, locale=locale)


def format_area(sqft: float, locale: Locale) -> str:
    """A floor area in the locale's unit: ``1,500 sq ft`` (en_US), ``139m²`` (ko_KR)."""
    if uses_square_feet(locale):
        whole = int(Decimal(repr(float(sqft))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return format_unit(whole, "area-square-foot", length="short", locale=locale)
    return format_unit(square_metres(sqft), "area-square-meter", length="short", locale=locale)


def local_datetime(ts_ms: int, zone: ZoneInfo) -> dt.datetime:
    """The aware local time of a UTC epoch-millisecond instant."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=zone)


def format_when(ts_ms: int, zone: ZoneInfo, locale: Locale) -> str:
    """A date and time in the lead's zone: ``Tuesday, November 25, 2025, 10:00 AM`` (en_US).

    The date and the time are joined with the locale's own medium date-time pattern.
    """
    moment = local_datetime(ts_ms, zone)
    date = format_date(moment, DATE_FORMAT, locale=locale)
    time = format_time(moment, TIME_FORMAT, tzinfo=zone, locale=locale)
    pattern = locale.datetime_formats.get("medium", "{1} {0}")
    return str(pattern).replace("{1}", date).replace("{0}", time)
