"""``POST /mcp``: JSON-RPC 2.0 Model Context Protocol endpoint, the actions as tools.

Methods: ``initialize``, ``ping``, ``tools/list``, ``tools/call`` and OpenEnv's
``openenv/session/create`` / ``openenv/session/close``. Tools: ``reset``, ``describe``,
``sample``, ``query``, ``answer``. ``reset`` opens a session when none is named and returns its
id (``structuredContent.session_id`` and the ``Mcp-Session-Id`` header); the other tools take it
as ``session_id`` in their arguments, in ``params`` or as the ``Mcp-Session-Id`` header.

Whatever is posted, the answer is JSON-RPC (HTTP 200), never a 500: malformed JSON gets -32700,
a malformed request -32600, an unknown method -32601, bad arguments -32602.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from sqlenv_core import tools as core_tools
from sqlenv_core.protocol import SQLObservation
from sqlenv_core.wire import (
    MCP_SESSION_HEADER,
    ErrorCode,
    ResetParams,
    WireError,
    observation_payload,
    validation_message,
)
from sqlenv_server.app_info import ENV_NAME
from sqlenv_server.deps import ClientDep, ManagerDep, SettingsDep
from sqlenv_server.disconnect import unless_disconnected
from sqlenv_server.jsonio import SafeJSONResponse, loads
from sqlenv_server.sessions import Session, SessionManager

__all__ = ["TOOLS", "router"]

router = APIRouter(tags=["MCP"])

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_ERROR = -32000
PROTOCOL_VERSION = "2025-06-18"

_SESSION_ARG = {"type": "string", "description": "The session_id returned by reset."}


#: The tools an MCP client sees: ``reset`` starts the episode; the four actions are the ones every
#: model sees (``sqlenv_core.tools``: the same names, descriptions and arguments as in training),
#: each with an optional ``session_id``.
TOOLS: list[dict[str, Any]] = [
    {
        "name": "reset",
        "description": (
            "Start a new episode: returns the question, the table names and a session_id for the other tools."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "session_id": {"type": "string", "description": "Reuse this session (optional)."},
                "question_id": {"type": "string", "description": "Play this question (optional)."},
                "seed": {"type": "integer", "minimum": 0, "description": "Pick the question reproducibly (optional)."},
            },
        },
    },
    *(core_tools.mcp_tool(tool, {"session_id": _SESSION_ARG}) for tool in core_tools.TOOLS),
]


class _RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _tool_result(observation: SQLObservation, session_id: str) -> dict[str, Any]:
    return {
        "content": [{"type": "text", "text": core_tools.render_observation(observation)}],
        "structuredContent": {**observation_payload(observation), "session_id": session_id},
        "isError": bool(observation.error),
    }


def _rpc_of(exc: WireError) -> tuple[int, str, dict[str, Any] | None]:
    """The JSON-RPC error code, message and data for a wire error (one mapping for every tool)."""
    code = SERVER_ERROR if exc.code in (ErrorCode.CAPACITY_REACHED, ErrorCode.EXECUTION_ERROR) else INVALID_PARAMS
    data = {"code": exc.code.value, **exc.details}
    return code, exc.message, data


class _McpCall:
    """One HTTP request's worth of JSON-RPC handling (it may carry a batch)."""

    def __init__(self, manager: SessionManager, header_session: str | None, client: str = "") -> None:
        self.manager = manager
        self.header_session = header_session
        self.client = client
        self.session_used: str | None = None

    def _session(self, params: dict[str, Any], arguments: dict[str, Any]) -> Session:
        wanted = arguments.get("session_id") or params.get("session_id") or self.header_session
        if not wanted:
            raise _RpcError(
                INVALID_PARAMS,
                "session_id required: call the reset tool first and pass the session_id it returns "
                f"(in the arguments or the {MCP_SESSION_HEADER} header)",
            )
        if not isinstance(wanted, str):
            raise _RpcError(INVALID_PARAMS, "session_id must be a string")
        return self.manager.get(wanted)

    def _open(self) -> Session:
        return self.manager.open("mcp", client=self.client)

    async def _call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        arguments: Any = params.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise _RpcError(INVALID_PARAMS, "arguments must be an object")
        args: dict[str, Any] = arguments  # pyright: ignore[reportUnknownVariableType]
        if name == "reset":
            return await self._reset(params, args)
        if not isinstance(name, str):
            raise _RpcError(
                INVALID_PARAMS, f"Tool not found: {str(name)[:80]!r}; tools: reset, {', '.join(core_tools.TOOL_NAMES)}"
            )
        try:
            action = core_tools.tool_call_to_action(name, {k: v for k, v in args.items() if k != "session_id"})
        except core_tools.ToolCallError as exc:
            prefix = "Tool not found: " if name not in core_tools.TOOL_NAMES else ""
            raise _RpcError(INVALID_PARAMS, f"{prefix}{exc}") from None
        session = self._session(params, args)
        self.session_used = session.id
        observation = await self.manager.step(session, action)
        return _tool_result(observation, session.id)

    async def _reset(self, params: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        try:
            reset = ResetParams.model_validate({k: v for k, v in args.items() if k in ("seed", "question_id")})
        except ValidationError as exc:
            raise _RpcError(INVALID_PARAMS, validation_message(exc)) from None
        session: Session | None = None
        if args.get("session_id") or params.get("session_id") or self.header_session:
            try:
                session = self._session(params, args)
            except (_RpcError, WireError):
                session = None  # an expired id: start afresh
        created = session is None
        session = session or self._open()
        try:
            observation = await self.manager.reset(session, seed=reset.seed, question_id=reset.question_id)
        except BaseException:  # refused, failed or cancelled: a session opened for it is not left behind
            if created:
                await self.manager.close(session.id)
            raise
        self.session_used = session.id
        return _tool_result(observation, session.id)

    async def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        if method == "initialize":
            requested = params.get("protocolVersion")
            return {
                "protocolVersion": requested if isinstance(requested, str) else PROTOCOL_VERSION,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": ENV_NAME, "version": "1"},
                "instructions": "Call reset, then describe/sample/query to explore, then answer.",
            }
        if method == "ping":
            return {}
        if method == "tools/list":
            return {"tools": TOOLS}
        if method == "tools/call":
            return await self._call_tool(params)
        if method == "openenv/session/create":
            session = self._open()
            self.session_used = session.id
            return {"session_id": session.id}
        if method == "openenv/session/close":
            target = params.get("session_id")
            if not isinstance(target, str) or not target:
                raise _RpcError(INVALID_PARAMS, "Invalid params - 'session_id' is required")
            if not await self.manager.close(target):
                raise _RpcError(INVALID_PARAMS, f"Unknown session_id: {target}")
            return {"session_id": target, "closed": True}
        raise _RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    async def handle(self, request: Any) -> dict[str, Any] | None:
        """The response to one JSON-RPC message (``None`` for a notification)."""
        if not isinstance(request, dict):
            return _error(None, INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 object")
        message: dict[str, Any] = request  # pyright: ignore[reportUnknownVariableType]
        request_id = message.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, str | int | None):
            return _error(None, INVALID_REQUEST, "Invalid Request: id must be a string, a number or null")
        method = message.get("method")
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error(request_id, INVALID_REQUEST, 'Invalid Request: needs "jsonrpc": "2.0" and a string "method"')
        params = message.get("params", {})
        is_notification = "id" not in message
        if not isinstance(params, dict):
            return None if is_notification else _error(request_id, INVALID_PARAMS, "Params must be an object")
        if is_notification:
            return None  # notifications/initialized and friends need no answer
        try:
            result = await self._dispatch(method, params)  # pyright: ignore[reportUnknownArgumentType]
        except _RpcError as exc:
            return _error(request_id, exc.code, exc.message, exc.data)
        except WireError as exc:
            self.manager.metrics.errors.labels(exc.code.value).inc()
            return _error(request_id, *_rpc_of(exc))
        return {"jsonrpc": "2.0", "id": request_id, "result": result}


async def _answer(call: _McpCall, payload: Any) -> Any:
    if not isinstance(payload, list):
        return await call.handle(payload)
    batch: list[Any] = payload  # pyright: ignore[reportUnknownVariableType]
    return [reply for item in batch if (reply := await call.handle(item)) is not None]


@router.post("/mcp", summary="MCP JSON-RPC 2.0 endpoint", response_class=SafeJSONResponse)
async def mcp_endpoint(request: Request, manager: ManagerDep, settings: SettingsDep, client: ClientDep) -> Response:
    """Answer one JSON-RPC message or a batch of them (at most ``max_batch``).

    The messages of a batch run one after the other; if the client disconnects, the running one
    is cancelled (its query interrupted) and the rest are not run.
    """
    call = _McpCall(manager, request.headers.get(MCP_SESSION_HEADER), client)
    body = await request.body()
    try:
        payload = loads(body)
    except ValueError as exc:  # not JSON, not UTF-8, or nested too deeply
        return SafeJSONResponse(_error(None, PARSE_ERROR, f"Parse error: {str(exc)[:200]}"))
    if isinstance(payload, list):
        size = len(payload)  # pyright: ignore[reportUnknownArgumentType]
        if not size:
            return SafeJSONResponse(_error(None, INVALID_REQUEST, "Invalid Request: empty batch"))
        if size > settings.max_batch:
            return SafeJSONResponse(
                _error(
                    None,
                    INVALID_REQUEST,
                    f"Invalid Request: a batch of {size} messages; the limit is {settings.max_batch} "
                    "(SQLENV_MAX_BATCH): send several smaller batches",
                    {"max_batch": settings.max_batch},
                )
            )
    content = await unless_disconnected(request, lambda: _answer(call, payload))
    headers = {MCP_SESSION_HEADER: call.session_used} if call.session_used else None
    if content is None or content == []:
        return Response(status_code=202, headers=headers)
    return SafeJSONResponse(content, headers=headers)
