"""HTTP sessions find their worker: ``sqlenv-server --workers N`` routes each request by session id.

With several worker processes on one port, the kernel hands each new connection to any worker,
but an HTTP or MCP session lives in the worker that opened it. Session ids say which one
(``w<i>-...``, see :func:`sqlenv_server.app.session_id_prefix`), and every worker also listens on
its own Unix socket; :class:`WorkerRouter` forwards a request that names another worker's session
to that worker's socket and relays the reply. WebSocket sessions need none of this: a session
lives on its connection, and the connection stays with the worker that accepted it.

The session id is looked for where the routes take it: the ``X-Session-Id`` and ``Mcp-Session-Id``
headers, the ``sqlenv_session`` cookie, the ``session_id`` query parameter, and the body's
``session_id`` field (for MCP: ``params.session_id`` or ``params.arguments.session_id`` of the
first message that has one).
"""

from __future__ import annotations

import re
from typing import cast
from urllib.parse import parse_qs

import httpx
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sqlenv_core.wire import (
    HTTP_STATUS,
    MCP_SESSION_HEADER,
    SESSION_HEADER,
    ErrorCode,
    error_payload,
)
from sqlenv_server.cookies import session_cookie
from sqlenv_server.disconnect import ClientGoneError, unless_disconnected
from sqlenv_server.jsonio import encode, loads

__all__ = ["CLIENT_HEADER", "FORWARDED_HEADER", "WorkerRouter", "worker_of"]

#: Set on a forwarded request: the receiving worker serves it, whatever the id says (no loops).
FORWARDED_HEADER = "x-sqlenv-forwarded"
#: The original client's address, carried to the worker that serves a forwarded request.
CLIENT_HEADER = "x-sqlenv-client"
#: Forwarded requests wait at most this long for a connection to the owner, or to connect; a step
#: may run long (its reply is awaited without a read timeout: the sandbox's deadline bounds it).
_FORWARD_TIMEOUT = httpx.Timeout(None, connect=5.0, write=30.0, pool=10.0)
#: The connections to another worker are not capped here: what one client may have in flight is
#: (``ClientBounds``, ``max_pending_per_session``), and the worker's connection limit bounds the rest.
_FORWARD_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=64)
_ROUTED_PATHS = frozenset({"/reset", "/step", "/state", "/close", "/mcp"})
_WORKER = re.compile(r"^(?:[A-Za-z0-9]{1,16}-)?w(\d{1,4})-")
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"host"})


def worker_of(session_id: str) -> int | None:
    """The worker index a session id names, or ``None``."""
    found = _WORKER.match(session_id)
    return int(found.group(1)) if found else None


def _get(container: object, key: str) -> object:
    """``container[key]`` when ``container`` is a dict, else ``None``."""
    return cast(dict[str, object], container).get(key) if isinstance(container, dict) else None


def _from_body(body: bytes) -> str | None:
    try:
        payload: object = loads(body)
    except ValueError:
        return None
    messages = cast(list[object], payload) if isinstance(payload, list) else [payload]
    for message in messages[:64]:
        params = _get(message, "params")
        for container in (message, params, _get(params, "arguments")):
            found = _get(container, "session_id")
            if isinstance(found, str):
                return found
    return None


def _session_id(scope: Scope, body: bytes) -> str | None:
    headers: dict[bytes, bytes] = dict(scope["headers"])
    for name in (SESSION_HEADER, MCP_SESSION_HEADER):
        value = headers.get(name.lower().encode())
        if value:
            return value.decode("latin-1")
    found = _from_body(body) if body else None
    if found:
        return found
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id")
    if query:
        return query[0]
    return session_cookie(headers.get(b"cookie"))  # linear on every Python (not http.cookies)


class WorkerRouter:
    """ASGI middleware: forward HTTP requests for another worker's session to that worker.

    Args:
        app: this worker's app.
        index: this worker's index.
        sockets: every worker's Unix socket path, by index.

    Bodies are read whole before routing: install it inside
    :class:`~sqlenv_server.app.BodySizeLimit`, which stops the reading at the size limit.
    """

    def __init__(self, app: ASGIApp, *, index: int, sockets: list[str]) -> None:
        self.app = app
        self.index = index
        self.sockets = sockets
        self._clients: dict[int, httpx.AsyncClient] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve here, or forward to the worker that holds the named session."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_at_shutdown(send))
            return
        if scope["type"] != "http" or scope["path"] not in _ROUTED_PATHS:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = dict(scope["headers"])
        if FORWARDED_HEADER.encode() in headers:
            forwarded_client = headers.get(CLIENT_HEADER.encode())
            if forwarded_client and scope.get("client") is None:  # came in over a worker socket
                scope = {**scope, "client": (forwarded_client.decode("latin-1")[:64], 0)}
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        session_id = _session_id(scope, body)
        owner = worker_of(session_id) if session_id else None
        if owner is None or owner == self.index or not 0 <= owner < len(self.sockets):
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            # A client that leaves cancels the forwarded request, which closes the connection to
            # the owner, whose own disconnect handling then interrupts the query.
            await unless_disconnected(Request(scope, receive), lambda: self._forward(owner, scope, body, send))
        except ClientGoneError:
            pass  # nobody to answer

    async def _forward(self, owner: int, scope: Scope, body: bytes, send: Send) -> None:
        client = self._clients.get(owner)
        if client is None:
            transport = httpx.AsyncHTTPTransport(uds=self.sockets[owner])
            client = self._clients[owner] = httpx.AsyncClient(
                transport=transport, timeout=_FORWARD_TIMEOUT, limits=_FORWARD_LIMITS
            )
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        peer = scope.get("client")
        headers += [(FORWARDED_HEADER.encode(), str(self.index).encode())]
        if peer:
            headers += [(CLIENT_HEADER.encode(), str(peer[0]).encode())]
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"http://worker{owner}{scope['path']}" + (f"?{query}" if query else "")
        try:
            reply = await client.request(scope["method"], url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            # The server failed to run a valid request: EXECUTION_ERROR, with the status that carries it.
            problem = error_payload(
                ErrorCode.EXECUTION_ERROR,
                "the worker holding this session is not answering (restarting?); retry shortly, or reset "
                "without this session id for a new session",
                worker=owner,
                reason=type(exc).__name__,
            )
            await _answer(send, HTTP_STATUS[ErrorCode.EXECUTION_ERROR], encode({"detail": problem}))
            return
        relay = [(k.lower(), v) for k, v in reply.headers.raw if k.lower() not in _HOP_BY_HOP]
        relay.append((b"content-length", str(len(reply.content)).encode()))
        await send({"type": "http.response.start", "status": reply.status_code, "headers": relay})
        await send({"type": "http.response.body", "body": reply.content})

    def _closing_at_shutdown(self, send: Send) -> Send:
        """``send`` for the lifespan: the connections to the other workers close as the app shuts down."""

        async def closing(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.aclose()
            await send(message)

        return closing

    async def aclose(self) -> None:
        """Close the connections to the other workers (the app's lifespan calls it at shutdown)."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts)
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the already-read body first, then whatever comes next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
