"""Opening a WebSocket, the same way for both twins: proxies, and what a failed handshake means."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.exceptions import InvalidStatus, InvalidURI

from sqlenv_client.errors import RequestTimeoutError, ServerConnectionError

__all__ = ["connect_kwargs", "handshake_error"]


def connect_kwargs(url: str) -> dict[str, Any]:
    """Options for ``websockets`` connect: no proxy for loopback (websockets >= 15 honours *_PROXY)."""
    host = urlsplit(url).hostname or ""
    major = int(str(websockets.version.version).split(".")[0])
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return {"proxy": None} if loopback and major >= 15 else {}


def handshake_error(url: str, exc: Exception) -> ServerConnectionError:
    """A clear error for a failed WebSocket opening, retryable or not (see ``retryable``)."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        hint = (
            "the server has no WebSocket endpoint here; check the URL or use transport='http'"
            if status in (403, 404, 405)
            else "the server refused the WebSocket"
        )
        err = ServerConnectionError(f"cannot open {url}: HTTP {status} ({hint})", details={"http_status": status})
        err.details["retryable"] = status >= 500
        return err
    if isinstance(exc, TimeoutError):
        err = RequestTimeoutError(f"cannot open {url}: no handshake within the connect timeout")
    elif isinstance(exc, InvalidURI):
        err = ServerConnectionError(f"cannot open {url}: invalid URL ({exc})")
        err.details["retryable"] = False
        return err
    else:
        err = ServerConnectionError(f"cannot open {url}: {exc or type(exc).__name__} (is the server running?)")
    err.details["retryable"] = True
    return err
