"""Errors become replies here, in one place: exception handlers for the HTTP routes.

Routes raise :class:`~sqlenv_core.wire.WireError` (``CapacityReachedError`` and
``SessionNotFoundError`` are ones); the handler answers with the status that carries its code
(:data:`sqlenv_core.wire.HTTP_STATUS`) and OpenEnv's body ``{"detail": {"message": ..., "code": ...}}``.
The WebSocket route turns the same exceptions into error frames, MCP into JSON-RPC errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.requests import HTTPConnection

from sqlenv_core.wire import HTTP_STATUS, ErrorCode, WireError
from sqlenv_server.disconnect import ClientGoneError
from sqlenv_server.jsonio import SafeJSONResponse
from sqlenv_server.metrics import ServerMetrics

__all__ = ["CLIENT_CLOSED_REQUEST", "bounded_errors", "count_error", "install_exception_handlers"]

_ECHO_CHARS = 200
_MAX_ENTRIES = 20
#: The status nginx logs for a client that went away before the reply (nobody receives it).
CLIENT_CLOSED_REQUEST = 499


def count_error(connection: HTTPConnection, code: ErrorCode | str) -> None:
    """Count one error answered to a client, by code."""
    metrics: ServerMetrics = connection.app.state.metrics
    metrics.errors.labels(str(code)).inc()


def _bounded(entry: dict[str, Any]) -> dict[str, Any]:
    """A validation problem without the documentation link and with its echoed input cut short."""
    entry = {k: v for k, v in entry.items() if k not in ("url", "ctx")}
    # A location names the client's own keys, which can be as long as the body.
    entry["loc"] = [p if isinstance(p, int) else str(p)[:_ECHO_CHARS] for p in entry.get("loc", ())]
    value = entry.get("input")
    if isinstance(value, str):
        if len(value) > _ECHO_CHARS:
            entry["input"] = value[:_ECHO_CHARS] + "…"
    elif value is not None and not isinstance(value, int | float | bool):
        text = repr(value)
        entry["input"] = text[:_ECHO_CHARS] + "…" if len(text) > _ECHO_CHARS else value
    return jsonable_encoder(entry)


def bounded_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation problems as a reply can carry them: few, short, and JSON-safe (lone surrogates too)."""
    detail = [_bounded(dict(e)) for e in errors[:_MAX_ENTRIES]]
    if len(errors) > _MAX_ENTRIES:
        detail.append({"type": "truncated", "loc": [], "msg": f"{len(errors) - _MAX_ENTRIES} more problems"})
    return detail


async def _wire_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WireError)
    count_error(request, exc.code)
    return SafeJSONResponse({"detail": exc.payload()}, status_code=HTTP_STATUS[exc.code])


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    count_error(request, ErrorCode.VALIDATION_ERROR)
    return SafeJSONResponse({"detail": bounded_errors(exc.errors())}, status_code=422)


async def _client_gone(request: Request, exc: Exception) -> Response:
    count_error(request, "CLIENT_GONE")
    return Response(status_code=CLIENT_CLOSED_REQUEST)


def install_exception_handlers(app: FastAPI) -> None:
    """Map the wire's errors (and FastAPI's own validation errors) to HTTP replies."""
    app.add_exception_handler(WireError, _wire_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(ClientGoneError, _client_gone)
