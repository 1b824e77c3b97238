"""Leads from a CRM's CSV export into a team's partition on the server.

Every row is read and checked first; one bad value anywhere refuses the whole file, with the
line and column of every error (:class:`CsvImportError`), and nothing is written. A good file
is written in one transaction through :class:`~server.integrations.writer.PartitionWriter`, so
every device of the team receives the leads at its next sync. A dry run does all of that and
rolls back, reporting what would change.

Columns come from a layout (:data:`LAYOUTS`: HighLevel's export, Follow Up Boss's export, a
generic one) and an optional mapping file that overrides it::

    {"columns": {"email": "E-mail Address"}, "agents": {"Jane Smith": "agent-02"}}

Phone numbers are stored in E.164 (read in ``region`` when they have no ``+``), e-mail
addresses are checked (syntax only), times are ISO 8601, US dates (``05/01/2026``) or epoch
milliseconds. Consent is set only where the file says so (a ``consent_<channel>`` column of
yes/no, or HighLevel's ``DND`` refusing every channel): never assumed. Notes become one
``voice_note`` event of the lead (an agent's note, as dictated on the phone); tags are read and
reported but not stored (no record holds them).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

import msgspec

from server.errors import InvalidRequestError
from server.integrations.fields import email_address, epoch_ms, phone_e164, record_id
from server.integrations.writer import Current, Op, PartitionWriter, Upsert
from server.service import SyncService
from sync.records import OUTREACH_CHANNELS, EventType

SOURCE = "csv-import"
#: Our fields a layout maps columns to.
FIELDS = (
    "id",
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "language",
    "source",
    "tags",
    "budget",
    "notes",
    "created",
    "agent",
    "dnd",
    *(f"consent_{c.value}" for c in OUTREACH_CHANNELS),
)

#: Built-in layouts: our field -> the export's column (first of the candidates present).
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "generic": {f: (f,) for f in FIELDS},
    "highlevel": {
        "id": ("Contact Id", "Contact ID"),
        "name": ("Name", "Full Name"),
        "first_name": ("First Name",),
        "last_name": ("Last Name",),
        "email": ("Email",),
        "phone": ("Phone",),
        "language": ("Language",),
        "source": ("Source", "Contact Source"),
        "tags": ("Tags",),
        "budget": ("Budget",),
        "notes": ("Notes",),
        "created": ("Created", "Date Created"),
        "agent": ("Assigned To", "Assigned User"),
        "dnd": ("DND",),
    },
    "followupboss": {
        "id": ("ID", "Id"),
        "first_name": ("First Name",),
        "last_name": ("Last Name",),
        "email": ("Email 1", "Email"),
        "phone": ("Phone 1", "Phone"),
        "language": ("Language",),
        "source": ("Lead Source", "Source"),
        "tags": ("Tags",),
        "budget": ("Price", "Budget"),
        "notes": ("Background", "Notes"),
        "created": ("Created",),
        "agent": ("Assigned To",),
    },
}
#: Lead id prefixes of the layouts' own ids: a HighLevel contact is ``hl-<id>``, the same lead
#: its webhooks update.
_ID_PREFIX = {"highlevel": "hl", "followupboss": "fub", "generic": "csv"}
_LANGUAGES = {
    "english": "en",
    "spanish": "es",
    "español": "es",
    "french": "fr",
    "portuguese": "pt",
    "chinese": "zh",
    "mandarin": "zh",
    "vietnamese": "vi",
    "korean": "ko",
    "german": "de",
    "italian": "it",
    "russian": "ru",
    "arabic": "ar",
    "hindi": "hi",
    "tagalog": "tl",
}
_YES = {"yes", "y", "true", "1", "granted", "opt-in", "opted in"}
_NO = {"no", "n", "false", "0", "refused", "revoked", "opt-out", "opted out"}
_US_DATE = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y")


class CsvImportError(InvalidRequestError):
    """A file that cannot be imported; ``errors`` lists every bad value with its place."""

    def __init__(self, errors: Sequence[RowError]):
        self.errors = list(errors)
        shown = "\n".join(str(e) for e in self.errors[:200])
        more = f"\n... and {len(self.errors) - 200} more" if len(self.errors) > 200 else ""
        first = self.errors[0] if self.errors else None
        super().__init__(
            f"{len(self.errors)} error(s), nothing imported:\n{shown}{more}",
            path=f"line {first.line}, column {first.column}" if first else None,
        )


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    """One bad value: its line in the file (1 = the header), its column, what is wrong."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column!r}: {self.message}"


