"""``create_app``: the FastAPI application, its lifespan and its routers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sqlenv_core import Dataset, SQLEnvironment, load
from sqlenv_core.sandbox import SandboxError
from sqlenv_core.sandbox.pool import SHARED_POOL
from sqlenv_core.wire import ErrorCode, error_payload
from sqlenv_server.bounds import ClientBounds
from sqlenv_server.errors import install_exception_handlers
from sqlenv_server.jsonio import SafeJSONResponse, encode
from sqlenv_server.logs import redact_access_log
from sqlenv_server.metrics import ServerMetrics
from sqlenv_server.origins import OriginCheck, parse_names
from sqlenv_server.routes import env, mcp, metrics, web, ws
from sqlenv_server.routing import WorkerRouter
from sqlenv_server.sessions import SessionManager
from sqlenv_server.settings import Settings
from sqlenv_server.sharedlimit import ClientSlots

__all__ = [
    "BodySizeLimit",
    "UnservableDatasetError",
    "check_servable",
    "create_app",
    "server_version",
    "session_id_prefix",
    "warm",
]

logger = logging.getLogger("sqlenv_server")


def session_id_prefix(node_id: str | None, worker_index: int | None) -> str:
    """What session ids start with: ``<node>-`` behind a load balancer, ``w<i>-`` for worker ``i``."""
    return (f"{node_id}-" if node_id else "") + (f"w{worker_index}-" if worker_index is not None else "")


def server_version() -> str:
    """The installed sqlenv-server version."""
    try:
        return version("sqlenv-server")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0.0.0"


class _TooLarge(Exception):
    """The body grew past the limit while it was being received."""


class BodySizeLimit:
    """Refuse request bodies larger than the limit with 413, counting the bytes actually received.

    A declared ``Content-Length`` over the limit is refused before anything is read; a chunked
    body (or one whose ``Content-Length`` lies) is cut off as soon as the bytes received pass the
    limit, so no framing makes the server hold more than ``max_bytes`` of one body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a receive that counts its bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, f"{int(declared)} bytes")
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, f"over {self.max_bytes} bytes received")

    async def _refuse(self, send: Send, size: str) -> None:
        body = encode(
            {
                "detail": error_payload(
                    ErrorCode.VALIDATION_ERROR,
                    f"request body too large: {size} (limit {self.max_bytes} bytes, SQLENV_MAX_MESSAGE_BYTES)",
                    max_bytes=self.max_bytes,
                )
            }
        )
        start: Message = {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})


class UnservableDatasetError(RuntimeError):
    """The dataset has nothing to serve (no usable question): the server refuses to start."""


def check_servable(dataset: Dataset) -> None:
    """Refuse a dataset no episode can be played on, in one line that says what to do.

    Raises:
        UnservableDatasetError: the dataset has no usable question.
    """
    if len(dataset) == 0:
        skipped = len(dataset.skipped)
        why = f" ({skipped} skipped; `sqlenv data list` shows why)" if skipped else ""
        raise UnservableDatasetError(
            f"dataset {dataset.name!r} has no usable question{why}; every reset would fail, so the server "
            "does not start"
        )


def warm(dataset: Dataset) -> bool:
    """Compute and cache what a reset needs (gold answers, table names), in the calling thread.

    The gold answers are normalised too (:meth:`sqlenv_core.verifier.GoldResult.prepare`), so that the first QUERY of
    a question's first episode does not pay for it on the event loop.

    Returns:
        Whether every question is ready, so that a reset runs no SQL (and may run on the event loop).
    """
    ready = True
    for db_id in dataset.databases:
        try:
            dataset.table_names(db_id)
        except SandboxError:
            ready = False  # a reset on this database says why, in a worker thread
    for question in dataset.questions:
        try:
            dataset.gold(question.id).prepare()
        except SandboxError:
            ready = False
    return ready


async def _warm_then_inline_resets(manager: SessionManager, dataset: Dataset) -> None:
    try:
        manager.inline_resets = await anyio.to_thread.run_sync(warm, dataset, abandon_on_cancel=True)
    except Exception:  # resets then keep going to worker threads, where they always worked
        logger.exception("warming the dataset failed; resets run in worker threads")
    # The dataset, its gold answers and the code live as long as the process: out of the cyclic
    # garbage collector's sight, whose full passes would otherwise walk all of them again and
    # again, in the middle of some step (a latency spike on whatever the loop serves then).
    gc.freeze()


