"""Outreach on the device: every rule refuses its bad case, a step is sent at most once,
replies pause plans and opt-outs revoke consent in every supported language."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.channels.base import ChannelRouter, Delivery, DeliveryStatus, ManualChannel
from edge.channels.phone import PhoneChannel, whatsapp_link
from edge.culture import SUPPORTED_LANGUAGES
from edge.errors import NotFoundError, OutreachRefusedError
from edge.outreach.executor import (
    delivery_update,
    find_lead,
    recover_sending,
    resolve_unknown,
    settle_plans,
)
from edge.outreach.keywords import OPT_OUT_KEYWORDS, is_opt_out
from edge.outreach.rules import winning_plan
from edge.runtime import EdgeRuntime
from edge.scheduler import store_plan
from sync.records import (
    Channel,
    Consent,
    EventType,
    InterventionPlan,
    InterventionStep,
    LeadStatus,
    PlanStatus,
    StepStatus,
)
from tests.edge.intel import OPEN_MS, open_device
from tests.factories import HOUR_MS, NOW_MS, event

DAY_MS = 24 * HOUR_MS


class Recorder:
    """A stand-in for a channel that counts what reaches it (no component of ours)."""

    def __init__(self, status: DeliveryStatus = DeliveryStatus.SENT, fail: Exception | None = None):
        self.status = status
        self.fail = fail
        self.sent: list = []

    async def send(self, step, message) -> Delivery:
        self.sent.append(message)
        if self.fail is not None:
            raise self.fail
        return Delivery(status=self.status, channel=step.channel, detail="accepted as m-1")


async def a_step(
    rt: EdgeRuntime,
    channel=Channel.SMS,
    lead_id="lead-000002",
    plan_id="plan-t",
    created_at=NOW_MS,
    executor: str | None = None,
) -> InterventionStep:
    step = InterventionStep(
        id=f"{plan_id}-s0",
        updated_at=created_at,
        plan_id=plan_id,
        lead_id=lead_id,
        seq=0,
        channel=channel,
        due_at=OPEN_MS,
        hour_of_week=10,
        message="Hi Lead, still looking?",
    )
    plan = InterventionPlan(
        id=plan_id,
        updated_at=created_at,
        lead_id=lead_id,
        created_at=created_at,
        steps=[step],
        executor=rt.device_id if executor is None else executor,
    )
    await store_plan(rt._store, plan)
    return step


async def refused(call) -> OutreachRefusedError:
    with pytest.raises(OutreachRefusedError) as info:
        await call
    return info.value


async def test_a_step_is_sent_once_and_recorded(phone):
    step = await a_step(phone)
    channel = Recorder()
    done = await phone.execute_step(step.id, channel)
    assert done.status is StepStatus.SENT and done.event.type is EventType.MESSAGE_OUT
    assert [m.to for m in channel.sent] == ["+52 55 1234 0002"]
    stored = await phone.get("intervention_step", step.id)
    assert stored.status is StepStatus.SENT and stored.outcome == "accepted as m-1"
    again = await refused(phone.execute_step(step.id, channel))
    assert again.reason == "not_pending" and len(channel.sent) == 1
    assert (await refused(phone.complete_step(step.id))).reason == "not_pending"


@pytest.mark.parametrize(
    ("delivery", "status"),
    [
        (DeliveryStatus.FAILED, StepStatus.FAILED),
        (DeliveryStatus.MANUAL, StepStatus.DUE),
        (DeliveryStatus.UNKNOWN, StepStatus.UNKNOWN),
    ],
)
async def test_what_the_channel_said_becomes_the_status(phone, delivery, status):
    step = await a_step(phone)
    done = await phone.execute_step(step.id, Recorder(delivery))
    assert done.status is status and done.event is None
    assert (await phone.get("intervention_step", step.id)).status is status


async def test_a_channel_that_raises_leaves_the_step_unknown_not_retried(phone):
    step = await a_step(phone)
    channel = Recorder(fail=TimeoutError("read timed out"))
    done = await phone.execute_step(step.id, channel)
    assert done.status is StepStatus.UNKNOWN and "read timed out" in done.delivery.detail
    assert (await refused(phone.execute_step(step.id, channel))).reason == "not_pending"
    assert len(channel.sent) == 1
    settled = await resolve_unknown(phone._store, step.id, reached=True)
    assert settled.status is StepStatus.SENT
    assert (await phone.get("event", f"ev-{step.id}")).type is EventType.MESSAGE_OUT
    with pytest.raises(OutreachRefusedError):
        await resolve_unknown(phone._store, step.id, reached=False)


async def test_a_manual_task_says_so_and_the_agent_completes_it(phone):
    step = await a_step(phone, Channel.CALL, lead_id="lead-000003")
    await phone.update("lead", "lead-000003", consent=Consent.granted())
    done = await phone.execute_step(step.id, ChannelRouter({}))
    assert done.status is StepStatus.DUE and "by hand" in done.delivery.detail
    event = await phone.complete_step(step.id)
    assert event.type is EventType.CALL_OUT
    assert (await phone.get("intervention_step", step.id)).status is StepStatus.DONE


async def test_every_rule_refuses_its_bad_case_and_nothing_is_sent(phone):
    channel = Recorder()
    # cancelled step
    step = await a_step(phone, plan_id="p1")
    await phone.update("intervention_step", step.id, status="cancelled")
    assert (await refused(phone.execute_step(step.id, channel))).reason == "not_pending"
    # paused plan
    step = await a_step(phone, plan_id="p2")
    await phone.update("intervention_plan", "p2", status="paused")
    assert (await refused(phone.complete_step(step.id))).reason == "not_pending"
    # quiet hours: 05:00 in Los Angeles
    step = await a_step(phone, plan_id="p3")
    phone.now["t"] = NOW_MS - 3 * HOUR_MS
    why = await refused(phone.execute_step(step.id, channel))
    assert why.reason == "quiet_hours" and "05:00" in why.detail and why.retry_at == NOW_MS  # 08:00
    # e-mail is never quiet: the same hour is fine for it (then capped below)
    # holiday: Thanksgiving, 10:00 in Los Angeles
    phone.now["t"] = OPEN_MS + 3 * DAY_MS
    why = await refused(phone.complete_step(step.id))
    assert why.reason == "holiday" and "Thanksgiving" in why.detail
    # opted out by an opt_out event on the channel
    phone.now["t"] = OPEN_MS
    await phone.put(
        [
            event(
                900,
                lead_id="lead-000002",
                type=EventType.OPT_OUT,
                channel=Channel.SMS,
                ts=NOW_MS - DAY_MS,
                listing_id=None,
                dwell_s=None,
            )
        ]
    )
    assert (await refused(phone.execute_step(step.id, channel))).reason == "opted_out"
    # no consent recorded (unknown) for WhatsApp, no e-mail address
    await phone.update("lead", "lead-000002", consent=Consent(sms=True, whatsapp=None), email="")
    step = await a_step(phone, Channel.WHATSAPP, plan_id="p4")
    assert (await refused(phone.execute_step(step.id, channel))).reason == "no_consent"
    step = await a_step(phone, Channel.EMAIL, plan_id="p5")
    why = await refused(phone.execute_step(step.id, channel))
    assert why.reason == "no_address" and "no e-mail address" in why.detail
    # a converted lead gets nothing
    await phone.update("lead", "lead-000003", status=LeadStatus.CONVERTED.value)
    step = await a_step(phone, Channel.EMAIL, lead_id="lead-000003", plan_id="p6")
    assert (await refused(phone.execute_step(step.id, channel))).reason == "not_pending"
    # another party sends this plan
    step = await a_step(
        phone, Channel.EMAIL, lead_id="lead-000001", plan_id="p7", executor="dev-server"
    )
    why = await refused(phone.execute_step(step.id, channel))
    assert why.reason == "other_executor" and "dev-server" in why.detail
    assert channel.sent == []


async def test_the_caps_hold_on_execution(phone):
    channel = Recorder()
    first = await a_step(phone, Channel.EMAIL, plan_id="c1")
    await phone.execute_step(first.id, channel)
    second = await a_step(phone, Channel.EMAIL, plan_id="c2")
    why = await refused(phone.execute_step(second.id, channel))
    assert why.reason == "cap" and why.retry_at == OPEN_MS + DAY_MS
    # three outreaches in the sliding week close it until the oldest leaves the week
    phone.now["t"] = OPEN_MS + 2 * DAY_MS
    await phone.execute_step(second.id, channel)
    third = await a_step(phone, Channel.EMAIL, plan_id="c3")
    phone.now["t"] = OPEN_MS + 4 * DAY_MS
    await phone.execute_step(third.id, channel)
    fourth = await a_step(phone, Channel.EMAIL, plan_id="c4")
    phone.now["t"] = OPEN_MS + 6 * DAY_MS
    why = await refused(phone.execute_step(fourth.id, channel))
    assert why.reason == "cap" and "3 outreaches" in why.detail
    assert why.retry_at == OPEN_MS + 7 * DAY_MS + 1
    assert len(channel.sent) == 3


async def test_firing_skips_what_is_never_allowed_and_moves_what_is_not_allowed_yet(phone):
    await phone.update("lead", "lead-000002", consent=Consent(email=True))
    sms = await a_step(phone, Channel.SMS, plan_id="f1")  # no consent for sms: skipped
    report = await phone.run_due()
    assert report.fired == [] and report.cancelled == 1
    skipped = await phone.get("intervention_step", sms.id)
    assert skipped.status is StepStatus.SKIPPED and "sms" in skipped.outcome
    await phone.put(
        [
            event(
                901,
                lead_id="lead-000002",
                type=EventType.MESSAGE_OUT,
                channel=Channel.EMAIL,
                ts=OPEN_MS - HOUR_MS,
                listing_id=None,
                dwell_s=None,
            )
        ]
    )
    mail = await a_step(phone, Channel.EMAIL, plan_id="f2")  # capped: moved, not fired
    report = await phone.run_due()
    assert report.fired == [] and report.rescheduled == 1
    moved = await phone.get("intervention_step", mail.id)
    assert moved.status is StepStatus.PENDING and moved.due_at >= OPEN_MS + 23 * HOUR_MS


async def test_a_send_cut_short_becomes_unknown_on_reopen_and_is_never_resent(tmp_path):
    rt = await open_device(tmp_path / "d.db", clock=lambda: OPEN_MS)
    step = await a_step(rt)
    from edge.outreach.executor import begin_send

    await begin_send(rt._store, step.id)  # committed as sending; the process dies here
    other = await a_step(rt, plan_id="plan-other", lead_id="lead-000001")
    await rt.update("intervention_step", other.id, status="sending", sent_by="dev-elsewhere")
    await rt.close()
    rt = await EdgeRuntime.open(tmp_path / "d.db", clock=lambda: OPEN_MS)
    try:
        found = await rt.get("intervention_step", step.id)
        assert found.status is StepStatus.UNKNOWN and "may have the message" in found.outcome
        [task] = await rt.due_tasks()  # shown to the agent
        assert task.step_id == step.id and task.status is StepStatus.UNKNOWN
        # another party's send is theirs to recover
        assert (await rt.get("intervention_step", other.id)).status is StepStatus.SENDING
        assert (await refused(rt.execute_step(step.id, Recorder()))).reason == "not_pending"
        assert await recover_sending(rt._store) == []
    finally:
        await rt.close()


async def test_a_failure_callback_during_the_send_is_not_overwritten_by_its_end(phone):
    from edge.outreach.executor import begin_send, delivery_update, finish_send

    step = await a_step(phone)
    ins = await begin_send(phone._store, step.id)  # sending; the provider accepted it
    settled = await delivery_update(phone._store, step.id, False, "provider SM1: failed (30003)")
    assert settled.status is StepStatus.FAILED  # the callback came before the send's end
    accepted = Delivery(status=DeliveryStatus.SENT, channel=step.channel, detail="accepted SM1")
    done = await finish_send(phone._store, ins.step, accepted)
    stored = await phone.get(InterventionStep, step.id)
    assert done.status is StepStatus.FAILED and stored.status is StepStatus.FAILED
    assert "30003" in stored.outcome  # the callback's outcome stands
    assert done.event is not None  # the message did leave: its outreach is recorded


async def test_delivery_callbacks_settle_steps(phone):
    step = await a_step(phone)
    await phone.execute_step(step.id, Recorder())
    kept = await delivery_update(phone._store, step.id, True, "delivered")
    assert kept.status is StepStatus.SENT and kept.outcome == "delivered"
    lost = await delivery_update(phone._store, step.id, False, "undelivered: 30003")
    assert lost.status is StepStatus.FAILED
    again = await delivery_update(phone._store, step.id, True, "late")
    assert again.status is StepStatus.FAILED
    unknown = await a_step(phone, Channel.EMAIL, plan_id="u1")
    phone.now["t"] += DAY_MS  # the cap: one outreach per 24 h
    await phone.execute_step(unknown.id, Recorder(DeliveryStatus.UNKNOWN))
    assert (await delivery_update(phone._store, unknown.id, True, "ok")).status is StepStatus.SENT


async def test_a_reply_pauses_the_plan_at_once(phone):
    step = await a_step(phone)
    got = await phone.record_inbound("lead-000002", Channel.SMS, "Yes, call me tomorrow")
    assert not got.opted_out and got.paused_plans == ["plan-t"]
    assert (await phone.get("intervention_plan", "plan-t")).status is PlanStatus.PAUSED
    assert (await phone.get("intervention_step", step.id)).status is StepStatus.CANCELLED
    assert (await refused(phone.execute_step(step.id, Recorder()))).reason == "not_pending"
    assert (await phone.get_lead("lead-000002")).consent.sms is True


def test_every_supported_language_has_opt_out_keywords():
    assert set(OPT_OUT_KEYWORDS) == set(SUPPORTED_LANGUAGES)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
async def test_an_opt_out_keyword_revokes_the_channel_at_once_and_syncs(phone, language):
    keyword = OPT_OUT_KEYWORDS[language][0]
    step = await a_step(phone, Channel.SMS)
    mail = await a_step(phone, Channel.EMAIL, plan_id="plan-mail")
    seq = (await phone._store.fetchone("SELECT max(seq) FROM outbox"))[0]
    got = await phone.record_inbound("lead-000002", Channel.SMS, f" {keyword.lower()}! ")
    assert got.opted_out
    consent = (await phone.get_lead("lead-000002")).consent
    assert consent.sms is False and consent.email is True  # only that channel
    synced = [c for c in await phone._store.pending_outbox() if c.seq > seq]
    assert any(
        c.entity == "lead" and c.fields.get("consent", {}).get("sms") is False for c in synced
    )
    assert (await refused(phone.execute_step(step.id, Recorder()))).reason == "not_pending"
    again = await a_step(phone, Channel.SMS, plan_id="plan-after")
    assert (await refused(phone.execute_step(again.id, Recorder()))).reason == "opted_out"
    assert mail.id  # e-mail consent stands; its plan was paused by the reply


@pytest.mark.parametrize(
    ("text", "stop"),
    [
        ("STOP", True),
        ("Stop please", True),
        ("unsubscribe.", True),
        ("停止发送", True),
        ("Stop by the house at 5 tomorrow?", False),
        ("Hola, me interesa", False),
        ("", False),
        ("!!!", False),
        ("Arrêt", True),
        ("İptal", True),
        ("बंद करें", True),
    ],
)
def test_opt_out_detection(text, stop):
    assert is_opt_out(text) is stop


async def test_inbound_finds_the_lead_by_address(phone):
    assert (await find_lead(phone._store, Channel.SMS, "+525512340002")).id == "lead-000002"
    assert (await find_lead(phone._store, Channel.EMAIL, "LEAD2@example.com")).id == "lead-000002"
    with pytest.raises(NotFoundError, match="5550000"):
        await find_lead(phone._store, Channel.SMS, "5550000")


def plan(i: int, created_at: int, device: str) -> InterventionPlan:
    return InterventionPlan(
        id=f"plan-{device}-{i}", lead_id="lead-1", created_at=created_at, executor=device
    )


@settings(max_examples=60, deadline=None)
@given(
    made=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["dev-a", "dev-b", "dev-c"])),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    order=st.randoms(use_true_random=False),
)
def test_plans_made_apart_converge_to_one_whatever_the_delivery_order(made, order):
    plans = [plan(i, t, d) for i, (t, d) in enumerate(made)]
    expected = max(plans, key=lambda p: (p.created_at, p.id)).id
    # Each device receives the plans in its own order and settles after every arrival.
    finals = []
    for _device in range(3):
        arrivals = plans[:]
        order.shuffle(arrivals)
        known: dict[str, InterventionPlan] = {}
        for p in arrivals:
            known[p.id] = p
            win = winning_plan(known.values())
            known = {
                k: v
                if win is None or k == win.id
                else msgspec.structs.replace(v, status=PlanStatus.CANCELLED)
                for k, v in known.items()
            }
        finals.append(sorted(k for k, v in known.items() if v.status is PlanStatus.ACTIVE))
    assert finals == [[expected]] * 3


async def test_settle_plans_cancels_the_losers_in_the_store(phone):
    older = await a_step(phone, plan_id="plan-a", created_at=NOW_MS - HOUR_MS)
    newer = await a_step(phone, plan_id="plan-b", created_at=NOW_MS)
    # store_plan superseded plan-a; bring it back as if synced from another phone
    await phone.update("intervention_plan", "plan-a", status="active")
    await phone.update("intervention_step", older.id, status="pending")
    assert (await refused(phone.execute_step(older.id, Recorder()))).reason == "not_pending"
    assert await settle_plans(phone._store) == ["plan-a"]
    assert (await phone.get("intervention_step", older.id)).status is StepStatus.CANCELLED
    assert (await phone.plan("lead-000002")).id == "plan-b"
    assert (await phone.get("intervention_step", newer.id)).status is StepStatus.PENDING
    assert await settle_plans(phone._store) == []


async def test_the_phone_channel_on_a_desktop_is_a_manual_task(phone):
    step = await a_step(phone, Channel.SMS)
    done = await phone.execute_step(step.id, PhoneChannel())
    assert done.status is StepStatus.DUE and "no sms facade" in done.delivery.detail


class Facade:
    """What plyer's Android facades receive (they are not ours)."""

    def __init__(self):
        self.calls: list = []

    def send(self, **kw):
        self.calls.append(kw)

    def makecall(self, **kw):
        self.calls.append(kw)


