"""The OpenEnv wire format, written once: messages, error codes, the session header, the envelope.

Every transport exchanges the same *frames*. A client sends
``{"type": "reset"|"step"|"state"|"close", "data": {...}}`` and gets back
``{"type": "observation"|"state"|"error", "data": {...}}``; an observation's ``data`` is OpenEnv's
envelope ``{"observation": {...}, "reward": r, "done": d, "metadata": {...}}`` and an error's is
``{"message": ..., "code": ...}`` with one of the :class:`ErrorCode` values.

The server's WebSocket route, its MCP tools, its HTTP routes and the client's in-process mode all
read requests with :func:`parse_request` and run them with :func:`execute` (or
:func:`handle_frame`, which does both and turns a :class:`WireError` into an error frame), so a
request means the same thing on every transport. The client builds its requests with
:func:`reset_frame` / :func:`step_frame` and reads replies with :func:`observation_from_frame` /
:func:`state_from_frame`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.sandbox.limits import InlineBudget, SandboxError

__all__ = [
    "HTTP_STATUS",
    "MCP_SESSION_HEADER",
    "NON_FINITE_WORDS",
    "REQUEST_TYPES",
    "SESSION_COOKIE",
    "SESSION_HEADER",
    "SESSION_ID_MAX_CHARS",
    "CloseRequest",
    "EnvironmentLike",
    "ErrorCode",
    "Frame",
    "Request",
    "ResetParams",
    "ResetRequest",
    "StateRequest",
    "StepRequest",
    "WireError",
    "decode_message",
    "error_frame",
    "error_payload",
    "execute",
    "finite_or_word",
    "handle_frame",
    "invalid",
    "json_safe",
    "key_error_message",
    "observation_frame",
    "observation_from_frame",
    "observation_payload",
    "parse_request",
    "reply_frame",
    "reset_frame",
    "state_frame",
    "state_from_frame",
    "step_frame",
    "valid_text",
    "validation_details",
    "validation_message",
]

_log = logging.getLogger("sqlenv_core")

Frame = dict[str, Any]
"""One message on the wire, decoded: ``{"type": ..., "data": {...}}``."""

RequestType = Literal["reset", "step", "state", "close"]
REQUEST_TYPES: Final[tuple[RequestType, ...]] = ("reset", "step", "state", "close")

#: The header (and body field) that names an HTTP session.
SESSION_HEADER: Final = "X-Session-Id"
#: The cookie that names an HTTP session for browsers.
SESSION_COOKIE: Final = "sqlenv_session"
#: The header that names an MCP session.
MCP_SESSION_HEADER: Final = "Mcp-Session-Id"
#: Longest session id accepted anywhere (ours are 32 hex characters).
SESSION_ID_MAX_CHARS: Final = 64

# A rejected input is echoed back at most this long in error details.
_ECHO_CHARS = 200
# Validation problems listed in one error reply at most (the rest are counted).
_MAX_PROBLEMS = 20


class ErrorCode(StrEnum):
    """The error codes a server sends (OpenEnv's ``WSErrorCode`` names)."""

    INVALID_JSON = "INVALID_JSON"
    """The message is not valid JSON (or not UTF-8)."""
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    """The message's ``type`` is not one of :data:`REQUEST_TYPES`."""
    VALIDATION_ERROR = "VALIDATION_ERROR"
    """The message is JSON but not a valid request (bad fields, unknown question, too large)."""
    EXECUTION_ERROR = "EXECUTION_ERROR"
    """The server failed while running a valid request."""
    CAPACITY_REACHED = "CAPACITY_REACHED"
    """The server holds as many sessions as it allows."""
    SESSION_ERROR = "SESSION_ERROR"
    """The named session does not exist (closed, reaped or never opened)."""


#: The HTTP status that carries each error code.
HTTP_STATUS: Final[Mapping[ErrorCode, int]] = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.UNKNOWN_TYPE: 400,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.EXECUTION_ERROR: 500,
    ErrorCode.CAPACITY_REACHED: 503,
    ErrorCode.SESSION_ERROR: 404,
}


