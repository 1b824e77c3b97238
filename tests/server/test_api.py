"""The sync server's HTTP API on a real socket: auth, partitions, errors, push, pull."""

from __future__ import annotations

import gzip
import time

import httpx
import msgspec
import pytest

from edge.rows import record_fields
from sync.changes import Change, ChangeBatch, Tombstone
from sync.clock import Hlc
from sync.version import SCHEMA_VERSION
from tests.factories import event, lead
from tests.live_server import HOUR_MS, run_server

DEVICE = "dev-phone-1"


def now_ms() -> int:
    return int(time.time() * 1000)


def lead_change(i: int, seq: int, *, device: str = DEVICE, team: str = "team-a", **kw) -> Change:
    fields = record_fields(lead(i, team_id=team, **kw))
    return Change(
        entity="lead",
        entity_id=f"lead-{i:06d}",
        fields=fields,
        hlc=Hlc(now_ms(), seq, device).encode(),
        device_id=device,
        seq=seq,
    )


def batch(*changes, device: str = DEVICE, **kw) -> bytes:
    return msgspec.json.encode(ChangeBatch(device_id=device, changes=list(changes), **kw))


def client(live, token: str | None = None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=live.url, headers=headers, timeout=10)


def push(http: httpx.Client, body: bytes, **headers) -> httpx.Response:
    return http.post(
        "/api/v1/sync/push", content=body, headers={"content-type": "application/json", **headers}
    )


PROTECTED = [
    ("POST", "/api/v1/sync/push"),
    ("GET", "/api/v1/sync/pull"),
    ("POST", "/api/v1/sync/pull"),
    ("GET", "/api/v1/sync/conflicts"),
    ("GET", "/api/v1/sync/records/lead/lead-000001"),
    ("GET", "/api/v1/sync/devices/dev-phone-1"),
]


def test_public_routes_need_no_token(server):
    with client(server) as http:
        health = http.get("/api/v1/advanced/health").json()
        assert {k: health[k] for k in ("type", "protocol", "status", "version")} == {
            "type": "health",
            "protocol": 1,
            "status": "ok",
            "version": "0.1.0",
        }
        assert health["features"]["language"]["status"] == "ok"
        schema = http.get("/schema/openapi.json").json()
        assert "/api/v1/sync/push" in schema["paths"]
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert "realty_edge_sync_changes_total" in metrics.text
        assert "realty_edge_sync_push_seconds_bucket" in metrics.text


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_protected_route_refuses_missing_bad_and_expired_tokens(server, method, path):
    good = server.token()
    expired = server.token(ttl_ms=-1)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for token in (None, "not-a-token", forged, expired):
        with client(server, token) as http:
            r = http.request(method, path)
        assert r.status_code == 401, (token, r.text)
        assert r.json()["code"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")
    with client(server, expired) as http:
        assert "expired" in http.get("/api/v1/sync/pull").json()["detail"]


def test_push_is_idempotent_and_pull_pages_resume(server):
    with client(server, server.token()) as http:
        body = batch(*(lead_change(i, i) for i in range(1, 11)))
        first = push(http, body)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "type": "push_result",
            "protocol": 1,
            "device_id": DEVICE,
            "accepted": 10,
            "acked_through": 10,
            "conflicts": 0,
            "schema_version": SCHEMA_VERSION,
        }
        again = push(http, body)
        assert again.json() == first.json()
        pages, after = [], 0
        while True:
            page = http.get("/api/v1/sync/pull", params={"after": after, "limit": 3}).json()
            pages.append([c["seq"] for c in page["changes"]])
            after = page["checkpoint"]
            if not page["has_more"]:
                break
        assert pages == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
        resumed = http.post(
            "/api/v1/sync/pull",
            content=msgspec.json.encode({"type": "pull_request", "after": 6, "limit": 500}),
        ).json()
        assert [c["seq"] for c in resumed["changes"]] == [7, 8, 9, 10]
        device = http.get(f"/api/v1/sync/devices/{DEVICE}").json()
        assert (device["acked_through"], device["changes"]) == (10, 10)


def test_msgpack_gzip_push_and_msgpack_pull(server):
    body = gzip.compress(
        msgspec.msgpack.encode(ChangeBatch(device_id=DEVICE, changes=[lead_change(1, 1)]))
    )
    with client(server, server.token()) as http:
        r = http.post(
            "/api/v1/sync/push",
            content=body,
            headers={
                "content-type": "application/msgpack",
                "content-encoding": "gzip",
                "accept": "application/msgpack",
            },
        )
        assert r.status_code == 200
        assert msgspec.msgpack.decode(r.content)["accepted"] == 1
        page = http.get("/api/v1/sync/pull", headers={"accept": "application/msgpack"})
        assert msgspec.msgpack.decode(page.content)["checkpoint"] == 1


