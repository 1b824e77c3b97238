"""The advanced API's handlers: typed functions, one call into :class:`AdvancedService` each.

REST under ``/api/v1/advanced`` and two WebSockets under ``/ws/advanced/realtime``. Every
route needs a bearer token (``Authorization: Bearer``; the WebSockets also take ``?token=``)
except ``GET /api/v1/advanced/health``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, WebSocket, delete, get, post, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from edge.analysis import Analysis
from edge.culture import DraftMessage
from server.advanced_service import AdvancedService
from server.advanced_types import (
    AdvancedHealth,
    AnalyzeRequest,
    CulturalAdaptRequest,
    DetectRequest,
    DetectResult,
    Erased,
    EventInput,
    ExecuteRequest,
    ExecuteResult,
    LeadExport,
    PredictRequest,
    PredictResult,
    ProfileRequest,
    Recommendations,
    RetrainRequest,
    RolloutRequest,
    SavePlanRequest,
    VoiceRequest,
    VoiceResult,
)
from server.auth import ROLE_OPT, SCORING_OPT, Principal, Role, verify_token
from server.controllers import VERSION
from server.distribution import FamilyInfo, ModelDistribution, Offer, SigningKeyInfo, team_scope
from server.errors import NotFoundError, ServerError, UnauthorizedError
from server.jobs import RetrainJob, RetrainRequested
from server.lead_watch import lead_changed
from server.notify import TeamNotifier
from server.openapi import refusals
from server.retrain import POOLED, RetrainRuns, list_runs
from server.scores import round_scores
from server.service import SyncService
from sync.manifest import ModelManifest
from sync.protocol import Rejected
from sync.records import InterventionPlan, Profile

OCTET = "application/octet-stream"
AnyRequest = Request[Principal, str, Any]
Advanced = NamedDependency[AdvancedService]
Distribution = NamedDependency[ModelDistribution]
Sync = NamedDependency[SyncService]


def _optional_team(request: AnyRequest) -> str | None:
    """The team of a valid bearer token on a public route (``None``: none, or not valid)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        key = request.app.state.signing_key
        return verify_token(key, token.strip(), request.app.state.config.clock()).team
    except (UnauthorizedError, AttributeError):
        return None


