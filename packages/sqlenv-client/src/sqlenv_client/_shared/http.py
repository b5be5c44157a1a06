"""HTTP sessions spoken as frames: the mapping shared by the sync and async HTTP transports.

OpenEnv's HTTP routes are stateless; SQLEnv's are not: ``POST /reset`` opens (or resets) a
session and says its id, and ``/step`` and ``/state`` take it. The id travels both in the body
(``session_id``) and in the ``X-Session-Id`` header, so a server may read either; ``POST /close``
ends the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sqlenv_client._shared.jsonobj import json_object
from sqlenv_client.errors import ProtocolError, RequestTimeoutError, ServerConnectionError, SQLEnvError
from sqlenv_core.wire import HTTP_STATUS, SESSION_HEADER, ErrorCode, Frame

if TYPE_CHECKING:  # httpx loads only when an HTTP transport is used (it costs ~0.1-0.3 s)
    import httpx

# The code an HTTP error status stands for when the body does not say (proxies, other servers):
# our own mapping read backwards, plus the statuses other servers use for the same things.
# Our 400 stands for INVALID_JSON or UNKNOWN_TYPE, and other servers' for a validation error: the
# 400 entry below deliberately overrides whichever the reversed mapping kept.
_STATUS_CODES: dict[int, str] = {
    **{status: code.value for code, status in HTTP_STATUS.items()},
    400: ErrorCode.VALIDATION_ERROR.value,
    409: ErrorCode.SESSION_ERROR.value,
    410: ErrorCode.SESSION_ERROR.value,
    413: ErrorCode.VALIDATION_ERROR.value,
    429: ErrorCode.CAPACITY_REACHED.value,
}


@dataclass
class HttpRequest:
    """One HTTP request to make for a frame."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict[str, str])
    headers: dict[str, str] = field(default_factory=dict[str, str])


def request_for(message: Frame, session_id: str | None) -> HttpRequest | None:
    """The HTTP request carrying ``message``, or ``None`` when nothing needs sending.

    Raises:
        ValueError: ``message`` has a type this mapping does not know.
    """
    kind = message.get("type")
    data: dict[str, Any] = dict(message.get("data") or {})
    headers = {SESSION_HEADER: session_id} if session_id else {}
    if kind == "reset":
        if session_id:
            data["session_id"] = session_id
        return HttpRequest("POST", "/reset", json=data, headers=headers)
    if kind == "step":
        body: dict[str, Any] = {"action": data}
        if session_id:
            body["session_id"] = session_id
        return HttpRequest("POST", "/step", json=body, headers=headers)
    if kind == "state":
        params = {"session_id": session_id} if session_id else {}
        return HttpRequest("GET", "/state", params=params, headers=headers)
    if kind == "close":
        if not session_id:
            return None
        return HttpRequest("POST", "/close", json={"session_id": session_id}, headers=headers)
    raise ValueError(f"no HTTP route for a {kind!r} message")


def session_id_from(body: object, headers: dict[str, str]) -> str | None:
    """The session id a ``/reset`` reply carries, wherever the server put it."""
    for name, value in headers.items():
        if name.lower() == SESSION_HEADER.lower() and value:
            return value
    top = json_object(body)
    if top is not None:
        for holder in (top, json_object(top.get("metadata")), json_object(top.get("observation"))):
            value = holder.get("session_id") if holder else None
            if isinstance(value, str) and value:
                return value
    return None


def frame_for(kind: str, status: int, body: object) -> Frame:
    """The frame an HTTP reply stands for: an observation, a state, or an error with its code."""
    if 200 <= status < 300:
        return {"type": "state" if kind == "state" else "observation", "data": body}
    data: dict[str, Any] = {}
    top = json_object(body)
    if top is not None:
        error: object = top.get("error", top.get("detail", top))
        data = json_object(error) or {"message": _readable(error)}
    elif body is not None:
        data = {"message": str(body)[:500]}
    data.setdefault("code", _STATUS_CODES.get(status, ErrorCode.EXECUTION_ERROR.value))
    data.setdefault("message", f"HTTP {status}")
    data["http_status"] = status
    return {"type": "error", "data": data}


def transport_error(exc: httpx.TransportError, request: HttpRequest) -> SQLEnvError:
    """The typed error for a request that got no HTTP response (the sync and async twins share it)."""
    import httpx

    where = f"{request.method} {request.path}"
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(f"no reply to {where} in time: {exc}")
    if isinstance(exc, httpx.ConnectError):
        # Nothing reached the server: the request may be sent again (see the client's backoff).
        return ServerConnectionError(f"{where} failed: {exc!r} (is the server running?)", details={"not_sent": True})
    return ServerConnectionError(f"{where} failed: {exc!r} (is the server running?)")


def reply_frame(
    kind: str, request: HttpRequest, response: httpx.Response, session_id: str | None
) -> tuple[Frame, str | None]:
    """The frame an HTTP response stands for, and the session id to use from now on."""
    try:
        body: object = response.json()
    except ValueError:
        if response.is_success:
            raise ProtocolError(f"{request.method} {request.path} answered with non-JSON content") from None
        body = response.text
    if kind == "reset" and response.is_success:
        session_id = session_id_from(body, dict(response.headers)) or session_id
    return frame_for(kind, response.status_code, body), session_id


def _readable(error: object) -> str:
    """FastAPI's list of validation problems as one line; anything else as text."""
    if isinstance(error, list):
        parts: list[str] = []
        for item in cast(list[object], error):
            entry = json_object(item)
            if entry is None:
                parts.append(str(item))
                continue
            loc = entry.get("loc")
            where = ".".join(str(p) for p in cast(list[object], loc)) if isinstance(loc, list) else ""
            parts.append(f"{where}: {entry.get('msg', entry)}" if where else str(entry.get("msg", entry)))
        return "; ".join(parts)
    return str(error)[:500]
