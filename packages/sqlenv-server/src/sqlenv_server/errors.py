"""Errors become replies here, in one place: exception handlers for the HTTP routes.

Routes raise :class:`~sqlenv_core.wire.WireError` (``CapacityReachedError`` and
``SessionNotFoundError`` are ones); the handler answers with the status that carries its code
(:data:`sqlenv_core.wire.HTTP_STATUS`) and OpenEnv's body ``{"detail": {"message": ..., "code": ...}}``.
The WebSocket route turns the same exceptions into error frames, MCP into JSON-RPC errors.
Validation problems are listed by :func:`sqlenv_core.wire.validation_details` on every transport.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.requests import HTTPConnection

from sqlenv_core.wire import HTTP_STATUS, ErrorCode, WireError, validation_details
from sqlenv_server.disconnect import ClientGoneError
from sqlenv_server.jsonio import SafeJSONResponse
from sqlenv_server.metrics import ServerMetrics

__all__ = ["CLIENT_CLOSED_REQUEST", "count_error", "install_exception_handlers"]

#: The status nginx logs for a client that went away before the reply (nobody receives it).
CLIENT_CLOSED_REQUEST = 499


def count_error(connection: HTTPConnection, code: ErrorCode | str) -> None:
    """Count one error answered to a client, by code."""
    metrics: ServerMetrics = connection.app.state.metrics
    metrics.errors.labels(str(code)).inc()


async def _wire_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WireError)
    count_error(request, exc.code)
    status: int = getattr(exc, "http_status", None) or HTTP_STATUS[exc.code]  # e.g. 429 for a busy session
    headers = {"Retry-After": "1"} if status == 429 else None
    return SafeJSONResponse({"detail": exc.payload()}, status_code=status, headers=headers)


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    count_error(request, ErrorCode.VALIDATION_ERROR)
    return SafeJSONResponse({"detail": validation_details(exc.errors())}, status_code=422)


async def _client_gone(request: Request, exc: Exception) -> Response:
    count_error(request, "CLIENT_GONE")
    return Response(status_code=CLIENT_CLOSED_REQUEST)


def install_exception_handlers(app: FastAPI) -> None:
    """Map the wire's errors (and FastAPI's own validation errors) to HTTP replies."""
    app.add_exception_handler(WireError, _wire_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(ClientGoneError, _client_gone)
