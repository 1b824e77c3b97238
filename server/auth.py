"""Bearer tokens signed with the server's key (HMAC-SHA256); each request takes from its bucket.

A token is ``re1.<claims>.<signature>``, both parts base64url; the claims name the agent, the
team (the partition every route reads and writes), the issue time, the expiry and a token id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)

from server.errors import AUTH_PATH, RateLimitedError, UnauthorizedError
from sync.records import Id

PREFIX = "re1"
_claims_decoder = msgspec.json.Decoder(type=None)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: the token's claims."""

    agent: Id
    team: Id
    iat: int
    exp: int
    jti: str


_principal_decoder = msgspec.json.Decoder(Principal)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_signing_key() -> bytes:
    return secrets.token_bytes(32)


def issue_token(key: bytes, *, agent: str, team: str, now_ms: int, ttl_ms: int) -> str:
    """A token for ``agent`` of ``team`` valid for ``ttl_ms`` from ``now_ms``."""
    claims = Principal(
        agent=agent, team=team, iat=now_ms, exp=now_ms + ttl_ms, jti=secrets.token_hex(8)
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
        wait = await state.rate_limiter.take(principal.jti, config.clock() / 1000)
        if wait > 0:
            raise RateLimitedError(
                f"rate limit of {config.rate_per_s:g} requests/s for this token",
                retry_after_s=wait,
            )
        return AuthenticationResult(user=principal, auth=token)