class AdvancedController(Controller):
    path = "/api/v1/advanced"
    tags: Sequence[str] | None = ("advanced",)
    opt: Mapping[str, Any] | None = {ROLE_OPT: Role.AGENT}

    @get(
        "/health",
        exclude_from_auth=True,
        security=[{}],
        responses=refusals(public=True),
    )
    async def health(self, request: AnyRequest, advanced: Advanced) -> AdvancedHealth:
        """Liveness, each feature's status (``drifting`` when a retrained family's live
        scores moved away from its training scores) and the model versions the server computes
        with: no token needed; with a valid bearer token, those of the caller's team."""
        return await advanced.health(VERSION, _optional_team(request))

    @post(
        "/analyze/comprehensive",
        status_code=200,
        responses=refusals(404, 413, 422),
        opt={SCORING_OPT: True},
    )
    async def analyze(
        self, request: AnyRequest, advanced: Advanced, data: JSONBody[AnalyzeRequest]
    ) -> Analysis:
        """Language, behaviour, vertical, profile, recommendations and plan of one lead.

        A read: it stores nothing, neither the events given nor a profile or plan.
        """
        return round_scores(await advanced.analyze(request.user, data))

    @post("/multi-language/detect", status_code=200, responses=refusals(413, 422, 503))
    async def detect(
        self, request: AnyRequest, advanced: Advanced, data: JSONBody[DetectRequest]
    ) -> DetectResult:
        """The language of a text, or of a base64 WAV (transcribed offline first)."""
        return await advanced.detect(data)

    @post("/multi-language/voice/process", status_code=200, responses=refusals(404, 413, 422, 503))
    async def voice(
        self, request: AnyRequest, advanced: Advanced, data: JSONBody[VoiceRequest]
    ) -> VoiceResult:
        """Transcribe a base64 WAV; with ``lead_id``, store it as the lead's voice note."""
        return await advanced.voice(request.user, data)

    @post("/multi-language/cultural/adapt", status_code=200, responses=refusals(404, 413, 422))
    async def cultural_adapt(
        self, request: AnyRequest, advanced: Advanced, data: JSONBody[CulturalAdaptRequest]
    ) -> DraftMessage:
        """A message for the lead in its language, register, locale formats and hours."""
        return await advanced.cultural_adapt(request.user, data)

    @post(
        "/intervention/predict",
        status_code=200,
        responses=refusals(404, 413, 422),
        opt={SCORING_OPT: True},
    )
    async def predict(
        self, request: AnyRequest, advanced: Advanced, data: JSONBody[PredictRequest]
    ) -> PredictResult:
        """The lead's behaviour and the outreach plan the planner proposes now, best first.

        A read: nothing is stored; save a plan with ``POST /intervention/plans``.
        """
        return round_scores(await advanced.predict(request.user, data))

    @post(
        "/intervention/plans",
        status_code=201,
        responses=refusals(404, 413, 422),
        opt={SCORING_OPT: True},
    )
    async def save_plan(
        self, request: AnyRequest, advanced: Advanced, data: JSONBody[SavePlanRequest]
    ) -> PredictResult:
        """Plan the lead's outreach and store it as its active plan (a write).

        The plan replaces the lead's active one, syncs to the team's devices and its steps
        can then be executed (``POST /intervention/execute``).
        """
        return round_scores(await advanced.save_plan(request.user, data))

    @post(
        "/intervention/execute",
        status_code=200,
        responses={
            **refusals(404, 413, 422),
            409: ResponseSpec(
                Rejected,
                description="code `rejected`: an outreach rule refuses the step now; `reason` "
                "is one of not_pending, other_executor, opted_out, no_consent, no_address, "
                "quiet_hours, holiday, cap. Nothing was sent.",
            ),
        },
    )
    async def execute(
        self, request: AnyRequest, advanced: Advanced, data: JSONBody[ExecuteRequest]
    ) -> ExecuteResult:
        """Send a plan step through the server's channel for it, at most once (or, with
        ``by_agent``, record the agent's own outreach): the outcome, event and outbox."""
        return await advanced.execute(request.user, data)

    @post("/personalization/profile/create", status_code=200, responses=refusals(413, 422))
    async def create_profile(
        self, request: AnyRequest, advanced: Advanced, data: JSONBody[ProfileRequest]
    ) -> Profile:
        """Learn the lead's profile (the lead is created in your partition when new)."""
        return await advanced.create_profile(request.user, data)

    @get(
        "/personalization/recommendations/{lead_id:str}",
        responses=refusals(404, 422),
        opt={SCORING_OPT: True},
    )
    async def recommendations(
        self,
        request: AnyRequest,
        advanced: Advanced,
        lead_id: FromPath[str],
        context: Annotated[
            str | None,
            QueryParameter(
                max_length=2000,
                description='The agent\'s filters as JSON, e.g. {"max_price": "$900k", '
                '"city": "Seattle", "vertical": "luxury", "include_seen": false}; '
                "an unknown key is refused",
            ),
        ] = None,
        k: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    ) -> Recommendations:
        """The best unseen active listings for the lead, with reasons."""
        return round_scores(await advanced.recommendations(request.user, lead_id, context, k))

    @get(
        "/privacy/leads/{lead_id:str}/export",
        responses=refusals(403, 404),
        opt={ROLE_OPT: Role.TEAM_ADMIN},
    )
    async def export_lead(
        self, request: AnyRequest, advanced: Advanced, lead_id: FromPath[str]
    ) -> LeadExport:
        """Everything the server holds about a lead: records, change history, conflicts."""
        return await advanced.export_lead(request.user, lead_id)

    @delete(
        "/privacy/leads/{lead_id:str}",
        status_code=200,
        responses=refusals(403, 404),
        opt={ROLE_OPT: Role.TEAM_ADMIN},
    )
    async def erase_lead(
        self, request: AnyRequest, advanced: Advanced, lead_id: FromPath[str]
    ) -> Erased:
        """Hard-erase a lead everywhere: server now, every device at its next sync."""
        return await advanced.erase_lead(request.user, lead_id)


