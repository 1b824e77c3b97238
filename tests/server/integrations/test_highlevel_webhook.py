"""HighLevel's webhooks into a team's partition, on a real server, read back by a real phone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.runtime import EdgeRuntime
from server.config import ServerConfigError, config_from_env
from sync.records import OUTREACH_CHANNELS, Consent
from tests.live_server import ENGINES
from tests.server.integrations.conftest import (
    appointment,
    clock,
    contact_create,
    deliver,
    dnd_update,
    message,
    opportunity,
    public_pem,
    sign,
)

LEAD = "hl-nmFmQEsNgz6AVpgLVUJ0"


def record(server, entity: str, entity_id: str) -> dict:
    answer = httpx.get(
        f"{server.url}/api/v1/sync/records/{entity}/{entity_id}",
        headers={"authorization": f"Bearer {server.token()}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def log_position(server) -> int:
    answer = httpx.get(
        f"{server.url}/api/v1/sync/pull",
        params={"after": 0, "limit": 5000},
        headers={"authorization": f"Bearer {server.token()}"},
        timeout=30,
    )
    return answer.json()["checkpoint"]


async def test_a_contact_reaches_the_phone_with_its_agent_and_an_e164_phone(
    hl_server, signing_key, tmp_path
):
    answer = deliver(hl_server.url, contact_create(), signing_key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "applied"
    assert answer.json()["lead_id"] == LEAD
    phone = await EdgeRuntime.open(tmp_path / "phone.db", clock=clock)
    try:
        assert (await phone.sync(hl_server.url, hl_server.token())).status == "ok"
        lead = {x.id: x for x in await phone.leads()}[LEAD]
        assert (lead.name, lead.agent_id, lead.team_id) == ("John Deo", "agent-02", "team-a")
        assert (lead.phone, lead.email) == ("+14155552671", "JohnDeo@gmail.com")
        assert lead.consent.sms is None  # no DND is not consent: never assumed
        assert lead.created_at == 1637930462193
    finally:
        await phone.close()


@pytest.mark.parametrize(
    "signature",
    [None, "", "not base64!", "AAAA", "sign-with-another-key", "sign-another-body"],
)
def test_unsigned_or_badly_signed_deliveries_are_refused_and_write_nothing(
    hl_server, signing_key, signature
):
    payload = contact_create()
    if signature == "sign-with-another-key":
        signature = sign(Ed25519PrivateKey.generate(), msgspec.json.encode(payload))
    elif signature == "sign-another-body":
        signature = sign(signing_key, b'{"type":"ContactCreate"}')
    before = log_position(hl_server)
    answer = deliver(hl_server.url, payload, None, signature=signature)
    assert answer.status_code == 401, answer.text
    assert answer.json()["path"] == "header.x-ghl-signature"
    assert log_position(hl_server) == before
    # the same payload, signed, is taken: the refusal was the signature's doing
    assert deliver(hl_server.url, payload, signing_key).status_code == 200


@pytest.mark.parametrize("server_engine", ENGINES)
def test_a_redelivery_changes_nothing(hl_server, signing_key):
    first = deliver(hl_server.url, contact_create(), signing_key)
    assert first.json()["changes"] >= 1
    position = log_position(hl_server)
    again = deliver(hl_server.url, contact_create(name="Renamed In Between"), signing_key)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate" and again.json()["changes"] == 0
    assert log_position(hl_server) == position
    assert record(hl_server, "lead", LEAD)["fields"]["name"] == "John Deo"
    # without a webhookId, the body itself is the delivery: byte-identical is a duplicate
    body = message(webhook_id="")
    body.pop("webhookId")
    assert deliver(hl_server.url, body, signing_key).json()["status"] == "applied"
    assert deliver(hl_server.url, body, signing_key).json()["status"] == "duplicate"


@pytest.mark.parametrize("server_engine", ENGINES)
def test_one_delivery_posted_many_times_at_once_is_applied_once(hl_server, signing_key):
    payload = contact_create("wh-race")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: deliver(hl_server.url, payload, signing_key), range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["status"] for a in answers) == ["applied"] + ["duplicate"] * 7


async def test_a_dnd_opt_out_revokes_consent_on_that_channel_only(hl_server, signing_key, tmp_path):
    deliver(hl_server.url, contact_create(), signing_key)
    phone = await EdgeRuntime.open(tmp_path / "phone.db", clock=clock)
    try:
        assert (await phone.sync(hl_server.url, hl_server.token())).status == "ok"
        lead = {x.id: x for x in await phone.leads()}[LEAD]
        granted = Consent(sms=True, email=True)  # as the lead said on the phone
        await phone.put([msgspec.structs.replace(lead, consent=granted)])
        assert (await phone.sync(hl_server.url, hl_server.token())).status == "ok"
        answer = deliver(hl_server.url, dnd_update(), signing_key)
        assert answer.status_code == 200, answer.text
        assert (await phone.sync(hl_server.url, hl_server.token())).status == "ok"
        lead = {x.id: x for x in await phone.leads()}[LEAD]
        assert (lead.consent.sms, lead.consent.email) == (False, True)
        detail = await phone.lead_detail(LEAD)
        assert [(e.type, e.channel) for e in detail.recent_events] == [("opt_out", "sms")]
        # global dnd refuses every channel
        deliver(hl_server.url, dnd_update(webhook_id="wh-dnd-2", dnd=True), signing_key)
        assert (await phone.sync(hl_server.url, hl_server.token())).status == "ok"
        lead = {x.id: x for x in await phone.leads()}[LEAD]
        assert not any(lead.consent.allows(c) for c in OUTREACH_CHANNELS)
    finally:
        await phone.close()


def test_messages_on_each_channel_become_events(hl_server, signing_key):
    cases = [
        ("InboundMessage", "SMS", "message_in", "sms"),
        ("OutboundMessage", "Email", "message_out", "email"),
        ("InboundMessage", "WhatsApp", "message_in", "whatsapp"),
    ]
    for i, (kind, channel, ours, our_channel) in enumerate(cases):
        payload = message(kind, webhook_id=f"wh-m{i}", messageType=channel, messageId=f"m{i}")
        answer = deliver(hl_server.url, payload, signing_key)
        assert answer.status_code == 200, answer.text
        fields = record(hl_server, "event", f"hl-msg-m{i}")["fields"]
        assert (fields["type"], fields["channel"], fields["lead_id"]) == (ours, our_channel, LEAD)
        assert fields["ts"] == 1619004705750 and fields["text"] == "This is a test message"
    # the first message of a contact never seen made the lead, with the default agent
    lead = record(hl_server, "lead", LEAD)["fields"]
    assert (lead["agent_id"], lead["team_id"]) == ("agent-01", "team-a")


def test_appointments_book_attend_and_cancel(hl_server, signing_key):
    deliver(hl_server.url, contact_create(), signing_key)
    assert deliver(hl_server.url, appointment(), signing_key).status_code == 200
    booked = record(hl_server, "event", "hl-appt-0007BWpSzSwfiuSl0tR2")
    assert booked["exists"] and booked["fields"]["type"] == "showing_booked"
    deliver(hl_server.url, appointment("AppointmentUpdate", "showed"), signing_key)
    attended = record(hl_server, "event", "hl-appt-0007BWpSzSwfiuSl0tR2-attended")["fields"]
    assert attended["type"] == "showing_attended" and attended["ts"] == 1638354600000
    deliver(hl_server.url, appointment("AppointmentUpdate", "cancelled"), signing_key)
    assert not record(hl_server, "event", "hl-appt-0007BWpSzSwfiuSl0tR2")["exists"]


def test_a_won_opportunity_converts_the_lead_with_the_deal_amount(hl_server, signing_key):
    deliver(hl_server.url, contact_create(), signing_key)
    assert deliver(hl_server.url, opportunity("won"), signing_key).status_code == 200
    assert record(hl_server, "lead", LEAD)["fields"]["status"] == "converted"
    deal = record(hl_server, "event", "hl-opp-wWhVuzqpRuOA1ZVWi4FC-won")["fields"]
    assert (deal["type"], deal["amount"]) == ("deal_closed", 450000.0)
    deliver(hl_server.url, opportunity("lost", webhookId="wh-opp-2"), signing_key)
    assert record(hl_server, "lead", LEAD)["fields"]["status"] == "lost"
    bad = deliver(hl_server.url, opportunity("pending", webhookId="wh-opp-3"), signing_key)
    assert bad.status_code == 422 and bad.json()["path"] == "$.status"


def test_a_contact_deleted_in_highlevel_is_deleted_here(hl_server, signing_key):
    deliver(hl_server.url, contact_create(), signing_key)
    gone = deliver(hl_server.url, contact_create("wh-del", type="ContactDelete"), signing_key)
    assert gone.status_code == 200
    assert not record(hl_server, "lead", LEAD)["exists"]


def test_unknown_location_names_the_field_and_unknown_types_are_ignored_and_counted(
    hl_server, signing_key
):
    before = log_position(hl_server)
    answer = deliver(hl_server.url, contact_create(locationId="nowhere"), signing_key)
    assert answer.status_code == 422 and answer.json()["path"] == "$.locationId"
    # no agent for the contact's user and no default agent: named too, nothing written
    answer = deliver(
        hl_server.url,
        contact_create(locationId="noDefaultLocation00001", assignedTo="someone-else"),
        signing_key,
    )
    assert answer.status_code == 422 and answer.json()["path"] == "$.assignedTo"
    task = {"type": "TaskCreate", "locationId": "ve9EPM428h8vShlRW1KT", "id": "t1"}
    answer = deliver(hl_server.url, task, signing_key)
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    assert log_position(hl_server) == before
    metrics = httpx.get(f"{hl_server.url}/metrics", timeout=30).text
    assert 'realty_edge_highlevel_deliveries_total{result="ignored"}' in metrics
    # a bad field is named with its path
    answer = deliver(hl_server.url, contact_create("wh-bad", email="not an address"), signing_key)
    assert answer.status_code == 422 and answer.json()["path"] == "$.email"


def test_configuration_from_the_environment(tmp_path, signing_key):
    pem = public_pem(signing_key)
    path = tmp_path / "highlevel.pem"
    path.write_text(pem)
    locations = '{"loc1": {"team": "team-a", "users": {"u1": "agent-01"}}}'
    for key in (pem, str(path)):
        env = {
            "REALTY_EDGE_HIGHLEVEL_PUBLIC_KEY": key,
            "REALTY_EDGE_HIGHLEVEL_LOCATIONS": locations,
        }
        config = config_from_env(env)
        assert config.highlevel.public_key.strip() == pem.strip()
        assert config.highlevel.locations["loc1"].agent("u1") == "agent-01"
        assert config.highlevel.locations["loc1"].agent("u2") is None
    bad = [
        ({"REALTY_EDGE_HIGHLEVEL_PUBLIC_KEY": "not a key"}, "REALTY_EDGE_HIGHLEVEL_PUBLIC_KEY"),
        ({"REALTY_EDGE_HIGHLEVEL_LOCATIONS": "{"}, "REALTY_EDGE_HIGHLEVEL_LOCATIONS"),
        (
            {"REALTY_EDGE_HIGHLEVEL_LOCATIONS": '{"l": {"users": {}}}'},
            "REALTY_EDGE_HIGHLEVEL_LOCATIONS",
        ),
        (
            {"REALTY_EDGE_HIGHLEVEL_LOCATIONS": '{"l": {"team": "bad team!"}}'},
            "REALTY_EDGE_HIGHLEVEL_LOCATIONS",
        ),
        ({"REALTY_EDGE_HIGHLEVEL_MAX_RETRIES": "many"}, "REALTY_EDGE_HIGHLEVEL_MAX_RETRIES"),
    ]
    for env, name in bad:
        with pytest.raises(ServerConfigError, match=name):
            config_from_env(env)