async def _reap_forever(manager: SessionManager, every_s: float, dataset: Dataset) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            dataset.result_cache.prune()  # results nobody asked for within the cache's TTL
            reaped = await manager.reap_idle()
        except Exception:  # a failed sweep must not stop the next one
            logger.exception("idle-session sweep failed")
        else:
            if reaped:
                logger.info("reaped %d idle session(s)", reaped)


def create_app(
    settings: Settings | None = None,
    *,
    dataset: Dataset | None = None,
    worker_index: int | None = None,
    worker_sockets: list[str] | None = None,
    client_slots: ClientSlots | None = None,
) -> FastAPI:
    """Build the SQLEnv server.

    Nothing is loaded here: the lifespan loads the dataset (unless one is given), opens the
    session manager, starts the idle-session reaper, and closes every session at shutdown.

    Args:
        settings: server settings; default: read from the environment (``SQLENV_*``, ``PORT``).
        dataset: serve this dataset instead of loading ``settings.dataset``.
        worker_index: this process's number among ``--workers N`` (its session ids say so).
        worker_sockets: every worker's Unix socket, by index: HTTP requests for a session held by
            another worker are forwarded there (:class:`~sqlenv_server.routing.WorkerRouter`).
        client_slots: the per-client session counts of every worker (one limit for them all).

    Returns:
        The application, ready for uvicorn or an in-process transport.
    """
    config = settings if settings is not None else Settings()
    server_metrics = ServerMetrics()
    id_prefix = session_id_prefix(config.node_id, worker_index)
    redact_access_log()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        served = dataset if dataset is not None else await anyio.to_thread.run_sync(load, config.dataset)
        check_servable(served)
        served.result_cache.max_bytes = config.result_cache_mb * 1024 * 1024
        served.result_cache.ttl_s = config.result_cache_ttl
        served.limits = dataclasses.replace(
            served.limits, temp_store=config.temp_store, max_temp_bytes=config.max_temp_mb * 1024 * 1024
        )
        manager = SessionManager(
            lambda: SQLEnvironment(
                served,
                step_budget=config.step_budget,
                reward=config.reward,
                reveal_rewards=config.reveal_rewards,
                reveal_gold=config.show_gold_after_episode,
            ),
            max_sessions=config.max_sessions,
            ttl_s=config.session_ttl,
            metrics=server_metrics,
            worker_threads=config.worker_threads,
            max_per_client=config.per_client_limit,
            slow_step_s=config.slow_step_s,
            inline_step_s=config.inline_step_ms / 1000,
            id_prefix=id_prefix,
            max_pending=config.max_pending_per_session,
            client_slots=client_slots,
        )
        app.state.dataset = served
        app.state.sessions = manager
        # Warming runs beside serving (a dataset given without its gold answers computes them
        # here); until it is done, resets go to worker threads like any step.
        background = [
            asyncio.create_task(_reap_forever(manager, config.reap_every_s, served)),
            asyncio.create_task(_warm_then_inline_resets(manager, served)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await manager.close_all()
            SHARED_POOL.close()  # idle connections; the pool reopens them if the process serves again

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
        default_response_class=SafeJSONResponse,
    )
    app.state.settings = config
    app.state.metrics = server_metrics
    app.state.ws_connections = {}  # open WebSocket connections per client (max_ws_per_client)
    if worker_sockets and worker_index is not None:  # inside the body limit, which bounds what it reads
        app.add_middleware(WorkerRouter, index=worker_index, sockets=worker_sockets)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_message_bytes)
    # Outermost: a client past its share is refused before its body is read or routed.
    app.add_middleware(
        ClientBounds, max_requests=config.requests_per_client, max_body_bytes=config.body_bytes_per_client
    )
    app.add_middleware(
        OriginCheck,
        bound_host=config.host,
        allowed_hosts=parse_names(config.allowed_hosts),
        allowed_origins=parse_names(config.allowed_origins),
    )
    install_exception_handlers(app)
    for router in (env.router, ws.router, mcp.router, web.router, metrics.router):
        app.include_router(router)
    return app
