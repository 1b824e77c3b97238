"""Records from outside (a CRM's webhooks, a CSV export) into a team's partition.

An integration writes like a device of the team: its changes go through
:meth:`server.service.SyncService.merge_in` (the push's checks, merge, change log and conflict
log), stamped by a device of its own per team (``<source>-<hash of the team>``), so every phone
of the team pulls them at its next sync. The whole write is one transaction under the team's
partition lock: what it reads (is the lead there? its consent?) cannot change before it commits,
its sequence numbers cannot collide with another write of the same source, and a webhook
delivery id is noted in the same commit (a redelivery then writes nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from server.auth import Principal
from server.service import SyncService
from server.storage import Key, ServerTx
from sync.changes import AnyChange, Change, ChangeBatch, Tombstone
from sync.clock import Hlc, tick
from sync.merge import values


class Upsert(msgspec.Struct, frozen=True, kw_only=True):
    """Set ``fields`` of one record (creating it if new)."""

    entity: str
    entity_id: str
    fields: dict[str, Any]


class Delete(msgspec.Struct, frozen=True, kw_only=True):
    """Delete one record (a tombstone every device receives)."""

    entity: str
    entity_id: str


Op = Upsert | Delete
#: The current values of the records asked for (absent: not there, or deleted).
Current = dict[Key, dict[str, Any]]


class Written(msgspec.Struct, frozen=True, kw_only=True):
    """What one write did: ``duplicate`` when its delivery id was seen before."""

    duplicate: bool = False
    changes: int = 0
    ops: list[Op] = []


def device_id(source: str, team: str) -> str:
    """The device id a source writes ``team``'s partition as (a valid node id, any team)."""
    return f"{source}-{hashlib.sha256(team.encode()).hexdigest()[:16]}"


class PartitionWriter:
    """Writes :data:`Op` lists into a team's partition as the integration ``source``."""

    def __init__(self, sync: SyncService, source: str):
        self.sync = sync
        self.source = source

    def _changes(self, tx: ServerTx, team: str, ops: Sequence[Op], now: int) -> ChangeBatch:
        device = device_id(self.source, team)
        row = tx.device(device)
        seq = row.acked_through if row else 0
        mark = tx.partition_clock(team)
        clock = Hlc.decode(mark) if mark else Hlc(0, 0, device)
        clock = Hlc(clock.wall_ms, clock.counter, device)
        changes: list[AnyChange] = []
        for op in ops:
            clock = tick(clock, now)
            seq += 1
            if isinstance(op, Upsert):
                changes.append(
                    Change(
                        entity=op.entity,
                        entity_id=op.entity_id,
                        fields=op.fields,
                        hlc=clock.encode(),
                        device_id=device,
                        seq=seq,
                    )
                )
            else:
                changes.append(
                    Tombstone(
                        entity=op.entity,
                        entity_id=op.entity_id,
                        hlc=clock.encode(),
                        device_id=device,
                        seq=seq,
                    )
                )
        return ChangeBatch(device_id=device, changes=changes)

    async def write(
        self,
        team: str,
        keys: Sequence[Key],
        build: Callable[[Current], list[Op]],
        *,
        delivery_id: str | None = None,
        dry_run: bool = False,
    ) -> Written:
        """``build`` (given the current values of ``keys``) and write its ops, atomically.

        ``delivery_id`` already noted: nothing is built or written (``duplicate``). A dry run
        builds and checks everything, then rolls back.
        """
        who = Principal(agent=self.source, team=team, iat=0, exp=0, jti=self.source)
        now = self.sync.config.clock()

        class _DryRun(Exception):
            def __init__(self, written: Written):
                self.written = written

        def run(tx: ServerTx) -> Written:
            tx.lock_partition(team)
            if delivery_id is not None and not tx.record_delivery(
                self.source, delivery_id, team, now
            ):
                return Written(duplicate=True)
            stored = tx.records(team, list(keys))
            current = {key: values(record.state) for key, record in stored.items()}
            ops = build({key: v for key, v in current.items() if v})
            if not ops:
                written = Written(ops=[])
            else:
                batch = self._changes(tx, team, ops, now)
                fresh = self.sync.merge_in(tx, who, batch, now)
                written = Written(changes=len(fresh), ops=ops)
            if dry_run:
                raise _DryRun(written)
            return written

        try:
            written = await self.sync.store.write(run)
        except _DryRun as dry:
            return dry.written
        if written.changes:
            self.sync.changed(team)
        return written
