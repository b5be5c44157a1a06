"""Transports a client can be given as ``transport=``, and the protocols they follow.

A transport carries frames (see :mod:`sqlenv_core.wire`): ``exchange(frame) -> reply frame`` and
``close()`` (``aclose()`` for the async twin). The clients build their WebSocket and HTTP
transports themselves from ``transport="ws"`` / ``"http"``; pass an object to use your own, for
example an in-process environment::

    from sqlenv_client import SQLEnvClient
    from sqlenv_client.transports import LocalTransport

    with SQLEnvClient(transport=LocalTransport("builtin")) as env:
        obs = env.reset(question_id="bookshop-001")
"""

from sqlenv_client._async.transports import AsyncHttpTransport, AsyncTransport, AsyncWebSocketTransport
from sqlenv_client._sync.transports import HttpTransport, Transport, WebSocketTransport
from sqlenv_client.local import AsyncLocalTransport, LocalTransport

__all__ = [
    "AsyncHttpTransport",
    "AsyncLocalTransport",
    "AsyncTransport",
    "AsyncWebSocketTransport",
    "HttpTransport",
    "LocalTransport",
    "Transport",
    "WebSocketTransport",
]
