"""The demo: the product end to end on embedded defaults, with progress shown."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edge.runtime import EdgeRuntime
from models.synthetic import generate_world
from sync.codec import Format, encode_batch


async def run_demo(
    workdir: Path, *, leads: int, listings: int, seed: int, console: Console
) -> dict[str, object]:
    """Create a device, generate and ingest a world, print a summary; return the figures."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    db_path = workdir / "agent-01.db"

    t0 = time.perf_counter()
    with console.status("generating a synthetic world"):
        world = generate_world(agents=1, leads=leads, listings=listings, seed=seed)
        batch = encode_batch(
            [*world.agents, *world.listings, *world.leads, *world.events], Format.MSGPACK
        )
    console.print(
        f"[green]✓[/] generated {len(batch) / 1e6:.1f} MB batch in {time.perf_counter() - t0:.1f} s"
    )

    t1 = time.perf_counter()
    async with await EdgeRuntime.open(db_path) as rt:
        with console.status("ingesting into the device database"):
            report = await rt.ingest(batch)
        console.print(
            f"[green]✓[/] ingested {report.records} records into {db_path} "
            f"in {time.perf_counter() - t1:.1f} s (one transaction, outbox included)"
        )
        counts = await rt.counts()
        languages = await rt.languages()

    table = Table("what", "count", title=f"device {db_path.name}")
    table.add_row("leads", str(counts.leads))
    table.add_row("events", str(counts.events))
    table.add_row("listings", str(counts.listings))
    table.add_row(
        "languages",
        f"{len(languages)}: " + ", ".join(f"{k} {v}" for k, v in list(languages.items())[:16]),
    )
    table.add_row("pending outbox", str(counts.outbox_pending))
    console.print(table)
    return {"counts": counts, "languages": languages}
