"""Which pages may drive the server, and by which names it may be reached: Origin and Host checks.

A browser lets any page send a ``text/plain`` POST, or open a WebSocket, to any server, and
sends the page's ``Origin`` with it; a DNS-rebinding page reaches a server on ``127.0.0.1``
under a name of its own (its ``Host`` header). :class:`OriginCheck` refuses both:

* **Host**: a request whose ``Host`` is not an allowed name gets 421 (a WebSocket is refused
  with 403). Allowed: IP addresses (no DNS is involved), ``localhost`` (and ``testserver``, the
  name of Starlette's in-process test client), the names in
  ``allowed_hosts``, and the HF Space's own host (``SPACE_HOST``). A server bound to a
  non-loopback address (a container's ``0.0.0.0``) answers to any name unless ``allowed_hosts``
  is set: there, names are the deployment's business (its ingress).
* **Origin**: a WebSocket, or an HTTP request that changes state (any method but GET, HEAD and
  OPTIONS), that carries an ``Origin`` is refused with 403 unless that origin is the server's own
  (its host is the request's ``Host``), a loopback one, the Space's, or listed in
  ``allowed_origins``. Requests without ``Origin`` (every non-browser client: OpenEnv's,
  sqlenv_client, curl) are not affected.
"""

from __future__ import annotations

import ipaddress
import os

from starlette.types import ASGIApp, Receive, Scope, Send

from sqlenv_core.wire import ErrorCode, error_payload
from sqlenv_server.jsonio import encode

__all__ = ["OriginCheck", "parse_names"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``testserver`` is the name Starlette's in-process ``TestClient`` uses (no network involved).
_LOOPBACK_NAMES = frozenset({"localhost", "testserver"})


def parse_names(text: str) -> frozenset[str]:
    """A comma-separated setting as a set of lower-case entries (``*``: anything)."""
    return frozenset(part.strip().lower().rstrip("/") for part in text.split(",") if part.strip())


def _hostname(netloc: str) -> str:
    """``netloc`` without its port (``[::1]:8000`` -> ``::1``), lower case."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(name: str) -> bool:
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class OriginCheck:
    """ASGI middleware: refuse foreign ``Host`` names and cross-origin state changes.

    Args:
        app: the app.
        bound_host: the address the server listens on (loopback: names are checked by default).
        allowed_hosts: extra names (``*``: any name).
        allowed_origins: extra origins such as ``https://example.org`` (``*``: any origin).
    """

    def __init__(
        self, app: ASGIApp, *, bound_host: str, allowed_hosts: frozenset[str], allowed_origins: frozenset[str]
    ) -> None:
        self.app = app
        space = os.environ.get("SPACE_HOST", "").strip().lower()
        self.space_host = _hostname(space) if space else ""
        self.any_host = "*" in allowed_hosts or (not allowed_hosts and not _is_loopback(_hostname(bound_host)))
        self.hosts = frozenset(_hostname(h) for h in allowed_hosts if h != "*")
        self.any_origin = "*" in allowed_origins
        self.origins = allowed_origins

    def host_allowed(self, host: str) -> bool:
        """Whether the server answers to ``host`` (a ``Host`` header's value)."""
        name = _hostname(host)
        return (
            self.any_host
            or _is_ip(name)
            or _is_loopback(name)
            or name in self.hosts
            or (bool(self.space_host) and name == self.space_host)
        )

    def origin_allowed(self, origin: str, host: str) -> bool:
        """Whether a page from ``origin`` may drive the server reached as ``host``."""
        origin = origin.strip().lower().rstrip("/")
        if self.any_origin or origin in self.origins:
            return True
        scheme, sep, netloc = origin.partition("://")
        if not sep or scheme not in ("http", "https"):
            return False  # "null" (sandboxed frames, file://) and anything odd
        name = _hostname(netloc)
        return (
            netloc == host.strip().lower()
            or (bool(host) and name == _hostname(host) and netloc.count(":") == 0)  # default port
            or _is_loopback(name)
            or (bool(self.space_host) and name == self.space_host)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the names, then pass the request on."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = origin = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        problem = None
        # A connection without a peer address came over a worker's private Unix socket (a request
        # forwarded by another worker, which checked its name): no DNS is involved.
        if host and scope.get("client") is not None and not self.host_allowed(host):
            problem = (421, f"this server does not answer to the name {host[:100]!r} (SQLENV_ALLOWED_HOSTS)")
        elif origin and (scope["type"] == "websocket" or scope["method"] not in _SAFE_METHODS):
            if not self.origin_allowed(origin, host):
                problem = (403, f"pages from {origin[:100]!r} may not use this server (SQLENV_ALLOWED_ORIGINS)")
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, message = problem
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        body = encode({"detail": error_payload(ErrorCode.VALIDATION_ERROR, message)})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
