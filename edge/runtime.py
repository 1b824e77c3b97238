"""``EdgeRuntime``: the one public async API of the device.

The Kivy client, the CLI and the server's advanced API call this and nothing deeper.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from edge.ingest import IngestReport, ingest
from edge.store import Clock, EdgeStore, StoreCounts, wall_clock_ms
from sync.records import Event, Lead


class LeadDetail(msgspec.Struct, frozen=True, kw_only=True):
    lead: Lead
    recent_events: list[Event]


class EdgeRuntime:
    """A device: its database and, as later features land, its models and services."""

    def __init__(self, store: EdgeStore):
        self.store = store

    @classmethod
    async def open(
        cls, path: str | Path, *, create: bool = True, clock: Clock = wall_clock_ms
    ) -> EdgeRuntime:
        """Open the device database at ``path`` (created and migrated when needed)."""
        return cls(await EdgeStore.open(path, create=create, clock=clock))

    async def close(self) -> None:
        await self.store.close()

    async def __aenter__(self) -> EdgeRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def device_id(self) -> str:
        return self.store.device_id

    async def ingest(self, data: bytes) -> IngestReport:
        """Validate and write a batch (JSON lines or MessagePack): all of it or nothing."""
        return await ingest(self.store, data)

    async def counts(self) -> StoreCounts:
        return await self.store.counts()

    async def languages(self) -> dict[str, int]:
        """Leads per language, most common first."""
        return await self.store.languages()

    async def lead_detail(self, lead_id: str, events: int = 20) -> LeadDetail:
        """The lead and its most recent events; NotFoundError for an unknown id."""
        lead = await self.store.get_lead(lead_id)
        return LeadDetail(lead=lead, recent_events=await self.store.recent_events(lead_id, events))
