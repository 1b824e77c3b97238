"""Errors of the edge runtime; each message names the bad value."""


class EdgeError(Exception):
    """Base of every error raised by ``edge``."""


class SchemaVersionError(EdgeError):
    """The database was written by a newer version of the runtime."""


class StoreError(EdgeError):
    """The device database cannot do what was asked (disk full, locked, corrupt)."""


class NotFoundError(EdgeError):
    """No record with that id on this device."""


class IngestError(EdgeError):
    """A batch that cannot be ingested; nothing of it was written."""

    def __init__(self, message: str, *, record: int | None = None, field: str | None = None):
        super().__init__(message)
        self.record = record
        self.field = field
