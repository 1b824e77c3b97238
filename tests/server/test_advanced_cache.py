"""The advanced API's cached reads answer what a fresh computation would, after any change."""

from __future__ import annotations

import asyncio

from edge.runtime import EdgeRuntime
from tests.server.test_advanced import A, client, synced_phone


async def test_analysis_follows_a_phones_new_event(tmp_path, server):
    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    body = {"lead_id": "lead-000001"}
    try:
        async with client(server, token) as http:
            first = (await http.post(f"{A}/analyze/comprehensive", json=body)).json()
            again = (await http.post(f"{A}/analyze/comprehensive", json=body)).json()
            assert again == first
            await asyncio.sleep(0.01)
            await phone.record_event("lead-000001", "message_in", text="¿Podemos verla hoy?")
            assert (await phone.sync(server.url, token)).status == "ok"
            after = (await http.post(f"{A}/analyze/comprehensive", json=body)).json()
            assert after["computed_at"] > first["computed_at"]
    finally:
        await phone.close()


async def test_a_cached_context_still_takes_each_requests_overrides(tmp_path, server):
    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    path = f"{A}/multi-language/cultural/adapt"
    ask = {"lead_id": "lead-000001", "intent": "first_contact"}
    try:
        async with client(server, token) as http:
            plain = await http.post(path, json=ask)
            assert plain.status_code == 200, plain.text
            named = await http.post(path, json={**ask, "context": {"agent_name": "Zacarías"}})
            assert "Zacarías" in named.json()["text"]
            assert "Zacarías" not in (await http.post(path, json=ask)).json()["text"]
            bad = await http.post(path, json={**ask, "context": {"no_such_field": 1}})
            assert bad.status_code == 400, bad.text  # unknown keys are refused by the decoder
            assert bad.json()["path"] == "body.context.no_such_field", bad.text
            unknown = await http.post(path, json={**ask, "lead_id": "lead-999999"})
            assert unknown.status_code == 404 and unknown.json()["path"] == "$.lead_id"
    finally:
        await phone.close()


async def test_recommendations_are_cached_per_lead_context_and_k(tmp_path, server):
    token = server.token()
    phone: EdgeRuntime = await synced_phone(tmp_path, server, token)
    path = f"{A}/personalization/recommendations/lead-000001"
    try:
        async with client(server, token) as http:
            two = (await http.get(path, params={"k": 2})).json()["recommendations"]
            one = (await http.get(path, params={"k": 1})).json()["recommendations"]
            assert len(one) <= 1 and one == two[:1]
            missing = await http.get(f"{A}/personalization/recommendations/lead-999999")
            assert missing.status_code == 404 and missing.json()["path"] == "path.lead_id"
    finally:
        await phone.close()
