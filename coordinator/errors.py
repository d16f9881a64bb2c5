"""The API's error types and the one place they (and every other failure) become `{error: {code, message, details}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Root of the errors a route raises on purpose; each leaf fixes the HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class Unprocessable(ApiError):
    status, code = 422, "validation_error"


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"retry_after_s": round(retry_after_s, 3)})
        self.headers = {"Retry-After": str(max(1, int(retry_after_s + 0.999)))}


class UpstreamUnavailable(ApiError):
    status, code = 503, "unavailable"


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The shape of every 4xx/5xx body."""

    error: ErrorBody


def _body(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, "details": details}}
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = _body(exc.status, exc.code, exc.message, _jsonable(exc.details))
    response.headers.update(getattr(exc, "headers", {}))
    return response


def database_unavailable(exc: BaseException) -> bool:
    """Whether a SQLAlchemy error means the database is away (a restart, a failover, a lock held too long)
    rather than that our query is wrong: psycopg raises OperationalError only for the connection and server
    state; SQLite's OperationalError also covers "no such column", which is a bug, not an outage."""
    if getattr(exc, "connection_invalidated", False):
        return True
    orig = getattr(exc, "orig", None)
    if orig is not None and type(orig).__module__.split(".")[0] == "psycopg":
        return True
    text = str(orig if orig is not None else exc).lower()
    return any(m in text for m in ("database is locked", "unable to open database", "connection refused",
                                   "server closed the connection", "could not connect"))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # The database being away is not a bug: 503 tells clients to come back, where 500 says the request broke.
    if not database_unavailable(exc):
        return await _unexpected(request, exc)
    log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    response = _body(503, "database_unavailable", "the database is unavailable; retry shortly")
    response.headers["Retry-After"] = "2"
    return response


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        return _body(
            400, "malformed_json", "request body is not valid JSON", {"reason": str(first.get("ctx", {}))}
        )
    details = [
        {"field": _loc(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]
    first_field = details[0]["field"] if details else "body"
    message = f"{first_field}: {details[0]['message']}" if details else "invalid request"
    return _body(422, "validation_error", message, details)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return _body(exc.status_code, codes.get(exc.status_code, "http_error"), message)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # The trace goes to the log, never to the client.
    log.exception("unhandled error", exc_info=exc)
    return _body(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    from sqlalchemy.exc import DisconnectionError, OperationalError

    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(DisconnectionError, _database_error)
    app.add_exception_handler(Exception, _unexpected)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses a route can return."""
    text = {
        400: "Malformed request (e.g. body is not JSON)",
        401: "Missing, invalid or expired bearer token / sign-in",
        403: "Authenticated but not allowed",
        404: "No such resource",
        409: "Conflict with the current state",
        413: "Payload too large",
        422: "Validation error; details name each field",
        429: "Too many unauthenticated requests from this client; see Retry-After",
        503: "A dependency (database, RPC) is unavailable",
    }
    return {s: {"model": ErrorResponse, "description": text.get(s, "Error")} for s in statuses}
