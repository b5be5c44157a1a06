"""Typed exceptions raised by the SQLEnv clients.

Every exception is a :class:`SQLEnvError` with a ``code``. Errors the server reported carry the
server's OpenEnv error code (``CAPACITY_REACHED``, ``SESSION_ERROR``, ``VALIDATION_ERROR``,
``EXECUTION_ERROR``, ``INVALID_JSON``, ``UNKNOWN_TYPE``); errors the client detected carry one of
its own (``CONNECTION_FAILED``, ``TIMEOUT``, ``EPISODE_LOST``, ``PROTOCOL_ERROR``).

An agent's mistakes (bad SQL, an unknown table, a wrong answer) are *not* exceptions: they come
back in ``SQLObservation.error`` like in the in-process environment.
"""

from __future__ import annotations

from typing import Any

from sqlenv_client._shared.jsonobj import json_object
from sqlenv_core.wire import ErrorCode

__all__ = [
    "CapacityError",
    "EpisodeLostError",
    "ExecutionError",
    "InvalidRequestError",
    "ProtocolError",
    "RequestTimeoutError",
    "SQLEnvError",
    "ServerConnectionError",
    "SessionExpiredError",
    "error_from_server",
]


class SQLEnvError(Exception):
    """Base class of every error raised by :mod:`sqlenv_client`.

    Attributes:
        code: the server's error code, or the client's own for errors it detected itself.
        message: a short human-readable explanation that says what to do about it.
        details: anything else the server sent with the error (validation errors, limits, ...).
    """

    default_code = "SQLENV_ERROR"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.details: dict[str, Any] = details or {}

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"


class ServerConnectionError(SQLEnvError, ConnectionError):
    """The server could not be reached, refused the connection, or the connection dropped."""

    default_code = "CONNECTION_FAILED"


class RequestTimeoutError(ServerConnectionError, TimeoutError):
    """Connecting, or waiting for a reply, took longer than the client's timeout."""

    default_code = "TIMEOUT"


class EpisodeLostError(ServerConnectionError):
    """The episode in progress is gone (dropped connection, timeout mid-episode, expired session).

    The client never replays actions on a new connection behind the caller's back: call
    ``reset()`` to start a fresh episode (the client reconnects by itself).
    """

    default_code = "EPISODE_LOST"


class SessionExpiredError(EpisodeLostError):
    """The server has no session for this client any more (idle timeout, restart, unknown id)."""

    default_code = ErrorCode.SESSION_ERROR.value


class CapacityError(SQLEnvError):
    """The server is serving as many sessions as it allows; retry later or raise its limit."""

    default_code = ErrorCode.CAPACITY_REACHED.value


class InvalidRequestError(SQLEnvError):
    """The request was malformed (e.g. an unknown ``action_type``); nothing was executed."""

    default_code = ErrorCode.VALIDATION_ERROR.value


class ExecutionError(SQLEnvError):
    """The server failed while executing a well-formed request (a server-side bug or outage)."""

    default_code = ErrorCode.EXECUTION_ERROR.value


class ProtocolError(SQLEnvError):
    """Client and server disagree on the wire format (unexpected reply, invalid JSON, unknown type)."""

    default_code = "PROTOCOL_ERROR"


_BY_CODE: dict[str, type[SQLEnvError]] = {
    ErrorCode.CAPACITY_REACHED: CapacityError,
    ErrorCode.SESSION_ERROR: SessionExpiredError,
    ErrorCode.VALIDATION_ERROR: InvalidRequestError,
    ErrorCode.EXECUTION_ERROR: ExecutionError,
    "FACTORY_ERROR": ExecutionError,  # OpenEnv servers send it when they cannot build an environment
    ErrorCode.INVALID_JSON: ProtocolError,
    ErrorCode.UNKNOWN_TYPE: ProtocolError,
}

_ADVICE: dict[type[SQLEnvError], str] = {
    CapacityError: "the server is full; retry later or start it with a higher session limit",
    SessionExpiredError: "the server-side session is gone; call reset() to start a new episode",
    InvalidRequestError: "fix the request; nothing was executed",
    ProtocolError: "client and server speak different protocol versions",
}


def error_from_server(data: object, *, fallback_code: str = ErrorCode.EXECUTION_ERROR.value) -> SQLEnvError:
    """Build the typed exception for an error the server sent.

    Args:
        data: the ``data`` of an OpenEnv error frame (``{"message": ..., "code": ...}``) or an
            HTTP error body; anything else is tolerated and reported as it came.
        fallback_code: the code to use when the server did not send one.

    Returns:
        The matching :class:`SQLEnvError` subclass, carrying the server's code and details.
    """
    fields = json_object(data)
    if fields is None:
        fields = {"message": str(data)}
    code = str(fields.pop("code", None) or fallback_code)
    message = str(fields.pop("message", None) or fields.get("detail") or "the server reported an error")
    cls = _BY_CODE.get(code, SQLEnvError)
    advice = _ADVICE.get(cls)
    text = message + (f" ({advice})" if advice else "")
    return cls(text, code=code, details=fields)
