"""Sync and async clients for a SQLEnv server, speaking the OpenEnv wire protocol.

Quick start::

    from sqlenv_client import SQLEnvClient

    with SQLEnvClient("http://127.0.0.1:8000") as env:
        obs = env.reset(question_id="bookshop-001")  # How many books are in the catalogue?
        obs = env.query("SELECT count(*) FROM books")
        obs = env.answer(obs.rows[0][0])
        print(obs.reward, obs.info.get("verdict"))

``SQLEnvClient.local("builtin")`` runs the same interface in-process, without a server.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from sqlenv_client._shared.settings import TransportName
from sqlenv_client.errors import (
    CapacityError,
    EpisodeLostError,
    ExecutionError,
    InvalidRequestError,
    ProtocolError,
    RequestTimeoutError,
    ServerConnectionError,
    SessionExpiredError,
    SQLEnvError,
)
from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState

if TYPE_CHECKING:
    from sqlenv_client._async.client import AsyncSQLEnvClient
    from sqlenv_client._sync.client import SQLEnvClient

# Each twin loads on first use: a sync program never imports the asyncio WebSocket client, nor
# an async one the blocking one.
_LAZY = {
    "SQLEnvClient": "sqlenv_client._sync.client",
    "AsyncSQLEnvClient": "sqlenv_client._async.client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sqlenv_client' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


try:
    __version__ = version("sqlenv-client")
except PackageNotFoundError:  # pragma: no cover - a source tree without installed metadata
    __version__ = "0.0.0"

__all__ = [
    "AsyncSQLEnvClient",
    "CapacityError",
    "EpisodeLostError",
    "ExecutionError",
    "InvalidRequestError",
    "ProtocolError",
    "RequestTimeoutError",
    "SQLAction",
    "SQLEnvClient",
    "SQLEnvError",
    "SQLObservation",
    "SQLState",
    "ServerConnectionError",
    "SessionExpiredError",
    "TransportName",
    "__version__",
]
