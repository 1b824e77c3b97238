"""The OpenAPI document as the contract: security scheme, error answers, field meanings, UI.

- Every route but the public ones needs ``Authorization: Bearer <token>`` (the ``bearer``
  scheme, so Swagger UI shows its Authorize button).
- Every refusal is a :class:`~sync.protocol.Rejected` body; :func:`refusals` documents the
  statuses a route answers with it, replacing Litestar's default error body.
- :data:`FIELD_MEANINGS` says what the answers' fields of the device's types mean, with
  units, where those types carry no ``Meta(description=...)`` of their own.
- Swagger UI is served with local assets (the ``swagger-ui-bundle`` package, or a folder
  named by ``REALTY_EDGE_SWAGGER_UI_DIR``), so it works offline; without them the UI page
  says so instead of loading scripts from a CDN.
- :func:`refuse_undeclared_query`: a query parameter the document does not declare for the
  route is refused (400 naming it), never silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    Example,
    Link,
    OpenAPI,
    OpenAPIResponse,
    Operation,
    SecurityScheme,
)
from litestar.router import Router
from litestar.static_files import create_static_files_router

from server.parsing import refuse_unknown
from sync.protocol import Rejected

SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/assets"
BEARER = "bearer"
#: The security requirement of every route that needs a token.
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]

_MEANING = {
    400: "Malformed body or parameter, or an unknown key; `path` names the field.",
    401: "Missing, malformed, badly signed, expired or revoked bearer token.",
    403: "The token's role may not use this route; `detail` names the role it needs.",
    404: "No such id in your team's partition (other teams' ids answer the same).",
    409: "A batch of a schema or protocol version this server does not read.",
    413: "Body over the size limit (before or after decompression).",
    415: "A Content-Type or Content-Encoding the server does not read.",
    422: "A value that parses but cannot be used; `path` names the field.",
    429: "Rate limit of the token reached; see Retry-After.",
    503: "A feature this server cannot offer now (e.g. no speech model installed).",
}
#: One real refusal per status, as the document's example (instead of generated gibberish).
_EXAMPLE = {
    400: (
        "invalid_request",
        "unknown parameter 'max_price' (accepted: context, k)",
        "query.max_price",
    ),
    401: (
        "unauthorized",
        "missing bearer token (Authorization: Bearer <token>)",
        "header.authorization",
    ),
    403: (
        "forbidden",
        "this route needs the role team_admin (or above); the token's role is agent",
        "token.role",
    ),
    404: ("not_found", "no lead 'lead-000042' (in your partition)", "$.lead_id"),
    409: ("schema_version_unsupported", "schema version 9 is newer than this server's 3", None),
    413: ("body_too_large", "body of 9000000 bytes; the limit is 8388608", None),
    415: ("unsupported_media", "Content-Type 'text/csv' is not supported", None),
    422: ("invalid_request", "'about half a million' is not an amount", "$.context.offer_amount"),
    429: ("rate_limited", "rate limit of 50 requests/s for this token", None),
    503: ("feature_unavailable", "no Vosk speech model is installed on this server", None),
}

#: Statuses every authenticated route may answer.
COMMON = (400, 401, 429)


def refusals(*statuses: int, public: bool = False) -> dict[int, ResponseSpec]:
    """The ``responses`` of a route: ``statuses`` plus the common ones, as Rejected bodies."""
    codes = sorted(set(statuses) | ({400} if public else set(COMMON)))
    return {
        code: ResponseSpec(
            data_container=Rejected,
            description=_MEANING[code],
            generate_examples=False,
            examples=[Example(summary=_EXAMPLE[code][0], value=_rejected_example(code))],
        )
        for code in codes
    }


def _rejected_example(status: int) -> dict[str, Any]:
    code, detail, path = _EXAMPLE[status]
    return {"type": "rejected", "protocol": 1, "code": code, "detail": detail, "path": path}


#: What the answers' fields mean, with units, for types that do not describe themselves.
FIELD_MEANINGS: dict[str, dict[str, str]] = {
    "BehaviourPrediction": {
        "p_convert": "Probability (0..1) that the lead closes a deal within the next 45 days.",
        "p_respond": "Probability (0..1) that the lead replies within 24 hours to the next "
        "outreach (message or call).",
        "tier": "Engagement tier from p_convert and recent activity.",
        "drivers": "Why: the lead's evidence that moves p_convert most, with its effect.",
        "events": "Number of the lead's events the prediction used.",
        "model_version": "Version of the behaviour model that computed the prediction.",
    },
    "Driver": {
        "factor": "The group of features, e.g. showings.",
        "text": "The evidence in words.",
        "effect": "Change in p_convert this driver makes, in probability (-1..1; 0.05 is "
        "5 percentage points).",
        "effect_respond": "Change in p_respond this driver makes, in probability (-1..1).",
    },
    "Recommendation": {
        "rank": "1 = best.",
        "score": "Match between the lead and the listing: a z-score over the listings "
        "(higher is better; 0 is an average match), less penalties for broken preferences.",
        "price": "Asking price, in currency.",
        "currency": "ISO 4217 code.",
        "reasons": "Why this listing, in words.",
    },
    "VerticalGuess": {
        "confidence": "Share (0..1) of the evidence for the chosen vertical.",
        "scores": "Evidence per vertical (0..1 shares).",
    },
    "Analysis": {
        "language_confidence": "1.0 when the language is supported, else 0.0.",
        "plan": "The lead's stored active plan, or (plan_stored false) a proposal not stored.",
        "plan_stored": "True when plan is the lead's stored active plan.",
        "computed_at": "When the analysis was computed: UTC epoch milliseconds.",
    },
    "DraftMessage": {
        "send_at": "Next allowed contact time: UTC epoch milliseconds.",
        "send_at_local": "send_at in the lead's time zone, ISO 8601.",
    },
    "Rejected": {
        "code": "Stable machine-readable reason, e.g. invalid_request, not_found.",
        "detail": "A sentence naming the bad value.",
        "path": "The field to blame: body.<field> or $.<field> for the body, "
        "query.<name>, path.<name> or header.<name>.",
    },
}


def describe_fields(document: OpenAPI, meanings: dict[str, dict[str, str]]) -> int:
    """Add ``meanings`` to the component schemas' properties that have no description."""
    added = 0
    schemas = document.components.schemas if document.components else None
    for name, component in (schemas or {}).items():
        base = name.rsplit(".", 1)[-1].split("_")[-1]
        for field, text in meanings.get(base, {}).items():
            prop = (component.properties or {}).get(field)
            if prop is not None and not prop.description:
                prop.description = text
                added += 1
    return added


