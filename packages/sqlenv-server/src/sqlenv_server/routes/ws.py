"""``WS /ws``: one session per connection, OpenEnv's message envelope (see :mod:`sqlenv_core.wire`).

Client → server: ``{"type": "reset"|"step"|"state"|"close", "data": {...}}``.
Server → client: ``{"type": "observation"|"state"|"error", "data": {...}}``; errors carry
``{"message": ..., "code": ...}`` with OpenEnv's codes. A bad message gets an error reply and the
connection stays usable; ``close`` (or a disconnect) frees the session at once.
"""

from __future__ import annotations

import contextlib
import json

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from sqlenv_core.wire import CloseRequest, ErrorCode, Frame, WireError, decode_message, parse_request, reply_frame
from sqlenv_server.deps import ManagerDep, SettingsDep
from sqlenv_server.errors import count_error
from sqlenv_server.sessions import CapacityReachedError, Session, SessionManager

__all__ = ["router"]

router = APIRouter()

#: "Try again later": the close code a refused connection gets after its CAPACITY_REACHED message.
CLOSE_TRY_AGAIN_LATER = 1013


class _Close(Exception):
    """The client asked to end the session."""


async def _reply(manager: SessionManager, session: Session, raw: str | bytes, max_bytes: int) -> Frame:
    request = parse_request(decode_message(raw, max_bytes=max_bytes))
    if isinstance(request, CloseRequest):
        raise _Close
    return reply_frame(await manager.run(session, request))


@router.websocket("/ws")
async def websocket_session(websocket: WebSocket, manager: ManagerDep, settings: SettingsDep) -> None:
    """A persistent session: reset, step, state and close over one connection."""
    await websocket.accept()
    try:
        session = manager.open("ws", attached=True)
    except CapacityReachedError as exc:
        count_error(websocket, exc.code)
        with contextlib.suppress(Exception):
            await websocket.send_text(json.dumps(exc.frame()))
            await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason="server at capacity")
        return
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
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
                reply = WireError(ErrorCode.EXECUTION_ERROR, f"{type(exc).__name__}: {exc}").frame()
            await websocket.send_text(json.dumps(reply))
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away; the finally block frees its session
    finally:
        with anyio.CancelScope(shield=True):  # free the slot even when the server is shutting down
            await manager.close(session.id)
        with contextlib.suppress(Exception):
            await websocket.close()