class ColumnMapping(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A mapping file: columns (our field -> the file's column) and agents (value -> id)."""

    columns: dict[str, str] = {}
    agents: dict[str, str] = {}


class LeadRow(msgspec.Struct, frozen=True, kw_only=True):
    """One checked row: the lead's fields and what goes with it."""

    line: int
    lead_id: str
    fields: dict[str, Any]
    consent: dict[str, bool]
    notes: str = ""
    tags: list[str] = []


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    """What an import did (or, in a dry run, would do) to the team's partition."""

    team: str
    dry_run: bool
    rows: int
    created: list[str] = []
    updated: dict[str, list[str]] = {}
    unchanged: list[str] = []
    notes: int = 0
    changes: int = 0

    def lines(self) -> list[str]:
        verb = "would " if self.dry_run else ""
        out = [
            f"{self.rows} row(s) for team {self.team}: {verb}create {len(self.created)}, "
            f"{verb}update {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"notes {self.notes}, changes {self.changes}"
        ]
        out += [f"  {verb}create {lead}" for lead in self.created]
        out += [f"  {verb}update {lead}: {', '.join(f)}" for lead, f in self.updated.items()]
        return out


def load_mapping(path: Path) -> ColumnMapping:
    """A mapping file (JSON), refused naming the bad key."""
    try:
        mapping = msgspec.json.decode(path.read_bytes(), type=ColumnMapping)
    except msgspec.MsgspecError as exc:
        raise InvalidRequestError(f"mapping file {path}: {exc}", path="mapping") from None
    unknown = sorted(set(mapping.columns) - set(FIELDS))
    if unknown:
        raise InvalidRequestError(
            f"mapping file {path}: unknown field(s) {', '.join(unknown)}; the fields are "
            f"{', '.join(FIELDS)}",
            path=f"mapping.columns.{unknown[0]}",
        )
    return mapping


def _columns(header: Sequence[str], layout: str, mapping: ColumnMapping) -> dict[str, str]:
    """Our field -> the header's column, for the fields the file has."""
    if layout not in LAYOUTS:
        raise InvalidRequestError(
            f"layout {layout!r} is not one of {', '.join(LAYOUTS)}", path="layout"
        )
    present = {h.strip().lower(): h for h in header}
    found: dict[str, str] = {}
    for ours, candidates in LAYOUTS[layout].items():
        for column in candidates:
            if column.lower() in present:
                found[ours] = present[column.lower()]
                break
    for ours, column in mapping.columns.items():
        if column.strip().lower() not in present:
            raise CsvImportError(
                [RowError(line=1, column=column, message=f"mapped to {ours} but not in the header")]
            )
        found[ours] = present[column.strip().lower()]
    return found


def _budget(raw: str) -> tuple[float | None, float | None]:
    def amount(text: str) -> float:
        t = text.strip().lower().replace(",", "").replace("$", "").replace(" ", "")
        scale = 1.0
        if t.endswith("k"):
            t, scale = t[:-1], 1e3
        elif t.endswith("m"):
            t, scale = t[:-1], 1e6
        value = float(t) * scale
        if not 0 <= value <= 1e11:
            raise ValueError(text)
        return value

    parts = re.split(r"\s*(?:-|–|to)\s*", raw.strip())
    try:
        values = [amount(p) for p in parts if p]
    except ValueError:
        raise ValueError(
            f"{raw!r} is not an amount or a range (450000, $450k, 400k-500k)"
        ) from None
    if len(values) == 1:
        return None, values[0]
    if len(values) == 2 and values[0] <= values[1]:
        return values[0], values[1]
    raise ValueError(f"{raw!r} is not an amount or a range (450000, $450k, 400k-500k)")


def _created(raw: str) -> int:
    text = raw.strip()
    try:
        return epoch_ms(text)
    except ValueError:
        for fmt in _US_DATE:
            try:
                return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp() * 1000)
            except ValueError:
                continue
        raise


def _language(raw: str) -> str:
    text = raw.strip().lower()
    code = _LANGUAGES.get(text, text.split("-")[0].split("_")[0])
    if not re.fullmatch(r"[a-z]{2,3}", code):
        raise ValueError(f"{raw!r} is not a language (an ISO 639-1 code such as es)")
    return code


def _yes_no(raw: str) -> bool | None:
    text = raw.strip().lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"{raw!r} is not yes or no")