_ADV = "/api/v1/advanced"
_LEAD = "$response.body#/lead_id"
#: What an answer lets a client do next (OpenAPI links: Swagger shows them, schemathesis
#: walks them): (from method, from path, status) -> [(name, to method, to path, parameters,
#: request body)].
LINKS: dict[tuple[str, str, int], list[tuple[str, str, str, dict[str, str], Any]]] = {
    ("post", f"{_ADV}/personalization/profile/create", 200): [
        ("Analyze", "post", f"{_ADV}/analyze/comprehensive", {}, {"lead_id": _LEAD}),
        ("Predict", "post", f"{_ADV}/intervention/predict", {}, {"lead_id": _LEAD}),
        ("SavePlan", "post", f"{_ADV}/intervention/plans", {}, {"lead_id": _LEAD}),
        (
            "Recommend",
            "get",
            f"{_ADV}/personalization/recommendations/{{lead_id}}",
            {"lead_id": _LEAD},
            None,
        ),
        ("Export", "get", f"{_ADV}/privacy/leads/{{lead_id}}/export", {"lead_id": _LEAD}, None),
        ("Erase", "delete", f"{_ADV}/privacy/leads/{{lead_id}}", {"lead_id": _LEAD}, None),
    ],
    ("post", f"{_ADV}/intervention/predict", 200): [
        ("SavePlan", "post", f"{_ADV}/intervention/plans", {}, {"lead_id": _LEAD}),
    ],
    ("post", f"{_ADV}/intervention/plans", 201): [
        (
            "ExecuteBestStep",
            "post",
            f"{_ADV}/intervention/execute",
            {},
            {"step_id": "$response.body#/strategies/0/step_id"},
        ),
        ("Export", "get", f"{_ADV}/privacy/leads/{{lead_id}}/export", {"lead_id": _LEAD}, None),
    ],
}