async def test_the_phone_channel_hands_each_channel_to_the_phone(phone):
    sms, call, mail, opened = Facade(), Facade(), Facade(), []
    channel = PhoneChannel(
        {"sms": sms, "call": call, "email": mail}, open_url=lambda url: opened.append(url) or True
    )
    msg = msgspec.structs.replace
    base = await a_step(phone)
    from edge.outreach.executor import outbound_message

    lead = await phone.get_lead("lead-000002")
    for ch, status in [
        (Channel.SMS, "sent"),
        (Channel.CALL, "sent"),
        (Channel.EMAIL, "manual"),
        (Channel.WHATSAPP, "manual"),
        (Channel.WEB, "manual"),
    ]:
        step = msg(base, channel=ch)
        out = await channel.send(step, outbound_message(step, lead))
        assert out.status == status, ch
    assert sms.calls == [{"recipient": "+52 55 1234 0002", "message": base.message}]
    assert call.calls == [{"tel": "+52 55 1234 0002"}]
    assert mail.calls[0]["recipient"] == "lead2@example.com"
    assert opened == [whatsapp_link("+52 55 1234 0002", base.message)]
    assert opened[0].startswith("https://wa.me/525512340002?text=Hi%20Lead")
    nobrowser = PhoneChannel(open_url=lambda url: False)
    step = msg(base, channel=Channel.WHATSAPP)
    out = await nobrowser.send(step, outbound_message(step, lead))
    assert out.status == "manual" and "by hand" in out.detail
    assert (await ManualChannel("offline").send(step, outbound_message(step, lead))).detail


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_keyword_of_a_language_is_an_opt_out(language):
    for keyword in OPT_OUT_KEYWORDS[language]:
        assert is_opt_out(keyword), keyword
        assert is_opt_out(f"{keyword.lower()}."), keyword


def test_the_documented_keyword_table_is_the_one_in_the_code():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "outreach.md").read_text()
    for language, keywords in OPT_OUT_KEYWORDS.items():
        assert f"| `{language}` |" in doc and ", ".join(keywords) in doc, language


def test_stored_leads_keep_explicit_consent_and_absent_reads_unknown():
    # Leads are stored whole as MessagePack: the form written before opt-in had every value.
    from edge.rows import record_from_row

    before = msgspec.msgpack.encode(
        {
            "kind": "lead",
            "id": "l1",
            "agent_id": "a",
            "team_id": "t",
            "name": "Old",
            "consent": {"call": True, "sms": False, "email": True, "whatsapp": True},
        }
    )
    kept = record_from_row("lead", {"data": before}).consent
    assert (kept.call, kept.sms, kept.email, kept.whatsapp) == (True, False, True, True)
    bare = msgspec.msgpack.encode(
        {"kind": "lead", "id": "l2", "agent_id": "a", "team_id": "t", "name": "No consent given"}
    )
    unknown = record_from_row("lead", {"data": bare}).consent
    assert [unknown.state(c) for c in Channel if c.value in ("call", "sms")] == ["unknown"] * 2
    assert not any(unknown.allows(c) for c in Channel)