def read_rows(
    text: str,
    *,
    team: str,
    layout: str = "generic",
    mapping: ColumnMapping | None = None,
    agent: str | None = None,
    region: str = "US",
) -> list[LeadRow]:
    """Every row of a CSV text, checked; :class:`CsvImportError` lists every bad value."""
    mapping = mapping or ColumnMapping()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvImportError([RowError(line=1, column="", message="the file is empty")]) from None
    columns = _columns(header, layout, mapping)
    errors: list[RowError] = []
    if not ({"name", "first_name", "last_name", "email", "phone"} & set(columns)):
        errors.append(
            RowError(line=1, column="", message="no name, e-mail or phone column in the header")
        )
    index = {h: i for i, h in enumerate(header)}
    rows: list[LeadRow] = []
    seen: dict[str, int] = {}
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(line=start, column="", message=f"not CSV: {exc}"))
            break
        if not any(c.strip() for c in cells):
            continue
        line = start

        def cell(ours: str, cells: list[str] = cells) -> str:
            column = columns.get(ours)
            if column is None:
                return ""
            i = index[column]
            return cells[i].strip() if i < len(cells) else ""

        def bad(ours: str, message: str, line: int = line) -> None:
            errors.append(RowError(line=line, column=columns.get(ours, ours), message=message))

        fields: dict[str, Any] = {"team_id": team}
        name = cell("name") or " ".join(x for x in (cell("first_name"), cell("last_name")) if x)
        if cell("email"):
            try:
                fields["email"] = email_address(cell("email"))
            except ValueError as exc:
                bad("email", str(exc))
        if cell("phone"):
            try:
                fields["phone"] = phone_e164(cell("phone"), region)
            except ValueError as exc:
                bad("phone", str(exc))
        name = name or fields.get("email", "") or fields.get("phone", "")
        if not name:
            bad("name", "no name, e-mail or phone: a lead needs one")
        fields["name"] = name[:200]
        if len(name) > 200:
            bad("name", f"{len(name)} characters; at most 200")
        if cell("language"):
            try:
                fields["language"] = _language(cell("language"))
            except ValueError as exc:
                bad("language", str(exc))
        if cell("source"):
            fields["source"] = cell("source")[:200]
        if cell("budget"):
            try:
                low, high = _budget(cell("budget"))
                if low is not None:
                    fields["budget_min"] = low
                fields["budget_max"] = high
            except ValueError as exc:
                bad("budget", str(exc))
        if cell("created"):
            try:
                fields["created_at"] = _created(cell("created"))
            except ValueError as exc:
                bad("created", str(exc))
        raw_agent = cell("agent")
        chosen = mapping.agents.get(raw_agent) if raw_agent else None
        if chosen is None and raw_agent and re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", raw_agent):
            chosen = raw_agent if layout == "generic" else None
        chosen = chosen or agent
        if chosen is None:
            bad("agent", f"no agent for {raw_agent or 'this row'}: give --agent or map it")
        else:
            fields["agent_id"] = chosen
        consent: dict[str, bool] = {}
        try:
            if _yes_no(cell("dnd")):
                consent = {c.value: False for c in OUTREACH_CHANNELS}
        except ValueError as exc:
            bad("dnd", str(exc))
        for channel in OUTREACH_CHANNELS:
            try:
                said = _yes_no(cell(f"consent_{channel.value}"))
            except ValueError as exc:
                bad(f"consent_{channel.value}", str(exc))
                continue
            if said is not None:
                consent[channel.value] = said
        external = cell("id")
        if external:
            lead = record_id(_ID_PREFIX[layout], external)
        else:
            key = fields.get("email") or fields.get("phone") or f"{name}|{cell('created')}"
            lead = "csv-" + hashlib.sha256(f"{team}|{key}".lower().encode()).hexdigest()[:24]
        if lead in seen:
            bad("id", f"the same lead as line {seen[lead]} ({lead})")
        seen[lead] = line
        tags = [t.strip() for t in re.split(r"[,;|]", cell("tags")) if t.strip()]
        rows.append(
            LeadRow(
                line=line,
                lead_id=lead,
                fields=fields,
                consent=consent,
                notes=cell("notes"),
                tags=tags,
            )
        )
    if errors:
        raise CsvImportError(errors)
    return rows


