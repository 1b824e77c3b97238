"""The demo's outreach tour: real SMTP server and provider stand-in on loopback."""

from __future__ import annotations

import io

from rich.console import Console

from tools.demo_outreach import outreach_tour


async def test_the_outreach_tour_sends_once_pauses_on_a_reply_and_stops_on_alto(tmp_path):
    out = io.StringIO()
    figures = await outreach_tour(tmp_path, Console(file=out, width=200))
    text = out.getvalue()
    assert figures["email"] == "sent" and figures["emails"] == 1, text
    assert figures["cap"] == "cap"
    assert figures["text"] == "sent" and figures["again"] == "not_pending"
    assert figures["reply"] == "paused"
    assert figures["after_opt_out"] == "not_pending"
    assert figures["opted_out"] in ("sms", "whatsapp")
    assert figures["channel_in_new_plan"] is False
    assert f"{figures['opted_out']} (opted out)" in text
    assert figures["provider_messages"] == 1
