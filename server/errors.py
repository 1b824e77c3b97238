"""Domain errors of the server and the one function that maps every error to HTTP.

Services raise :class:`ServerError` subclasses whose message names the bad value; nothing
else in the server decides a status code. The body is always a
:class:`~sync.protocol.Rejected` (``code``, ``detail``, ``path``), never a traceback.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    SerializationException,
    ValidationException,
)

from edge.errors import NotFoundError as EdgeNotFoundError
from sync.protocol import Rejected

log = logging.getLogger("realty_edge.server")


class ServerError(Exception):
    """Base of every domain error of the server."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str, *, path: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.path = path


class InvalidRequestError(ServerError):
    """A body or parameter that does not validate; ``path`` names the field."""

    status = 422
    code = "invalid_request"


class UnknownFieldError(ServerError):
    """A body key or query parameter the route does not declare; ``path`` names it."""

    status = 400
    code = "invalid_request"


class MalformedBodyError(ServerError):
    """Bytes that are not JSON or MessagePack (or not valid gzip): the whole body, ``$``."""

    status = 400
    code = "malformed_body"

    def __init__(self, detail: str, *, path: str | None = "$"):
        super().__init__(detail, path=path)


class UnsupportedEncodingError(ServerError):
    """A Content-Encoding or Content-Type the server does not read."""

    status = 415
    code = "unsupported_media"


class BodyTooLargeError(ServerError):
    """A body over the size limit, before or after decompression."""

    status = 413
    code = "body_too_large"


class UnauthorizedError(ServerError):
    """A missing, malformed, badly signed or expired token."""

    status = 401
    code = "unauthorized"


class ForbiddenError(ServerError):
    """A valid token whose role may not use the route; the detail names the role needed."""

    status = 403
    code = "forbidden"


class NotFoundError(ServerError):
    """Nothing with that id in the caller's partition (also for other teams' ids)."""

    status = 404
    code = "not_found"


class SchemaVersionUnsupportedError(ServerError):
    """A batch written with a schema or protocol version this server does not read."""

    status = 409
    code = "schema_version_unsupported"


class ClockAheadError(ServerError):
    """A change stamped too far in the future; the device should fix its clock."""

    status = 422
    code = "clock_ahead"


class FeatureUnavailableError(ServerError):
    """A feature this server cannot offer now (e.g. no speech model installed)."""

    status = 503
    code = "feature_unavailable"


class RateLimitedError(ServerError):
    """Too many requests for one token."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: float):
        super().__init__(detail)
        self.retry_after_s = retry_after_s


#: The field a missing or bad token is named by.
AUTH_PATH = "header.authorization"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media",
    429: "rate_limited",
}

_PATH_IN_MESSAGE = re.compile(r"at `(\$[^`]*)`")
_UNKNOWN_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def path_in(message: str, prefix: str = "") -> str | None:
    """The field path msgspec wrote into ``message`` (``at `$.a.b```), under ``prefix``;
    for an unknown or missing field, the path ends with its name. A message naming no path
    is about the value as a whole: ``prefix``, or ``$``."""
    found = _PATH_IN_MESSAGE.search(message)
    field = _UNKNOWN_FIELD.search(message)
    if not found and not field:
        return prefix or "$"
    path = found.group(1) if found else "$"
    if field:
        path = f"{path}.{field.group(1)}"
    return prefix + path[1:] if prefix else path


def error_to_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Rejected]:
    """The one mapping from any exception to an HTTP answer with a ``Rejected`` body."""
    headers: dict[str, str] = {}
    match exc:
        case RateLimitedError():
            status, body = exc.status, Rejected(code=exc.code, detail=exc.detail)
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s + 0.5)))
        case UnauthorizedError():
            status, body = exc.status, Rejected(code=exc.code, detail=exc.detail, path=exc.path)
            headers["WWW-Authenticate"] = 'Bearer realm="realty-edge"'
        case ServerError():
            status = exc.status
            body = Rejected(
                code=exc.code, detail=exc.detail, path=exc.path, reason=getattr(exc, "reason", None)
            )
        case EdgeNotFoundError():
            status = 404
            body = Rejected(code="not_found", detail=f"{exc} (in your partition)")
        case ValidationException():
            status, body = 400, _validation_body(exc)
        case ClientException() if isinstance(exc.__cause__, SerializationException):
            status = 400  # the body is not JSON at all: the body as a whole is to blame
            body = Rejected(code="malformed_body", detail=str(exc.detail), path="body")
        case NotAuthorizedException():
            status = 401
            body = Rejected(code="unauthorized", detail=str(exc.detail), path=AUTH_PATH)
            headers["WWW-Authenticate"] = 'Bearer realm="realty-edge"'
        case HTTPException():
            status = exc.status_code
            body = Rejected(code=_HTTP_CODES.get(status, f"http_{status}"), detail=str(exc.detail))
        case _:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            status = 500
            body = Rejected(code="internal_error", detail="internal error; see the server log")
    if status >= 500 and isinstance(exc, ServerError):
        log.error("server error on %s: %s", request.url.path, exc.detail)
    return Response(content=body, status_code=status, headers=headers)


#: Litestar's words for a required parameter that is absent: its kind and name.
_MISSING_PARAMETER = re.compile(r"Missing required (query|header|cookie|path) parameter '([^']+)'")


def _validation_body(exc: ValidationException) -> Rejected:
    path = None
    detail = str(exc.detail)
    extra = exc.extra if isinstance(exc.extra, list) else []
    if extra and isinstance(extra[0], dict):
        first = extra[0]
        key, source = first.get("key"), first.get("source")
        if key:
            source = getattr(source, "value", source)
            path = f"{source}.{key}" if source else str(key)
        if first.get("message"):
            detail = f"{detail}: {first['message']}"
            named = path_in(str(first["message"]))
            unknown = _UNKNOWN_FIELD.search(str(first["message"]))
            if named is not None and key == "data":  # the body's own field, by name
                path = "body" + named[1:]
            elif unknown and path:  # a nested object's unknown or missing key: name it
                path = f"{path}.{unknown.group(1)}"
    if path is None and (missing := _MISSING_PARAMETER.search(detail)):
        path = f"{missing.group(1)}.{missing.group(2)}"  # e.g. query.device_id
    return Rejected(code="invalid_request", detail=detail, path=path)
