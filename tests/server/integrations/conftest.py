"""HighLevel's documented payloads, signed by a test Ed25519 key, and a server that trusts it."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from server.integrations.config import HighLevelConfig, HighLevelLocation
from tests.factories import NOW_MS
from tests.live_server import engine_server

LOCATION = "ve9EPM428h8vShlRW1KT"
USER = "bNl8QNGXhIQJLv8eeASQ"
WEBHOOK = "/api/v1/integrations/highlevel/webhook"


def clock() -> int:
    return NOW_MS


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    """Stands in for HighLevel's private key."""
    return Ed25519PrivateKey.generate()


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def highlevel_config(key: Ed25519PrivateKey, **kw: Any) -> HighLevelConfig:
    locations = {
        LOCATION: HighLevelLocation(
            team="team-a", users={USER: "agent-02"}, default_agent="agent-01"
        ),
        "noDefaultLocation00001": HighLevelLocation(team="team-a", users={USER: "agent-02"}),
    }
    return HighLevelConfig(public_key=public_pem(key), locations=locations, **kw)


@pytest.fixture
def hl_server(request, tmp_path, server_engine, signing_key):
    """A live server trusting the test key, with location ``LOCATION`` feeding team-a."""
    with engine_server(
        request, tmp_path, server_engine, clock=clock, highlevel=highlevel_config(signing_key)
    ) as live:
        yield live


def sign(key: Ed25519PrivateKey, body: bytes) -> str:
    return base64.b64encode(key.sign(body)).decode()


def deliver(
    url: str, payload: dict[str, Any], key: Ed25519PrivateKey | None, signature: str | None = None
) -> httpx.Response:
    """POST ``payload`` to the webhook as HighLevel does: the raw body signed."""
    body = msgspec.json.encode(payload)
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["X-GHL-Signature"] = signature
    elif key is not None:
        headers["X-GHL-Signature"] = sign(key, body)
    return httpx.post(url + WEBHOOK, content=body, headers=headers, timeout=30)


# --- the payloads, shaped as in marketplace.gohighlevel.com/docs/webhook/ -----------


def contact_create(webhook_id: str = "wh-contact-1", **kw: Any) -> dict[str, Any]:
    payload = {
        "type": "ContactCreate",
        "locationId": LOCATION,
        "id": "nmFmQEsNgz6AVpgLVUJ0",
        "address1": "3535 1st St N",
        "city": "ruDolomitebirmingham",
        "state": "AL",
        "companyName": "Loram ipsum",
        "country": "US",
        "source": "xyz form",
        "dateAdded": "2021-11-26T12:41:02.193Z",
        "dateOfBirth": "2000-01-05T00:00:00.000Z",
        "dnd": False,
        "email": "JohnDeo@gmail.com",
        "name": "John Deo",
        "firstName": "John",
        "lastName": "Deo",
        "phone": "(415) 555-2671",
        "postalCode": "452001",
        "tags": ["id magna sed Lorem", "Duis dolor commodo aliqua"],
        "website": "https://www.google.com/",
        "attachments": [],
        "assignedTo": USER,
        "customFields": [{"id": "BcdmQEsNgz6AVpgLVUJ0", "value": "XYZ Corp"}],
        "webhookId": webhook_id,
    }
    payload.update(kw)
    return payload


def dnd_update(webhook_id: str = "wh-dnd-1", **kw: Any) -> dict[str, Any]:
    payload = {
        "type": "ContactDndUpdate",
        "locationId": LOCATION,
        "id": "nmFmQEsNgz6AVpgLVUJ0",
        "dateUpdated": "2021-11-27T10:00:00.000Z",
        "dnd": False,
        "dndSettings": {
            "SMS": {"status": "active", "message": "Updated by 'Tester'", "code": "103"},
            "Email": {"status": "inactive", "message": "", "code": ""},
        },
        "inboundDndSettings": {"all": {"status": "inactive", "message": ""}},
        "webhookId": webhook_id,
    }
    payload.update(kw)
    return payload


def message(kind: str = "InboundMessage", webhook_id: str = "wh-msg-1", **kw: Any) -> dict:
    payload = {
        "type": kind,
        "locationId": LOCATION,
        "attachments": [],
        "body": "This is a test message",
        "contactId": "nmFmQEsNgz6AVpgLVUJ0",
        "contentType": "text/plain",
        "conversationId": "fcanlLgpbQgQhderivVs",
        "dateAdded": "2021-04-21T11:31:45.750Z",
        "direction": "inbound" if kind == "InboundMessage" else "outbound",
        "messageType": "SMS",
        "messageId": "ImMsg8fGq1vVyPvVJvY1",
        "status": "delivered",
        "webhookId": webhook_id,
    }
    payload.update(kw)
    return payload


def appointment(kind: str = "AppointmentCreate", status: str = "confirmed", **kw: Any) -> dict:
    return {
        "type": kind,
        "locationId": LOCATION,
        "appointment": {
            "id": "0007BWpSzSwfiuSl0tR2",
            "address": "https://example.com/meeting",
            "title": "Showing at 12 Oak St",
            "calendarId": "BqTwX8QFwXzpegMve9EQ",
            "contactId": "nmFmQEsNgz6AVpgLVUJ0",
            "groupId": "9NkT25Vor1v4aQatFsv2",
            "appointmentStatus": status,
            "assignedUserId": USER,
            "users": [USER],
            "notes": "Some dummy note",
            "source": "booking_widget",
            "startTime": "2021-12-01T16:00:00+05:30",
            "endTime": "2021-12-01T16:30:00+05:30",
            "dateAdded": "2021-11-28T16:00:00+05:30",
            "dateUpdated": "2021-11-28T16:00:00+05:30",
        },
        **kw,
    }


def opportunity(status: str = "won", **kw: Any) -> dict[str, Any]:
    payload = {
        "type": "OpportunityStatusUpdate",
        "locationId": LOCATION,
        "id": "wWhVuzqpRuOA1ZVWi4FC",
        "assignedTo": USER,
        "contactId": "nmFmQEsNgz6AVpgLVUJ0",
        "monetaryValue": 450000,
        "name": "12 Oak St purchase",
        "pipelineId": "VDm7RPYC2GLUvdpKmBfC",
        "pipelineStageId": "e93ba61a-53b3-45e7-985a-c7732dbcdb69",
        "source": "Zillow",
        "status": status,
        "dateAdded": "2021-11-26T12:41:02.193Z",
    }
    payload.update(kw)
    return payload
