"""Asynchronous transports, twins of :mod:`sqlenv_client._sync.transports`."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from sqlenv_client._shared import http as _http
from sqlenv_client._shared.websocket import connect_kwargs, handshake_error
from sqlenv_client._shared.wire import decode_frame
from sqlenv_client.errors import RequestTimeoutError, ServerConnectionError
from sqlenv_core.wire import Frame

if TYPE_CHECKING:  # httpx loads with the first HTTP transport, not with the client
    import httpx

__all__ = ["AsyncHttpTransport", "AsyncTransport", "AsyncWebSocketTransport"]


class AsyncTransport(Protocol):
    """What :class:`~sqlenv_client.AsyncSQLEnvClient` sends frames through (pass one as ``transport=``).

    The twin of :class:`~sqlenv_client.transports.Transport`, with ``aclose`` for ``close``.
    """

    async def exchange(self, message: Frame) -> Frame:
        """Send one frame and return the server's reply frame."""
        ...

    async def aclose(self) -> None:
        """Say goodbye (best effort) and release the connection."""
        ...


class AsyncWebSocketTransport:
    """One WebSocket connection to ``/ws`` (open it with :meth:`open`)."""

    def __init__(self, url: str, *, message_timeout: float) -> None:
        self.url = url
        self._message_timeout = message_timeout
        self._ws: ClientConnection | None = None
        self._opened = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        connect_timeout: float,
        message_timeout: float,
        max_message_bytes: int,
        headers: dict[str, str] | None = None,
    ) -> AsyncWebSocketTransport:
        """Connect to ``url``.

        Raises:
            ServerConnectionError: the server cannot be reached or refused the WebSocket.
        """
        transport = cls(url, message_timeout=message_timeout)
        try:
            transport._ws = await ws_connect(
                url,
                open_timeout=connect_timeout,
                max_size=max_message_bytes,
                additional_headers=headers,
                **connect_kwargs(url),
            )
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise handshake_error(url, exc) from exc
        transport._opened = True
        return transport

    async def exchange(self, message: Frame) -> Frame:
        """Send ``message`` and wait at most the message timeout for the reply."""
        ws = self._ws
        if ws is None and not self._opened:
            raise ServerConnectionError(
                f"this AsyncWebSocketTransport to {self.url} was never opened; "
                "create it with `await AsyncWebSocketTransport.open(url, ...)`",
                details={"retryable": False},
            )
        if ws is None:
            raise ServerConnectionError(f"the connection to {self.url} is closed")
        try:
            await ws.send(json.dumps(message))
        except ConnectionClosed:
            pass  # a refusal frame may be queued before the close; recv() returns it
        except OSError as exc:
            await self._drop()
            raise ServerConnectionError(f"connection to {self.url} failed while sending: {exc}") from exc
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout=self._message_timeout)
        except TimeoutError as exc:
            await self._drop()
            raise RequestTimeoutError(
                f"no reply from {self.url} within {self._message_timeout:g}s (message_timeout)"
            ) from exc
        except asyncio.CancelledError:
            # A reply may still arrive for the cancelled request; the socket cannot be reused.
            await asyncio.shield(self._drop())
            raise
        except ConnectionClosed as exc:
            await self._drop()
            reason = f" (close code {exc.rcvd.code} {exc.rcvd.reason})" if exc.rcvd else ""
            raise ServerConnectionError(f"the server closed the connection {self.url}{reason}") from exc
        except OSError as exc:
            await self._drop()
            raise ServerConnectionError(f"connection to {self.url} failed: {exc}") from exc
        return decode_frame(raw)

    async def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), timeout=2.0)
            except Exception:  # best effort on an already broken connection
                pass

    async def aclose(self) -> None:
        """Tell the server we are leaving (it frees the session at once), then close."""
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.send(json.dumps({"type": "close"}))
        except Exception:  # the server may already be gone
            pass
        await self._drop()


class AsyncHttpTransport:
    """HTTP sessions over an ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        # Timeouts are the client's own: ours are built with them, an injected one keeps its own.
        self._client = client
        self.session_id: str | None = None

    async def exchange(self, message: Frame) -> Frame:
        """Make the HTTP request standing for ``message`` and return the reply as a frame."""
        kind = str(message.get("type"))
        request = _http.request_for(message, self.session_id)
        if request is None:
            return {"type": "closed", "data": {}}
        import httpx

        try:
            response = await self._client.request(
                request.method,
                request.path,
                json=request.json,
                params=request.params or None,
                headers=request.headers,
            )
        except httpx.TransportError as exc:
            raise _http.transport_error(exc, request) from exc
        frame, self.session_id = _http.reply_frame(kind, request, response, self.session_id)
        return frame

    async def aclose(self) -> None:
        """End the server-side session (best effort)."""
        if self.session_id is None:
            return
        try:
            await self.exchange({"type": "close"})
        except Exception:  # the session may be gone already; it is reaped anyway
            pass
        self.session_id = None
