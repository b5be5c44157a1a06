"""uvicorn's HTTP protocol with deadlines for the request head and body (slowloris).

uvicorn times nothing before a request's head is complete: ``timeout_keep_alive`` starts only
after a response, and any byte received stops it. A client that opens connections and sends
nothing, or its request line a byte at a time, holds each of them for ever; past
``limit_concurrency`` every other client gets 503. :func:`head_deadline_protocol` builds uvicorn's
own HTTP protocol class (``httptools`` when installed, else ``h11``: what ``http="auto"`` picks)
with one more rule: a connection must complete each request head (request line and headers)
within ``header_timeout`` seconds of being opened, or of its previous response. Past it the
connection is closed, with a ``408`` if part of a head was received. Likewise a request's body must
arrive whole within ``body_timeout`` seconds of its head (uvicorn waits for a body for ever too, so
bodies sent a byte now and then from many addresses held connections as heads used to). Nothing
else changes: the
class only watches ``data_received``, ``on_response_complete`` and ``connection_lost``, and which
request cycle uvicorn created (both protocols set ``cycle`` when a head is complete, and drop the
connection from ``connections`` when it becomes a WebSocket).

It also caps the HTTP connections one peer address holds open at once (``max_per_client``): one
more is answered ``429`` (``CAPACITY_REACHED``) at once and closed, before anything of it is read,
so that one address cannot fill ``limit_concurrency`` by opening connections faster than the head
deadline closes them. A connection that becomes a WebSocket leaves this count (the app counts
WebSockets per client, ``max_ws_per_client``). Connections from a proxy uvicorn trusts
(``forwarded_allow_ips``) are not counted: the address of the client behind it is only known from
its headers, and the proxy limits its own clients.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, cast

from sqlenv_core.wire import ErrorCode, error_payload
from sqlenv_server.jsonio import encode

__all__ = ["CLOSED_CONNECTIONS", "head_deadline_protocol", "too_many_connections"]

logger = logging.getLogger("sqlenv_server")

#: Connections this process closed, by reason (``GET /metrics``: ``sqlenv_connections_closed_total``).
CLOSED_CONNECTIONS: dict[str, int] = {"header_timeout": 0, "body_timeout": 0, "too_many_per_client": 0}

_WHY = b"request line and headers not received in time"
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_WHY), _WHY)
)
_WHY_BODY = b"request body not received in time"
_BODY_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_WHY_BODY), _WHY_BODY)
)


def too_many_connections(limit: int) -> bytes:
    """The whole ``429`` a connection past ``limit`` of its client gets (it asks to close the connection)."""
    body = encode(
        {
            "detail": error_payload(
                ErrorCode.CAPACITY_REACHED,
                f"this client already holds {limit} open HTTP connections to this server process, the most one "
                "client may hold (SQLENV_MAX_CONNECTIONS_PER_CLIENT); reuse them (keep-alive) or close some",
                max_connections_per_client=limit,
            )
        }
    )
    head = (
        b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
        b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    return head + body


class _HeadDeadline(asyncio.Protocol):
    """Mixed in before uvicorn's HTTP protocol class (see :func:`head_deadline_protocol`)."""

    header_timeout_s: ClassVar[float] = 10.0
    body_timeout_s: ClassVar[float] = 30.0

    max_per_client: ClassVar[int | None] = None
    open_per_client: ClassVar[dict[str, int]] = {}
    """Open HTTP connections per peer address (one dict per class built by :func:`head_deadline_protocol`)."""

    # Set by uvicorn's protocol (H11Protocol and HttpToolsProtocol alike).
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    cycle: Any
    config: Any
    client: tuple[str, int] | None

    _head_timer: asyncio.TimerHandle | None = None
    _head_cycle: Any = None
    _head_bytes: int = 0
    _body_timer: asyncio.TimerHandle | None = None
    _body_cycle: Any = None
    _counted: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Refuse a connection past its client's share; otherwise start the deadline for its first head."""
        super().connection_made(transport)
        limit = self.max_per_client
        host = self.client[0] if self.client else None
        if limit is not None and host is not None and not self._behind_trusted_proxy(host):
            held = self.open_per_client.get(host, 0)
            if held >= limit:
                CLOSED_CONNECTIONS["too_many_per_client"] += 1
                self.transport.write(too_many_connections(limit))
                self.transport.close()
                return
            self.open_per_client[host] = held + 1
            self._counted = host
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Pass the bytes on; stop the deadline once uvicorn has a complete head (or a WebSocket)."""
        if self._head_timer is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        cycle = self.cycle
        if self._head_timer is not None and (cycle is not self._head_cycle or self not in self.connections):
            self._disarm()
            if cycle is not self._head_cycle and self in self.connections and getattr(cycle, "more_body", False):
                self._arm_body(cycle)  # a head without its whole body: the body's deadline starts
        if self._body_timer is not None and not getattr(self._body_cycle, "more_body", False):
            self._disarm_body()  # the body is complete
        if self._counted is not None and self not in self.connections:
            self._uncount()  # now a WebSocket (or closed): the app counts WebSockets per client

    def _behind_trusted_proxy(self, host: str) -> bool:
        if not getattr(self.config, "proxy_headers", False):
            return False
        trusted = getattr(getattr(self.config, "loaded_app", None), "trusted_hosts", None)  # ProxyHeadersMiddleware
        try:
            return trusted is not None and host in trusted
        except TypeError:
            return False

    def _uncount(self) -> None:
        host, self._counted = self._counted, None
        if host is None:
            return
        left = self.open_per_client.get(host, 1) - 1
        if left > 0:
            self.open_per_client[host] = left
        else:
            self.open_per_client.pop(host, None)

    def on_response_complete(self) -> None:
        """After a response, the next head has ``header_timeout`` again (unless a pipelined one started)."""
        cast(Any, super()).on_response_complete()
        self._disarm_body()  # answered (perhaps refused before its body was read): the head deadline takes over
        cycle = self.cycle
        idle = cycle is None or bool(getattr(cycle, "response_complete", True))
        if idle and not self.transport.is_closing() and self in self.connections:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline and the count with the connection."""
        self._disarm()
        self._disarm_body()
        self._uncount()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_cycle = self.cycle
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _arm_body(self, cycle: Any) -> None:
        self._disarm_body()
        self._body_cycle = cycle
        self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_timed_out)

    def _disarm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._body_cycle = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        cycle, self._body_cycle = self._body_cycle, None
        if self.transport.is_closing() or cycle is not self.cycle or not getattr(cycle, "more_body", False):
            return
        CLOSED_CONNECTIONS["body_timeout"] += 1
        if not getattr(cycle, "response_started", True):
            self.transport.write(_BODY_TIMED_OUT)
        logger.debug("closed a connection whose request body took more than %.1f s", self.body_timeout_s)
        self.transport.close()  # the app's receive() now gets http.disconnect

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self not in self.connections or self.cycle is not self._head_cycle:
            return
        CLOSED_CONNECTIONS["header_timeout"] += 1
        if self._head_bytes:  # a head was begun: say why it ends (nothing started: just close, like keep-alive)
            self.transport.write(_TIMED_OUT)
        logger.debug("closed a connection whose request head took more than %.1f s", self.header_timeout_s)
        self.transport.close()


def head_deadline_protocol(
    header_timeout_s: float,
    base: type[asyncio.Protocol] | None = None,
    *,
    max_per_client: int | None = None,
    body_timeout_s: float = 30.0,
) -> type[asyncio.Protocol]:
    """The HTTP protocol class of uvicorn, closing connections too slow with a request head or body.

    Args:
        header_timeout_s: seconds a connection has to send a request's line and headers, counted
            from the connection (its first request) or from the previous response.
        base: the uvicorn protocol class to extend; default: the one ``http="auto"`` picks
            (``HttpToolsProtocol`` when ``httptools`` is installed, else ``H11Protocol``).
        max_per_client: HTTP connections one peer address may hold open at once (``None``: any).
        body_timeout_s: seconds a request's body has to arrive whole, counted from its head.

    Returns:
        A class to pass as ``uvicorn.Config(http=...)``.
    """
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    name = f"HeadDeadline{base.__name__}"
    open_per_client: dict[str, int] = {}
    attributes: dict[str, object] = {
        "header_timeout_s": float(header_timeout_s),
        "body_timeout_s": float(body_timeout_s),
        "max_per_client": max_per_client,
        "open_per_client": open_per_client,
    }
    return type(name, (_HeadDeadline, base), attributes)
