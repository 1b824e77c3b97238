"""Issue 17, items 7-10: natural input, reads that never write, the OpenAPI contract, models."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from tests.live_server import run_server
from tests.server.test_advanced import A, client, synced_phone

LEAD = "lead-000001"
ADAPT = f"{A}/multi-language/cultural/adapt"


@pytest.fixture
def server(tmp_path):
    with run_server(tmp_path / "server.db") as live:
        yield live


@pytest.fixture
async def http(tmp_path, server):
    """A client of team-a (a team admin: it reads exports), whose phone synced two leads with
    five events each."""
    token = server.token(role="team_admin")
    phone = await synced_phone(tmp_path, server, token)
    try:
        async with client(server, token) as c:
            yield c
    finally:
        await phone.close()


async def log_position(http: httpx.AsyncClient) -> int:
    """The checkpoint of the team's change log (pulled to its end)."""
    after = 0
    while True:
        page = (await http.get("/api/v1/sync/pull", params={"after": after})).json()
        after = page["checkpoint"]
        if not page["has_more"]:
            return after


# --- 7. natural input is understood or refused naming the field ------------------------------


async def test_an_event_naming_a_listing_the_store_does_not_hold_is_understood(http):
    before = (await http.post(f"{A}/analyze/comprehensive", json={"lead_id": LEAD})).json()
    event = {
        "kind": "event",
        "id": "ev-mls-1",
        "lead_id": LEAD,
        "type": "property_view",
        "ts": before["computed_at"] - 60_000,
        "listing_id": "NWMLS-2207431",
    }
    answer = await http.post(
        f"{A}/analyze/comprehensive", json={"lead_id": LEAD, "events": [event]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["behaviour"]["events"] == before["behaviour"]["events"] + 1


async def test_money_strings_in_a_message_context_are_understood(http):
    answer = await http.post(
        ADAPT,
        json={"lead_id": LEAD, "intent": "offer_update", "context": {"offer_amount": "$450,000"}},
    )
    assert answer.status_code == 200, answer.text
    assert "450,000" in answer.json()["text"]
    for typed in ("450k", "USD 450,000", 450000):
        again = await http.post(
            ADAPT,
            json={"lead_id": LEAD, "intent": "offer_update", "context": {"offer_amount": typed}},
        )
        assert again.json()["text"] == answer.json()["text"], typed


async def test_an_iso_8601_showing_time_is_understood_in_the_leads_zone(http):
    drafts = []
    for when in ("2026-12-05T17:00:00Z", "2026-12-05T11:00:00", 1796490000000):
        answer = await http.post(
            ADAPT,
            json={"lead_id": LEAD, "intent": "showing_reminder", "context": {"showing_at": when}},
        )
        assert answer.status_code == 200, answer.text
        drafts.append(answer.json()["text"])
    # 17:00 UTC is 11:00 in Mexico City (the lead's zone), as is the bare local time.
    assert drafts[0] == drafts[1] == drafts[2]
    assert "11:00" in drafts[0]


@pytest.mark.parametrize(
    ("context", "path"),
    [
        ({"offer_amount": "about half a million"}, "$.context.offer_amount"),
        ({"offer_amount": -5}, "$.context.offer_amount"),
        ({"showing_at": "next tuesday"}, "$.context.showing_at"),
        ({"showing_at": "3026-01-01T00:00:00Z"}, "$.context.showing_at"),
        ({"maxPrice": 1}, "context.maxPrice"),
        ({"currency": "dollars"}, "context.currency"),
    ],
)
async def test_unusable_or_unknown_context_values_are_refused_naming_the_field(http, context, path):
    answer = await http.post(
        ADAPT, json={"lead_id": LEAD, "intent": "offer_update", "context": context}
    )
    assert 400 <= answer.status_code < 500, answer.text
    body = answer.json()
    assert body["type"] == "rejected" and body["path"].endswith(path), body


async def test_unknown_query_parameters_and_filter_keys_are_refused(http):
    recs = f"{A}/personalization/recommendations/{LEAD}"
    unknown = await http.get(recs, params={"max_price": "1", "city": "Bellevue"})
    assert unknown.status_code == 400
    assert unknown.json()["path"] == "query.max_price"
    assert "context" in unknown.json()["detail"]  # the accepted ones are listed
    camel = await http.get(recs, params={"context": json.dumps({"maxPrice": 500000})})
    assert camel.status_code == 400 and camel.json()["path"] == "query.context.maxPrice"
    pull = await http.get("/api/v1/sync/pull", params={"after": 0, "page": 2})
    assert pull.status_code == 400 and pull.json()["path"] == "query.page"


async def test_unknown_keys_inside_events_are_refused_naming_them(http):
    event = {
        "kind": "event",
        "id": "ev-typo",
        "lead_id": LEAD,
        "type": "property_view",
        "ts": 1,
        "listingId": "lst-000001",
    }
    for route, key in (
        ("analyze/comprehensive", "events"),
        ("personalization/profile/create", "property_interactions"),
    ):
        answer = await http.post(f"{A}/{route}", json={"lead_id": LEAD, key: [event]})
        assert answer.status_code == 400, answer.text
        assert answer.json()["path"] == f"body.{key}[0].listingId", answer.text


async def test_a_typed_price_filter_is_honoured(http):
    cheap = await http.get(
        f"{A}/personalization/recommendations/{LEAD}",
        params={"context": json.dumps({"max_price": "$451.5k", "include_seen": True})},
    )
    assert cheap.status_code == 200, cheap.text
    prices = [r["price"] for r in cheap.json()["recommendations"]]
    assert prices == [451_000.0]  # the factories' listings cost 451,000 and 452,000


async def test_an_event_of_an_unknown_listing_sent_on_the_socket_is_refused(tmp_path, server):
    import asyncio

    import websockets

    token = server.token()
    phone = await synced_phone(tmp_path, server, token)
    url = server.url.replace("http://", "ws://") + f"/ws/advanced/realtime/intervention/{LEAD}"
    try:
        async with websockets.connect(
            url, additional_headers={"authorization": f"Bearer {token}"}
        ) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "plan"
            event = {
                "kind": "event",
                "id": "ev-ws-mls",
                "lead_id": LEAD,
                "type": "property_view",
                "ts": server.config.clock() - 60_000,
                "listing_id": "NWMLS-2207431",
            }
            await ws.send(json.dumps({"type": "event", "event": event}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert refused["type"] == "error" and refused["path"] == "$.event.listing_id", refused
    finally:
        await phone.close()


# --- 8. reads never write ----------------------------------------------------------------------


async def test_reads_leave_the_change_log_where_it_was(http):
    lead3 = {"lead_id": "lead-000002"}  # no profile stored yet: a read must not store one
    start = await log_position(http)
    event = {
        "kind": "event",
        "id": "ev-read-1",
        "lead_id": LEAD,
        "type": "message_in",
        "ts": 1,
        "text": "¿Sigue disponible?",
    }
    reads = [
        http.post(f"{A}/analyze/comprehensive", json={"lead_id": LEAD, "events": [event]}),
        http.post(f"{A}/analyze/comprehensive", json=lead3),
        http.post(f"{A}/intervention/predict", json={"lead_id": LEAD}),
        http.post(f"{A}/intervention/predict", json=lead3),
        http.get(f"{A}/personalization/recommendations/lead-000002"),
        http.post(ADAPT, json={**lead3, "intent": "first_contact"}),
        http.get(f"{A}/privacy/leads/{LEAD}/export"),
        http.get(f"{A}/models/"),
    ]
    for call in reads:
        answer = await call
        assert answer.status_code == 200, answer.text
    assert await log_position(http) == start
    export = (await http.get(f"{A}/privacy/leads/{LEAD}/export")).json()
    assert "ev-read-1" not in json.dumps(export)
    assert not [r for r in export["records"] if r["entity"] in ("profile", "intervention_plan")]


async def test_saving_a_plan_is_the_explicit_write(http):
    start = await log_position(http)
    saved = await http.post(f"{A}/intervention/plans", json={"lead_id": LEAD})
    assert saved.status_code == 201 and saved.json()["plan_saved"] is True
    assert await log_position(http) > start
    analysis = (await http.post(f"{A}/analyze/comprehensive", json={"lead_id": LEAD})).json()
    assert analysis["plan_stored"] and analysis["plan"]["id"] == saved.json()["plan"]["id"]


# --- 9. the OpenAPI document is the contract ----------------------------------------------------


async def test_the_schema_has_a_bearer_scheme_and_rejected_refusals_on_every_route(http):
    schema = (await http.get("/schema/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "re1.<claims>.<signature>",
        "description": schema["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert schema["security"] == [{"bearer": []}]
    rejected = {"$ref": "#/components/schemas/Rejected"}
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            statuses = {int(s) for s in op["responses"]}
            assert 400 in statuses, where
            if op.get("security") != [{}]:
                assert {401, 429} <= statuses, where
            if "{" in path:
                assert 404 in statuses, where
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    content = answer["content"]["application/json"]["schema"]
                    assert content == rejected, (where, status)
    assert schema["paths"][f"{A}/health"]["get"]["security"] == [{}]


async def test_the_answers_fields_say_what_they_mean_with_units(http):
    schemas = (await http.get("/schema/openapi.json")).json()["components"]["schemas"]

    def meaning(component: str, field: str) -> str:
        return schemas[component]["properties"][field].get("description", "")

    assert "45 days" in meaning("BehaviourPrediction", "p_convert")
    assert "24 hours" in meaning("BehaviourPrediction", "p_respond")
    assert "percentage points" in meaning("Driver", "effect")
    assert "z-score" in meaning("Recommendation", "score")
    assert "20 hours" in meaning("Strategy", "p_response")
    assert "epoch milliseconds" in meaning("Strategy", "due_at")
    assert "ISO 8601" in json.dumps(schemas["MessageOverrides"]["properties"]["showing_at"])
    assert meaning("Rejected", "path")


async def test_swagger_ui_is_served_from_local_assets(tmp_path, monkeypatch):
    assets = tmp_path / "swagger"
    assets.mkdir()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        (assets / name).write_text(f"/* {name} */")
    monkeypatch.setenv("REALTY_EDGE_SWAGGER_UI_DIR", str(assets))
    with run_server(tmp_path / "server.db") as live:
        async with httpx.AsyncClient(base_url=live.url) as c:
            page = await c.get("/schema/swagger")
            script = await c.get("/schema/assets/swagger-ui-bundle.js")
    assert page.status_code == 200 and "/schema/assets/swagger-ui-bundle.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert script.status_code == 200 and script.text == "/* swagger-ui-bundle.js */"


async def test_without_local_assets_the_ui_page_says_so_and_loads_nothing_remote(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("REALTY_EDGE_SWAGGER_UI_DIR", raising=False)
    from server.openapi import swagger_assets

    if swagger_assets() is not None:
        pytest.skip("swagger-ui-bundle is installed: the UI itself is served")
    with run_server(tmp_path / "server.db") as live:
        async with httpx.AsyncClient(base_url=live.url) as c:
            page = await c.get("/schema/swagger")
    assert page.status_code == 200 and "swagger-ui-bundle" in page.text
    assert "<script" not in page.text and "https://" not in page.text


# --- 10. the model endpoints agree ----------------------------------------------------------------


async def test_models_list_the_running_versions_and_serve_their_manifests(http):
    health = (await http.get(f"{A}/health")).json()["models"]
    running = {name: v for name, v in health.items() if name != "protocol"}
    families = {f["name"]: f for f in (await http.get(f"{A}/models/")).json()}
    assert running and {n: f["running"] for n, f in families.items()} == running
    key = (await http.get(f"{A}/models/signing-key")).json()
    for name, version in running.items():
        assert version in families[name]["versions"]
        manifest = await http.get(f"{A}/models/{name}/{version}/manifest")
        assert manifest.status_code == 200, manifest.text
        assert manifest.json()["version"] == version
        assert manifest.json()["signer"] == key["signer"]
        blob = await http.get(f"{A}/models/{name}/{version}/blob")
        assert hashlib.sha256(blob.content).hexdigest() == manifest.json()["sha256"]
    missing = await http.get(f"{A}/models/behaviour/0.0.0-nope/manifest")
    assert missing.status_code == 404 and missing.json()["path"] == "path.version"


async def test_a_missing_or_bad_token_names_the_authorization_header(server):
    for headers in ({}, {"authorization": "Bearer re1.bad.token"}):
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as c:
            answer = await c.post(f"{A}/intervention/predict", json={"lead_id": LEAD})
        assert answer.status_code == 401
        assert answer.json()["path"] == "header.authorization", answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