class WireError(Exception):
    """A request that gets an error reply instead of an observation or a state.

    Args:
        code: what kind of error.
        message: a short explanation that says what to do about it.
        details: JSON-safe extras sent with it (validation errors, limits, ...).
    """

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def payload(self) -> dict[str, Any]:
        """The ``data`` of the error frame."""
        return error_payload(self.code, self.message, **self.details)

    def frame(self) -> Frame:
        """The error frame."""
        return {"type": "error", "data": self.payload()}


def error_payload(code: ErrorCode, message: str, **details: Any) -> dict[str, Any]:
    """The ``data`` of an error message: ``{"message": ..., "code": ...}`` plus any details (JSON-safe)."""
    return json_safe({"message": message, "code": code.value, **details})


def error_frame(code: ErrorCode, message: str, **details: Any) -> Frame:
    """An error frame."""
    return {"type": "error", "data": error_payload(code, message, **details)}


# -- requests -----------------------------------------------------------------------------------


class ResetParams(BaseModel):
    """What ``reset`` accepts (the ``data`` of a reset message, the body of ``POST /reset``).

    Unknown keys are accepted and ignored, as OpenEnv servers do with reset kwargs the environment
    does not take.
    """

    model_config = ConfigDict(extra="allow")

    seed: int | None = Field(default=None, ge=0, description="Seed for picking the question reproducibly.")
    question_id: str | None = Field(default=None, max_length=255, description="Play this question.")
    episode_id: str | None = Field(default=None, max_length=255, description="Accepted for OpenEnv; unused.")


@dataclass(frozen=True, slots=True)
class ResetRequest:
    """Start an episode, on ``question_id`` or on a question drawn with ``seed``."""

    seed: int | None = None
    question_id: str | None = None


@dataclass(frozen=True, slots=True)
class StepRequest:
    """Take one action."""

    action: SQLAction


@dataclass(frozen=True, slots=True)
class StateRequest:
    """Ask for the episode's bookkeeping."""


@dataclass(frozen=True, slots=True)
class CloseRequest:
    """End the session."""


Request = ResetRequest | StepRequest | StateRequest | CloseRequest


