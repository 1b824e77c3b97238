"""Issue 15, item 5: object-level authorization, derived from the live OpenAPI document.

Every operation that takes an id (a path or query parameter, or a body property, whose
name ends in ``id``) is called by team-b with team-a's ids, the rest of the request made
valid from the document. Each must answer 404 and change nothing of team-a's. A route added
later is covered by this test as it stands; an id of a kind not in :data:`TEAM_A_IDS` fails
the test until its kind is named there.
"""

from __future__ import annotations

import base64
import io
import json
import wave
from typing import Any

import httpx
import pytest

from tests.live_server import run_server
from tests.server.test_advanced import A, client, synced_phone
from tests.server.test_advanced_contract import log_position

#: Operations that create the id in the caller's own partition when it is new there: they
#: may answer 2xx, but still must not read or change team-a's record of that id.
CREATES_IN_CALLER = {f"POST {A}/personalization/profile/create"}


def silent_wav(seconds: float = 0.2) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(b"\0\0" * int(16_000 * seconds))
    return base64.b64encode(buffer.getvalue()).decode()


#: Valid values for parameters that are not ids, where a schema-derived value would not do.
KNOWN_VALUES: dict[str, Any] = {
    "entity": "lead",
    "audio_wav_base64": silent_wav(),
    "intent": "first_contact",
    "name": "behaviour",
}


def is_id(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def example(schema: dict[str, Any], components: dict[str, Any], name: str = "") -> Any:
    """A small valid value of a JSON schema (required properties only)."""
    if name in KNOWN_VALUES:
        return KNOWN_VALUES[name]
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[-1]], components, name)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return example(options[0], components, name)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    match kind:
        case "object":
            required = schema.get("required", [])
            props = schema.get("properties", {})
            return {p: example(props[p], components, p) for p in required}
        case "array":
            return []
        case "integer" | "number":
            return schema.get("minimum", 1)
        case "boolean":
            return False
        case _:
            return "x" * max(1, schema.get("minLength", 1))


def id_fields(operation: dict[str, Any], components: dict[str, Any]) -> tuple[list, list]:
    """The operation's id parameters (location, name) and its body's id properties."""
    params = [(p["in"], p["name"]) for p in operation.get("parameters", []) if is_id(p["name"])]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return params, [name for name in schema.get("properties", {}) if is_id(name)]


@pytest.fixture
def server(tmp_path):
    with run_server(tmp_path / "server.db") as live:
        yield live


async def test_other_teams_ids_answer_404_and_change_nothing(tmp_path, server):
    token_a = server.token(role="team_admin")  # team admins: export and erase are called too
    token_b = server.token(team="team-b", role="team_admin")
    phone = await synced_phone(tmp_path, server, token_a)
    try:
        async with client(server, token_a) as a, client(server, token_b) as b:
            plan = (await a.post(f"{A}/intervention/plans", json={"lead_id": "lead-000002"})).json()
            team_a_ids = {
                "lead_id": "lead-000001",
                "entity_id": "lead-000001",
                "step_id": plan["plan"]["steps"][0]["id"],
                "plan_id": plan["plan"]["id"],
                "device_id": phone.device_id,
                "listing_id": "lst-000001",
                "event_id": "ev-0000001",
            }
            before_log = await log_position(a)
            before_export = (await a.get(f"{A}/privacy/leads/lead-000001/export")).json()
            schema = (await a.get("/schema/openapi.json")).json()
            components = schema["components"]["schemas"]
            called = await call_every_id_route(b, schema, components, team_a_ids)
            assert await log_position(a) == before_log
            after_export = (await a.get(f"{A}/privacy/leads/lead-000001/export")).json()
            assert after_export == before_export
    finally:
        await phone.close()
    # The document's id-taking routes, as they stand today (more may come: all are called).
    assert {
        f"POST {A}/analyze/comprehensive",
        f"POST {A}/multi-language/voice/process",
        f"POST {A}/multi-language/cultural/adapt",
        f"POST {A}/intervention/predict",
        f"POST {A}/intervention/plans",
        f"POST {A}/intervention/execute",
        f"POST {A}/personalization/profile/create",
        f"GET {A}/personalization/recommendations/{{lead_id}}",
        f"GET {A}/privacy/leads/{{lead_id}}/export",
        f"DELETE {A}/privacy/leads/{{lead_id}}",
        f"GET {A}/models/{{name}}/offer",
        "GET /api/v1/sync/conflicts",
        "GET /api/v1/sync/devices/{device_id}",
        "GET /api/v1/sync/records/{entity}/{entity_id}",
    } <= called


async def call_every_id_route(
    b: httpx.AsyncClient,
    schema: dict[str, Any],
    components: dict[str, Any],
    team_a_ids: dict[str, str],
) -> set[str]:
    """Call, as team-b, every operation that takes an id; return the operations called."""
    called: set[str] = set()
    every = [
        (f"{method.upper()} {path}", path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]
    # Creators last: once one made team-b's own record of an id, that id is team-b's too.
    every.sort(key=lambda op: op[0] in CREATES_IN_CALLER)
    for label, path, method, operation in every:
        if operation.get("security") == [{}]:
            continue  # public routes (health, the signed provider webhook) carry no team token
        params, body_ids = id_fields(operation, components)
        if not params and not body_ids:
            continue
        for _, name in params:
            assert name in team_a_ids, f"{label}: name a team-a id for {name!r}"
        for name in body_ids:
            assert name in team_a_ids, f"{label}: name a team-a id for {name!r}"
        url, query = path, {}
        for p in operation.get("parameters", []):
            value = team_a_ids[p["name"]] if is_id(p["name"]) else None
            if p["in"] == "path":
                value = value or example(p["schema"], components, p["name"])
                url = url.replace(f"{{{p['name']}}}", str(value))
            elif p["in"] == "query" and (value or p.get("required")):
                query[p["name"]] = value or example(p["schema"], components, p["name"])
        body = None
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            body = example(content["application/json"]["schema"], components)
            body.update({name: team_a_ids[name] for name in body_ids})
        answer = await b.request(method.upper(), url, params=query, json=body)
        called.add(label)
        if label in CREATES_IN_CALLER and answer.is_success:
            assert "Lead 1" not in answer.text, (label, answer.text)
            continue
        assert answer.status_code == 404, (label, query, body, answer.text)
        assert answer.json()["code"] == "not_found", (label, answer.text)
        assert "Lead 1" not in answer.text and json.dumps(team_a_ids) not in answer.text
    return called
