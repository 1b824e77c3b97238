"""Contact hours: when a lead may be called or texted, in the lead's own time zone.

Calls, texts and WhatsApp messages are allowed from :data:`CONTACT_START_HOUR` (08:00, included)
until :data:`CONTACT_END_HOUR` (21:00, excluded) local time, the window the US TCPA sets for
telephone solicitation and a courteous one everywhere else, and never on a public holiday of the
lead's country (the ``holidays`` package). Weekends are allowed: real estate works on Saturdays.
Email and the web are read when the lead chooses, so they are never quiet.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import warnings

import holidays
import msgspec

from edge.culture.formatter import local_datetime, time_zone
from sync.records import Channel, Lead

log = logging.getLogger(__name__)

#: First local hour at which a lead may be called or texted (08:00 is allowed).
CONTACT_START_HOUR = 8
#: Local hour from which a lead may no longer be called or texted (21:00 is quiet).
CONTACT_END_HOUR = 21
#: Channels that interrupt the lead and so respect contact hours and holidays.
INTRUSIVE_CHANNELS: frozenset[Channel] = frozenset({Channel.CALL, Channel.SMS, Channel.WHATSAPP})
#: How many days ahead to look for an allowed day (long holiday runs are a week at most).
MAX_DAYS_AHEAD = 31
#: Language of holiday names shown to the agent, where the country's calendar offers it.
HOLIDAY_NAME_LANGUAGE = "en_US"


class ContactWindow(msgspec.Struct, frozen=True, kw_only=True):
    """The next moment a lead may be contacted on a channel."""

    lead_id: str
    channel: Channel
    requested_at: int
    send_at: int
    send_at_local: str  # ISO 8601 with the lead's UTC offset
    timezone: str
    delayed: bool
    quiet_hours: bool = False  # the request fell outside contact hours
    holidays: list[str] = []  # names of the holidays skipped, first one first

    @property
    def holiday(self) -> str | None:
        """The first holiday skipped, if any."""
        return self.holidays[0] if self.holidays else None


@functools.lru_cache(maxsize=256)
def holiday_calendar(country: str) -> holidays.HolidayBase | None:
    """The public holidays of ``country``, years added on demand; None if none are known."""
    try:
        calendar = holidays.country_holidays(country)
    except NotImplementedError:
        log.warning("no public holiday calendar for country %r; only contact hours apply", country)
        return None
    if HOLIDAY_NAME_LANGUAGE in calendar.supported_languages:
        calendar = holidays.country_holidays(country, language=HOLIDAY_NAME_LANGUAGE)
    return calendar


def holiday_name(country: str, day: dt.date) -> str | None:
    """The public holiday of ``country`` on ``day``, or None."""
    calendar = holiday_calendar(country)
    if calendar is None or not calendar.start_year <= day.year <= calendar.end_year:
        return None
    if day.year not in calendar.years:
        # Some calendars warn once per year they only estimate (India's Hindu holidays outside
        # 2001-2035); that is worth a log line, not a warning raised into the caller.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            name = calendar.get(day)
        for warning in caught:
            log.info("holidays %s %d: %s", country, day.year, warning.message)
        return name
    return calendar.get(day)


def is_quiet(lead: Lead, ts_ms: int, channel: Channel = Channel.SMS) -> bool:
    """Whether contacting ``lead`` on ``channel`` at ``ts_ms`` would break contact hours."""
    if channel not in INTRUSIVE_CHANNELS:
        return False
    local = local_datetime(ts_ms, time_zone(lead.timezone))
    if not CONTACT_START_HOUR <= local.hour < CONTACT_END_HOUR:
        return True
    return holiday_name(lead.country, local.date()) is not None


def contact_window(lead: Lead, now_ms: int, channel: Channel = Channel.SMS) -> ContactWindow:
    """The first allowed moment at or after ``now_ms`` to contact ``lead`` on ``channel``."""
    zone = time_zone(lead.timezone)
    local = local_datetime(now_ms, zone)
    send = local
    quiet = False
    skipped: list[str] = []
    if channel in INTRUSIVE_CHANNELS:
        for _ in range(MAX_DAYS_AHEAD):
            name = holiday_name(lead.country, send.date())
            if name is not None:
                skipped.append(name)
            elif send.hour < CONTACT_START_HOUR:
                quiet = True
                send = _morning(send.date(), zone)
                continue
            elif send.hour < CONTACT_END_HOUR:
                break
            else:
                quiet = True
            send = _morning(send.date() + dt.timedelta(days=1), zone)
        else:  # pragma: no cover - a month of holidays does not exist
            log.warning("no contact day within %d days for lead %r", MAX_DAYS_AHEAD, lead.id)
    send_ms = now_ms if send is local else int(send.timestamp() * 1000)
    return ContactWindow(
        lead_id=lead.id,
        channel=channel,
        requested_at=now_ms,
        send_at=send_ms,
        send_at_local=send.isoformat(timespec="minutes"),
        timezone=lead.timezone,
        delayed=send_ms != now_ms,
        quiet_hours=quiet,
        holidays=skipped,
    )


def _morning(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, CONTACT_START_HOUR, tzinfo=zone)