class ModelsController(Controller):
    """Model distribution (signed manifests, staged rollout) and the retraining record."""

    path = "/api/v1/advanced/models"
    tags: Sequence[str] | None = ("models",)
    opt: Mapping[str, Any] | None = {ROLE_OPT: Role.AGENT}

    @get("/", responses=refusals())
    async def families(
        self, request: AnyRequest, advanced: Advanced, distribution: Distribution
    ) -> list[FamilyInfo]:
        """Every model of the caller's team: the version the server computes with, the stable
        version offered to its devices, the version in rollout and its percentage."""
        return await advanced.model_families(distribution, request.user.team)

    @get("/signing-key", responses=refusals())
    async def signing_key(self, distribution: Distribution) -> SigningKeyInfo:
        """The Ed25519 public key that signs manifests (devices pin it)."""
        return await distribution.signing_key_info()

    @get("/retrain-runs", responses=refusals())
    async def retrain_runs(self, request: AnyRequest, distribution: Distribution) -> RetrainRuns:
        """Every retraining run of the caller's team and the pooled ones: metrics (with the
        calibration on the synced holdout), decision (promoted, refused, failed) and reason."""
        mine = {POOLED, team_scope(request.user.team)}
        return RetrainRuns(runs=await list_runs(distribution, mine))

    @post("/retrain", status_code=202, responses=refusals(403), opt={ROLE_OPT: Role.OPERATOR})
    async def retrain(
        self, request: AnyRequest, data: JSONBody[RetrainRequest]
    ) -> RetrainRequested:
        """Start one retraining run now (operator); it runs in the background, once per
        cluster, its training in its own process, and is recorded in ``/retrain-runs``."""
        job: RetrainJob = request.app.state.retrain_job
        return await job.request_run()

    @post(
        "/{name:str}/rollout",
        status_code=200,
        responses=refusals(403, 404, 422),
        opt={ROLE_OPT: Role.OPERATOR},
    )
    async def rollout(
        self, distribution: Distribution, name: FromPath[str], data: JSONBody[RolloutRequest]
    ) -> FamilyInfo:
        """Offer the latest version of ``name`` to ``percent`` % of devices (operator)."""
        return await distribution.set_rollout(name, data.percent)

    @post(
        "/{name:str}/rollback",
        status_code=200,
        responses=refusals(403, 404, 422),
        opt={ROLE_OPT: Role.OPERATOR},
    )
    async def rollback(self, distribution: Distribution, name: FromPath[str]) -> FamilyInfo:
        """Withdraw the version of ``name`` in rollout, or the stable one (operator)."""
        return await distribution.rollback(name)

    @get("/{name:str}/offer", responses=refusals(404))
    async def offer(
        self,
        request: AnyRequest,
        sync: Sync,
        distribution: Distribution,
        name: FromPath[str],
        device_id: Annotated[str, QueryParameter(min_length=1, max_length=64)],
        running: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> Offer:
        """The version this device should run (staged rollout); records the one it runs."""
        device = await sync.store.device(device_id)
        if device is not None and device.team_id != request.user.team:
            raise NotFoundError(
                f"device {device_id!r} is not in your partition", path="query.device_id"
            )
        return await distribution.offer_for(request.user.team, name, device_id, running)

    @get("/{name:str}/{version:str}/manifest", responses=refusals(404))
    async def manifest(
        self,
        request: AnyRequest,
        advanced: Advanced,
        distribution: Distribution,
        name: FromPath[str],
        version: FromPath[str],
    ) -> ModelManifest:
        """The signed manifest of one version (published, or the one running here)."""
        return await advanced.model_manifest(distribution, name, version, request.user.team)

    @get(
        "/{name:str}/{version:str}/blob",
        media_type=OCTET,
        responses=refusals(404),
    )
    async def blob(
        self,
        request: AnyRequest,
        advanced: Advanced,
        distribution: Distribution,
        name: FromPath[str],
        version: FromPath[str],
    ) -> bytes:
        """The .tflite bytes of one version (check them against the signed manifest)."""
        return await advanced.model_blob(distribution, name, version, request.user.team)


# --- WebSockets ------------------------------------------------------------------------

_ws_event = msgspec.json.Decoder(dict[str, Any])
_event_decoder = msgspec.json.Decoder(EventInput)


async def _refuse(socket: WebSocket[Any, Any, Any], exc: ServerError) -> None:
    await socket.send_json({"type": "error", "code": exc.code, "detail": exc.detail})
    await socket.close(code=4000 + exc.status)


@websocket("/ws/advanced/realtime/multi-language/{session_id:str}", opt={ROLE_OPT: Role.AGENT})
async def realtime_multi_language(
    socket: WebSocket[Principal, str, Any], session_id: FromPath[str], advanced: Advanced
) -> None:
    """Binary 16 kHz mono 16-bit PCM in; ``partial`` and ``final`` transcripts out.

    Text frames: ``{"type": "start", "language": "ko"}`` (optional; before audio) and
    ``{"type": "end"}`` (finish the utterance: the final transcript comes back, and the next
    audio starts a new one).
    """
    await socket.accept()
    try:
        transcriber = advanced.transcriber()
    except ServerError as exc:
        await _refuse(socket, exc)
        return
    language: str | None = None
    stream = None
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            chunk = message.get("bytes")
            if isinstance(chunk, bytes):
                if len(chunk) % 2:
                    chunk = chunk[:-1]
                if stream is None:
                    stream = transcriber.stream(language)
                partial = await asyncio.to_thread(stream.feed, chunk)
                if partial is not None:
                    await socket.send_json(
                        {
                            "type": "partial",
                            "session_id": session_id,
                            **msgspec.to_builtins(partial),
                        }
                    )
                continue
            try:
                text = message.get("text")
                command = _ws_event.decode(text if isinstance(text, str) else "")
            except msgspec.MsgspecError:
                command = {}
            kind = command.get("type")
            if kind == "start":
                lang = command.get("language")
                language = lang if isinstance(lang, str) and lang else None
                if language and language not in transcriber.registry.languages():
                    await socket.send_json(
                        {
                            "type": "error",
                            "code": "invalid_request",
                            "path": "$.language",
                            "detail": f"no speech model for language {language!r}",
                        }
                    )
                    language = None
            elif kind == "end":
                final = await asyncio.to_thread((stream or transcriber.stream(language)).finish)
                stream = None
                text = final.text
                guess = (
                    await asyncio.to_thread(advanced.detect_text, text) if text.strip() else None
                )
                await socket.send_json(
                    {
                        "type": "final",
                        "session_id": session_id,
                        **msgspec.to_builtins(final),
                        "detected_language": guess.language if guess else "unknown",
                    }
                )
            else:
                await socket.send_json(
                    {
                        "type": "error",
                        "code": "invalid_request",
                        "path": "$.type",
                        "detail": 'expected binary PCM or {"type": "start"|"end"}',
                    }
                )
    except WebSocketDisconnect:
        pass
    finally:
        if stream is not None:  # an utterance left unfinished: its recognizer is let go
            with contextlib.suppress(Exception):
                await asyncio.to_thread(stream.drop)


@websocket(
    "/ws/advanced/realtime/intervention/{lead_id:str}",
    opt={ROLE_OPT: Role.AGENT, SCORING_OPT: True},
)
async def realtime_intervention(
    socket: WebSocket[Principal, str, Any], lead_id: FromPath[str], advanced: Advanced
) -> None:
    """The lead's plan now, then a new plan each time something about that lead changes.

    Events arrive as text frames ``{"type": "event", "event": {...}}`` from this client, or
    through sync from any device of the team (woken by the team's change notice, and every
    ``poll_s`` in case a notice was lost); changes to other leads, and the plans this socket
    writes, cause no new plan (``server.lead_watch``).
    """
    await socket.accept()
    who = socket.user
    try:
        plan = await advanced.predict(who, PredictRequest(lead_id=lead_id))
    except ServerError as exc:
        await _refuse(socket, exc)
        return
    await socket.send_json({"type": "plan", **msgspec.to_builtins(round_scores(plan))})
    store = advanced.sync.store
    seen = await store.last_seq(who.team)
    notifier: TeamNotifier = socket.app.state.notifier
    receiver: asyncio.Task[Any] | None = None
    waker: asyncio.Task[Any] | None = None
    try:
        async with notifier.watch(who.team) as moved:
            while True:
                if receiver is None:
                    receiver = asyncio.ensure_future(socket.receive_text())
                if waker is None:
                    waker = asyncio.ensure_future(moved.wait())
                done, _ = await asyncio.wait(
                    {receiver, waker}, timeout=advanced.poll_s, return_when=asyncio.FIRST_COMPLETED
                )
                if waker in done:  # the team's log moved, in this worker or another
                    moved.clear()
                    waker = None
                if receiver in done:
                    text = receiver.result()
                    receiver = None
                    try:
                        event = _event_decoder.decode(
                            msgspec.json.encode(_ws_event.decode(text).get("event"))
                        )
                    except msgspec.MsgspecError as exc:
                        await socket.send_json(
                            {
                                "type": "error",
                                "code": "invalid_request",
                                "detail": str(exc),
                                "path": "$.event",
                            }
                        )
                        continue
                    try:
                        await advanced.record_events(who, lead_id, [event], ["$.event"])
                    except ServerError as exc:
                        await socket.send_json(
                            {
                                "type": "error",
                                "code": exc.code,
                                "detail": exc.detail,
                                "path": exc.path,
                            }
                        )
                        continue
                    _, seen = await lead_changed(store, who.team, lead_id, seen)  # planned next
                else:
                    changed, seen = await lead_changed(store, who.team, lead_id, seen)
                    if not changed:
                        continue  # nothing about this lead: no plan, no write
                try:
                    plan = await advanced.predict(who, PredictRequest(lead_id=lead_id))
                except ServerError as exc:
                    await _refuse(socket, exc)  # e.g. the lead was erased meanwhile
                    return
                await socket.send_json({"type": "plan", **msgspec.to_builtins(round_scores(plan))})
    except WebSocketDisconnect:
        pass
    finally:
        for task in (receiver, waker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


__all__ = [
    "AdvancedController",
    "InterventionPlan",
    "ModelsController",
    "realtime_intervention",
    "realtime_multi_language",
]
