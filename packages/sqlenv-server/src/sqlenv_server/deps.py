"""``Annotated`` dependencies the routes share: the app's settings, session manager and metrics."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends
from starlette.requests import HTTPConnection

from sqlenv_server.metrics import ServerMetrics
from sqlenv_server.sessions import SessionManager
from sqlenv_server.settings import Settings

__all__ = [
    "ClientDep",
    "ManagerDep",
    "MetricsDep",
    "SettingsDep",
    "client_of",
    "get_manager",
    "get_metrics",
    "get_settings",
]


def get_settings(connection: HTTPConnection) -> Settings:
    """The settings this app was created with."""
    return cast(Settings, connection.app.state.settings)


def get_manager(connection: HTTPConnection) -> SessionManager:
    """The app's session manager (created by the lifespan)."""
    return cast(SessionManager, connection.app.state.sessions)


def get_metrics(connection: HTTPConnection) -> ServerMetrics:
    """The app's own metrics registry."""
    return cast(ServerMetrics, connection.app.state.metrics)


def client_of(connection: HTTPConnection) -> str:
    """Who is asking, for the per-client session limit: the peer's address.

    Behind a proxy that uvicorn trusts (``--forwarded-allow-ips``, loopback by default), uvicorn
    has already put the forwarded client address here.
    """
    client = connection.client
    return client.host if client is not None else "unknown"


SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[SessionManager, Depends(get_manager)]
MetricsDep = Annotated[ServerMetrics, Depends(get_metrics)]
ClientDep = Annotated[str, Depends(client_of)]
