"""The server's storage: one port, an SQLite and a PostgreSQL implementation, migrations.

:func:`open_store` picks the implementation from a database URL: a plain path or
``sqlite:///path`` is SQLite (embedded, the default), ``postgresql://...`` is PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from server.storage.port import (
    DeviceRow,
    DriftCheckRow,
    Key,
    LoggedConflict,
    ModelFamilyRow,
    ModelVersionRow,
    NewerDatabaseError,
    RetrainRunRow,
    RevokedToken,
    ServerStore,
    ServerTx,
    StorageError,
    StoredRecord,
    UnsupportedDatabaseUrlError,
    redact,
)

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite:///"


def sqlite_path(database_url: str | Path) -> Path | None:
    """The file of an SQLite database URL; ``None`` for a PostgreSQL one.

    Raises :class:`UnsupportedDatabaseUrlError` for any other scheme.
    """
    url = str(database_url)
    if url.startswith(POSTGRES_SCHEMES):
        return None
    if url.startswith(SQLITE_SCHEME):
        url = url.removeprefix(SQLITE_SCHEME)
    elif "://" in url or url.startswith("sqlite:"):
        raise UnsupportedDatabaseUrlError(
            f"database URL {redact(url)!r} is not supported: use a file path, "
            "sqlite:///path/to/file.db or postgresql://user@host:5432/database"
        )
    if not url:
        raise UnsupportedDatabaseUrlError("empty database URL: give a file path or a URL")
    return Path(url)


def open_store(database_url: str | Path, *, pool_size: int = 8) -> ServerStore:
    """The store for ``database_url``, not yet open: ``await store.open()`` or ``async with``.

    ``pool_size`` is the most connections a PostgreSQL store holds (SQLite ignores it).
    """
    path = sqlite_path(database_url)
    if path is None:
        from server.storage.postgres import PostgresServerStore

        return PostgresServerStore(str(database_url), pool_size=pool_size)
    from server.storage.sqlite import SqliteServerStore

    return SqliteServerStore(path)


__all__ = [
    "DeviceRow",
    "DriftCheckRow",
    "Key",
    "LoggedConflict",
    "ModelFamilyRow",
    "ModelVersionRow",
    "NewerDatabaseError",
    "RetrainRunRow",
    "RevokedToken",
    "ServerStore",
    "ServerTx",
    "StorageError",
    "StoredRecord",
    "UnsupportedDatabaseUrlError",
    "open_store",
    "sqlite_path",
]
