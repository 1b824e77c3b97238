"""The server's storage port: what the services need from a database, nothing about SQL.

:class:`ServerStore` is satisfied by :class:`server.storage.sqlite.SqliteServerStore` (the
default, embedded) and :class:`server.storage.postgres.PostgresServerStore` (several workers,
several hosts). Every write is one function run by :meth:`ServerStore.write` inside one atomic
transaction (the merge in it is pure, so no I/O happens inside); reads see only committed data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol, Self, TypeVar

import msgspec

from server.errors import ServerError
from sync.changes import AnyChange
from sync.merge import Conflict, EntityState

#: (entity, entity_id) inside one team's partition.
Key = tuple[str, str]
T = TypeVar("T")


class StorageError(ServerError):
    """Base of every error of the storage layer (a database the server cannot use)."""

    code = "storage_error"


class UnsupportedDatabaseUrlError(StorageError):
    """A database URL whose scheme no store implements."""


class NewerDatabaseError(StorageError):
    """A database carrying migrations this code does not know (written by a newer version)."""


def redact(url: str) -> str:
    """``url`` without its password, fit for an error message or a log line."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class StoredRecord(msgspec.Struct, kw_only=True):
    """One record of a team's partition: its merged per-field state."""

    entity: str
    entity_id: str
    lead_id: str | None
    state: EntityState


class DeviceRow(msgspec.Struct, kw_only=True):
    """A device that has pushed: whose it is, how far it is acknowledged, when seen (epoch ms)."""

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


class RevokedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A revoked token: its id, when it was revoked and until when it would have been valid.

    ``expires_at`` is ``None`` when only the id was known (the entry is then kept for good).
    """

    jti: str
    revoked_at: int
    expires_at: int | None = None
    agent_id: str | None = None
    team_id: str | None = None
    reason: str = ""


class ModelVersionRow(msgspec.Struct, kw_only=True):
    """One published model version: its signed manifest (JSON) and, when read with it, its bytes.

    ``scope`` is ``pooled`` (the server's own models) or a team's scope; ``family`` is the
    model's name (``behaviour``, ``personalization_lead``...); ``reference`` is the training
    score distribution a drift check compares with (JSON, ``None`` for a version without one).
    """

    scope: str
    family: str
    version: str
    manifest: bytes
    sha256: str
    created_at: int
    blob: bytes | None = None
    reference: bytes | None = None


class ModelFamilyRow(msgspec.Struct, kw_only=True):
    """What one scope offers of one model: ``stable`` to every device, ``latest`` to
    ``percent`` % of them; ``versions`` (in publish order) is read, never saved."""

    scope: str
    family: str
    stable: str | None = None
    latest: str | None = None
    percent: int = 0
    rolled_back: list[str] = []
    versions: list[str] = []


class RetrainRunRow(msgspec.Struct, kw_only=True):
    """One retraining run's record; ``record`` is the run's JSON (metrics, decision, reason)."""

    id: str
    scope: str
    family: str
    started_at: int
    finished_at: int
    outcome: str
    record: bytes

    @classmethod
    def of(cls, run: RunSummary, record: bytes) -> RetrainRunRow:
        """The row of ``run`` (a run record, or an older version's), its JSON ``record``."""
        return cls(
            id=run.id,
            scope=run.scope,
            family=run.family,
            started_at=run.started_at,
            finished_at=run.finished_at,
            outcome=run.decision,
            record=record,
        )


class RunSummary(Protocol):
    """What a retraining run's row is made of (``server.retrain.RetrainRun`` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def started_at(self) -> int: ...
    @property
    def finished_at(self) -> int: ...
    @property
    def decision(self) -> str: ...


class DriftCheckRow(msgspec.Struct, kw_only=True):
    """The last drift check of a retrained family in a scope; ``record`` is its JSON."""

    scope: str
    family: str
    version: str
    checked_at: int
    record: bytes


class ServerTx(Protocol):
    """One write transaction of the sync service: plain (blocking) calls, run by ``write``."""

    def lock_partition(self, team: str) -> None:
        """Serialize this transaction with every other write to ``team`` until it ends.

        A push calls it first, so that reading, merging and logging a team's records is never
        interleaved with another worker's push to the same team.
        """

    def device(self, device_id: str) -> DeviceRow | None: ...
    def save_device(self, row: DeviceRow) -> None: ...
    def seen(self, device_id: str, seqs: Sequence[int]) -> set[int]: ...
    def mark_seen(self, team: str, device_id: str, seqs: Sequence[int]) -> None:
        """Record (device, seq) pairs as applied; a pair already recorded is left alone."""

    def records(self, team: str, keys: Sequence[Key]) -> dict[Key, StoredRecord]: ...
    def records_of_lead(self, team: str, lead_id: str) -> list[StoredRecord]: ...
    def save_records(self, team: str, records: Sequence[StoredRecord]) -> None: ...
    def append_log(self, team: str, changes: Sequence[AnyChange]) -> int:
        """Log ``changes`` at the team's next positions, in order; the last position."""

    def forget(self, team: str, keys: Sequence[Key]) -> None:
        """Drop the change log and conflict log rows of erased records (privacy)."""

    def add_conflicts(self, team: str, conflicts: Sequence[LoggedConflict]) -> None: ...
    def count_conflicts(self, device_id: str, seqs: Sequence[int]) -> int: ...
    def partition_clock(self, team: str) -> str:
        """The team's clock high-water mark (``''`` when none), read under the partition lock."""

    def set_partition_clock(self, team: str, hlc: str) -> None:
        """Store the team's clock high-water mark (only ever a later one)."""

    def set_setting(self, key: str, value: str) -> None: ...
    def record_delivery(self, source: str, delivery_id: str, team: str, now_ms: int) -> bool:
        """Note a webhook delivery; False when ``(source, delivery_id)`` was noted before.

        A delivery noted by a transaction still in flight waits for it (PostgreSQL) or cannot
        happen (SQLite's one writer), so two copies of one delivery are never both new.
        """
        ...

    def take_lease(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Hold ``name`` until ``now_ms + ttl_ms`` unless another holder's lease runs; atomic."""
        ...

    def revoke_token(self, entry: RevokedToken) -> RevokedToken:
        """Add ``entry`` to the revocation list; a token revoked before keeps its first entry,
        which is returned."""
        ...

    def prune_revocations(self, now_ms: int) -> int:
        """Drop the entries of tokens expired by ``now_ms`` (they are refused anyway); how many."""
        ...

    # --- the model registry ----------------------------------------------------------

    def lock_registry(self) -> int:
        """Serialize this transaction with every other change of the model registry until it
        ends, and move the registry's change counter on by one; the new count.

        Every promotion, rollout change and rollback calls it first, so two of them at once
        (two workers, two hosts, the CLI) apply one after the other and lose nothing.
        """
        ...

    def model_family(self, scope: str, family: str) -> ModelFamilyRow | None:
        """The family's state in ``scope`` with its versions in publish order."""
        ...

    def save_model_family(self, row: ModelFamilyRow) -> None:
        """Store stable, latest, percent and rolled-back versions (``versions`` is ignored)."""

    def add_model_version(self, row: ModelVersionRow) -> None:
        """Store a version with its blob; publishing one again replaces its manifest, blob
        and reference but keeps its place in the publish order."""

    def report_model(self, device_id: str, family: str, version: str, now_ms: int) -> None:
        """Note the version a device says it runs (an older report never replaces a newer)."""

    def add_retrain_run(self, row: RetrainRunRow) -> None:
        """Record a run; a run recorded before (same id) is kept as it was."""

    def save_drift_check(self, row: DriftCheckRow) -> None:
        """Keep the scope's last check of the family (an older one never replaces a newer)."""

    def named_key(self, name: str, initial: bytes, now_ms: int) -> bytes:
        """The secret stored under ``name``, ``initial`` if there was none (first one wins)."""
        ...


class ServerStore(Protocol):
    """The server's database."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (refusing a newer database)."""

    async def close(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def write(self, fn: Callable[[ServerTx], T]) -> T:
        """Run ``fn`` inside one atomic transaction (rolled back if it raises)."""
        ...

    async def setting(self, key: str) -> str | None: ...
    async def signing_key(self) -> bytes:
        """The token signing key, created on first use (once, even by two workers at once)."""
        ...

    async def pull(self, team: str, after: int, limit: int) -> list[tuple[int, AnyChange]]:
        """Up to ``limit`` (server sequence, change) pairs after ``after``, in order.

        A page never ends past a position that a transaction still in flight may fill, so a
        puller that resumes after the page's last position skips nothing.
        """
        ...

    async def last_seq(self, team: str) -> int: ...
    async def partition_clock(self, team: str) -> str:
        """The team's committed clock high-water mark (``''`` when none)."""
        ...

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

    async def revocation(self, jti: str) -> RevokedToken | None:
        """The revocation of token ``jti`` (committed by any worker), or ``None``."""
        ...

    async def revocations(self) -> list[RevokedToken]:
        """The whole revocation list, oldest first."""
        ...

    async def named_key(self, name: str, initial: bytes) -> bytes:
        """The secret stored under ``name`` (the model-signing key, the pseudonym key),
        created from ``initial`` on first use (once, even by two workers at once)."""
        ...

    async def registry_changes(self) -> int:
        """How many changes the model registry has seen (a cache of it checks this)."""
        ...

    async def model_families(self, scope: str) -> list[ModelFamilyRow]:
        """Every family of ``scope`` with its versions in publish order."""
        ...

    async def model_version(
        self, scope: str, family: str, version: str, *, blob: bool = False
    ) -> ModelVersionRow | None:
        """One version's manifest and reference, its bytes too with ``blob``."""
        ...

    async def device_models(self, device_id: str) -> dict[str, str]:
        """family -> the version ``device_id`` last said it runs."""
        ...

    async def retrain_runs(self, scopes: Sequence[str] | None = None) -> list[RetrainRunRow]:
        """The runs of ``scopes`` (``None``: all), in the order they finished."""
        ...

    async def drift_checks(self, scope: str) -> list[DriftCheckRow]:
        """The last drift check of each family of ``scope``."""
        ...
