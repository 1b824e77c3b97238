"""HighLevel's webhook route.

``POST /api/v1/integrations/highlevel/webhook`` takes no bearer token: HighLevel proves itself
with ``X-GHL-Signature`` (base64 Ed25519 signature of the raw body, checked with the public
key configured in ``REALTY_EDGE_HIGHLEVEL_PUBLIC_KEY``). An unsigned or badly signed delivery is
refused with 401 and nothing is read or written.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from server.integrations.highlevel import SIGNATURE_HEADER, HighLevelService
from server.integrations.highlevel_types import WebhookAnswer
from server.openapi import refusals
from sync.protocol import Rejected

HighLevel = NamedDependency[HighLevelService]


class IntegrationsController(Controller):
    path = "/api/v1/integrations"
    tags = ("integrations",)

    @post(
        "/highlevel/webhook",
        exclude_from_auth=True,
        status_code=200,
        security=[{}],
        responses={
            **refusals(413, 422, public=True),
            401: ResponseSpec(
                Rejected, description="missing or bad X-GHL-Signature: nothing read or written"
            ),
        },
    )
    async def highlevel_webhook(
        self, request: Request[Any, Any, Any], highlevel: HighLevel
    ) -> WebhookAnswer:
        """One HighLevel webhook delivery (contacts, messages, appointments, opportunities),
        signed. ``applied``: written into the location's team partition, which devices pull at
        their next sync; ``duplicate``: this delivery id was applied before, nothing written;
        ``ignored``: an event type this server does not act on. An unknown location is 422
        naming ``$.locationId``."""
        body = await request.body()
        return await highlevel.deliver(body, request.headers.get(SIGNATURE_HEADER))
