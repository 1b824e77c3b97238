"""The privacy export: every record of a lead in one typed JSON document, only in its team."""

from __future__ import annotations

import httpx
import msgspec

from edge.runtime import EdgeRuntime
from server.advanced_types import LeadExport
from sync.codec import Format, encode_batch
from sync.records import Channel, Consent, Event, EventType
from tests.factories import HOUR_MS, NOW_MS, agent, lead, listing

A = "/api/v1/advanced"
LEAD = "lead-000001"


def world() -> list:
    records: list = [agent(1), listing(1), listing(2), lead(1), lead(2)]
    kinds = [
        (EventType.PROPERTY_VIEW, None, None),
        (EventType.PROPERTY_SAVE, None, None),
        (EventType.MESSAGE_IN, Channel.SMS, "¿Sigue disponible la casa del jardín?"),
        (EventType.MESSAGE_OUT, Channel.SMS, "Sí, ¿quiere verla el sábado?"),
        (EventType.VOICE_NOTE, None, "Quiere tres recámaras cerca de la escuela"),
    ]
    for i, (kind, channel, text) in enumerate(kinds):
        records.append(
            Event(
                id=f"ev-{i}",
                lead_id=LEAD,
                type=kind,
                ts=NOW_MS - (10 - i) * HOUR_MS,
                channel=channel,
                text=text,
                listing_id="lst-000001",
                language="es",
            )
        )
    return records


async def test_the_export_holds_every_kind_of_record_of_the_lead(tmp_path, server):
    token = server.token(role="team_admin")  # export needs a team admin
    a = await EdgeRuntime.open(tmp_path / "a.db")
    b = await EdgeRuntime.open(tmp_path / "b.db")
    try:
        await a.ingest(encode_batch(world(), Format.MSGPACK))
        assert (await a.sync(server.url, token)).status == "ok"
        assert (await b.sync(server.url, token)).status == "ok"
        await a.update("lead", LEAD, phone="+52 55 0000 0001")  # offline on both: a conflict
        await b.update("lead", LEAD, phone="+52 55 0000 0002")
        await b.update("lead", LEAD, consent=Consent(sms=False, email=True))  # a revocation
        await b.plan_interventions(LEAD)  # profile, plan and steps
        for rt in (a, b, a):
            assert (await rt.sync(server.url, token)).status == "ok"
        async with httpx.AsyncClient(
            base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            answer = await http.get(f"{A}/privacy/leads/{LEAD}/export")
            assert answer.status_code == 200, answer.text
            export = msgspec.json.decode(answer.content, type=LeadExport)  # typed, field by field
            body = answer.json()
            missing = await http.get(f"{A}/privacy/leads/lead-nobody/export")
        assert export.lead is not None and export.lead.id == LEAD
        assert export.lead.consent == Consent(sms=False, email=True)
        assert {e.type for e in export.events} == {e.type for e in world()[5:]}
        assert [e.text for e in export.messages] == [
            "¿Sigue disponible la casa del jardín?",
            "Sí, ¿quiere verla el sábado?",
        ]
        assert export.profile is not None and export.profile.lead_id == LEAD
        assert export.plans and all(p.lead_id == LEAD for p in export.plans)
        assert export.steps and {s.plan_id for s in export.steps} <= {p.id for p in export.plans}
        assert [c.consent for c in export.consent_history][-1] == Consent(sms=False, email=True)
        assert len(export.consent_history) == 2  # as created, then the revocation
        assert "phone" in {c.conflict.field for c in export.conflicts}
        assert {r["entity"] for r in export.records} == {
            "lead",
            "event",
            "profile",
            "intervention_plan",
            "intervention_step",
        }
        assert export.changes
        assert "lead-000002" not in answer.text  # another lead's records are not in it
        assert set(body) == set(LeadExport.__struct_fields__)
        assert missing.status_code == 404 and missing.json()["path"] == "path.lead_id"
    finally:
        await a.close()
        await b.close()


async def test_another_teams_lead_is_not_found(tmp_path, server):
    phone = await EdgeRuntime.open(tmp_path / "a.db")
    try:
        await phone.ingest(encode_batch(world(), Format.MSGPACK))
        assert (await phone.sync(server.url, server.token())).status == "ok"
        foreign = server.token(agent="agent-09", team="team-b", role="team_admin")
        async with httpx.AsyncClient(
            base_url=server.url, headers={"authorization": f"Bearer {foreign}"}, timeout=60
        ) as http:
            answer = await http.get(f"{A}/privacy/leads/{LEAD}/export")
        assert answer.status_code == 404
        assert answer.json()["path"] == "path.lead_id"
        assert "Lead 1" not in answer.text and "lead1@example.com" not in answer.text
    finally:
        await phone.close()
