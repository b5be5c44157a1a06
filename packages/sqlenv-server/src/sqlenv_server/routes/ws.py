"""``WS /ws``: one session per connection, OpenEnv's message envelope (see :mod:`sqlenv_core.wire`).

Client → server: ``{"type": "reset"|"step"|"state"|"close", "data": {...}}``.
Server → client: ``{"type": "observation"|"state"|"error", "data": {...}}``; errors carry
``{"message": ..., "code": ...}`` with OpenEnv's codes. A bad message gets an error reply and the
connection stays usable; ``close`` (or a disconnect) frees the session at once.
"""

from __future__ import annotations

import asyncio
import contextlib

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.types import Message

from sqlenv_core.wire import CloseRequest, ErrorCode, Frame, WireError, decode_message, parse_request, reply_frame
from sqlenv_server.bounds import ABORT_KEY
from sqlenv_server.deps import ManagerDep, SettingsDep, client_of
from sqlenv_server.errors import count_error
from sqlenv_server.jsonio import dumps
from sqlenv_server.sessions import Session, SessionManager
from sqlenv_server.settings import Settings

__all__ = ["WebSocketLimitError", "router"]

router = APIRouter()

#: "Try again later": the close code a refused connection gets after its CAPACITY_REACHED message.
CLOSE_TRY_AGAIN_LATER = 1013
#: Frames a client may send ahead of its replies; a client that sends more is disconnected.
PIPELINE_DEPTH = 8
#: The close code for a client that pipelines past PIPELINE_DEPTH (policy violation).
CLOSE_TOO_MANY_IN_FLIGHT = 1008


class _Close(Exception):
    """The client asked to end the session."""


class _Stalled(Exception):
    """The client did not read a reply within ``ws_send_timeout``: it was disconnected."""


async def _send(websocket: WebSocket, text: str, timeout_s: float) -> None:
    """Send a reply; a client that does not read it within ``timeout_s`` is cut off.

    A client that stops reading fills the socket's buffers, and the send waits; the connection is
    then aborted (a close frame could not reach it either), which drops what is buffered for it.
    """
    try:
        async with asyncio.timeout(timeout_s):  # no task per reply, unlike wait_for
            await websocket.send_text(text)
    except TimeoutError:
        abort = websocket.scope.get(ABORT_KEY)
        if callable(abort):
            abort()
        raise _Stalled from None


async def _reply(manager: SessionManager, session: Session, raw: str | bytes, max_bytes: int) -> Frame:
    request = parse_request(decode_message(raw, max_bytes=max_bytes))
    if isinstance(request, CloseRequest):
        raise _Close
    return reply_frame(await manager.run(session, request))


async def _read(websocket: WebSocket, inbox: asyncio.Queue[Message | None], session: Session) -> None:
    """Receive frames into ``inbox`` while steps run, so that a disconnect is seen at once.

    On a disconnect, or a client with more than :data:`PIPELINE_DEPTH` frames in flight, the
    session is marked closed (queued frames are dropped) and its running query is interrupted.
    """
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            if inbox.full():
                with contextlib.suppress(Exception):
                    await websocket.close(CLOSE_TOO_MANY_IN_FLIGHT, f"more than {PIPELINE_DEPTH} messages in flight")
                break
            inbox.put_nowait(frame)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    session.closed = True
    session.interrupt()  # nobody will read the reply: stop the query now, not at its deadline
    while not inbox.empty():  # drop what was queued; wake the loop, which sees `closed`
        inbox.get_nowait()
    inbox.put_nowait(None)


@router.websocket("/ws")
async def websocket_session(websocket: WebSocket, manager: ManagerDep, settings: SettingsDep) -> None:
    """A persistent session: reset, step, state and close over one connection."""
    client = client_of(websocket)
    held: dict[str, int] = websocket.app.state.ws_connections
    count = held.get(client, 0)
    # Refused after the handshake, so that a browser sees why. A full server, or a client at its
    # session limit, is told so first (as before): that is the limit to raise.
    if count >= settings.ws_per_client and len(manager) < manager.max_sessions and not manager.client_at_limit(client):
        await websocket.accept()
        await _refuse(websocket, WebSocketLimitError(client, count, settings.ws_per_client), "too many connections")
        return
    held[client] = count + 1  # counted before the first await: connections opening at once all count
    try:
        await websocket.accept()
        await _serve(websocket, manager, settings, client)
    finally:
        left = held.get(client, 1) - 1
        if left > 0:
            held[client] = left
        else:
            held.pop(client, None)


class WebSocketLimitError(WireError):
    """One client already holds ``max_ws_per_client`` WebSocket connections (``CAPACITY_REACHED``)."""

    def __init__(self, client: str, held: int, limit: int) -> None:
        super().__init__(
            ErrorCode.CAPACITY_REACHED,
            f"this client ({client[:64]}) already holds {held} WebSocket connections to this server process, "
            f"the most one client may hold ({limit}, SQLENV_MAX_WS_PER_CLIENT); close one you no longer use",
            client_ws_connections=held,
            max_ws_per_client=limit,
        )


async def _refuse(websocket: WebSocket, error: WireError, reason: str) -> None:
    """Send ``error`` as the connection's only frame, then close it with 1013 (try again later)."""
    count_error(websocket, error.code)
    with contextlib.suppress(Exception):
        await websocket.send_text(dumps(error.frame()))
        await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason=reason)


async def _serve(websocket: WebSocket, manager: SessionManager, settings: Settings, client: str) -> None:
    try:
        session = manager.open("ws", attached=True, client=client)
    except WireError as exc:  # at capacity, or this client holds its share of sessions
        await _refuse(websocket, exc, "server at capacity")
        return
    inbox: asyncio.Queue[Message | None] = asyncio.Queue(PIPELINE_DEPTH)
    reader = asyncio.create_task(_read(websocket, inbox, session))
    try:
        while not session.closed:
            frame = await inbox.get()
            if frame is None:
                break
            raw: str | bytes = frame.get("text") or frame.get("bytes") or ""
            try:
                reply = await _reply(manager, session, raw, settings.max_message_bytes)
            except _Close:
                break
            except WireError as exc:
                count_error(websocket, exc.code)
                reply = exc.frame()
            except Exception as exc:  # the environment failed: say so and keep serving
                count_error(websocket, ErrorCode.EXECUTION_ERROR)
                reply = WireError(ErrorCode.EXECUTION_ERROR, f"{type(exc).__name__}: {str(exc)[:500]}").frame()
            if session.closed:
                break
            await _send(websocket, dumps(reply), settings.ws_send_timeout)
    except (WebSocketDisconnect, RuntimeError, OSError, _Stalled):
        pass  # the client went away (or stopped reading); the finally block frees its session
    finally:
        reader.cancel()
        with anyio.CancelScope(shield=True):  # free the slot even when the server is shutting down
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await manager.close(session.id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(), settings.ws_send_timeout)
