"""Errors of the edge runtime; each message names the bad value."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec


class EdgeError(Exception):
    """Base of every error raised by ``edge``."""


class SchemaVersionError(EdgeError):
    """The database was written by a newer version of the runtime."""


class StoreError(EdgeError):
    """The device database cannot do what was asked (disk full, locked, corrupt)."""


class NotADeviceDatabaseError(StoreError):
    """A file that is not a realty-edge device database: it is refused and never written."""


class NotFoundError(EdgeError):
    """No record with that id on this device."""


class IngestError(EdgeError):
    """A batch that cannot be ingested; nothing of it was written."""

    def __init__(
        self,
        message: str,
        *,
        record: int | None = None,
        field: str | None = None,
        problems: Sequence[BatchProblem] = (),
        more: int = 0,
    ):
        super().__init__(message)
        self.record = record
        self.field = field
        #: Every bad record reported (up to a limit), first first; ``more`` is the rest's count.
        self.problems = list(problems)
        self.more = more


class BatchProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One bad record of a batch: its number (from 1), the field path, what is wrong."""

    record: int
    field: str | None
    message: str


class CultureError(EdgeError):
    """A message cannot be adapted to the lead's language, locale or time zone."""


class CatalogError(CultureError):
    """A translation catalog is unreadable, or English lacks a message every language needs."""


class MessageContextError(CultureError):
    """The context lacks a value the requested message needs (the error names it)."""


class VoiceError(EdgeError):
    """The offline speech path cannot do what was asked."""


class VoiceModelMissingError(VoiceError):
    """No speech model is installed or configured for that language."""


class AudioFormatError(VoiceError):
    """Audio that is not a WAV file this device can read (RIFF/WAVE, 16- or 24/32-bit PCM)."""


class SyncRefusedError(EdgeError):
    """The server refused a request (4xx): retrying the same request will not help."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None):
        where = f" at {path}" if path else ""
        super().__init__(f"server refused ({status} {code}){where}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path


class SyncUnavailableError(EdgeError):
    """The server could not be reached or failed (network error, 5xx): try again later."""


class InvalidRecordError(EdgeError):
    """A change that would make a record invalid; the message names the field."""


class OutreachRefusedError(EdgeError):
    """A step the outreach rules refuse now; ``reason`` is the stable code, nothing was sent."""

    def __init__(self, reason: str, detail: str, retry_at: int | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retry_at = retry_at
