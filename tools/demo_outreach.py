"""The demo's outreach tour: a server sends through a local SMTP server and a provider stand-in.

A second loopback server, with its clock at noon on a weekday in the leads' zone (so that the
contact-hours rule lets texts go whatever the hour of the demo), sends one e-mail and one text,
takes a reply that pauses a plan and an opt-out (``ALTO``) that revokes SMS consent, and shows
the refusals: the same step again, the frequency cap, the plan that no longer uses SMS.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from edge.runtime import EdgeRuntime
from server.local import run_server
from server.outreach.config import OutreachConfig
from server.outreach.standin import run_provider
from sync.records import Agent, Consent, Event, EventType, Lead, Listing, Location

#: Monday 2025-11-24 18:00 UTC: noon in Mexico City.
NOON_MS = 1_764_007_200_000
HOUR_MS = 3_600_000
A = "/api/v1/advanced"


def tour_records() -> list[Any]:
    """One agent, one listing, Ana (texts and WhatsApp allowed) and Bo (e-mail only)."""
    agent = Agent(id="agent-01", team_id="team-a", name="Agent One", languages=["en", "es"])
    listing = Listing(
        id="lst-1",
        price=450_000.0,
        sqft=1500.0,
        beds=3,
        baths=2.0,
        location=Location(city="Ciudad de México"),
    )

    def lead(**kw: Any) -> Lead:
        return Lead(
            agent_id="agent-01",
            team_id="team-a",
            timezone="America/Mexico_City",
            country="MX",
            created_at=NOON_MS - 30 * 24 * HOUR_MS,
            **kw,
        )

    ana = lead(
        id="lead-ana",
        name="Ana",
        language="es",
        locale="es_MX",
        phone="+52 55 1234 5678",
        consent=Consent(sms=True, whatsapp=True),
    )
    bo = lead(
        id="lead-bo",
        name="Bo",
        language="en",
        locale="en_US",
        email="bo@example.com",
        consent=Consent(email=True),
    )
    views = [
        Event(
            id=f"ev-{lead.id}-{k}",
            lead_id=lead.id,
            type=EventType.PROPERTY_VIEW,
            ts=NOON_MS - (k + 1) * 20 * HOUR_MS,
            listing_id="lst-1",
            dwell_s=60.0,
        )
        for lead in (ana, bo)
        for k in range(3)
    ]
    return [agent, listing, ana, bo, *views]


class Mailbox:
    """The local SMTP server's inbox."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def outreach_tour(workdir: Path, console: Console) -> dict[str, Any]:
    """Run the tour (see the module docstring); what happened, for the report and the test."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    out: dict[str, Any] = {}
    try:
        with run_provider() as provider:
            config = OutreachConfig(
                smtp_host="127.0.0.1",
                smtp_port=smtp.port,
                smtp_starttls=False,
                smtp_from="Agents <agents@brokerage.example>",
                provider_url=provider.url,
                provider_account=provider.account,
                provider_token=provider.token,
                sms_from="+15550000001",
                whatsapp_from="+15550000002",
                webhook_secret=provider.secret,
            )
            with run_server(
                workdir / "outreach.db", clock=lambda: NOON_MS, outreach=config
            ) as server:
                provider.webhook_url = f"{server.url}/api/v1/outreach/webhook/team-a"
                provider.clock = lambda: NOON_MS  # signs its callbacks at the server's time
                phone = await EdgeRuntime.open(workdir / "outreach-phone.db", clock=lambda: NOON_MS)
                try:
                    await phone.put(tour_records())
                    await phone.sync(server.url, server.token())
                    # a team admin's token: the tour also reads Ana's export
                    headers = {"authorization": f"Bearer {server.token(role='team_admin')}"}
                    async with httpx.AsyncClient(
                        base_url=server.url, headers=headers, timeout=60
                    ) as http:
                        out = await _tour(http, provider, mailbox, console)
                finally:
                    await phone.close()
    finally:
        smtp.stop()
    return out


async def _tour(
    http: httpx.AsyncClient, provider: Any, mailbox: Mailbox, console: Console
) -> dict[str, Any]:
    async def plan(lead_id: str) -> dict[str, Any]:
        """Plan the lead and store the plan (predicting alone stores nothing)."""
        answer = await http.post(f"{A}/intervention/plans", json={"lead_id": lead_id})
        answer.raise_for_status()
        return dict(answer.json()["plan"])

    async def execute(step_id: str) -> httpx.Response:
        return await http.post(f"{A}/intervention/execute", json={"step_id": step_id})

    out: dict[str, Any] = {}
    bo = await plan("lead-bo")
    sent = (await execute(bo["steps"][0]["id"])).json()
    out["email"] = sent["status"]
    console.print(
        f"[green]✓[/] e-mail to Bo: {sent['status']} ({sent['delivery']['detail']}); "
        f"{len(mailbox.envelopes)} message in the local SMTP inbox"
    )
    capped = (await execute(bo["steps"][1]["id"])).json()
    out["cap"] = capped["reason"]
    console.print(f"[green]✓[/] Bo's next step now: 409 {capped['reason']} ({capped['detail']})")
    ana = await plan("lead-ana")
    first = ana["steps"][0]
    sent = (await execute(first["id"])).json()
    out["text"] = sent["status"]
    console.print(
        f"[green]✓[/] {first['channel']} to Ana: {sent['status']} ({sent['delivery']['detail']})"
    )
    again = (await execute(first["id"])).json()
    out["again"] = again["reason"]
    console.print(
        f"[green]✓[/] the same step again: 409 {again['reason']}; the provider holds "
        f"{len(provider.messages)} message"
    )
    channel = first["channel"]
    provider.inbound("+525512345678", "¿Podemos verla el sábado?", channel=channel)
    paused = await http.get(f"{A}/privacy/leads/lead-ana/export")
    status = {
        r["id"]: r.get("status")
        for r in paused.json()["records"]
        if r["entity"] == "intervention_plan"
    }
    out["reply"] = status.get(ana["id"])
    console.print(f"[green]✓[/] Ana replied: her plan is {out['reply']}")
    provider.inbound("+525512345678", "ALTO", channel=channel)
    later = (await execute(ana["steps"][-1]["id"])).json()
    out["after_opt_out"] = later["reason"]
    replanned = await plan("lead-ana")
    out["opted_out"] = channel
    out["channel_in_new_plan"] = any(s["channel"] == channel for s in replanned["steps"])
    console.print(
        f"[green]✓[/] Ana wrote ALTO on {channel}: its consent is revoked; her later "
        f"step: 409 {later['reason']}; the new plan: {replanned['reason']}"
    )
    out["provider_messages"] = len(provider.messages)
    out["emails"] = len(mailbox.envelopes)
    return out
