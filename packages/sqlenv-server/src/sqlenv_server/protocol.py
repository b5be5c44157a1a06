"""uvicorn's HTTP protocol with a deadline for the request head (slowloris).

uvicorn times nothing before a request's head is complete: ``timeout_keep_alive`` starts only
after a response, and any byte received stops it. A client that opens connections and sends
nothing, or its request line a byte at a time, holds each of them for ever; past
``limit_concurrency`` every other client gets 503. :func:`head_deadline_protocol` builds uvicorn's
own HTTP protocol class (``httptools`` when installed, else ``h11``: what ``http="auto"`` picks)
with one more rule: a connection must complete each request head (request line and headers)
within ``header_timeout`` seconds of being opened, or of its previous response. Past it the
connection is closed, with a ``408`` if part of a head was received. Nothing else changes: the
class only watches ``data_received``, ``on_response_complete`` and ``connection_lost``, and which
request cycle uvicorn created (both protocols set ``cycle`` when a head is complete, and drop the
connection from ``connections`` when it becomes a WebSocket).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, cast

__all__ = ["head_deadline_protocol"]

logger = logging.getLogger("sqlenv_server")

_WHY = b"request line and headers not received in time"
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_WHY), _WHY)
)


class _HeadDeadline(asyncio.Protocol):
    """Mixed in before uvicorn's HTTP protocol class (see :func:`head_deadline_protocol`)."""

    header_timeout_s: ClassVar[float] = 10.0
    closed_for_timeout: ClassVar[int] = 0
    """Connections closed for a late head, for every class built here (tests and benchmarks read it)."""

    # Set by uvicorn's protocol (H11Protocol and HttpToolsProtocol alike).
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    cycle: Any

    _head_timer: asyncio.TimerHandle | None = None
    _head_cycle: Any = None
    _head_bytes: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the deadline for the first request head."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Pass the bytes on; stop the deadline once uvicorn has a complete head (or a WebSocket)."""
        if self._head_timer is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._head_timer is not None and (self.cycle is not self._head_cycle or self not in self.connections):
            self._disarm()

    def on_response_complete(self) -> None:
        """After a response, the next head has ``header_timeout`` again (unless a pipelined one started)."""
        cast(Any, super()).on_response_complete()
        cycle = self.cycle
        idle = cycle is None or bool(getattr(cycle, "response_complete", True))
        if idle and not self.transport.is_closing() and self in self.connections:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
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

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self not in self.connections or self.cycle is not self._head_cycle:
            return
        _HeadDeadline.closed_for_timeout += 1
        if self._head_bytes:  # a head was begun: say why it ends (nothing started: just close, like keep-alive)
            self.transport.write(_TIMED_OUT)
        logger.debug("closed a connection whose request head took more than %.1f s", self.header_timeout_s)
        self.transport.close()


def head_deadline_protocol(
    header_timeout_s: float, base: type[asyncio.Protocol] | None = None
) -> type[asyncio.Protocol]:
    """The HTTP protocol class of uvicorn, closing connections slower than ``header_timeout_s`` per request head.

    Args:
        header_timeout_s: seconds a connection has to send a request's line and headers, counted
            from the connection (its first request) or from the previous response.
        base: the uvicorn protocol class to extend; default: the one ``http="auto"`` picks
            (``HttpToolsProtocol`` when ``httptools`` is installed, else ``H11Protocol``).

    Returns:
        A class to pass as ``uvicorn.Config(http=...)``.
    """
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    name = f"HeadDeadline{base.__name__}"
    return type(name, (_HeadDeadline, base), {"header_timeout_s": float(header_timeout_s)})
