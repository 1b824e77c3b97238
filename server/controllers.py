"""HTTP handlers: typed functions that call one service method each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery, QueryParameter

from server.auth import ROLE_OPT, Principal, Role
from server.errors import InvalidRequestError, path_in
from server.openapi import refusals
from server.service import MSGPACK_TYPES, SyncService, decode_body
from sync.changes import ChangeBatch
from sync.codec import Format, decode
from sync.errors import DecodeError
from sync.protocol import (
    MAX_CHECKPOINT,
    ConflictPage,
    DeviceInfo,
    PullPage,
    PullRequest,
    PushResult,
    RecordState,
)

VERSION = "0.1.0"
AnyRequest = Request[Principal, str, Any]
Sync = NamedDependency[SyncService]


def _wants_msgpack(request: AnyRequest) -> bool:
    accept = request.headers.get("accept", "")
    return any(t in accept for t in MSGPACK_TYPES)


def _reply(request: AnyRequest, body: Any) -> Response[Any]:
    if _wants_msgpack(request):
        return Response(content=body, media_type=MediaType.MESSAGEPACK)
    return Response(content=body, media_type=MediaType.JSON)


def _documents(body: type) -> Provide:
    """A dependency no handler asks for: it only gives the OpenAPI document the body
    ``body`` of a route that reads its raw bytes itself (MessagePack, gzip)."""

    def body_of_the_request(data: Any) -> None:  # pragma: no cover  (never called)
        return None

    body_of_the_request.__annotations__["data"] = body
    return Provide(body_of_the_request, sync_to_thread=False)


class SyncController(Controller):
    path = "/api/v1/sync"
    tags: Sequence[str] | None = ("sync",)
    opt: Mapping[str, Any] | None = {ROLE_OPT: Role.AGENT}

    @post(
        "/push",
        status_code=200,
        responses=refusals(409, 413, 415, 422),
        dependencies={"_batch": _documents(ChangeBatch)},
    )
    async def push(self, request: AnyRequest, sync: Sync) -> Response[PushResult]:
        """Push a ChangeBatch (JSON or MessagePack, maybe gzip); idempotent by (device, seq)."""
        batch = decode_body(
            await request.body(),
            request.headers.get("content-type", ""),
            request.headers.get("content-encoding", ""),
            sync.config,
        )
        return _reply(request, await sync.push(request.user, batch))

    @get("/pull", responses=refusals())
    async def pull(
        self,
        request: AnyRequest,
        sync: Sync,
        after: Annotated[
            int, QueryParameter(ge=0, le=MAX_CHECKPOINT, description="checkpoint of the last page")
        ] = 0,
        limit: Annotated[int | None, QueryParameter(ge=1, le=5000)] = None,
        device_id: Annotated[
            str | None,
            QueryParameter(description="the pulling device: its own pushes are left out"),
        ] = None,
    ) -> Response[PullPage]:
        """The team's changes after ``after``, paged; resume from the page's ``checkpoint``."""
        return _reply(request, await sync.pull(request.user, after, limit, device_id))

    @post(
        "/pull",
        status_code=200,
        responses=refusals(413, 415, 422),
        dependencies={"_ask": _documents(PullRequest)},
    )
    async def pull_post(self, request: AnyRequest, sync: Sync) -> Response[PullPage]:
        """As GET, with a PullRequest body (JSON or MessagePack)."""
        body = await request.body()
        mime = request.headers.get("content-type", "").split(";")[0].strip()
        fmt = Format.MSGPACK if mime in MSGPACK_TYPES else Format.JSON
        try:
            ask: PullRequest = decode(body, PullRequest, fmt)
        except DecodeError as exc:
            raise InvalidRequestError(str(exc), path=path_in(str(exc))) from exc
        return _reply(request, await sync.pull(request.user, ask.after, ask.limit, ask.device_id))

    @get("/conflicts", responses=refusals())
    async def conflicts(
        self,
        request: AnyRequest,
        sync: Sync,
        after: Annotated[
            int, QueryParameter(ge=0, le=MAX_CHECKPOINT, description="id of the last conflict")
        ] = 0,
        limit: Annotated[int | None, QueryParameter(ge=1, le=5000)] = None,
        entity_id: FromQuery[str | None] = None,
    ) -> Response[ConflictPage]:
        """The team's conflict log (losing values), oldest first."""
        return _reply(request, await sync.conflicts(request.user, after, limit, entity_id))

    @get("/records/{entity:str}/{entity_id:str}", responses=refusals(404))
    async def record(
        self, request: AnyRequest, sync: Sync, entity: FromPath[str], entity_id: FromPath[str]
    ) -> Response[RecordState]:
        """The merged state of one record of the team, with every field's clock."""
        return _reply(request, await sync.record(request.user, entity, entity_id))

    @get("/devices/{device_id:str}", responses=refusals(404))
    async def device(
        self, request: AnyRequest, sync: Sync, device_id: FromPath[str]
    ) -> Response[DeviceInfo]:
        """What the server holds of one of the team's devices."""
        return _reply(request, await sync.device(request.user, device_id))