def add_links(document: OpenAPI, links: dict = LINKS) -> int:
    """Add ``links`` to the document's responses (by path and method); how many were added."""
    paths = document.paths or {}

    def operation(method: str, path: str) -> Operation:
        found = getattr(paths[path], method)
        assert found is not None, f"{method.upper()} {path} is not in the document"
        return found

    added = 0
    for (method, path, status), targets in links.items():
        response = (operation(method, path).responses or {})[str(status)]
        assert isinstance(response, OpenAPIResponse)
        response.links = dict(response.links or {})
        for name, to_method, to_path, parameters, body in targets:
            response.links[name] = Link(
                operation_id=operation(to_method, to_path).operation_id,
                parameters=dict(parameters) or None,
                request_body=body,
            )
            added += 1
    return added


def swagger_assets() -> Path | None:
    """The folder with swagger-ui-bundle.js, swagger-ui.css and the standalone preset."""
    env = os.environ.get("REALTY_EDGE_SWAGGER_UI_DIR")
    if env:
        return Path(env)
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(swagger_ui_path)


class OfflineSwaggerPlugin(SwaggerRenderPlugin):
    """Swagger UI whose scripts and styles come from this server, not a CDN."""

    def __init__(self, assets: Path):
        super().__init__(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon="",
            path="/swagger",
        )
        self.assets = assets

    def receive_router(self, router: Router) -> None:
        router.register(
            create_static_files_router(
                path="/assets", directories=[self.assets], include_in_schema=False
            )
        )


class SwaggerUnavailablePlugin(OpenAPIRenderPlugin):
    """Without local assets: a page that says how to get the UI (never a CDN's scripts)."""

    def __init__(self) -> None:
        super().__init__(path="/swagger", favicon="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return (
            "<!doctype html><html><head><title>API documents</title></head><body>"
            "<h1>Swagger UI is not installed on this server</h1>"
            "<p>It is served from local files only (never a CDN). Install the "
            "<code>swagger-ui-bundle</code> package, or set REALTY_EDGE_SWAGGER_UI_DIR to a "
            "folder holding <code>swagger-ui-bundle.js</code>, <code>swagger-ui.css</code> "
            "and <code>swagger-ui-standalone-preset.js</code>.</p>"
            f'<p>The OpenAPI document: <a href="{SCHEMA_PATH}/openapi.json">openapi.json</a>'
            "</p></body></html>"
        ).encode()


def openapi_config(title: str, version: str, assets: Path | None) -> OpenAPIConfig:
    """The document's config: bearer scheme, JSON at /schema/openapi.json, Swagger UI."""
    ui: OpenAPIRenderPlugin = (
        OfflineSwaggerPlugin(assets) if assets is not None else SwaggerUnavailablePlugin()
    )
    return OpenAPIConfig(
        title=title,
        version=version,
        path=SCHEMA_PATH,
        description="Every route but health needs `Authorization: Bearer <token>` "
        "(`realty-edge server token`). Refusals are `rejected` bodies whose `path` names the "
        "field. Times are UTC epoch milliseconds, probabilities 0..1.",
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="re1.<claims>.<signature>",
                    description="A token from `realty-edge server token` (team partition).",
                )
            }
        ),
        security=SECURITY,
        render_plugins=[ui, JsonRenderPlugin()],
    )


def declared_query(schema: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(path template, METHOD) -> the query parameters the document declares."""
    declared: dict[tuple[str, str], set[str]] = {}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
            declared[(path, method.upper())] = names
    return declared


def refuse_undeclared_query(request: Request[Any, Any, Any]) -> None:
    """``before_request``: refuse a query parameter the route does not declare."""
    if not request.query_params:
        return
    app = request.app
    declared = app.state.get("declared_query")
    if declared is None:
        declared = app.state["declared_query"] = declared_query(app.openapi_schema.to_schema())
    template = request.scope.get("path_template", "")
    allowed: Iterable[str] | None = declared.get((template, request.method.upper()))
    if allowed is not None:
        refuse_unknown(request.query_params.keys(), allowed, "query")
