"""Work that stops when its HTTP client goes away.

A client that disconnects in the middle of ``/step``, ``/reset`` or an ``/mcp`` batch no longer
waits for anything, so the work is cancelled: the running query is interrupted (see
:class:`~sqlenv_server.runner.StepRunner`) and the rest of a batch is not started.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.requests import Request

__all__ = ["ClientGoneError", "unless_disconnected"]

T = TypeVar("T")


class ClientGoneError(Exception):
    """The client disconnected before its request was answered (nobody reads the reply)."""


async def _watch(request: Request, scope: anyio.CancelScope) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def unless_disconnected(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Await ``work()``, cancelling it if the client disconnects first.

    Call it after the request body has been read (FastAPI reads it before the route runs).

    Raises:
        ClientGoneError: the client went away; ``work`` was cancelled.
    """
    outcome: tuple[T] | None = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_watch, request, group.cancel_scope)
        try:
            outcome = (await work(),)
        except Exception as exc:  # re-raised below, outside the task group (no ExceptionGroup)
            failure = exc
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if outcome is None:
        raise ClientGoneError
    return outcome[0]