def test_concurrent_writes_are_merged_per_field_and_logged(server):
    with client(server, server.token()) as http:
        push(http, batch(lead_change(1, 1, name="Ana")))
        later = Change(
            entity="lead",
            entity_id="lead-000001",
            fields={"name": "Ana María"},
            hlc=Hlc(now_ms() + 5, 0, "dev-phone-2").encode(),
            device_id="dev-phone-2",
            seq=1,
        )
        r = push(http, batch(later, device="dev-phone-2"))
        assert r.json()["conflicts"] == 1
        state = http.get("/api/v1/sync/records/lead/lead-000001").json()
        assert state["fields"]["name"] == "Ana María"
        assert state["field_hlcs"]["name"] == later.hlc
        log = http.get("/api/v1/sync/conflicts", params={"entity_id": "lead-000001"}).json()
        assert [(c["loser_value"], c["winner_value"]) for c in log["conflicts"]] == [
            ("Ana", "Ana María")
        ]


def test_hard_erase_removes_values_history_and_conflicts(server):
    with client(server, server.token()) as http:
        ev = event(1, lead_id="lead-000001", listing_id=None)
        ev_change = Change(
            entity="event",
            entity_id=ev.id,
            fields=record_fields(ev),
            hlc=Hlc(now_ms(), 5, DEVICE).encode(),
            device_id=DEVICE,
            seq=2,
        )
        push(http, batch(lead_change(1, 1), ev_change))
        erase = Tombstone(
            entity="lead",
            entity_id="lead-000001",
            hlc=Hlc(now_ms() + 10, 0, DEVICE).encode(),
            device_id=DEVICE,
            seq=3,
            hard_erase=True,
        )
        assert push(http, batch(erase)).status_code == 200
        page = http.get("/api/v1/sync/pull").json()
        assert [(c["op"], c["entity"]) for c in page["changes"]] == [("tombstone", "lead")]
        for kind, rid in (("lead", "lead-000001"), ("event", ev.id)):
            state = http.get(f"/api/v1/sync/records/{kind}/{rid}").json()
            assert (state["exists"], state["erased"], state["fields"]) == (False, True, {})


def test_cross_team_reads_and_writes_are_404_on_every_route(server):
    with client(server, server.token(team="team-a")) as a:
        assert push(a, batch(lead_change(1, 1))).status_code == 200
        rival = Change(
            entity="lead",
            entity_id="lead-000001",
            fields={"name": "rival"},
            hlc=Hlc(now_ms() + 5, 0, "dev-a2").encode(),
            device_id="dev-a2",
            seq=1,
        )
        assert push(a, batch(rival, device="dev-a2")).json()["conflicts"] == 1
    with client(server, server.token(agent="agent-77", team="team-b")) as b:
        # Writes: a lead naming team-a, an event on team-a's lead, and team-a's device id.
        r = push(b, batch(lead_change(1, 1, device="dev-b", team="team-a"), device="dev-b"))
        assert (r.status_code, r.json()["path"]) == (404, "$.changes[0].fields.team_id")
        ev = event(1, lead_id="lead-000001", listing_id=None)
        change = Change(
            entity="event",
            entity_id=ev.id,
            fields=record_fields(ev),
            hlc=Hlc(now_ms(), 0, "dev-b").encode(),
            device_id="dev-b",
            seq=1,
        )
        r = push(b, batch(change, device="dev-b"))
        assert (r.status_code, r.json()["path"]) == (404, "$.changes[0].fields.lead_id")
        r = push(b, batch(lead_change(5, 1, team="team-b")))
        assert (r.status_code, r.json()["path"]) == (404, "$.device_id")
        # Reads.
        assert b.get("/api/v1/sync/records/lead/lead-000001").status_code == 404
        assert b.get(f"/api/v1/sync/devices/{DEVICE}").status_code == 404
        r = b.get("/api/v1/sync/conflicts", params={"entity_id": "lead-000001"})
        assert r.status_code == 404
        assert b.get("/api/v1/sync/pull").json()["changes"] == []
        assert b.get("/api/v1/sync/conflicts").json()["conflicts"] == []
        # Team b's own lead with the same id is its own record, not team a's.
        assert push(b, batch(lead_change(1, 1, device="dev-b", team="team-b"), device="dev-b"))
        state = b.get("/api/v1/sync/records/lead/lead-000001").json()
        assert state["fields"]["team_id"] == "team-b"
    with client(server, server.token(team="team-a")) as a:
        state = a.get("/api/v1/sync/records/lead/lead-000001").json()
        assert state["fields"]["team_id"] == "team-a"


