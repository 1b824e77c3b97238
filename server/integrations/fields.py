"""Field values from outside, made ours: phone numbers, e-mail addresses, times, ids.

Each function returns the normalized value or raises :class:`ValueError` whose message names
the bad value, for the caller to place (a CSV line and column, a webhook's JSON path).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_ID = re.compile(r"^[A-Za-z0-9_.:\-]+$")
#: Epoch milliseconds the records accept (up to the year 3000).
MAX_EPOCH_MS = 32503680000000


def phone_e164(raw: str, region: str = "US") -> str:
    """``raw`` as E.164 (``+15551234567``); numbers without a ``+`` are read in ``region``."""
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_address(raw: str) -> str:
    """``raw`` as a checked e-mail address (syntax only: nothing is looked up)."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{raw!r} is not an e-mail address ({exc})") from None


def epoch_ms(raw: str | int | float) -> int:
    """A time as UTC epoch milliseconds, from ISO 8601 text or epoch milliseconds.

    ISO 8601 without an offset is read as UTC; a date alone is its midnight UTC.
    """
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a time")
    if isinstance(raw, int | float):
        value = int(raw)
    else:
        text = raw.strip()
        if re.fullmatch(r"\d{1,15}", text):
            value = int(text)
        else:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"{raw!r} is not a time: ISO 8601 (2026-05-01T14:30:00Z) or epoch milliseconds"
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            value = int(moment.timestamp() * 1000)
    if not 0 <= value <= MAX_EPOCH_MS:
        raise ValueError(f"{raw!r} is out of range (epoch milliseconds from 1970 to 3000)")
    return value


def record_id(prefix: str, external: str) -> str:
    """Our id for an outside id: ``<prefix>-<id>`` when that is a valid id, else a hash."""
    candidate = f"{prefix}-{external}"
    if _ID.match(external) and len(candidate) <= 64:
        return candidate
    return f"{prefix}-{hashlib.sha256(external.encode()).hexdigest()[:32]}"
