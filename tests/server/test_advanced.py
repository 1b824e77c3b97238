"""The advanced API on a real server on a real socket, fed by a real device's sync."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest
import websockets

from edge.runtime import EdgeRuntime
from sync.codec import Format, encode_batch
from tests.device_db import device_rows
from tests.factories import HOUR_MS, NOW_MS, small_world
from tests.live_server import run_server


async def synced_phone(tmp_path: Path, server, token: str) -> EdgeRuntime:
    phone = await EdgeRuntime.open(tmp_path / "phone.db")
    await phone.ingest(encode_batch(small_world(2, 5), Format.MSGPACK))
    assert (await phone.sync(server.url, token)).status == "ok"
    return phone


def client(server, token: str | None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60)


A = "/api/v1/advanced"
GOOD = [
    ("POST", f"{A}/analyze/comprehensive", {"lead_id": "lead-000001"}),
    ("POST", f"{A}/multi-language/detect", {"text": "¿Dónde está la casa que vimos ayer?"}),
    (
        "POST",
        f"{A}/multi-language/cultural/adapt",
        {"lead_id": "lead-000001", "intent": "follow_up_after_silence"},
    ),
    ("POST", f"{A}/intervention/predict", {"lead_id": "lead-000001"}),
    ("POST", f"{A}/personalization/profile/create", {"lead_id": "lead-000001"}),
    ("GET", f"{A}/personalization/recommendations/lead-000001", None),
    ("GET", f"{A}/privacy/leads/lead-000001/export", None),
    ("GET", f"{A}/models/", None),
    ("GET", f"{A}/models/signing-key", None),
    ("GET", f"{A}/models/retrain-runs", None),
]
#: (route, a body with one bad field, the path the refusal must name)
MALFORMED = [
    (f"{A}/analyze/comprehensive", {"lead_id": 5}, "lead_id"),
    (f"{A}/analyze/comprehensive", {"lead_id": "lead-000001", "extra": 1}, "extra"),
    (f"{A}/multi-language/detect", {"text": ""}, "text"),
    (f"{A}/multi-language/detect", {"audio_wav_base64": "!!not base64!!"}, "audio_wav_base64"),
    (f"{A}/multi-language/voice/process", {"audio_wav_base64": 3}, "audio_wav_base64"),
    (f"{A}/multi-language/cultural/adapt", {"lead_id": "lead-000001", "intent": "x"}, "intent"),
    (f"{A}/intervention/predict", {"lead_id": "bad id with spaces"}, "lead_id"),
    (f"{A}/intervention/execute", {}, "step_id"),
    (
        f"{A}/personalization/profile/create",
        {"lead_id": "lead-000001", "behavioral_data": {"no_such_feature": 1.0}},
        "behavioral_data",
    ),
]


async def test_every_route_answers_good_requests(tmp_path, server):
    token = server.token(role="team_admin")  # the export among them is a team admin's
    phone = await synced_phone(tmp_path, server, token)
    try:
        async with client(server, token) as http:
            for method, path, body in GOOD:
                response = await http.request(method, path, json=body)
                assert response.status_code == 200, (path, response.text)
            analysis = (await http.post(f"{A}/analyze/comprehensive", json=GOOD[0][2])).json()
            assert analysis["lead_id"] == "lead-000001" and analysis["language"] == "es"
            assert {"behaviour", "vertical", "profile", "recommendations", "plan"} <= set(analysis)
            detected = (await http.post(f"{A}/multi-language/detect", json=GOOD[1][2])).json()
            assert detected == {
                "language": "es",
                "confidence": detected["confidence"],
                "source": "text",
                "transcript": None,
            }
            health = (await http.get(f"{A}/health")).json()
            assert health["status"] == "ok" and set(health["features"]) >= {
                "language",
                "behaviour",
                "intervention",
                "personalization",
                "voice",
            }
            assert health["models"]["behaviour"] and health["models"]["language"]
            schema = (await http.get("/schema/openapi.json")).json()
            for _, path, _ in GOOD[:5]:
                assert path in schema["paths"], path
    finally:
        await phone.close()


async def test_profile_creates_a_new_lead_in_the_callers_partition_and_reaches_the_phone(
    tmp_path, server
):
    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    body = {
        "lead_id": "lead-new-1",
        "name": "Ana Nueva",
        "language": "es",
        "conversation_history": ["Hola, busco una casa con jardín", "¿Tiene tres recámaras?"],
        "behavioral_data": {},
        "property_interactions": [],
    }
    try:
        async with client(server, token) as http:
            profile = (await http.post(f"{A}/personalization/profile/create", json=body)).json()
            assert profile["lead_id"] == "lead-new-1" and profile["language"] == "es"
            recs = await http.get(
                f"{A}/personalization/recommendations/lead-000001",
                params={"context": json.dumps({"max_price": 900000}), "k": 2},
            )
            assert recs.status_code == 200 and len(recs.json()["recommendations"]) <= 2
        assert (await phone.sync(server.url, token)).status == "ok"
        lead = await phone.get("lead", "lead-new-1")
        assert lead.team_id == "team-a" and lead.name == "Ana Nueva"
    finally:
        await phone.close()


async def test_predict_then_save_then_execute_records_the_outreach_and_it_syncs(tmp_path):
    # The outreach rules read the lead's hour: noon in Mexico City, a Monday, no holiday.
    def noon() -> int:
        return NOW_MS + 2 * HOUR_MS

    with run_server(tmp_path / "server.db", clock=noon) as server:
        token = server.token()
        phone = await EdgeRuntime.open(tmp_path / "phone.db", clock=noon)
        await phone.ingest(encode_batch(small_world(2, 5), Format.MSGPACK))
        assert (await phone.sync(server.url, token)).status == "ok"
        try:
            async with client(server, token) as http:
                lead = {"lead_id": "lead-000002"}
                predicted = await http.post(f"{A}/intervention/predict", json=lead)
                assert predicted.json()["plan_saved"] is False
                proposed = predicted.json()["strategies"][0]["step_id"]
                unsaved = await http.post(f"{A}/intervention/execute", json={"step_id": proposed})
                assert unsaved.status_code == 404  # a prediction stores no plan
                saved = await http.post(f"{A}/intervention/plans", json=lead)
                assert saved.status_code == 201 and saved.json()["plan_saved"] is True
                strategies = saved.json()["strategies"]
                assert strategies and [s["rank"] for s in strategies] == list(
                    range(1, len(strategies) + 1)
                )
                p = [s["p_response"] for s in strategies]
                assert p == sorted(p, reverse=True)
                step = strategies[0]["step_id"]
                # no channel is configured on this server: the step is the agent's task
                sent = await http.post(f"{A}/intervention/execute", json={"step_id": step})
                assert sent.status_code == 200, sent.text
                assert sent.json()["status"] == "due" and sent.json()["event"] is None
                done = await http.post(
                    f"{A}/intervention/execute", json={"step_id": step, "by_agent": True}
                )
                assert done.status_code == 200, done.text
                event = done.json()["event"]
                assert event["lead_id"] == "lead-000002" and done.json()["outbox"]
                twice = await http.post(
                    f"{A}/intervention/execute", json={"step_id": step, "by_agent": True}
                )
                assert twice.status_code == 409 and twice.json()["reason"] == "not_pending"
                again = await http.post(f"{A}/intervention/execute", json={"step_id": "step-nope"})
                assert again.status_code == 404
            assert (await phone.sync(server.url, token)).status == "ok"
            assert (await phone.get("event", event["id"])).lead_id == "lead-000002"
        finally:
            await phone.close()


@pytest.mark.parametrize(("path", "body", "field"), MALFORMED)
async def test_malformed_bodies_are_4xx_naming_the_field(tmp_path, server, path, body, field):
    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    try:
        async with client(server, token) as http:
            response = await http.post(path, json=body)
        assert 400 <= response.status_code < 500, response.text
        answer = response.json()
        assert field in (answer.get("path") or "") + answer["detail"], answer
    finally:
        await phone.close()


async def test_not_json_oversized_and_wrong_query_are_4xx(server):
    async with client(server, server.token()) as http:
        garbage = await http.post(
            f"{A}/analyze/comprehensive",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert garbage.status_code == 400
        huge = await http.post(
            f"{A}/multi-language/detect", json={"text": "a" * (server.config.max_body_bytes + 10)}
        )
        assert huge.status_code == 413
        long_text = await http.post(f"{A}/multi-language/detect", json={"text": "a" * 20_001})
        assert long_text.status_code == 400 and long_text.json()["path"] == "body.text"
        bad_context = await http.get(
            f"{A}/personalization/recommendations/lead-000001", params={"context": "{"}
        )
        assert bad_context.status_code == 422 and bad_context.json()["path"] == "query.context"
        bad_k = await http.get(f"{A}/personalization/recommendations/x", params={"k": 0})
        assert bad_k.status_code == 400 and "k" in bad_k.json()["path"]


@pytest.mark.parametrize(("method", "path", "body"), GOOD)
async def test_missing_and_foreign_tokens(tmp_path, server, method, path, body):
    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    try:
        async with client(server, None) as http:
            missing = await http.request(method, path, json=body)
        assert missing.status_code == 401
        assert missing.json()["code"] == "unauthorized"
        foreign = server.token(agent="agent-09", team="team-b", role="team_admin")
        async with client(server, foreign) as http:
            other = await http.request(method, path, json=body)
        if "lead-000001" in path or (body and body.get("lead_id") == "lead-000001"):
            if "profile/create" in path:  # a new, separate lead in team-b's partition
                assert other.status_code == 200
                assert other.json()["lead_id"] == "lead-000001"
            else:
                assert other.status_code == 404, other.text
                assert other.json()["code"] == "not_found"
        else:
            assert other.status_code == 200
    finally:
        await phone.close()


async def test_export_then_erase_reaches_the_phone(tmp_path, server):
    token = server.token(role="team_admin")
    phone = await synced_phone(tmp_path, server, token)
    try:
        async with client(server, token) as http:
            export = (await http.get(f"{A}/privacy/leads/lead-000001/export")).json()
            kinds = {r["entity"] for r in export["records"]}
            assert {"lead", "event"} <= kinds and export["changes"]
            foreign = server.token(agent="agent-09", team="team-b", role="team_admin")
            async with client(server, foreign) as other:
                refused = await other.delete(f"{A}/privacy/leads/lead-000001")
                assert refused.status_code == 404
            erased = await http.delete(f"{A}/privacy/leads/lead-000001")
            assert erased.status_code == 200 and erased.json()["records_erased"] == 6
            assert (await http.get(f"{A}/privacy/leads/lead-000001/export")).status_code == 404
            assert (await http.delete(f"{A}/privacy/leads/lead-000001")).status_code == 404
            gone = await http.post(f"{A}/analyze/comprehensive", json={"lead_id": "lead-000001"})
            assert gone.status_code == 404
        assert (await phone.sync(server.url, token)).status == "ok"
        rows = device_rows(
            phone,
            "SELECT (SELECT count(*) FROM leads WHERE id = 'lead-000001'), "
            "(SELECT count(*) FROM events WHERE lead_id = 'lead-000001')",
        )
        assert rows == [(0, 0)]
    finally:
        await phone.close()


# --- WebSockets ----------------------------------------------------------------------------


def ws_url(server, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


async def test_realtime_transcription_streams_partials_then_a_korean_final(server, korean_clip):
    from edge.voice import read_wav

    pcm = read_wav(korean_clip).to_bytes()
    chunk = 16_000 // 5 * 2  # 0.2 s
    url = ws_url(server, f"/ws/advanced/realtime/multi-language/s1?token={server.token()}")
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "language": "ko"}))
        for i in range(0, len(pcm), chunk):
            await ws.send(pcm[i : i + chunk])
        await ws.send(json.dumps({"type": "end"}))
        messages = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            messages.append(message)
            if message["type"] in ("final", "error"):
                break
    partials = [m for m in messages if m["type"] == "partial"]
    final = messages[-1]
    assert final["type"] == "final", final
    assert len(partials) >= 3 and all(p["language"] == "ko" for p in partials)
    assert final["language"] == "ko" and "출감" in final["text"]
    assert final["duration_s"] == pytest.approx(9.32, abs=0.01)


async def test_voice_process_and_detect_take_a_base64_wav(tmp_path, server, korean_clip):
    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    audio = base64.b64encode(korean_clip.read_bytes()).decode()
    try:
        async with client(server, token) as http:
            voice = await http.post(
                f"{A}/multi-language/voice/process",
                json={"audio_wav_base64": audio, "language": "ko", "lead_id": "lead-000001"},
            )
            assert voice.status_code == 200, voice.text
            assert voice.json()["language"] == "ko" and "출감" in voice.json()["text"]
            assert voice.json()["event_id"]
            detect = await http.post(f"{A}/multi-language/detect", json={"audio_wav_base64": audio})
            assert detect.status_code == 200 and detect.json()["source"] == "audio"
            assert detect.json()["language"] == "ko"
            not_wav = base64.b64encode(b"RIFF0000WAVEjunkjunk").decode()
            bad = await http.post(
                f"{A}/multi-language/voice/process", json={"audio_wav_base64": not_wav}
            )
            assert bad.status_code == 422 and bad.json()["path"] == "$.audio_wav_base64"
        assert (await phone.sync(server.url, token)).status == "ok"
        note = await phone.get("event", voice.json()["event_id"])
        assert note.type == "voice_note" and note.lead_id == "lead-000001"
    finally:
        await phone.close()


async def test_websockets_refuse_missing_and_bad_tokens(server):
    for path in ("/ws/advanced/realtime/multi-language/s1", "/ws/advanced/realtime/intervention/x"):
        for suffix in ("", "?token=re1.bad.token"):
            with pytest.raises(websockets.exceptions.WebSocketException):
                async with websockets.connect(ws_url(server, path + suffix)) as ws:
                    await asyncio.wait_for(ws.recv(), 10)


async def test_realtime_intervention_pushes_a_new_plan_as_events_arrive(tmp_path, server):
    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    try:
        url = ws_url(server, "/ws/advanced/realtime/intervention/lead-000002")
        headers = {"authorization": f"Bearer {token}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert first["type"] == "plan" and first["lead_id"] == "lead-000002"
            event = {
                "kind": "event",
                "id": "ev-ws-1",
                "lead_id": "lead-000002",
                "type": "message_in",
                "ts": server.config.clock() - 60_000,
                "channel": "sms",
                "text": "Sí, me interesa verla este sábado",
            }
            await ws.send(json.dumps({"type": "event", "event": event}))
            second = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert second["type"] == "plan" and second["behaviour"]["events"] == (
                first["behaviour"]["events"] + 1
            )
            # An event synced from the phone arrives too, without the client asking.
            await phone.update("lead", "lead-000002", name="Lead Two")
            assert (await phone.sync(server.url, token)).status == "ok"
            third = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert third["type"] == "plan"
            await ws.send(json.dumps({"type": "event", "event": {**event, "lead_id": "lead-x"}}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert refused["type"] == "error" and refused["path"] == "$.event.lead_id"
        foreign = server.token(agent="agent-09", team="team-b")
        url = ws_url(server, f"/ws/advanced/realtime/intervention/lead-000002?token={foreign}")
        async with websockets.connect(url) as ws:
            answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert answer["type"] == "error" and answer["code"] == "not_found"
    finally:
        await phone.close()
