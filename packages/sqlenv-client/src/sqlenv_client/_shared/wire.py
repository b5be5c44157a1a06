"""The OpenEnv wire format, spoken by both clients: building messages and reading replies.

Every transport (WebSocket, HTTP sessions, in-process) exchanges the same *frames*: the client
sends ``{"type": "reset"|"step"|"state"|"close", "data": {...}}`` and gets back
``{"type": "observation"|"state"|"error", "data": {...}}``. An observation's ``data`` is OpenEnv's
``{"observation": {...}, "reward": r, "done": d, "metadata": {...}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from sqlenv_client._shared.jsonobj import json_object
from sqlenv_client.errors import InvalidRequestError, ProtocolError, error_from_server
from sqlenv_core import wire
from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.wire import Frame


def http_base_url(base_url: str) -> str:
    """``base_url`` as an ``http(s)://host:port[/prefix]`` URL without a trailing slash.

    ``ws://`` and ``wss://`` are accepted too, so either spelling of a server's address works.
    """
    url = base_url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not a server URL: {base_url!r} (expected e.g. http://127.0.0.1:8000)")
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


def ws_url(base_url: str) -> str:
    """The ``/ws`` endpoint of the server at ``base_url``."""
    parts = urlsplit(http_base_url(base_url))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path + "/ws", "", ""))


def answer_text(value: object) -> str:
    """The ANSWER argument for ``value``: strings as they are, anything else as JSON.

    Numbers, ``None``, lists and rows (lists or tuples of values) become JSON, which the verifier
    reads as a scalar, a list or a table.

    Raises:
        InvalidRequestError: ``value`` cannot be written as JSON (a set, an object, NaN, ...).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequestError(f"cannot answer {value!r}: only finite numbers can be sent as JSON")
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"cannot answer a {type(value).__name__}: pass a string, a number, None, a list or a list of rows ({exc})"
        ) from None


def step_message(action: SQLAction | Mapping[str, Any]) -> Frame:
    """The ``step`` frame for an action, validated before it leaves the client.

    A malformed action is refused here, as the server would refuse it (``VALIDATION_ERROR``), so
    the behaviour is the same on every transport and no round trip is spent on it.

    Raises:
        InvalidRequestError: unknown ``action_type``, missing or mistyped fields, an argument over
            the size limit, or something that is not an action at all. Nothing is sent.
    """
    return wire.step_frame(coerce_action(action))


def coerce_action(action: object) -> SQLAction:
    """``action`` (a SQLAction or a mapping) as a validated :class:`SQLAction`.

    Raises:
        InvalidRequestError: what is wrong with it, field by field.
    """
    if isinstance(action, SQLAction):
        return action
    fields = json_object(dict(cast(Mapping[Any, Any], action))) if isinstance(action, Mapping) else None
    if fields is None:
        raise InvalidRequestError(
            "an action must be a SQLAction or a dict like "
            f'{{"action_type": "QUERY", "argument": "SELECT 1"}}, not {type(cast(object, action)).__name__}'
        )
    try:
        return SQLAction.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(
            f"invalid action ({wire.validation_message(exc)}); "
            "use action_type DESCRIBE, SAMPLE, QUERY or ANSWER with a string argument",
            details={"errors": wire.validation_details(exc)},
        ) from None


def raise_if_error(frame: Frame) -> None:
    """Raise the typed exception for an ``error`` frame; do nothing for any other frame."""
    if frame.get("type") == "error":
        raise error_from_server(frame.get("data"))


def parse_observation(frame: Frame) -> SQLObservation:
    """Read an ``observation`` frame into a :class:`SQLObservation`.

    Fields this client does not know are ignored, so a newer server can add some. ``error``
    frames are raised by the client before this (see :func:`raise_if_error`).

    Raises:
        ProtocolError: the frame is not a well-formed observation.
    """
    return _read(wire.observation_from_frame, frame)


def parse_state(frame: Frame) -> SQLState:
    """Read a ``state`` frame into a :class:`SQLState` (unknown fields ignored).

    Raises:
        ProtocolError: the frame is not a well-formed state.
    """
    return _read(wire.state_from_frame, frame)


_T = TypeVar("_T")


def _read(reader: Callable[[Frame], _T], frame: Frame) -> _T:
    """``reader(frame)``, a malformed frame being the server's mistake (a ProtocolError)."""
    try:
        return reader(frame)
    except ValueError as exc:
        raise ProtocolError(f"the server sent {exc}") from None


def decode_frame(raw: str | bytes) -> Frame:
    """Parse one text frame from the server.

    Raises:
        ProtocolError: the frame is not a JSON object.
    """
    try:
        frame = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"the server sent invalid JSON: {exc}") from None
    typed = json_object(frame)
    if typed is None:
        raise ProtocolError(f"the server sent a JSON {type(frame).__name__}, expected an object")
    return typed


__all__ = [
    "Frame",
    "answer_text",
    "coerce_action",
    "decode_frame",
    "http_base_url",
    "parse_observation",
    "parse_state",
    "raise_if_error",
    "step_message",
    "ws_url",
]
