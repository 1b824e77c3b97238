"""Outreach through the server with real parts: an SMTP server (aiosmtpd, STARTTLS and AUTH)
and a provider stand-in on loopback that records messages and calls the webhook back."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from edge.channels.base import DeliveryStatus, OutboundMessage
from edge.runtime import EdgeRuntime
from server.local import LiveServer
from server.outreach.config import OutreachConfig
from server.outreach.email import SmtpChannel
from server.outreach.provider import ProviderChannel, sign, verify
from server.outreach.standin import ProviderStandIn, run_provider
from sync.records import Channel, Consent, InterventionPlan, InterventionStep, StepStatus
from tests.device_db import device_rows, device_value
from tests.factories import HOUR_MS, NOW_MS, agent, event, lead, listing
from tests.live_server import run_server

#: 2025-11-24 18:00 UTC: noon in Mexico City (the factories' leads), a Monday, no holiday.
OPEN_MS = NOW_MS + 2 * HOUR_MS
A = "/api/v1/advanced"
ROOT = Path(__file__).resolve().parents[2]


def clock() -> int:
    return OPEN_MS


def world() -> list:
    """Leads with one consented channel each: 2 SMS, 3 e-mail, 4 WhatsApp, 5 call."""
    out: list = [agent(1), listing(1), listing(2)]
    for i, consent in (
        (2, Consent(sms=True)),
        (3, Consent(email=True)),
        (4, Consent(whatsapp=True)),
        (5, Consent(call=True)),
    ):
        out.append(lead(i, consent=consent))
        out += [event(10 * i + k, lead_id=f"lead-{i:06d}") for k in range(3)]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the CA the SMTP client is told to trust)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import ipaddress

    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Sink:
    """The SMTP server's mailbox."""

    def __init__(self):
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(tmp_path):
    """aiosmtpd on loopback: STARTTLS required, then AUTH (agent / s3cret)."""
    cert, key = tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"agent" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)

    sink = Sink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    controller.start()
    sink.port = controller.port
    sink.ca = str(cert)
    yield sink
    controller.stop()


def outreach_config(smtp=None, provider=None, **kw) -> OutreachConfig:
    values: dict = {}
    if smtp is not None:
        values.update(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_ca_file=smtp.ca,
            smtp_username="agent",
            smtp_password="s3cret",
            smtp_from="Agents <agents@brokerage.example>",
        )
    if provider is not None:
        values.update(
            provider_url=provider.url,
            provider_account=provider.account,
            provider_token=provider.token,
            sms_from="+15550000001",
            whatsapp_from="+15550000002",
            webhook_secret=provider.secret,
        )
    values.update(kw)
    return OutreachConfig(**values)


async def open_phone(path: Path, server) -> EdgeRuntime:
    phone = await EdgeRuntime.open(path, clock=clock)
    await phone.put(world())
    assert (await phone.sync(server.url, server.token())).status == "ok"
    return phone


async def predict(http: httpx.AsyncClient, lead_id: str) -> list[dict]:
    """Plan the lead and store the plan (predicting alone stores nothing)."""
    answer = await http.post(f"{A}/intervention/plans", json={"lead_id": lead_id})
    assert answer.status_code == 201, answer.text
    return sorted(answer.json()["plan"]["steps"], key=lambda s: s["seq"])