@pytest.mark.parametrize(
    ("body", "status", "code", "path"),
    [
        (b"{not json", 400, "malformed_body", None),
        (b"", 422, "invalid_request", "$"),
        (
            b'{"device_id": "d", "changes": [{"op": "change"}]}',
            422,
            "invalid_request",
            "$.changes[0]",
        ),
        (
            b'{"device_id": "dev-phone-1", "changes": [{"op": "change", "entity": "lead",'
            b' "entity_id": "l1", "fields": {}, "hlc": "000000000000001-000000-dev-phone-1",'
            b' "device_id": "dev-phone-1", "seq": 0}]}',
            422,
            "invalid_request",
            "$.changes[0].seq",
        ),
    ],
)
def test_malformed_bodies_are_4xx_naming_the_field(server, body, status, code, path):
    with client(server, server.token()) as http:
        r = push(http, body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    if path is not None:
        assert r.json()["path"].startswith(path)
    assert "Traceback" not in r.text


def test_bad_field_values_name_the_record_field(server):
    bad = msgspec.structs.replace(
        lead_change(1, 1), fields={**lead_change(1, 1).fields, "budget_min": -5}
    )
    unknown = msgspec.structs.replace(lead_change(2, 2), fields={"favourite_colour": "red"})
    with client(server, server.token()) as http:
        r = push(http, batch(bad))
        assert (r.status_code, r.json()["path"]) == (422, "$.changes[0].fields.budget_min")
        r = push(http, batch(unknown))
        assert (r.status_code, r.json()["path"]) == (422, "$.changes[0].fields.favourite_colour")
        r = http.get("/api/v1/sync/pull", params={"limit": 0})
        assert (r.status_code, r.json()["path"]) == (400, "query.limit")


def test_newer_schema_version_is_refused_with_a_clear_code(server):
    with client(server, server.token()) as http:
        r = push(http, batch(lead_change(1, 1), schema_version=SCHEMA_VERSION + 1))
        assert r.status_code == 409
        assert r.json()["code"] == "schema_version_unsupported"
        assert r.json()["path"] == "$.schema_version"
        assert http.get("/api/v1/sync/pull").json()["changes"] == []


def test_a_clock_too_far_ahead_is_refused(server):
    ahead = msgspec.structs.replace(
        lead_change(1, 1), hlc=Hlc(now_ms() + 24 * HOUR_MS, 0, DEVICE).encode()
    )
    with client(server, server.token()) as http:
        r = push(http, batch(ahead))
        assert (r.status_code, r.json()["code"]) == (422, "clock_ahead")
        assert r.json()["path"] == "$.changes[0].hlc"


def test_oversized_unsupported_and_bomb_bodies(tmp_path):
    limits = {"max_body_bytes": 20_000, "max_decoded_bytes": 50_000}
    with run_server(tmp_path / "s.db", **limits) as live, client(live, live.token()) as http:
        big = batch(*(lead_change(i, i) for i in range(1, 200)))
        r = push(http, big)
        assert (r.status_code, r.json()["code"]) == (413, "body_too_large")
        bomb = gzip.compress(b" " * 1_000_000)
        r = push(http, bomb, **{"content-encoding": "gzip"})
        assert (r.status_code, r.json()["code"]) == (413, "body_too_large")
        r = push(http, b"{}", **{"content-encoding": "br"})
        assert (r.status_code, r.json()["code"]) == (415, "unsupported_media")


def test_rate_limit_per_token_answers_429_with_retry_after(tmp_path):
    with run_server(tmp_path / "s.db", rate_per_s=0.5, rate_burst=3) as live:
        token, other = live.token(), live.token(agent="agent-02")
        with client(live, token) as http:
            codes = [http.get("/api/v1/sync/pull").status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            r = http.get("/api/v1/sync/pull")
            assert r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
        with client(live, other) as http:
            assert http.get("/api/v1/sync/pull").status_code == 200


def test_unknown_route_is_a_404_body(server):
    with client(server, server.token()) as http:
        r = http.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
