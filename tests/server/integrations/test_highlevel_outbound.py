"""Outreach through HighLevel's conversations API, against a stand-in on loopback."""

from __future__ import annotations

import httpx
import msgspec

from edge.channels.base import DeliveryStatus, OutboundMessage
from edge.runtime import EdgeRuntime
from server.integrations.config import HighLevelConfig
from server.integrations.highlevel_outbound import HighLevelChannel, retry_after_s
from server.integrations.highlevel_standin import run_highlevel
from sync.records import Channel, Consent, InterventionStep
from tests.factories import NOW_MS, agent, event, lead, listing
from tests.live_server import run_server

CONTACT = "nmFmQEsNgz6AVpgLVUJ0"
TOKEN = "pit-test-token"


def step(channel: Channel) -> InterventionStep:
    return InterventionStep(
        id="step-1",
        plan_id="plan-1",
        lead_id=f"hl-{CONTACT}",
        seq=0,
        channel=channel,
        due_at=NOW_MS,
        hour_of_week=10,
        message="Hola John",
    )


def outbound(channel: Channel, lead_id: str = f"hl-{CONTACT}") -> OutboundMessage:
    return OutboundMessage(
        step_id="step-1",
        lead_id=lead_id,
        lead_name="John Deo",
        channel=channel,
        to="+14155552671",
        text="Hola John",
        subject="12 Oak St",
    )


def channel(url: str, waits: list[float] | None = None, **kw) -> HighLevelChannel:
    async def sleep(seconds: float) -> None:
        (waits if waits is not None else []).append(seconds)

    config = HighLevelConfig(api_url=url, token=TOKEN, **kw)
    return HighLevelChannel(config, sleep=sleep)


async def test_each_channel_is_sent_with_the_token_the_version_and_the_contact():
    with run_highlevel(TOKEN, {CONTACT}) as highlevel:
        sender = channel(highlevel.url)
        for ours, theirs in (
            (Channel.SMS, "SMS"),
            (Channel.EMAIL, "Email"),
            (Channel.WHATSAPP, "WhatsApp"),
        ):
            delivery = await sender.send(step(ours), outbound(ours))
            assert delivery.status is DeliveryStatus.SENT, delivery.detail
            assert highlevel.accepted[-1].type == theirs
            assert highlevel.accepted[-1].contact_id == CONTACT
        path, headers, body = highlevel.requests[0]
        assert path == "/conversations/messages"
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert headers["version"] == "2021-04-15"
        assert msgspec.json.decode(body) == {
            "type": "SMS",
            "contactId": CONTACT,
            "message": "Hola John",
        }
        assert highlevel.accepted[1].subject == "12 Oak St"  # e-mail carries its subject
        assert [d for d in (delivery.provider_id,)] == ["msg000003"]


async def test_a_429_is_waited_out_then_sent_and_too_many_fail():
    with run_highlevel(TOKEN, {CONTACT}) as highlevel:
        waits: list[float] = []
        highlevel.rate_limited, highlevel.retry_after = 2, "3"
        delivery = await channel(highlevel.url, waits).send(
            step(Channel.SMS), outbound(Channel.SMS)
        )
        assert delivery.status is DeliveryStatus.SENT
        assert waits == [3.0, 3.0] and len(highlevel.requests) == 3
        highlevel.rate_limited = 10
        delivery = await channel(highlevel.url, max_retries=2).send(
            step(Channel.SMS), outbound(Channel.SMS)
        )
        assert delivery.status is DeliveryStatus.FAILED and "429" in delivery.detail
        assert len(highlevel.accepted) == 1
        # a Retry-After longer than we wait for is not slept through
        highlevel.rate_limited, highlevel.retry_after = 1, "3600"
        waits.clear()
        delivery = await channel(highlevel.url, waits).send(
            step(Channel.SMS), outbound(Channel.SMS)
        )
        assert delivery.status is DeliveryStatus.FAILED and waits == []


async def test_errors_are_failed_and_an_unclear_answer_unknown():
    with run_highlevel(TOKEN, {CONTACT}) as highlevel:
        wrong = HighLevelChannel(HighLevelConfig(api_url=highlevel.url, token="wrong"))
        delivery = await wrong.send(step(Channel.SMS), outbound(Channel.SMS))
        assert delivery.status is DeliveryStatus.FAILED and "401" in delivery.detail
        unknown_contact = outbound(Channel.SMS, lead_id="hl-someoneElse")
        delivery = await channel(highlevel.url).send(step(Channel.SMS), unknown_contact)
        assert delivery.status is DeliveryStatus.FAILED and "422" in delivery.detail
        highlevel.answer_with = (502, b"bad gateway")
        delivery = await channel(highlevel.url).send(step(Channel.SMS), outbound(Channel.SMS))
        assert delivery.status is DeliveryStatus.UNKNOWN
    delivery = await channel(highlevel.url).send(step(Channel.SMS), outbound(Channel.SMS))
    assert delivery.status is DeliveryStatus.FAILED and "not reached" in delivery.detail
    # not a HighLevel contact, or a call: the fallback (here: a task for the agent)
    other = await channel(highlevel.url).send(step(Channel.SMS), outbound(Channel.SMS, "lead-1"))
    call = await channel(highlevel.url).send(step(Channel.CALL), outbound(Channel.CALL))
    assert other.status is DeliveryStatus.MANUAL and call.status is DeliveryStatus.MANUAL
    assert retry_after_s(None) == 1.0 and retry_after_s("7") == 7.0 and retry_after_s("x") == 1.0


async def test_a_planned_step_for_a_highlevel_contact_goes_out_through_highlevel(tmp_path):
    hl_lead = msgspec.structs.replace(lead(6, consent=Consent(sms=True)), id=f"hl-{CONTACT}")
    world = [agent(1), listing(1), listing(2), hl_lead]
    world += [msgspec.structs.replace(event(60 + k), lead_id=hl_lead.id) for k in range(3)]
    clock = lambda: NOW_MS + 2 * 3_600_000  # noqa: E731
    with (
        run_highlevel(TOKEN, {CONTACT}) as highlevel,
        run_server(
            tmp_path / "server.db",
            clock=clock,
            highlevel=HighLevelConfig(api_url=highlevel.url, token=TOKEN),
        ) as server,
    ):
        phone = await EdgeRuntime.open(tmp_path / "phone.db", clock=clock)
        try:
            await phone.put(world)
            assert (await phone.sync(server.url, server.token())).status == "ok"
            headers = {"authorization": f"Bearer {server.token()}"}
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                plan = await http.post(
                    "/api/v1/advanced/intervention/plans", json={"lead_id": hl_lead.id}
                )
                assert plan.status_code == 201, plan.text
                first = min(plan.json()["plan"]["steps"], key=lambda s: s["seq"])
                done = await http.post(
                    "/api/v1/advanced/intervention/execute", json={"step_id": first["id"]}
                )
                assert done.status_code == 200, done.text
                assert done.json()["status"] == "sent"
                assert done.json()["delivery"]["provider_id"] == "msg000001"
            [sent] = highlevel.accepted
            assert (sent.type, sent.contact_id, sent.message) == ("SMS", CONTACT, first["message"])
        finally:
            await phone.close()
