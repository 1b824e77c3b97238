"""Errors of the wire layer."""


class SyncError(Exception):
    """Base of every error raised by ``sync``."""


class DecodeError(SyncError):
    """Bytes that are not a valid message; the message names the field path."""


class BatchRecordError(DecodeError):
    """One record of a batch that does not decode; ``record`` is its number (from 1)."""

    def __init__(self, message: str, record: int):
        super().__init__(message)
        self.record = record


class ClockError(SyncError):
    """A clock value that cannot be accepted (for example, too far in the future)."""
