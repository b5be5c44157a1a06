"""Episode bookkeeping and the reconnect policy, shared by the sync and async clients."""

from __future__ import annotations

from sqlenv_client.errors import (
    EpisodeLostError,
    RequestTimeoutError,
    ServerConnectionError,
    SessionExpiredError,
    SQLEnvError,
)
from sqlenv_core.protocol import SQLObservation
from sqlenv_core.wire import ErrorCode, Frame

#: Error codes after which the server has closed (or never opened) the session.
SESSION_ENDING_CODES = frozenset({ErrorCode.CAPACITY_REACHED.value, ErrorCode.SESSION_ERROR.value})


class EpisodeTracker:
    """Knows whether an episode is in progress and whether it was lost with its connection."""

    def __init__(self) -> None:
        self.active = False
        self.lost_reason: str | None = None

    def check_usable(self, kind: str) -> None:
        """Refuse a step or state query on an episode that is known to be lost.

        Raises:
            EpisodeLostError: the connection carrying the episode dropped earlier.
        """
        if kind != "reset" and self.lost_reason is not None:
            raise EpisodeLostError(
                f"the episode was lost earlier ({self.lost_reason}); call reset() to start a new one"
            )

    def observed(self, kind: str, observation: SQLObservation) -> None:
        """Record a reply: a reset starts an episode, a final observation ends it."""
        if kind == "reset":
            self.lost_reason = None
        self.active = not observation.done

    def server_error(self, error: SQLEnvError) -> None:
        """Record an error the server sent; an expired session takes its episode with it."""
        if isinstance(error, SessionExpiredError) and self.active:
            self.active = False
            self.lost_reason = error.message

    def connection_failed(self, kind: str, error: ServerConnectionError, where: str) -> SQLEnvError:
        """The exception to raise for a transport failure during a ``kind`` request.

        A failure while an episode is in progress loses it: the caller gets EpisodeLostError,
        and the client never replays the actions on a new connection.
        """
        if kind == "reset" or not self.active:
            return error
        self.active = False
        timed_out = isinstance(error, RequestTimeoutError)
        what = "timed out" if timed_out else "dropped"
        self.lost_reason = f"the connection to {where} {what} during {kind}"
        lost = EpisodeLostError(
            f"{self.lost_reason}: {error.message}. The server-side episode is gone and nothing was "
            "replayed; call reset() to start a new episode (the client reconnects by itself)",
            details={"cause_code": error.code, "request": kind},
        )
        lost.__cause__ = error
        return lost

    def cleared(self) -> None:
        """Forget everything (the client was closed)."""
        self.active = False
        self.lost_reason = None


def is_session_ending(frame: Frame) -> bool:
    """Whether ``frame`` is an error after which the server closes the session."""
    data = frame.get("data")
    return frame.get("type") == "error" and isinstance(data, dict) and data.get("code") in SESSION_ENDING_CODES


def connect_failure(url: str, attempts: int, error: ServerConnectionError) -> ServerConnectionError:
    """The error after every connect attempt failed, saying how many were made."""
    if attempts <= 1:
        return error
    cls = RequestTimeoutError if isinstance(error, RequestTimeoutError) else ServerConnectionError
    final = cls(
        f"could not connect to {url} after {attempts} attempts; last error: {error.message}", details=error.details
    )
    final.__cause__ = error
    return final


def every_server_failed(urls: tuple[str, ...], error: ServerConnectionError) -> ServerConnectionError:
    """The error after a reset failed over through all of ``urls``, none of which could be used."""
    cls = RequestTimeoutError if isinstance(error, RequestTimeoutError) else ServerConnectionError
    final = cls(
        f"tried every server ({', '.join(urls)}) and none could be used; the last error: {error.message}",
        details={**error.details, "urls": list(urls)},
    )
    final.__cause__ = error
    return final


__all__ = ["EpisodeTracker", "connect_failure", "every_server_failed", "is_session_ending"]