def decode_message(raw: str | bytes, *, max_bytes: int | None = None) -> Frame:
    """One received message as a JSON object.

    Raises:
        WireError: ``VALIDATION_ERROR`` when it is larger than ``max_bytes`` or not an object,
            ``INVALID_JSON`` when it is not JSON.
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise WireError(ErrorCode.VALIDATION_ERROR, f"message too large: {len(raw)} bytes (limit {max_bytes})")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WireError(ErrorCode.INVALID_JSON, f"Invalid JSON: {str(exc)[:_ECHO_CHARS]}") from None
    if not isinstance(message, dict):
        raise WireError(
            ErrorCode.VALIDATION_ERROR,
            'a message is a JSON object like {"type": "step", "data": {"action_type": "QUERY", "argument": "..."}}',
        )
    return cast(Frame, message)


def parse_request(message: Mapping[str, Any]) -> Request:
    """Read one decoded message as a typed request.

    Raises:
        WireError: ``UNKNOWN_TYPE`` for a type not in :data:`REQUEST_TYPES`, ``VALIDATION_ERROR``
            for a ``data`` that does not fit the type.
    """
    kind = message.get("type")
    if kind not in REQUEST_TYPES:
        shown = repr(kind)[:_ECHO_CHARS]
        raise WireError(ErrorCode.UNKNOWN_TYPE, f"Unknown message type: {shown}; use one of {', '.join(REQUEST_TYPES)}")
    if kind == "close":
        return CloseRequest()
    if kind == "state":
        return StateRequest()
    data = message.get("data", {} if kind == "reset" else None)
    if not isinstance(data, dict):
        expected = "an SQLAction object" if kind == "step" else "an object (or omitted)"
        raise WireError(ErrorCode.VALIDATION_ERROR, f"'data' of a {kind} message must be {expected}")
    try:
        if kind == "reset":
            params = ResetParams.model_validate(data)
            return ResetRequest(seed=params.seed, question_id=params.question_id)
        return StepRequest(SQLAction.model_validate(data))
    except ValidationError as exc:
        raise invalid(f"{kind} message", exc) from None


def reset_frame(seed: int | None = None, question_id: str | None = None) -> Frame:
    """The ``reset`` frame; unset options are left out so that any OpenEnv server accepts it."""
    data: dict[str, Any] = {}
    if seed is not None:
        data["seed"] = seed
    if question_id is not None:
        data["question_id"] = question_id
    return {"type": "reset", "data": data}


def step_frame(action: SQLAction) -> Frame:
    """The ``step`` frame for an (already validated) action."""
    data: dict[str, Any] = {"action_type": action.action_type, "argument": action.argument}
    if action.metadata:
        data["metadata"] = action.metadata
    return {"type": "step", "data": data}


# -- running requests ---------------------------------------------------------------------------


class EnvironmentLike(Protocol):
    """What the frame handler needs from an environment (``sqlenv_core.SQLEnvironment`` has it)."""

    def reset(self, *, seed: int | None = None, question_id: str | None = None) -> SQLObservation:
        """Start an episode."""
        ...

    def step(self, action: SQLAction) -> SQLObservation:
        """Take one action."""
        ...

    @property
    def state(self) -> SQLState:
        """Episode bookkeeping."""
        ...

    def close(self) -> None:
        """Release the database connection."""
        ...

    def interrupt(self) -> bool:
        """Cancel the query running now, from any thread (``False`` when none was running)."""
        ...

    def step_cached(self, action: SQLAction) -> SQLObservation | None:
        """Take the step only if it needs no SQL beyond the result cache (``None``: nothing done)."""
        ...

    def step_bounded(self, action: SQLAction, budget: InlineBudget | None = None) -> SQLObservation | None:
        """Take the step only if it fits a small time budget (``None``: nothing done)."""
        ...


def key_error_message(exc: BaseException) -> str:
    """The readable text of an exception (a ``KeyError``'s message without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def execute(env: EnvironmentLike, request: ResetRequest | StepRequest | StateRequest) -> SQLObservation | SQLState:
    """Run one request on ``env``.

    Raises:
        WireError: ``VALIDATION_ERROR`` when the environment refuses a reset (unknown question id),
            ``EXECUTION_ERROR`` when a reset cannot prepare its episode (the question's gold SQL
            or its database failed in the sandbox): the server's data, not the request, is at fault.
    """
    if isinstance(request, StepRequest):
        return env.step(request.action)
    if isinstance(request, StateRequest):
        return env.state
    try:
        return env.reset(seed=request.seed, question_id=request.question_id)
    except (KeyError, ValueError) as exc:
        raise WireError(ErrorCode.VALIDATION_ERROR, key_error_message(exc)) from None
    except SandboxError as exc:
        # The sandbox's message names what the gold SQL reads ("no such table: ..."): the operator's
        # log gets it, the agent only the kind of failure.
        _log.warning("reset on question %r failed: its gold SQL or database failed: %s", request.question_id, exc)
        raise WireError(
            ErrorCode.EXECUTION_ERROR,
            f"reset failed: this question's gold answer could not be computed ({exc.code}); the server cannot "
            "prepare this episode (its dataset is at fault): reset again for another question, or tell the "
            "server's operator",
        ) from None


def reply_frame(result: SQLObservation | SQLState) -> Frame:
    """The frame that carries an observation or a state."""
    return state_frame(result) if isinstance(result, SQLState) else observation_frame(result)


def handle_frame(env: EnvironmentLike, message: Mapping[str, Any]) -> Frame:
    """Answer one decoded message on ``env`` as a server would; errors become error frames.

    ``close`` closes the environment and is answered with ``{"type": "closed"}``.
    """
    try:
        request = parse_request(message)
        if isinstance(request, CloseRequest):
            env.close()
            return {"type": "closed", "data": {}}
        return reply_frame(execute(env, request))
    except WireError as exc:
        return exc.frame()


# -- replies ------------------------------------------------------------------------------------


#: How a non-finite number is written everywhere an agent or a client sees it: in the text table,
#: in the structured rows and in JSON (which has no such numbers; JavaScript's ``String()`` spells
#: them so, and ``float()`` reads them back).
NON_FINITE_WORDS: Final[Mapping[str, str]] = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}

_SURROGATE = re.compile("[\ud800-\udfff]")
_OBSERVATION_TEXT_FIELDS = ("question", "schema_info", "result", "error")


