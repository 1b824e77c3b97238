"""Issue 18, item 4: the advanced API takes a CRM's shapes (and still the internal ones)."""

from __future__ import annotations

import math

import pytest

from server.parsing import behavioural_values, conversation_texts
from tests.server.test_advanced import A
from tests.server.test_advanced_contract import http, log_position, server  # noqa: F401

PROFILE = f"{A}/personalization/profile/create"
LEAD = "lead-000001"

#: The body of issue 18, as a CRM sends it.
CRM_BODY = {
    "lead_id": LEAD,
    "conversation_history": [
        {
            "role": "lead",
            "text": "Hola, busco una casa con jardín y tres recámaras",
            "time": "2026-05-01T14:30:00Z",
            "channel": "whatsapp",
        },
        {"role": "agent", "text": "Hello! What is your budget?", "time": "2026-05-01T14:35:00Z"},
        {"direction": "inbound", "content": "Unos 450 mil dólares", "time": 1777646400000},
    ],
    "property_interactions": [
        {
            "listing_id": "lst-000001",
            "action": "view",
            "time": "2026-05-01T15:00:00Z",
            "dwell_s": 95,
        },
        {"listing_id": "lst-000002", "action": "save", "time": 1777647000000},
        {
            "listing_id": "lst-000001",
            "action": "offer",
            "time": "2026-05-03T09:00:00-07:00",
            "amount": "$450k",
        },
    ],
    "behavioral_data": {"property_views": 12, "days_since_last_activity": 2},
}


async def test_the_body_of_the_issue_is_accepted(http):  # noqa: F811
    answer = await http.post(PROFILE, json=CRM_BODY)
    assert answer.status_code == 200, answer.text
    profile = answer.json()
    assert profile["lead_id"] == LEAD
    assert profile["language"] == "es"  # the lead's words are Spanish; the agent's are not


async def test_the_internal_shapes_still_work(http):  # noqa: F811
    body = {
        "lead_id": LEAD,
        "conversation_history": ["Hola, busco una casa con jardín"],
        "property_interactions": [
            {
                "kind": "event",
                "id": "ev-x1",
                "lead_id": LEAD,
                "type": "property_view",
                "ts": 1_764_000_000_000,
                "listing_id": "lst-000001",
            },
        ],
        "behavioral_data": {"log1p_count_property_view_30d": 2.5},
    }
    answer = await http.post(PROFILE, json=body)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (
            {"conversation_history": [{"role": "robot", "text": "hi"}]},
            "$.conversation_history[0].role",
        ),
        ({"conversation_history": [{"role": "lead"}]}, "$.conversation_history[0].text"),
        (
            {"conversation_history": [{"text": "hi", "time": "yesterday"}]},
            "$.conversation_history[0].time",
        ),
        (
            {"property_interactions": [{"listing_id": "lst-000001", "action": "view"}]},
            "$.property_interactions[0].time",
        ),
        (
            {
                "property_interactions": [
                    {
                        "listing_id": "lst-000001",
                        "action": "view",
                        "time": "2026-05-01T15:00:00Z",
                        "amount": 5,
                    }
                ]
            },
            "$.property_interactions[0].amount",
        ),
        (
            {
                "property_interactions": [
                    {
                        "kind": "event",
                        "id": "e",
                        "lead_id": "lead-000002",
                        "type": "property_view",
                        "ts": 1,
                    }
                ]
            },
            "$.property_interactions[0].lead_id",
        ),
        (
            {
                "property_interactions": [
                    {
                        "kind": "event",
                        "id": "e",
                        "lead_id": LEAD,
                        "type": "property_view",
                        "ts": 1,
                        "time": 5,
                    }
                ]
            },
            "$.property_interactions[0].time",
        ),
        ({"behavioral_data": {"property_views": -1}}, "$.behavioral_data.property_views"),
        ({"behavioral_data": {"shoe_size": 42}}, "$.behavioral_data.shoe_size"),
    ],
)
async def test_bad_values_are_refused_naming_the_field_and_nothing_is_written(
    http,  # noqa: F811
    change,
    path,
):
    before = await log_position(http)
    body = {**CRM_BODY, "lead_id": "lead-brand-new", **change}
    answer = await http.post(PROFILE, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["path"] == path, answer.text
    assert await log_position(http) == before  # not even the new lead


async def test_a_bad_action_is_refused_by_the_schema_naming_it(http):  # noqa: F811
    body = {
        "lead_id": LEAD,
        "property_interactions": [{"listing_id": "lst-000001", "action": "stare", "time": 1}],
    }
    answer = await http.post(PROFILE, json=body)
    assert answer.status_code in (400, 422), answer.text
    assert "property_interactions[0].action" in answer.json()["path"]


def test_documented_behavioural_names_set_their_features():
    values = behavioural_values({"property_views": 12, "days_since_created": 1000}, ["x"])
    assert values["log1p_count_property_view_30d"] == pytest.approx(math.log1p(12))
    assert values["has_property_view"] == 1.0
    assert values["log1p_days_since_created"] == pytest.approx(math.log1p(365))


def test_the_lead_words_are_taken_in_time_order():
    from server.advanced_types import ConversationMessage

    texts = conversation_texts(
        [
            ConversationMessage(text="second", time="2026-05-02T00:00:00Z"),
            ConversationMessage(text="mine", role="assistant", time=1),
            ConversationMessage(content="first", role="Customer", time="2026-05-01T00:00:00Z"),
        ],
        None,
    )
    assert texts == ["first", "second"]


async def test_every_integrator_shape_is_in_the_openapi_document_with_an_example(http):  # noqa: F811
    doc = (await http.get("/schema/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    for name in ("ConversationMessage", "PropertyInteraction", "ProfileRequest"):
        assert name in schemas, sorted(schemas)
    props = schemas["ProfileRequest"]["properties"]
    for field in ("conversation_history", "property_interactions", "behavioral_data"):
        assert props[field].get("examples"), (field, props[field])
    assert "property_views" in props["behavioral_data"]["description"]
    assert set(schemas["PropertyInteraction"]["properties"]) >= {"listing_id", "action", "time"}
