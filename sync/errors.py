"""Errors of the wire layer."""


class SyncError(Exception):
    """Base of every error raised by ``sync``."""


class DecodeError(SyncError):
    """Bytes that are not a valid message; the message names the field path."""


class ClockError(SyncError):
    """A clock value that cannot be accepted (for example, too far in the future)."""
