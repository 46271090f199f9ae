"""The one place where domain errors become HTTP responses (as services/errors.py is for gRPC).

Every error answers ``{"error": {"code", "status", "message", "field", "value", "fix", "details"}}``: ``code`` is
the gRPC code's name (the same error reads the same on both), ``field``/``value``/``fix`` are set for bad input.
FastAPI's own request validation (a missing or mistyped parameter) answers 400 in the same shape, naming the
parameter. Anything that is not a domain error is a 500 with a generic message, the cause in the log."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from multiverse import errors
from services.errors import code_for, domain_error

log = logging.getLogger("multiverse.http")

STATUS: dict[str, int] = {  # gRPC code name -> HTTP status
    "INVALID_ARGUMENT": 400, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "FAILED_PRECONDITION": 409,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "CANCELLED": 499, "UNAVAILABLE": 503,
    "RESOURCE_EXHAUSTED": 429, "DATA_LOSS": 500, "UNKNOWN": 500,
}


def error_body(code: str, message: str, *, field: str = "", value: Any = None, fix: str = "",
               details: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": STATUS.get(code, 500), "message": message}
    if field:
        body.update(field=field, value=errors.clip(str(value), 160) if value is not None else None, fix=fix)
    if details:
        body["details"] = details
    return {"error": body}


def to_response(exc: errors.MultiverseError) -> JSONResponse:
    code = code_for(exc).name
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.InvalidArgument):
        extra = {"field": exc.field, "value": exc.value, "fix": exc.fix}
    headers = {"Retry-After": "1"} if code in ("RESOURCE_EXHAUSTED", "UNAVAILABLE") else None
    if code == "UNAUTHENTICATED":
        headers = {"WWW-Authenticate": 'Bearer realm="multiverse"'}
    return JSONResponse(error_body(code, exc.message, details=exc.details, **extra), status_code=STATUS[code],
                        headers=headers)


def install_errors(api: FastAPI) -> None:
    @api.exception_handler(errors.MultiverseError)
    async def _domain(_request: Request, exc: errors.MultiverseError) -> JSONResponse:
        if code_for(exc).name in ("UNKNOWN", "DATA_LOSS"):
            log.error("%s: %s", type(exc).__name__, exc.message)
        return to_response(exc)

    @api.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "header")]
        if loc[:1] == ["body"]:  # a body field by its name; a body that is no JSON object at all as "body"
            loc = loc[1:] if first.get("type") != "json_invalid" else ["body"]
        name = ".".join(loc) or "body"
        fix = first.get("msg", "check the request against /api/openapi.json")
        return JSONResponse(error_body("INVALID_ARGUMENT", f"{name}={first.get('input')!r} is not valid: {fix}",
                                       field=name, value=first.get("input"), fix=fix), status_code=400)

    @api.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                429: "RESOURCE_EXHAUSTED"}.get(exc.status_code, "UNKNOWN" if exc.status_code >= 500 else "INVALID_ARGUMENT")
        message = str(exc.detail) if exc.detail else "no such route: see /api/openapi.json for the API"
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(Exception)
    async def _other(_request: Request, exc: Exception) -> JSONResponse:
        mapped = domain_error(exc)
        if mapped is not None:
            return to_response(mapped)
        log.exception("unexpected error in the HTTP gateway")
        return JSONResponse(error_body("UNKNOWN", "internal error: the cause is in the server's log"),
                            status_code=500)
