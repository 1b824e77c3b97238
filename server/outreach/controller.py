"""The provider's webhook route: delivery-status callbacks and inbound messages.

``POST /api/v1/outreach/webhook/{team_id}`` takes no bearer token: the provider proves itself
with ``X-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` under the shared secret
(``webhook_secret``). An unsigned or badly signed call is refused with 401 and nothing is
read or written.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from server.openapi import refusals
from server.outreach.provider import SIGNATURE_HEADER
from server.outreach.service import OutreachService, WebhookResult
from sync.protocol import Rejected

Outreach = NamedDependency[OutreachService]
TeamId = Annotated[str, Parameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class OutreachController(Controller):
    path = "/api/v1/outreach"
    tags = ("outreach",)

    @post(
        "/webhook/{team_id:str}",
        exclude_from_auth=True,
        status_code=200,
        security=[{}],
        responses={
            **refusals(public=True),
            401: ResponseSpec(Rejected, description="missing or bad X-Signature: nothing read"),
            404: ResponseSpec(Rejected, description="unknown step reference or sender number"),
        },
    )
    async def webhook(
        self, request: Request[Any, Any, Any], outreach: Outreach, team_id: TeamId
    ) -> WebhookResult:
        """A provider callback (status of a sent message, or an inbound message), signed."""
        body = await request.body()
        return await outreach.webhook(team_id, body, request.headers.get(SIGNATURE_HEADER))
