"""``create_app``: the FastAPI application, its lifespan and its routers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sqlenv_core import Dataset, SQLEnvironment, load
from sqlenv_core.wire import ErrorCode
from sqlenv_server.errors import install_exception_handlers
from sqlenv_server.metrics import ServerMetrics
from sqlenv_server.routes import env, mcp, metrics, web, ws
from sqlenv_server.sessions import SessionManager
from sqlenv_server.settings import Settings

__all__ = ["create_app", "server_version"]

logger = logging.getLogger("sqlenv_server")


def server_version() -> str:
    """The installed sqlenv-server version."""
    try:
        return version("sqlenv-server")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0.0.0"


class BodySizeLimit:
    """Refuse request bodies larger than the limit with 413 before any route reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(send, int(declared))
                return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, size: int) -> None:
        body = b'{"detail":{"code":"%s","message":"request body too large: %d bytes (limit %d)"}}' % (
            ErrorCode.VALIDATION_ERROR.value.encode(),
            size,
            self.max_bytes,
        )
        start: Message = {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})


async def _reap_forever(manager: SessionManager, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            reaped = await manager.reap_idle()
        except Exception:  # a failed sweep must not stop the next one
            logger.exception("idle-session sweep failed")
        else:
            if reaped:
                logger.info("reaped %d idle session(s)", reaped)


def create_app(settings: Settings | None = None, *, dataset: Dataset | None = None) -> FastAPI:
    """Build the SQLEnv server.

    Nothing is loaded here: the lifespan loads the dataset (unless one is given), opens the
    session manager, starts the idle-session reaper, and closes every session at shutdown.

    Args:
        settings: server settings; default: read from the environment (``SQLENV_*``, ``PORT``).
        dataset: serve this dataset instead of loading ``settings.dataset``.

    Returns:
        The application, ready for uvicorn or an in-process transport.
    """
    config = settings if settings is not None else Settings()
    server_metrics = ServerMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        served = dataset if dataset is not None else await anyio.to_thread.run_sync(load, config.dataset)
        served.result_cache.max_bytes = config.result_cache_mb * 1024 * 1024
        served.limits = dataclasses.replace(served.limits, temp_store=config.temp_store)
        manager = SessionManager(
            lambda: SQLEnvironment(served, step_budget=config.step_budget, reward=config.reward),
            max_sessions=config.max_sessions,
            ttl_s=config.session_ttl,
            metrics=server_metrics,
            worker_threads=config.worker_threads,
        )
        app.state.dataset = served
        app.state.sessions = manager
        reaper = asyncio.create_task(_reap_forever(manager, config.reap_every_s))
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await manager.close_all()

    app = FastAPI(
        title="SQLEnv",
        version=server_version(),
        description=(
            "SQLEnv speaks the OpenEnv wire protocol: an agent answers questions about a SQLite database "
            "it cannot see by DESCRIBE-ing tables, SAMPLE-ing rows, running read-only QUERYs and ANSWER-ing. "
            "HTTP episodes are real: `POST /reset` returns a `session_id` that `/step` and `/state` take "
            "(body field, `X-Session-Id` header or the `sqlenv_session` cookie)."
        ),
        lifespan=lifespan,
        # /docs is served by routes/web.py with Swagger UI shipped in the package (no CDN);
        # ReDoc would load its script from a CDN, so it is not offered.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = config
    app.state.metrics = server_metrics
    app.add_middleware(BodySizeLimit, max_bytes=config.max_message_bytes)
    install_exception_handlers(app)
    for router in (env.router, ws.router, mcp.router, web.router, metrics.router):
        app.include_router(router)
    return app
