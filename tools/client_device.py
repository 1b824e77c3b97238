"""A generated device for the Kivy client (``realty-edge app`` without ``--device``).

The client imports only ``EdgeRuntime``; the synthetic world is made here, in the tools.
"""

from __future__ import annotations

from pathlib import Path

from edge.runtime import EdgeRuntime
from models.synthetic import generate_world, this_hour_ms
from sync.codec import Format, encode_batch


async def generate_device(path: Path, *, leads: int, listings: int, seed: int) -> int:
    """Create a device database at ``path`` holding one agent's generated world; leads ingested."""
    world = generate_world(agents=1, leads=leads, listings=listings, seed=seed,
                           now_ms=this_hour_ms())  # fmt: skip
    batch = encode_batch([*world.agents, *world.listings, *world.leads, *world.events],
                         Format.MSGPACK)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    async with await EdgeRuntime.open(path) as rt:
        await rt.ingest(batch)
        return (await rt.counts()).leads