async def wait_for(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@contextmanager
def provider_and_server(tmp_path: Path) -> Iterator[tuple[ProviderStandIn, LiveServer]]:
    """A provider stand-in and a server on the fixed clock, each calling the other."""
    with (
        run_provider() as provider,
        run_server(
            tmp_path / "server.db", clock=clock, outreach=outreach_config(provider=provider)
        ) as server,
    ):
        provider.clock = clock  # the server's fixed clock: its webhook calls are signed by it
        provider.webhook_url = f"{server.url}/api/v1/outreach/webhook/team-a"
        yield provider, server


async def test_sms_through_the_provider_callbacks_and_an_opt_out(tmp_path):
    with provider_and_server(tmp_path) as (provider, server):
        phone = await open_phone(tmp_path / "phone.db", server)
        # a team admin's token: the test also reads the lead's export
        headers = {"authorization": f"Bearer {server.token(role='team_admin')}"}
        try:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                steps = await predict(http, "lead-000002")
                assert steps and {s["channel"] for s in steps} == {"sms"}
                first = steps[0]
                done = await http.post(f"{A}/intervention/execute", json={"step_id": first["id"]})
                assert done.status_code == 200, done.text
                body = done.json()
                assert body["status"] == "sent" and body["delivery"]["provider_id"] == "SM000001"
                assert body["event"]["type"] == "message_out"
                [sent] = provider.messages
                assert (sent.to, sent.channel, sent.reference) == (
                    "+52 55 1234 0002",
                    "sms",
                    first["id"],
                )
                assert sent.body == first["message"] and sent.from_ == "+15550000001"
                # the provider's signed delivery callback lands on the webhook
                await wait_for(lambda: provider.callbacks)
                assert provider.callbacks[0][0] == 200
                again = await http.post(f"{A}/intervention/execute", json={"step_id": first["id"]})
                assert again.status_code == 409
                assert again.json()["code"] == "rejected"
                assert again.json()["reason"] == "not_pending"
                assert len(provider.messages) == 1

                export = f"{A}/privacy/leads/lead-000002/export"
                before = len((await http.get(export)).json()["changes"])
                # unsigned and badly signed calls: 401, nothing written
                assert (
                    provider.post(
                        {
                            "type": "inbound",
                            "message_id": "x",
                            "from": "+525512340002",
                            "body": "STOP",
                        },
                        secret="",
                    )
                    == 401
                )
                assert provider.inbound("+525512340002", "STOP") == 200
                after_good = len((await http.get(export)).json()["changes"])
                assert after_good > before
                mid = after_good
                assert (
                    provider.post(
                        {
                            "type": "inbound",
                            "message_id": "y",
                            "from": "+525512340002",
                            "body": "hello",
                        },
                        secret="not-the-secret",
                    )
                    == 401
                )
                assert len((await http.get(export)).json()["changes"]) == mid

            assert (await phone.sync(server.url, server.token())).status == "ok"
            stored = await phone.get("intervention_step", first["id"])
            assert stored.status is StepStatus.SENT and "delivered" in stored.outcome
            lead2 = await phone.get_lead("lead-000002")
            assert lead2.consent.sms is False  # the STOP revoked it, and it synced
            later = await phone.get("intervention_step", steps[1]["id"]) if len(steps) > 1 else None
            assert later is None or later.status is StepStatus.CANCELLED
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                assert await predict(http, "lead-000002") == []  # no channel left
        finally:
            await phone.close()


async def test_email_over_smtp_with_starttls_and_auth_and_the_cap(tmp_path, smtp):
    with run_server(
        tmp_path / "server.db", clock=clock, outreach=outreach_config(smtp=smtp)
    ) as server:
        phone = await open_phone(tmp_path / "phone.db", server)
        headers = {"authorization": f"Bearer {server.token()}"}
        try:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                steps = await predict(http, "lead-000003")
                assert len(steps) >= 2 and {s["channel"] for s in steps} == {"email"}
                done = await http.post(
                    f"{A}/intervention/execute", json={"step_id": steps[0]["id"]}
                )
                assert done.status_code == 200 and done.json()["status"] == "sent", done.text
                [mail] = smtp.envelopes
                assert mail.rcpt_tos == ["lead3@example.com"]
                assert mail.mail_from == "agents@brokerage.example"
                text = mail.content.decode()
                assert f"X-Realty-Edge-Step: {steps[0]['id']}" in text
                capped = await http.post(
                    f"{A}/intervention/execute", json={"step_id": steps[1]["id"]}
                )
                assert capped.status_code == 409 and capped.json()["reason"] == "cap"
                assert "at most one outreach per 24 h" in capped.json()["detail"]
                assert len(smtp.envelopes) == 1
        finally:
            await phone.close()


async def test_without_a_server_channel_the_step_is_a_task_said_so(tmp_path):
    with run_server(tmp_path / "server.db", clock=clock) as server:
        phone = await open_phone(tmp_path / "phone.db", server)
        headers = {"authorization": f"Bearer {server.token()}"}
        try:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                steps = await predict(http, "lead-000005")
                assert steps and {s["channel"] for s in steps} == {"call"}
                done = await http.post(
                    f"{A}/intervention/execute", json={"step_id": steps[0]["id"]}
                )
                assert done.status_code == 200 and done.json()["status"] == "due"
                assert "cannot place calls" in done.json()["delivery"]["detail"]
                assert done.json()["event"] is None
                by_hand = await http.post(
                    f"{A}/intervention/execute", json={"step_id": steps[0]["id"], "by_agent": True}
                )
                assert by_hand.status_code == 200 and by_hand.json()["status"] == "done"
                assert by_hand.json()["event"]["type"] == "call_out"
                schema = (await http.get("/schema/openapi.json")).json()
                execute = schema["paths"][f"{A}/intervention/execute"]["post"]
                assert "409" in execute["responses"]
                hook = schema["paths"]["/api/v1/outreach/webhook/{team_id}"]["post"]
                assert "401" in hook["responses"]
                # a webhook without a configured secret refuses everything
                hook = await http.post(
                    "/api/v1/outreach/webhook/team-a",
                    content=b"{}",
                    headers={"x-signature": sign("", b"{}", team="team-a")},
                )
                assert hook.status_code == 401 and "no webhook secret" in hook.json()["detail"]
        finally:
            await phone.close()


def message(step: InterventionStep, to: str) -> OutboundMessage:
    return OutboundMessage(
        step_id=step.id,
        lead_id=step.lead_id,
        lead_name="Ana",
        channel=step.channel,
        to=to,
        text="Hola",
        subject="Casa",
    )


STEP = InterventionStep(
    id="st-1",
    plan_id="p",
    lead_id="lead-000002",
    seq=0,
    channel=Channel.SMS,
    due_at=OPEN_MS,
    hour_of_week=10,
    message="Hola",
)


async def test_smtp_refusals_are_failed_and_nothing_is_received(smtp):
    # the refused login ends in the client's timeout against aiosmtpd: keep it short
    bad = SmtpChannel(outreach_config(smtp=smtp, smtp_password="wrong", smtp_timeout_s=1.0))
    mail = msgspec.structs.replace(STEP, channel=Channel.EMAIL)
    got = await bad.send(mail, message(mail, "ana@example.com"))
    assert got.status is DeliveryStatus.FAILED and "before sending" in got.detail
    down = SmtpChannel(outreach_config(smtp=smtp, smtp_port=free_port()))
    got = await down.send(mail, message(mail, "ana@example.com"))
    assert got.status is DeliveryStatus.FAILED and "cannot reach" in got.detail
    plain = SmtpChannel(outreach_config(smtp=smtp, smtp_starttls=False))
    got = await plain.send(mail, message(mail, "ana@example.com"))
    assert got.status is DeliveryStatus.FAILED  # auth is refused without TLS
    assert smtp.envelopes == []
    with pytest.raises(ValueError, match="smtp_host"):
        SmtpChannel(OutreachConfig())


async def test_provider_outcomes_are_told_apart():
    with run_provider() as provider:
        good = ProviderChannel(outreach_config(provider=provider), "team-a")
        wrong = ProviderChannel(outreach_config(provider=provider, provider_token="x"), "team-a")
        got = await wrong.send(STEP, message(STEP, "+1555"))
        assert got.status is DeliveryStatus.FAILED and "401" in got.detail
        down = ProviderChannel(
            outreach_config(provider_url=f"http://127.0.0.1:{free_port()}"), "team-a"
        )
        got = await down.send(STEP, message(STEP, "+1555"))
        assert got.status is DeliveryStatus.FAILED and "not reached" in got.detail
        call = msgspec.structs.replace(STEP, channel=Channel.CALL)
        assert (await good.send(call, message(call, "+1555"))).status is DeliveryStatus.MANUAL
        provider.hold = True
        slow = ProviderChannel(outreach_config(provider=provider, provider_timeout_s=0.3), "team-a")
        got = await slow.send(STEP, message(STEP, "+1555"))
        assert got.status is DeliveryStatus.UNKNOWN and "no answer" in got.detail
        provider.release()
        assert len(provider.messages) == 1  # it did arrive: unknown was the honest answer
    hooked = ProviderChannel(
        outreach_config(provider_url="http://127.0.0.1:9", public_url="https://crm.example/"),
        "team-b",
    )
    assert hooked.callback_url() == "https://crm.example/api/v1/outreach/webhook/team-b"
    with pytest.raises(ValueError, match="provider_url"):
        ProviderChannel(OutreachConfig(), "team-a")
    t = {"team": "team-a"}
    assert verify("s", b"x", sign("s", b"x", **t), **t)
    assert not verify("s", b"x", sign("t", b"x", **t), **t)
    assert not verify("", b"x", sign("", b"x", **t), **t) and not verify("s", b"x", None, **t)


def test_configuration_from_the_environment():
    cfg = OutreachConfig.from_env(
        {
            "REALTY_EDGE_SMTP_HOST": "mail.example",
            "REALTY_EDGE_SMTP_PORT": "2525",
            "REALTY_EDGE_SMTP_STARTTLS": "no",
            "REALTY_EDGE_PROVIDER_TIMEOUT_S": "2.5",
        }
    )
    assert (cfg.smtp_host, cfg.smtp_port, cfg.smtp_starttls, cfg.provider_timeout_s) == (
        "mail.example",
        2525,
        False,
        2.5,
    )
    with pytest.raises(ValueError, match="REALTY_EDGE_SMTP_PORT='x'"):
        OutreachConfig.from_env({"REALTY_EDGE_SMTP_PORT": "x"})
    with pytest.raises(ValueError, match="REALTY_EDGE_SMTP_STARTTLS"):
        OutreachConfig.from_env({"REALTY_EDGE_SMTP_STARTTLS": "maybe"})
    from typer.testing import CliRunner

    from tools.cli import app

    served = CliRunner().invoke(app, ["serve"], env={"REALTY_EDGE_SMTP_PORT": "x"})
    assert served.exit_code == 2 and "REALTY_EDGE_SMTP_PORT='x'" in served.output


CHILD = """
import asyncio, sys
from edge.runtime import EdgeRuntime
from server.outreach.config import OutreachConfig
from server.outreach.provider import ProviderChannel

async def main():
    rt = await EdgeRuntime.open(sys.argv[1], clock=lambda: int(sys.argv[3]))
    cfg = OutreachConfig(provider_url=sys.argv[2], provider_account="AC-test",
                         provider_token="tok-test", sms_from="+15550000001")
    print("sending", flush=True)
    await rt.execute_step("kill-s0", ProviderChannel(cfg, "team-a"))
    print("committed", flush=True)

asyncio.run(main())
"""


async def test_killed_between_acceptance_and_commit_the_message_went_once(tmp_path):
    db = tmp_path / "phone.db"
    rt = await EdgeRuntime.open(db, clock=clock)
    await rt.put(world())
    step = InterventionStep(
        id="kill-s0",
        plan_id="kill",
        lead_id="lead-000002",
        seq=0,
        channel=Channel.SMS,
        due_at=OPEN_MS,
        hour_of_week=10,
        message="Hola, ¿sigue buscando?",
    )
    await rt.save_plan(
        InterventionPlan(
            id="kill",
            lead_id="lead-000002",
            created_at=NOW_MS,
            steps=[step],
            executor=rt.device_id,
        ),
    )
    await rt.close()
    with run_provider() as provider:
        provider.hold = True  # accept and record, then wait: the sender dies meanwhile
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), provider.url, str(OPEN_MS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            got = await asyncio.to_thread(provider.accepted.wait, 60)
            assert got, "the child never reached the provider"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            out, _err = child.communicate(timeout=30)  # reaps it and closes its pipes
        assert child.returncode == -signal.SIGKILL
        assert b"sending" in out and b"committed" not in out
        provider.release()
        rt = await EdgeRuntime.open(db, clock=clock)  # the restart
        try:
            found = await rt.get("intervention_step", "kill-s0")
            assert found.status is StepStatus.UNKNOWN and "may have the message" in found.outcome
            cfg = outreach_config(provider=provider)
            with pytest.raises(Exception, match="is unknown"):
                await rt.execute_step("kill-s0", ProviderChannel(cfg, "team-a"))
            assert (await rt.run_due()).fired == []
        finally:
            await rt.close()
        assert len(provider.messages) == 1  # exactly once


async def test_two_phones_planning_one_lead_offline_converge_to_one_plan(tmp_path):
    with run_server(tmp_path / "server.db", clock=clock) as server:
        token = server.token()
        a = await open_phone(tmp_path / "a.db", server)
        b = await EdgeRuntime.open(tmp_path / "b.db", clock=clock)
        try:
            assert (await b.sync(server.url, token)).status == "ok"
            # offline, both phones plan the same lead
            pa = await a.plan_interventions("lead-000002")
            pb = await b.plan_interventions("lead-000002")
            assert pa.steps and pb.steps and pa.id != pb.id
            for phone in (a, b, a, b):
                assert (await phone.sync(server.url, token)).status == "ok"
            winner = max((pa, pb), key=lambda p: (p.created_at, p.id)).id
            loser = pb.id if winner == pa.id else pa.id
            for phone in (a, b):
                assert (await phone.plan("lead-000002")).id == winner
                assert (await phone.get("intervention_plan", loser)).status.value == "cancelled"
                active = "SELECT count(*) FROM intervention_plans WHERE status = 'active'"
                assert device_value(phone, active) == 1
                lost = device_rows(
                    phone, "SELECT status FROM intervention_steps WHERE plan_id = ?", (loser,)
                )
                assert {r[0] for r in lost} == {"cancelled"}
        finally:
            await a.close()
            await b.close()


class Picky:
    """An SMTP mailbox that refuses some senders, recipients and messages, or hangs up."""

    def __init__(self):
        self.envelopes: list = []

    async def handle_MAIL(self, server, session, envelope, address, options):
        if address.startswith("blocked@"):
            return "550 5.7.1 sender blocked"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if envelope.rcpt_tos[0].startswith("spam@"):
            return "554 5.7.1 message refused"
        self.envelopes.append(envelope)
        if envelope.rcpt_tos[0].startswith("drop@"):
            server.transport.close()  # accepted, then the line drops before the answer
        return "250 OK"


async def test_smtp_tells_refusals_from_a_lost_line():
    picky = Picky()
    controller = Controller(picky, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        cfg = OutreachConfig(
            smtp_host="127.0.0.1",
            smtp_port=controller.port,
            smtp_starttls=False,
            smtp_from="agents@brokerage.example",
            smtp_timeout_s=5.0,
        )
        mail = msgspec.structs.replace(STEP, channel=Channel.EMAIL)
        channel = SmtpChannel(cfg)
        for to, status, words in [
            ("nobody@x.example", "failed", "refused the message"),
            ("spam@x.example", "failed", "refused the data"),
            ("drop@x.example", "unknown", "connection lost"),
        ]:
            got = await channel.send(mail, message(mail, to))
            assert (got.status, words in got.detail) == (status, True), got.detail
        blocked = SmtpChannel(dataclasses.replace(cfg, smtp_from="blocked@brokerage.example"))
        got = await blocked.send(mail, message(mail, "ana@x.example"))
        assert got.status is DeliveryStatus.FAILED and "sender blocked" in got.detail
        assert [e.rcpt_tos for e in picky.envelopes] == [["drop@x.example"]]
    finally:
        controller.stop()


async def test_provider_errors_after_the_request_are_unknown():
    with run_provider() as provider:
        channel = ProviderChannel(outreach_config(provider=provider), "team-a")
        provider.answer_with = (503, b'{"error": "try later"}')
        got = await channel.send(STEP, message(STEP, "+1555"))
        assert got.status is DeliveryStatus.UNKNOWN and "503" in got.detail
        provider.answer_with = (201, b"<html>")
        got = await channel.send(STEP, message(STEP, "+1555"))
        assert got.status is DeliveryStatus.UNKNOWN
        assert len(provider.messages) == 2  # both arrived: unknown, not failed
        async with httpx.AsyncClient(base_url=provider.url, auth=("AC-test", "tok-test")) as http:
            assert (await http.post("/elsewhere", content=b"{}")).status_code == 404
            assert (await http.post("/messages", content=b"not json")).status_code == 400


async def test_the_webhook_refuses_bad_bodies_and_unknown_references(tmp_path):
    with provider_and_server(tmp_path) as (provider, server):
        provider.callback_status = "failed"
        phone = await open_phone(tmp_path / "phone.db", server)
        headers = {"authorization": f"Bearer {server.token()}"}
        try:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                steps = await predict(http, "lead-000004")  # WhatsApp only
                assert {s["channel"] for s in steps} == {"whatsapp"}
                done = await http.post(
                    f"{A}/intervention/execute", json={"step_id": steps[0]["id"]}
                )
                assert done.json()["status"] == "sent"
                assert provider.messages[0].channel == "whatsapp"
                assert provider.messages[0].from_ == "+15550000002"
                await wait_for(lambda: provider.callbacks)
                assert provider.callbacks[0][0] == 200  # "failed" after acceptance
            queued = {
                "type": "status",
                "message_id": "SM9",
                "reference": steps[0]["id"],
                "status": "queued",
            }
            assert provider.post(queued) == 200
            assert provider.post({**queued, "status": "delivered", "reference": "nope"}) == 404
            assert provider.post({"type": "status", "message_id": 5}) == 422
            assert (
                provider.post({"type": "inbound", "message_id": "m", "from": "+1999", "body": "hi"})
                == 404
            )
            hook = provider.webhook_url
            raw = b"{not json"
            team = hook.rsplit("/", 1)[-1]
            signed = sign(provider.secret, raw, team=team, at_s=provider.signed_at())
            bad = httpx.post(hook, content=raw, headers={"x-signature": signed})
            assert bad.status_code == 422 and bad.json()["path"] == "$"
            assert (await phone.sync(server.url, server.token())).status == "ok"
            stored = await phone.get("intervention_step", steps[0]["id"])
            assert stored.status is StepStatus.FAILED and "failed" in stored.outcome
        finally:
            await phone.close()


async def test_the_intervention_socket_replans_only_when_its_lead_changes(tmp_path):
    import json

    import websockets

    with run_server(tmp_path / "server.db", clock=clock) as server:
        token = server.token()
        phone = await open_phone(tmp_path / "phone.db", server)
        url = server.url.replace("http", "ws") + "/ws/advanced/realtime/intervention/lead-000002"
        try:
            async with websockets.connect(
                url, additional_headers={"authorization": f"Bearer {token}"}
            ) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert first["type"] == "plan"
                # planning on the socket is a read: the plan is sent, nothing is written
                assert (await phone.sync(server.url, token)).pulled == 0
                await asyncio.sleep(2.0)  # idle: four polls of the log
                assert (await phone.sync(server.url, token)).pulled == 0  # no writes
                await phone.update("lead", "lead-000003", name="Someone Else")
                await phone.put([event(990, lead_id="lead-000003", ts=OPEN_MS - 60_000)])
                assert (await phone.sync(server.url, token)).status == "ok"
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 1.2)  # another lead: no new plan
                await phone.put([event(991, lead_id="lead-000002", ts=OPEN_MS - 60_000)])
                assert (await phone.sync(server.url, token)).status == "ok"
                second = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert second["type"] == "plan" and second["plan"]["id"] != first["plan"]["id"]
                assert second["behaviour"]["events"] == first["behaviour"]["events"] + 1
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 1.2)  # its own plan: no loop
                await phone.update("lead", "lead-000002", name="Lead Two")
                assert (await phone.sync(server.url, token)).status == "ok"
                third = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert third["type"] == "plan"
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 1.2)  # its own plan: no loop
        finally:
            await phone.close()
