"""The one layer that turns natural input into domain values, or refuses it naming the field.

Request bodies accept what a person types where a field is naturally written by hand: money
as a number or as ``"$450,000"`` / ``"450k"``, a moment as epoch milliseconds or ISO 8601.
Every function here returns a clean value or raises :class:`InvalidRequestError` whose
``path`` names the field, so no such value reaches a formatter or the database unparsed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime, tzinfo

from server.errors import InvalidRequestError, UnknownFieldError

#: Largest amount accepted (as ``sync.records.Money``).
MAX_MONEY = 1e11
#: Latest moment accepted (as ``sync.records.EpochMs``): year 3000.
MAX_EPOCH_MS = 32_503_680_000_000

_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "mm": 1e6, "b": 1e9, "bn": 1e9}
_SIGN = r"(?:[a-z]{3}|us\$|c\$|a\$|r\$|mx\$|[$€£¥₩₹₱₫฿])"
#: An amount as typed: an optional currency sign or code before or after, comma thousands.
_AMOUNT = re.compile(
    rf"^{_SIGN}?(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    rf"(?P<scale>k|mm|m|bn|b)?{_SIGN}?$"
)


def parse_money(value: float | int | str, path: str) -> float:
    """An amount from a number or a typed string (``"$450,000"``, ``"450k"``, ``"USD 1.2m"``)."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"expected an amount, got {value!r}", path=path)
    if isinstance(value, str):
        text = re.sub(r"\s+", "", value).lower()
        found = _AMOUNT.match(text)
        if not found:
            raise InvalidRequestError(
                f'{value!r} is not an amount (write e.g. 450000, "$450,000" or "450k")',
                path=path,
            )
        amount = float(found["num"].replace(",", "")) * _SCALE[found["scale"] or ""]
    else:
        amount = float(value)
    if not math.isfinite(amount) or not 0 <= amount <= MAX_MONEY:
        raise InvalidRequestError(f"amount {value!r} is not in 0..{MAX_MONEY:g}", path=path)
    return amount


def parse_instant(value: int | str, path: str, zone: tzinfo | None = None) -> int:
    """UTC epoch milliseconds from epoch ms or an ISO 8601 text.

    A text without an offset is read in ``zone`` (the lead's time zone); without a zone it is
    refused, since the hour it names is not known.
    """
    if isinstance(value, bool):
        raise InvalidRequestError(f"expected a time, got {value!r}", path=path)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():  # "²" is a digit to isdigit(), not to int()
            return parse_instant(int(text), path, zone)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequestError(
                f"{value!r} is not ISO 8601 (e.g. 2026-12-05T10:00:00-08:00) nor epoch ms",
                path=path,
            ) from None
        if moment.tzinfo is None:
            if zone is None:
                raise InvalidRequestError(
                    f"{value!r} has no UTC offset (add one, e.g. Z or -08:00)", path=path
                )
            moment = moment.replace(tzinfo=zone)
        value = round(moment.timestamp() * 1000)
    if not 0 <= value <= MAX_EPOCH_MS:
        raise InvalidRequestError(
            f"time {value!r} is not in 0..{MAX_EPOCH_MS} epoch ms (years 1970..3000)", path=path
        )
    return int(value)


def refuse_unknown(given: Iterable[str], allowed: Iterable[str], prefix: str) -> None:
    """Refuse the first name of ``given`` that is not ``allowed``, naming it and the options."""
    known = set(allowed)
    for name in given:
        if name not in known:
            options = ", ".join(sorted(known)) or "none"
            raise UnknownFieldError(
                f"unknown parameter {name!r} (accepted: {options})", path=f"{prefix}.{name}"
            )
