"""Bearer tokens signed with the server's key (HMAC-SHA256); each request takes from its bucket.

A token is ``re1.<claims>.<signature>``, both parts base64url; the claims name the agent, the
team (the partition every route reads and writes), the role, the issue time, the expiry and a
token id (``jti``, what a revocation names). A token without a role (issued before roles
existed) is an agent's. Every route declares the least role it needs (``opt={"role": ...}``,
see :func:`require_role`); a route that declares none needs an operator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from enum import StrEnum
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)

from server.errors import AUTH_PATH, ForbiddenError, RateLimitedError, UnauthorizedError
from sync.records import Id

PREFIX = "re1"
#: The key of a route handler's ``opt`` that names the least role it needs.
ROLE_OPT = "role"
#: The key of a route handler's ``opt`` that marks it a scoring route (its own rate limit).
SCORING_OPT = "scoring"


class Role(StrEnum):
    """What a token may do; each role may do everything the roles before it may."""

    #: Sync, read and score the team's leads, plan and execute outreach.
    AGENT = "agent"
    #: Also export and erase a lead of the team (privacy requests).
    TEAM_ADMIN = "team_admin"
    #: Also roll out, roll back and retrain models (they reach every team's devices).
    OPERATOR = "operator"


RANK = {Role.AGENT: 0, Role.TEAM_ADMIN: 1, Role.OPERATOR: 2}


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: the token's claims."""

    agent: Id
    team: Id
    iat: int
    exp: int
    jti: str
    #: Absent in tokens issued before roles existed: those are agents' tokens.
    role: Role = Role.AGENT

    def may(self, need: Role) -> bool:
        """Whether this principal's role is ``need`` or one above it."""
        return RANK[self.role] >= RANK[need]


_principal_decoder = msgspec.json.Decoder(Principal)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_signing_key() -> bytes:
    return secrets.token_bytes(32)


def issue_token(
    key: bytes,
    *,
    agent: str,
    team: str,
    now_ms: int,
    ttl_ms: int,
    role: Role | str = Role.AGENT,
    jti: str | None = None,
) -> str:
    """A token for ``agent`` of ``team`` with ``role``, valid for ``ttl_ms`` from ``now_ms``.

    Every token carries its expiry (``exp``); one past it is refused (401).
    """
    claims = Principal(
        agent=agent,
        team=team,
        iat=now_ms,
        exp=now_ms + ttl_ms,
        jti=jti or secrets.token_hex(8),
        role=Role(role),
    )
    msgspec.convert(msgspec.to_builtins(claims), Principal)  # validates the ids
    body = f"{PREFIX}.{_b64(msgspec.json.encode(claims))}"
    sig = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(sig)}"


def verify_token(key: bytes, token: str, now_ms: int) -> Principal:
    """The token's principal; UnauthorizedError saying why when it is not acceptable."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise UnauthorizedError("malformed token: expected re1.<claims>.<signature>")
    body = f"{parts[0]}.{parts[1]}"
    try:
        sig = _unb64(parts[2])
        raw = _unb64(parts[1])
    except ValueError as exc:
        raise UnauthorizedError("malformed token: not base64url") from exc
    expected = hmac.new(key, body.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise UnauthorizedError("token signature does not match this server's key")
    try:
        principal = _principal_decoder.decode(raw)
    except msgspec.MsgspecError as exc:
        raise UnauthorizedError(f"malformed token claims: {exc}") from exc
    if principal.exp <= now_ms:
        raise UnauthorizedError(f"token expired at {principal.exp} (epoch ms)")
    return principal


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """Authenticates ``Authorization: Bearer`` (WebSockets: or ``?token=``); rate-limits."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]):
        state = connection.app.state
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and connection.scope["type"] == "websocket":
            # Browsers cannot set headers on a WebSocket: ?token= is accepted there only.
            scheme, token = "bearer", connection.query_params.get("token", "")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError(
                "missing bearer token (Authorization: Bearer <token>)", path=AUTH_PATH
            )
        config = state.config
        try:
            principal = verify_token(state.signing_key, token.strip(), config.clock())
        except UnauthorizedError as exc:
            raise UnauthorizedError(exc.detail, path=AUTH_PATH) from exc
        revoked = await state.store.revocation(principal.jti)
        if revoked is not None:
            raise UnauthorizedError(
                f"token {principal.jti} was revoked at {revoked.revoked_at} (epoch ms)"
                + (f": {revoked.reason}" if revoked.reason else ""),
                path=AUTH_PATH,
            )
        wait = await state.rate_limiter.take(principal.jti, config.clock() / 1000)
        if wait > 0:
            raise RateLimitedError(
                f"rate limit of {config.rate_per_s:g} requests/s for this token",
                retry_after_s=wait,
            )
        return AuthenticationResult(user=principal, auth=token)


def _caller(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The authenticated principal; ``None`` on a public route (the middleware skipped it)."""
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


def route_role(handler: BaseRouteHandler) -> Role:
    """The least role ``handler`` needs: its declared one, else (fail closed) an operator."""
    return Role(handler.opt.get(ROLE_OPT, Role.OPERATOR))


def require_role(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard of every route: 403 naming the role the route needs and the token's role."""
    who = _caller(connection)
    if who is None:
        return
    need = route_role(handler)
    if not who.may(need):
        raise ForbiddenError(
            f"this route needs the role {need.value} (or above); the token's role is "
            f"{who.role.value}",
            path="token.role",
        )


async def limit_scoring(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of every route: scoring routes take also from the token's scoring bucket."""
    who = _caller(connection)
    if who is None or not handler.opt.get(SCORING_OPT):
        return
    state, config = connection.app.state, connection.app.state.config
    wait = await state.scoring_limiter.take(f"score:{who.jti}", config.clock() / 1000)
    if wait > 0:
        raise RateLimitedError(
            f"scoring rate limit of {config.scoring_rate_per_s:g} requests/s for this token "
            f"(burst {config.scoring_burst})",
            retry_after_s=wait,
        )
