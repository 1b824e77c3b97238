"""The server's storage interface: what the sync service needs, nothing about SQL.

:class:`ServerStore` is satisfied by :class:`server.sqlite_store.SqliteServerStore` (the
default, embedded) and is shaped so that a PostgreSQL implementation can satisfy it later:
every write is one function run by :meth:`ServerStore.write` inside one atomic transaction
(the merge in it is pure, so no I/O happens inside); reads see only committed data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import msgspec

from sync.changes import AnyChange
from sync.merge import Conflict, EntityState

#: (entity, entity_id) inside one team's partition.
Key = tuple[str, str]
T = TypeVar("T")


class StoredRecord(msgspec.Struct, kw_only=True):
    entity: str
    entity_id: str
    lead_id: str | None
    state: EntityState


class DeviceRow(msgspec.Struct, kw_only=True):
    device_id: str
    agent_id: str
    team_id: str
    acked_through: int = 0
    changes: int = 0
    first_seen: int = 0
    last_seen: int = 0


class LoggedConflict(msgspec.Struct, kw_only=True):
    """A conflict with the change that revealed it and when."""

    conflict: Conflict
    device_id: str
    seq: int
    logged_at: int
    id: int = 0


class ServerTx(Protocol):
    """One write transaction of the sync service: plain (blocking) calls, run by ``write``."""

    def device(self, device_id: str) -> DeviceRow | None: ...
    def save_device(self, row: DeviceRow) -> None: ...
    def seen(self, device_id: str, seqs: Sequence[int]) -> set[int]: ...
    def mark_seen(self, team: str, device_id: str, seqs: Sequence[int]) -> None: ...
    def records(self, team: str, keys: Sequence[Key]) -> dict[Key, StoredRecord]: ...
    def records_of_lead(self, team: str, lead_id: str) -> list[StoredRecord]: ...
    def save_records(self, team: str, records: Sequence[StoredRecord]) -> None: ...
    def append_log(self, team: str, changes: Sequence[AnyChange]) -> int: ...
    def forget(self, team: str, keys: Sequence[Key]) -> None:
        """Drop the change log and conflict log rows of erased records (privacy)."""

    def add_conflicts(self, team: str, conflicts: Sequence[LoggedConflict]) -> None: ...
    def count_conflicts(self, device_id: str, seqs: Sequence[int]) -> int: ...
    def set_setting(self, key: str, value: str) -> None: ...


class ServerStore(Protocol):
    """The server's database."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def write(self, fn: Callable[[ServerTx], T]) -> T:
        """Run ``fn`` inside one atomic transaction (rolled back if it raises)."""
        ...

    async def setting(self, key: str) -> str | None: ...
    async def signing_key(self) -> bytes:
        """The token signing key, created on first use."""
        ...

    async def pull(self, team: str, after: int, limit: int) -> list[tuple[int, AnyChange]]:
        """Up to ``limit`` (server sequence, change) pairs after ``after``, in order."""
        ...

    async def last_seq(self, team: str) -> int: ...
    async def record(self, team: str, key: Key) -> StoredRecord | None: ...
    async def conflicts(
        self, team: str, after: int, limit: int, entity_id: str | None = None
    ) -> list[LoggedConflict]: ...
    async def device(self, device_id: str) -> DeviceRow | None: ...
    async def lead_history(
        self, team: str, lead_id: str
    ) -> tuple[list[StoredRecord], list[AnyChange], list[LoggedConflict]]:
        """Every record of a lead, and the logged changes and conflicts of those records."""
        ...

    async def team_records(self, team: str | None, entity: str) -> list[tuple[str, StoredRecord]]:
        """(team, record) of one kind, of one team or (``None``) of every team."""
        ...
