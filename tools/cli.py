"""``realty-edge``: the command line. Each command opens a library object and calls one method."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from edge.errors import EdgeError
from models.errors import ModelError
from sync.codec import Format
from sync.errors import SyncError

app = typer.Typer(
    name="realty-edge",
    help="Offline-first lead intelligence for real-estate agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
device_app = typer.Typer(help="The device database: init, ingest, show.", no_args_is_help=True)
app.add_typer(device_app, name="device")

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def cli_errors(fn: F) -> F:
    """Turn library errors into a one-line message and exit code 1 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (EdgeError, ModelError, SyncError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        except FileNotFoundError as exc:
            err_console.print(f"[bold red]error:[/] no such file: {exc.filename}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    sys.stdout.write(msgspec.json.encode(obj).decode() + "\n")


@app.command()
@cli_errors
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its databases.")] = Path(
        ".demo"
    ),
    leads: Annotated[int, typer.Option(min=1, help="Leads per agent's device.")] = 300,
    listings: Annotated[int, typer.Option(min=1)] = 3000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Run the product end to end on embedded defaults."""
    from tools.demo import run_demo

    asyncio.run(run_demo(workdir, leads=leads, listings=listings, seed=seed, console=console))


@app.command()
@cli_errors
def generate(
    out: Annotated[Path, typer.Option("--out", help="Batch file to write (.jsonl or .msgpack).")],
    agents: Annotated[int, typer.Option(min=1)] = 2,
    leads: Annotated[int, typer.Option(min=1)] = 200,
    listings: Annotated[int, typer.Option(min=1)] = 2000,
    seed: Annotated[int, typer.Option()] = 0,
    fmt: Annotated[
        Format | None, typer.Option("--format", help="Default: from the file's extension.")
    ] = None,
) -> None:
    """Write a seeded synthetic world (agents, listings, leads, events) as an ingestible batch."""
    from models.synthetic import generate_world, write_world

    fmt = fmt or (Format.MSGPACK if out.suffix in (".msgpack", ".mpk") else Format.JSON)
    with console.status("generating world"):
        world = generate_world(agents=agents, leads=leads, listings=listings, seed=seed)
        write_world(world, out, fmt)
    console.print(
        f"wrote {out}: {len(world.agents)} agents, {len(world.leads)} leads, "
        f"{len(world.listings)} listings, {len(world.events)} events"
    )


@device_app.command("init")
@cli_errors
def device_init(path: Path) -> None:
    """Create (or migrate) a device database."""
    from edge.runtime import EdgeRuntime

    async def run() -> str:
        async with await EdgeRuntime.open(path) as rt:
            return rt.device_id

    console.print(f"device {asyncio.run(run())} ready at {path}")


@device_app.command("ingest")
@cli_errors
def device_ingest(path: Path, file: Path) -> None:
    """Validate a batch file and write all of it, or nothing."""
    from edge.runtime import EdgeRuntime

    data = file.read_bytes()

    async def run():
        async with await EdgeRuntime.open(path, create=False) as rt:
            return await rt.ingest(data)

    report = asyncio.run(run())
    kinds = ", ".join(f"{n} {k}s" for k, n in sorted(report.by_kind.items()))
    console.print(f"ingested {report.records} records ({kinds}) into {path}")


@device_app.command("show")
@cli_errors
def device_show(
    path: Path,
    lead_id: Annotated[str | None, typer.Argument()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    events: Annotated[int, typer.Option(min=1, help="Recent events to show.")] = 20,
) -> None:
    """Counts of what the device holds, or one lead with its recent events."""
    from edge.runtime import EdgeRuntime

    async def run():
        async with await EdgeRuntime.open(path, create=False) as rt:
            if lead_id is None:
                return await rt.counts()
            return await rt.lead_detail(lead_id, events)

    result = asyncio.run(run())
    if as_json:
        print_json(result)
        return
    if lead_id is None:
        table = Table("what", "count", title=str(path))
        for name, value in msgspec.structs.asdict(result).items():
            table.add_row(name.replace("_", " "), str(value))
        console.print(table)
        return
    lead = result.lead
    console.print(
        f"[bold]{lead.name}[/] ({lead.id}) · {lead.language} · {lead.locale} · {lead.timezone} "
        f"· {lead.status}"
    )
    zone = ZoneInfo(lead.timezone)
    table = Table("local time", "type", "channel", "listing", "text", title="recent events")
    for ev in result.recent_events:
        when = datetime.fromtimestamp(ev.ts / 1000, zone).strftime("%Y-%m-%d %H:%M")
        table.add_row(when, ev.type, ev.channel or "", ev.listing_id or "", (ev.text or "")[:60])
    console.print(table)


def main() -> None:  # pragma: no cover - console script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