class _Plan:
    """The ops of checked rows against what the team has (pure)."""

    def __init__(self, rows: Sequence[LeadRow], now_ms: int):
        self.rows = rows
        self.now_ms = now_ms
        self.created: list[str] = []
        self.updated: dict[str, list[str]] = {}
        self.unchanged: list[str] = []
        self.notes = 0

    def __call__(self, current: Current) -> list[Op]:
        self.created, self.updated, self.unchanged, self.notes = [], {}, [], 0
        ops: list[Op] = []
        for row in self.rows:
            existing = current.get(("lead", row.lead_id))
            fields = dict(row.fields)
            if existing is None:
                fields.setdefault("created_at", self.now_ms)
                if row.consent:
                    fields["consent"] = row.consent
            else:
                if "agent_id" in fields and existing.get("agent_id"):
                    fields.pop("agent_id")  # an assignment made here stays
                if row.consent:
                    fields["consent"] = {**(existing.get("consent") or {}), **row.consent}
            changed = {k: v for k, v in fields.items() if (existing or {}).get(k) != v}
            if existing is None:
                self.created.append(row.lead_id)
            elif changed:
                self.updated[row.lead_id] = sorted(changed)
            else:
                self.unchanged.append(row.lead_id)
            if changed:
                ops.append(Upsert(entity="lead", entity_id=row.lead_id, fields=changed))
            if row.notes:
                note_id = record_id(
                    "note", hashlib.sha256(f"{row.lead_id}|{row.notes}".encode()).hexdigest()[:32]
                )
                if ("event", note_id) not in current:
                    self.notes += 1
                    ts = fields.get("created_at") or (existing or {}).get("created_at")
                    ops.append(
                        Upsert(
                            entity="event",
                            entity_id=note_id,
                            fields={
                                "lead_id": row.lead_id,
                                "type": EventType.VOICE_NOTE.value,
                                "ts": ts or self.now_ms,
                                "text": row.notes[:20_000],
                            },
                        )
                    )
        return ops

    def keys(self) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for row in self.rows:
            keys.append(("lead", row.lead_id))
            if row.notes:
                note_id = record_id(
                    "note", hashlib.sha256(f"{row.lead_id}|{row.notes}".encode()).hexdigest()[:32]
                )
                keys.append(("event", note_id))
        return keys


async def import_leads(
    sync: SyncService,
    text: str,
    *,
    team: str,
    layout: str = "generic",
    mapping: ColumnMapping | None = None,
    agent: str | None = None,
    region: str = "US",
    dry_run: bool = False,
) -> ImportReport:
    """Check every row of ``text`` (CSV), then write the leads into ``team``'s partition."""
    now = sync.config.clock()
    rows = read_rows(text, team=team, layout=layout, mapping=mapping, agent=agent, region=region)
    plan = _Plan(rows, now)
    writer = PartitionWriter(sync, SOURCE)
    written = await writer.write(team, plan.keys(), plan, dry_run=dry_run)
    return ImportReport(
        team=team,
        dry_run=dry_run,
        rows=len(rows),
        created=plan.created,
        updated=plan.updated,
        unchanged=plan.unchanged,
        notes=plan.notes,
        changes=written.changes,
    )


class ImportSettings(TypedDict, total=False):
    """:func:`import_leads`' keyword settings, as :func:`import_file` passes them on."""

    team: Required[str]
    layout: str
    agent: str | None
    region: str
    dry_run: bool


async def import_file(
    database_url: str,
    path: Path,
    *,
    mapping_path: Path | None = None,
    options: Mapping[str, Any] | None = None,
    **settings: Unpack[ImportSettings],
) -> ImportReport:
    """:func:`import_leads` of a file into the server database at ``database_url``."""
    from server.config import ServerConfig
    from server.storage import open_store

    mapping = load_mapping(mapping_path) if mapping_path else None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"{path} is not UTF-8 text: {exc}", path="file") from None
    config = ServerConfig(database_url=database_url, **dict(options or {}))
    async with open_store(database_url, pool_size=1) as store:
        sync = SyncService(store, config)
        return await import_leads(sync, text, mapping=mapping, **settings)
