"""What one client can make a worker hold, bounded: requests and body bytes in flight, file descriptors.

* :class:`ClientBounds` counts, per client, the HTTP requests in flight and the bytes of their
  bodies received so far; a request past either bound is answered ``429`` (``CAPACITY_REACHED``)
  at once, before its body is read, so no client can queue work or memory without limit (the
  per-session queue is bounded by :class:`~sqlenv_server.sessions.SessionManager`).
* the ``Cookie`` header is cut down to the session cookie, read in linear time
  (:mod:`sqlenv_server.cookies`), before anything parses it.
* :func:`raise_open_files_limit` raises the soft open-files limit to the hard one, and
  :func:`connection_limit` sizes uvicorn's ``limit_concurrency`` below it: past it a new
  connection gets ``503`` and is closed, instead of every ``accept`` failing once the descriptors
  run out.
"""

from __future__ import annotations

import contextlib
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sqlenv_core.wire import SESSION_COOKIE, ErrorCode, error_payload
from sqlenv_server.cookies import session_cookie
from sqlenv_server.jsonio import encode
from sqlenv_server.routing import CLIENT_HEADER, FORWARDED_HEADER

#: The scope key under which a WebSocket connection's ``abort`` is found (see ``routes/ws.py``).
ABORT_KEY = "sqlenv.abort"

__all__ = ["ABORT_KEY", "ClientBounds", "client_address", "connection_limit", "raise_open_files_limit", "refuse"]

logger = logging.getLogger("sqlenv_server")

#: Descriptors kept for everything but client connections (logs, the dataset, worker sockets, ...).
_RESERVED_FILES = 64


def client_address(scope: Scope) -> str:
    """Who sent this request, for the per-client bounds.

    The peer's address (behind a trusted proxy, the forwarded one); for a request another worker
    forwarded over its Unix socket, the address that worker saw.
    """
    client = scope.get("client")
    if client is not None:
        return str(client[0])
    headers: dict[bytes, bytes] = dict(scope.get("headers", []))
    forwarded_for = headers.get(CLIENT_HEADER.encode())
    if FORWARDED_HEADER.encode() in headers and forwarded_for:
        return forwarded_for.decode("latin-1")[:64]
    return "unknown"


async def refuse(send: Send, status: int, message: str, **details: object) -> None:
    """Answer an HTTP request with ``status`` and a ``CAPACITY_REACHED`` body, and close the connection."""
    body = encode({"detail": error_payload(ErrorCode.CAPACITY_REACHED, message, **details)})
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"1"),
            (b"connection", b"close"),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


class _OverBudget(Exception):
    """The client's bodies in flight grew past its byte budget while this one was received."""


class ClientBounds:
    """Refuse a client's HTTP request with 429 when it already has too much in flight.

    Args:
        app: the app.
        max_requests: requests one client may have in flight at once.
        max_body_bytes: bytes of request bodies one client may have in flight at once (counted as
            they are received; a declared ``Content-Length`` is checked before anything is read).
    """

    def __init__(self, app: ASGIApp, *, max_requests: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_requests = max_requests
        self.max_body_bytes = max_body_bytes
        self._requests: dict[str, int] = {}
        self._bytes: dict[str, int] = {}

    def in_flight(self, client: str) -> tuple[int, int]:
        """The requests and body bytes ``client`` has in flight now."""
        return self._requests.get(client, 0), self._bytes.get(client, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request against its client's bounds, or refuse it."""
        if scope["type"] == "websocket":
            _keep_only_the_session_cookie(scope)
            _offer_abort(scope, send)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        _keep_only_the_session_cookie(scope)
        client = client_address(scope)
        if scope.get("client") is None and client != "unknown":
            # Forwarded by another worker: the routes and uvicorn's access log (which reads this
            # very scope) see the address that worker saw, not an empty one.
            scope["client"] = (client, 0)
        requests, held = self.in_flight(client)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        declared_bytes = int(declared) if declared.isdigit() and len(declared) < 16 else 0
        if requests >= self.max_requests:
            await refuse(
                send,
                429,
                f"this client already has {requests} requests in flight, the most one client may have "
                f"({self.max_requests}, SQLENV_MAX_REQUESTS_PER_CLIENT); wait for their replies",
                max_requests_per_client=self.max_requests,
            )
            return
        if held + declared_bytes > self.max_body_bytes:
            await self._refuse_bytes(send)
            return
        self._requests[client] = requests + 1
        counted = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal counted
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                counted += size
                total = self._bytes.get(client, 0) + size
                self._bytes[client] = total
                if total > self.max_body_bytes:
                    raise _OverBudget
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _OverBudget:
            if not started:
                with contextlib.suppress(OSError):
                    await self._refuse_bytes(send)
        finally:
            left = self._requests.get(client, 1) - 1
            if left > 0:
                self._requests[client] = left
            else:
                self._requests.pop(client, None)
            rest = self._bytes.get(client, 0) - counted
            if rest > 0:
                self._bytes[client] = rest
            else:
                self._bytes.pop(client, None)

    async def _refuse_bytes(self, send: Send) -> None:
        await refuse(
            send,
            429,
            f"this client's request bodies in flight pass {self.max_body_bytes} bytes, the most one client may "
            "have (SQLENV_MAX_BODY_BYTES_PER_CLIENT); wait for the replies to earlier requests",
            max_body_bytes_per_client=self.max_body_bytes,
        )


def _offer_abort(scope: Scope, send: Send) -> None:
    """Put the connection's ``abort`` in the scope (:data:`ABORT_KEY`).

    The server's ``send`` is still unwrapped here: the WebSocket route can abort a connection whose
    client stopped reading (its buffered replies are dropped with it).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if abort is not None:
        scope[ABORT_KEY] = abort


def _keep_only_the_session_cookie(scope: Scope) -> None:
    """Replace the ``Cookie`` header with the session cookie alone, read in linear time.

    FastAPI reads ``request.cookies`` for every request, with ``http.cookies``' unquoting, which
    is quadratic on Python < 3.11.10 (CVE-2024-7592); the server uses no other cookie.
    """
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if not any(name == b"cookie" for name, _ in headers):
        return
    found = next((session_cookie(value) for name, value in headers if name == b"cookie"), None)
    kept = [(name, value) for name, value in headers if name != b"cookie"]
    if found and all(c.isalnum() or c in "-_" for c in found):
        kept.append((b"cookie", f"{SESSION_COOKIE}={found}".encode("latin-1")))
    scope["headers"] = kept


def raise_open_files_limit() -> int | None:
    """Raise this process's soft open-files limit to its hard limit.

    Returns:
        The soft limit now (``None`` where the platform has no such limit).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            logger.warning("could not raise the open-files limit from %d to %d", soft, wanted)
    return None if soft == resource.RLIM_INFINITY else soft


def connection_limit(open_files: int | None, max_sessions: int) -> int | None:
    """Connections a worker may serve at once with ``open_files`` descriptors.

    Two per session (its database) and a reserve are kept back; ``None``: no limit known.
    """
    if open_files is None:
        return None
    return max(16, open_files - 2 * max_sessions - _RESERVED_FILES)