def finite_or_word(value: float) -> float | str:
    """``value`` itself when finite, else its word (``Infinity``, ``-Infinity``, ``NaN``)."""
    return value if math.isfinite(value) else NON_FINITE_WORDS[repr(value)]


def valid_text(text: str) -> str:
    """``text`` with lone surrogates (which no UTF-8 encoder accepts) replaced by U+FFFD."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def json_safe(value: object) -> Any:
    """``value`` with every non-finite float spelled as a word and every string made valid UTF-8.

    Containers are rebuilt only where something changes, so clean data comes back as it is.
    """
    kind = type(value)
    if kind is str:
        return valid_text(cast(str, value))
    if kind is float:
        return finite_or_word(cast(float, value))
    if kind is list or kind is tuple:
        items = cast("list[Any] | tuple[Any, ...]", value)
        cleaned = [json_safe(item) for item in items]
        return value if all(a is b for a, b in zip(cleaned, items, strict=True)) else cleaned
    if kind is dict:
        mapping = cast(dict[Any, Any], value)
        changed = False
        out: dict[Any, Any] = {}
        for key, item in mapping.items():
            safe_key, safe_item = json_safe(key), json_safe(item)
            changed = changed or safe_key is not key or safe_item is not item
            out[safe_key] = safe_item
        return out if changed else value
    return value


def _safe_rows(rows: list[list[Any]]) -> list[list[Any]]:
    # Rows hold scalars only; the environment has spelled non-finite numbers already, so this is
    # a check that finds nothing unless the observation was built by hand.
    for index, row in enumerate(rows):
        for cell in row:
            if (type(cell) is float and not math.isfinite(cell)) or (type(cell) is str and not cell.isascii()):
                return rows[:index] + [[json_safe(c) for c in r] for r in rows[index:]]
    return rows


def observation_payload(observation: SQLObservation) -> dict[str, Any]:
    """OpenEnv's step/reset envelope, JSON-safe: ``observation`` (without reward/done), ``reward``, ``done``.

    JSON-safe means any JSON encoder can write it, strictly: non-finite numbers are the words
    ``Infinity``, ``-Infinity`` and ``NaN`` (as the text table shows them), never bare
    ``Infinity`` (not JSON) nor ``null`` (which means NULL), and text holds no lone surrogates.
    """
    fields = observation.__dict__
    inner: dict[str, Any] = {name: value for name, value in fields.items() if name not in ("reward", "done")}
    for name in _OBSERVATION_TEXT_FIELDS:
        inner[name] = valid_text(inner[name])
    inner["columns"] = json_safe(inner["columns"])
    inner["action_history"] = json_safe(inner["action_history"])
    inner["rows"] = _safe_rows(inner["rows"])
    inner["info"] = json_safe(inner["info"])
    inner["metadata"] = json_safe(inner["metadata"])
    reward = observation.reward
    payload: dict[str, Any] = {
        "observation": inner,
        "reward": finite_or_word(reward) if reward is not None else None,
        "done": observation.done,
    }
    if observation.metadata:
        payload["metadata"] = inner["metadata"]
    return payload


def observation_frame(observation: SQLObservation) -> Frame:
    """The frame that carries an observation."""
    return {"type": "observation", "data": observation_payload(observation)}


def state_frame(state: SQLState) -> Frame:
    """The frame that carries a state (JSON-safe)."""
    return {"type": "state", "data": json_safe(state.model_dump(mode="json"))}


_OBSERVATION_FIELDS = frozenset(SQLObservation.model_fields)
_STATE_FIELDS = frozenset(SQLState.model_fields)


def _frame_data(frame: Mapping[str, Any], kind: str) -> dict[str, Any]:
    if frame.get("type") != kind:
        raise ValueError(f"expected a {kind!r} reply, got {str(frame.get('type'))[:80]!r}")
    data = frame.get("data")
    if not isinstance(data, dict):
        raise ValueError(f"the {kind!r} reply has no 'data' object")
    return cast(dict[str, Any], data)


def observation_from_frame(frame: Mapping[str, Any]) -> SQLObservation:
    """Read an ``observation`` frame (fields this version does not know are ignored).

    Raises:
        ValueError: the frame is not a well-formed observation (the message says why).
    """
    data = _frame_data(frame, "observation")
    inner = data.get("observation", {})
    if not isinstance(inner, dict):
        raise ValueError("the observation is not a JSON object")
    fields: dict[str, Any] = {k: v for k, v in cast(dict[str, Any], inner).items() if k in _OBSERVATION_FIELDS}
    fields["done"] = bool(data.get("done", fields.get("done", False)))
    fields["reward"] = data.get("reward", fields.get("reward"))
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and metadata and not fields.get("metadata"):
        fields["metadata"] = metadata
    try:
        return SQLObservation.model_validate(fields)
    except ValidationError as exc:
        raise ValueError(f"an observation this version cannot read: {validation_message(exc)}") from None


def state_from_frame(frame: Mapping[str, Any]) -> SQLState:
    """Read a ``state`` frame (unknown fields ignored).

    Raises:
        ValueError: the frame is not a well-formed state.
    """
    data = _frame_data(frame, "state")
    try:
        return SQLState.model_validate({k: v for k, v in data.items() if k in _STATE_FIELDS})
    except ValidationError as exc:
        raise ValueError(f"a state this version cannot read: {validation_message(exc)}") from None


# -- validation errors --------------------------------------------------------------------------


def invalid(what: str, error: ValidationError) -> WireError:
    """The ``VALIDATION_ERROR`` for a rejected ``what`` ("step message", "action").

    The problems are in its message and, listed, in its ``errors`` detail.
    """
    return WireError(
        ErrorCode.VALIDATION_ERROR, f"Invalid {what}: {validation_message(error)}", errors=validation_details(error)
    )


def validation_message(error: ValidationError) -> str:
    """One readable line per problem, e.g. ``action_type: Input should be 'DESCRIBE', ...``."""
    parts: list[str] = []
    for entry in error.errors(include_url=False):
        where = ".".join(str(p) for p in entry["loc"]) or "message"
        parts.append(f"{where}: {entry['msg']}")
    return "; ".join(parts)


def validation_details(error: ValidationError | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A validation error's entries as every reply carries them: few, short and JSON-safe.

    At most 20 entries (a last ``{"type": "truncated", ...}`` entry counts the rest), without
    documentation links, with echoed inputs, locations and context cut to 200 characters. Takes a
    pydantic ``ValidationError`` or its ``errors()`` list (FastAPI's ``RequestValidationError``
    gives one). Built from the entries themselves rather than pydantic's JSON, which fails outright
    on an input holding a lone surrogate.
    """
    entries = error.errors(include_url=False) if isinstance(error, ValidationError) else error
    details: list[dict[str, Any]] = []
    for entry in entries[:_MAX_PROBLEMS]:
        # A location names the client's own keys, which can be as long as the body.
        where = [p if isinstance(p, int) else _cut(str(p)) for p in entry.get("loc", ())]
        message = _cut(str(entry.get("msg", "")))
        item: dict[str, Any] = {"type": str(entry.get("type", "")), "loc": where, "msg": message}
        item["input"] = _echo(entry.get("input"))
        context = entry.get("ctx")
        if isinstance(context, Mapping) and context:
            item["ctx"] = {
                str(k): v if isinstance(v, int | float | bool) else _cut(str(v))
                for k, v in cast(Mapping[str, Any], context).items()
            }
        details.append(json_safe(item))
    if len(entries) > _MAX_PROBLEMS:
        details.append({"type": "truncated", "loc": [], "msg": f"{len(entries) - _MAX_PROBLEMS} more problems"})
    return details


def _cut(text: str) -> str:
    return text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "…"


def _echo(value: object) -> object:
    # Echoing a huge rejected input back would defeat the size limits.
    if isinstance(value, str):
        return value if len(value) <= _ECHO_CHARS else value[:_ECHO_CHARS] + "…"
    if value is None or isinstance(value, int | float | bool):
        return value
    try:
        text = json.dumps(json_safe(value), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)[: _ECHO_CHARS + 1]
    if len(text) > _ECHO_CHARS:
        return text[:_ECHO_CHARS] + "…"
    return json.loads(text)
