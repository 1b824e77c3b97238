"""CSV exports into a team's partition: all rows or none, then on every phone at its next sync."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.runtime import EdgeRuntime
from server.config import ServerConfig
from server.integrations.csv_import import (
    ColumnMapping,
    CsvImportError,
    import_leads,
    load_mapping,
    read_rows,
)
from server.service import SyncService
from server.storage import open_store
from tests.factories import NOW_MS
from tests.live_server import run_server

DATA = Path(__file__).resolve().parents[2] / "data" / "crm"
CLI = str(Path(sys.executable).with_name("realty-edge"))
JANE = load_mapping(DATA / "mapping.json")


def clock() -> int:
    return NOW_MS


def text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


@pytest.fixture
async def sync(tmp_path):
    async with open_store(str(tmp_path / "server.db")) as store:
        yield SyncService(
            store, ServerConfig(database_url=str(tmp_path / "server.db"), clock=clock)
        )


def test_each_layout_reads_its_columns_normalized():
    hl = read_rows(text("highlevel_good.csv"), team="team-a", layout="highlevel", mapping=JANE)
    assert [r.lead_id for r in hl] == ["hl-nmFmQEsNgz6AVpgLVUJ0", "hl-cI08i1Bls3iTB9bKgFJh"]
    assert hl[0].fields["phone"] == "+14155552671"
    assert hl[1].fields["phone"] == "+525512345678"
    assert hl[0].fields["agent_id"] == "agent-02"
    assert hl[0].consent == {}  # nothing said: nothing assumed
    assert set(hl[1].consent.values()) == {False}  # DND refuses every channel
    assert hl[1].fields["created_at"] == 1646127000000
    fub = read_rows(
        text("followupboss_good.csv"),
        team="team-a",
        layout="followupboss",
        mapping=JANE,
        agent="agent-01",
    )
    assert [r.lead_id for r in fub] == ["fub-1201", "fub-1202"]
    assert (fub[0].fields["budget_min"], fub[0].fields["budget_max"]) == (400000.0, 500000.0)
    assert fub[1].fields["budget_max"] == 1200000.0 and fub[1].fields["agent_id"] == "agent-01"
    assert fub[0].fields["created_at"] == 1777593600000  # 05/01/2026, a US date
    assert fub[0].notes.startswith("Wants a yard")
    generic = read_rows(text("generic_good.csv"), team="team-a", agent="agent-03")
    assert [r.fields["language"] for r in generic] == ["es", "vi", "en"]
    assert generic[0].consent == {"sms": True, "email": False}
    assert generic[1].consent == {"email": True}
    assert generic[2].consent == {} and generic[2].fields["agent_id"] == "agent-03"
    assert generic[2].fields["phone"] == "+12125550143"


@pytest.mark.parametrize(
    ("name", "layout", "expected"),
    [
        (
            "highlevel_bad.csv",
            "highlevel",
            [(3, "Phone"), (3, "Email"), (3, "Created"), (3, "DND")],
        ),
        (
            "followupboss_bad.csv",
            "followupboss",
            [(3, "Email 1"), (3, "Price"), (3, "Created"), (3, "Assigned To"), (4, "ID")],
        ),
        (
            "generic_bad.csv",
            "generic",
            [(4, "language"), (4, "agent"), (4, "consent_sms"), (5, "phone"), (5, "budget")],
        ),
    ],
)
async def test_a_bad_file_lists_every_error_by_line_and_column_and_writes_nothing(
    sync, name, layout, expected
):
    with pytest.raises(CsvImportError) as refused:
        await import_leads(sync, text(name), team="team-a", layout=layout, mapping=JANE)
    assert sorted((e.line, e.column) for e in refused.value.errors) == sorted(expected)
    assert "nothing imported" in str(refused.value)
    assert await sync.store.last_seq("team-a") == 0


async def test_a_dry_run_reports_and_writes_nothing_and_a_reimport_changes_nothing(sync):
    file = text("generic_good.csv")
    dry = await import_leads(sync, file, team="team-a", agent="agent-03", dry_run=True)
    assert (dry.rows, len(dry.created), dry.notes, dry.changes) == (3, 3, 1, 4)
    assert dry.lines()[0].startswith("3 row(s) for team team-a: would create 3")
    assert await sync.store.last_seq("team-a") == 0
    done = await import_leads(sync, file, team="team-a", agent="agent-03")
    assert (len(done.created), done.changes) == (3, 4)
    assert await sync.store.last_seq("team-a") == 4
    again = await import_leads(sync, file, team="team-a", agent="agent-03")
    assert (len(again.unchanged), again.changes) == (3, 0)
    edited = file.replace("Idealista", "Fotocasa")
    update = await import_leads(sync, edited, team="team-a", agent="agent-03", dry_run=True)
    assert list(update.updated.values()) == [["source"]]


def test_a_mapping_file_names_columns_and_refuses_what_is_not_there(tmp_path):
    csv_text = "Full Name,E-mail Address\nAna Silva,ana@example.com\n"
    mapping = ColumnMapping(columns={"name": "Full Name", "email": "E-mail Address"})
    rows = read_rows(csv_text, team="t", mapping=mapping, agent="agent-01")
    assert rows[0].fields["email"] == "ana@example.com"
    with pytest.raises(CsvImportError) as refused:
        read_rows(csv_text, team="t", mapping=ColumnMapping(columns={"email": "Mail"}))
    assert (refused.value.errors[0].line, refused.value.errors[0].column) == (1, "Mail")
    bad = tmp_path / "mapping.json"
    bad.write_text('{"columns": {"shoe_size": "Shoe"}}')
    with pytest.raises(Exception, match="shoe_size"):
        load_mapping(bad)


def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


async def test_imported_leads_reach_a_phone_at_its_next_sync_scored(tmp_path):
    db = tmp_path / "server.db"

    def import_leads(name: str, *extra: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        mapping = str(DATA / "mapping.json")
        options = ["--team", "team-a", "--layout", "highlevel", "--mapping", mapping, "--db"]
        return cli("server", "import-leads", str(DATA / name), *options, str(db), *extra, ok=ok)

    bad = import_leads("highlevel_bad.csv", ok=False)
    assert bad.returncode == 1
    assert "line 3, column 'Phone'" in bad.stderr and "Traceback" not in bad.stderr
    dry = import_leads("highlevel_good.csv", "--dry-run")
    assert "would create 2" in dry.stdout
    done = import_leads("highlevel_good.csv")
    assert "create 2" in done.stdout and "would" not in done.stdout
    with run_server(db, clock=clock) as server:
        phone = await EdgeRuntime.open(tmp_path / "phone.db", clock=clock)
        try:
            assert (await phone.sync(server.url, server.token(agent="agent-02"))).status == "ok"
            leads = {x.id: x for x in await phone.lead_list(scores=True)}
            assert set(leads) == {"hl-nmFmQEsNgz6AVpgLVUJ0", "hl-cI08i1Bls3iTB9bKgFJh"}
            assert all(x.p_convert is not None and 0 <= x.p_convert <= 1 for x in leads.values())
            maria = {x.id: x for x in await phone.leads()}["hl-cI08i1Bls3iTB9bKgFJh"]
            assert maria.consent.sms is False and maria.phone == "+525512345678"
        finally:
            await phone.close()
