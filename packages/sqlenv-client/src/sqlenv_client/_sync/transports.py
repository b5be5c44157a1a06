"""Blocking transports: each exchanges one frame for one reply (WebSocket, HTTP sessions)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Protocol

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from sqlenv_client._shared import http as _http
from sqlenv_client._shared.websocket import connect_kwargs, handshake_error
from sqlenv_client._shared.wire import decode_frame
from sqlenv_client.errors import RequestTimeoutError, ServerConnectionError
from sqlenv_core.wire import Frame

if TYPE_CHECKING:  # httpx loads with the first HTTP transport, not with the client
    import httpx

__all__ = ["HttpTransport", "Transport", "WebSocketTransport"]


class Transport(Protocol):
    """What :class:`~sqlenv_client.SQLEnvClient` sends frames through (pass one as ``transport=``).

    ``exchange`` sends one frame and returns the reply frame; a failure of the connection itself
    raises :class:`~sqlenv_client.ServerConnectionError`. ``close`` says goodbye and releases it.
    """

    def exchange(self, message: Frame) -> Frame:
        """Send one frame and return the server's reply frame."""
        ...

    def close(self) -> None:
        """Say goodbye (best effort) and release the connection."""
        ...


class WebSocketTransport:
    """One WebSocket connection to ``/ws``: one server session, for as long as it stays open."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float,
        message_timeout: float,
        max_message_bytes: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self._message_timeout = message_timeout
        try:
            # Entering the connection is the spelling every websockets version accepts without a
            # warning (17.1 deprecates using connect()'s result directly); close() releases it.
            self._ws: ClientConnection | None = ws_connect(
                url,
                open_timeout=connect_timeout,
                max_size=max_message_bytes,
                additional_headers=headers,
                **connect_kwargs(url),
            ).__enter__()
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise handshake_error(url, exc) from exc

    def exchange(self, message: Frame) -> Frame:
        """Send ``message``, wait at most the message timeout for the reply."""
        ws = self._ws
        if ws is None:
            raise ServerConnectionError(f"the connection to {self.url} is closed")
        try:
            ws.send(json.dumps(message))
        except ConnectionClosed:
            # A refused session (e.g. at capacity) gets an error frame and then a close; if the
            # close beat our send, the frame is still queued and recv() below returns it.
            pass
        except OSError as exc:
            self._drop()
            raise ServerConnectionError(f"connection to {self.url} failed while sending: {exc}") from exc
        try:
            raw = ws.recv(timeout=self._message_timeout)
        except TimeoutError as exc:
            # A late reply would pair with the next request; the socket cannot be reused.
            self._drop()
            raise RequestTimeoutError(
                f"no reply from {self.url} within {self._message_timeout:g}s (message_timeout)"
            ) from exc
        except ConnectionClosed as exc:
            self._drop()
            reason = f" (close code {exc.rcvd.code} {exc.rcvd.reason})" if exc.rcvd else ""
            raise ServerConnectionError(f"the server closed the connection {self.url}{reason}") from exc
        except OSError as exc:
            self._drop()
            raise ServerConnectionError(f"connection to {self.url} failed: {exc}") from exc
        return decode_frame(raw)

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close()
            except Exception:  # best effort on an already broken connection
                pass

    def close(self) -> None:
        """Tell the server we are leaving (it frees the session at once), then close."""
        ws = self._ws
        if ws is None:
            return
        try:
            ws.send(json.dumps({"type": "close"}))
        except Exception:  # the server may already be gone; closing is what matters
            pass
        self._drop()


class HttpTransport:
    """HTTP sessions: ``/reset`` gives a session id that later requests carry."""

    def __init__(self, client: httpx.Client) -> None:
        # Timeouts are the client's own: ours are built with them, an injected one keeps its own.
        self._client = client
        self.session_id: str | None = None

    def exchange(self, message: Frame) -> Frame:
        """Make the HTTP request standing for ``message`` and return the reply as a frame."""
        kind = str(message.get("type"))
        request = _http.request_for(message, self.session_id)
        if request is None:
            return {"type": "closed", "data": {}}
        import httpx

        try:
            response = self._client.request(
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

    def close(self) -> None:
        """End the server-side session (best effort); the httpx client is closed by its owner."""
        if self.session_id is None:
            return
        try:
            self.exchange({"type": "close"})
        except Exception:  # the session may be gone already; it is reaped anyway
            pass
        self.session_id = None
