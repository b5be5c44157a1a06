"""The synchronous client: :class:`SQLEnvClient`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from sqlenv_client._shared.episode import EpisodeTracker, connect_failure, every_server_failed, is_session_ending
from sqlenv_client._shared.settings import DEFAULT_URL, ClientSettings, TransportName
from sqlenv_client._shared.wire import (
    answer_text,
    parse_observation,
    parse_state,
    raise_if_error,
    step_message,
    ws_url,
)
from sqlenv_client._sync.transports import HttpTransport, Transport, WebSocketTransport
from sqlenv_client.errors import CapacityError, ServerConnectionError, SQLEnvError
from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.wire import Frame, reset_frame

if TYPE_CHECKING:
    import httpx

    from sqlenv_core.datasets import Dataset

__all__ = ["SQLEnvClient"]


class SQLEnvClient:
    """Play SQLEnv episodes on a server (or in-process with :meth:`local`), synchronously.

    One client is one session on the server: over WebSocket (the default) the session lives as
    long as the connection; over HTTP (``transport="http"``) it is named by the id ``/reset``
    returns. The connection opens lazily on the first request.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000`` (``ws://`` works too); or several
            (a list, or URLs separated by commas): the clients of a process then take them in
            turn, and a client whose server is full or unreachable when it resets moves on to
            the next one (see docs/scaling.md).
        transport: ``"ws"`` (one WebSocket, lowest latency), ``"http"`` (HTTP sessions), or a
            :class:`~sqlenv_client.transports.Transport` object to send frames through (e.g.
            :class:`~sqlenv_client.transports.LocalTransport`); a given transport is used as it is,
            never reopened, and closed with the client.
        connect_timeout: seconds allowed to open a connection.
        message_timeout: seconds allowed for each reply.
        reconnect_attempts: extra attempts to connect, with exponential backoff, when opening a
            connection fails. Actions are never replayed: a connection lost mid-episode raises
            :class:`~sqlenv_client.EpisodeLostError`.
        backoff: the first pause between connect attempts (doubles each time).
        max_backoff: the longest pause between connect attempts.
        max_message_bytes: the largest reply accepted over WebSocket.
        headers: extra headers for every request (e.g. ``Authorization`` for a private Space).
        http_client: an ``httpx.Client`` to send HTTP requests with (its ``base_url`` is used as
            is; the caller closes it), e.g. Starlette's ``TestClient`` for an app in this process.

    Example:
        >>> with SQLEnvClient("http://127.0.0.1:8000") as env:  # doctest: +SKIP
        ...     obs = env.reset(seed=0)
        ...     obs = env.describe(obs.schema_info.split()[0])
        ...     obs = env.answer(42)
        ...     print(obs.reward, obs.info["verdict"])
    """

    def __init__(
        self,
        base_url: str | Sequence[str] = DEFAULT_URL,
        *,
        transport: TransportName | Transport = "ws",
        connect_timeout: float = 10.0,
        message_timeout: float = 60.0,
        reconnect_attempts: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        max_message_bytes: int = 16 * 1024 * 1024,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.settings = ClientSettings.for_client(
            base_url,
            transport,
            is_async=False,
            connect_timeout=connect_timeout,
            message_timeout=message_timeout,
            reconnect_attempts=reconnect_attempts,
            backoff=backoff,
            max_backoff=max_backoff,
            max_message_bytes=max_message_bytes,
            headers=headers,
            http_client=http_client,
        )
        given = None if isinstance(transport, str) else transport
        self._episode = EpisodeTracker()
        self._given: Transport | None = given
        self._transport: Transport | None = given
        self._owned_http: httpx.Client | None = None
        self._http = http_client
        self._closed = False

    @classmethod
    def local(
        cls,
        dataset: Dataset | str = "builtin",
        *,
        step_budget: int = 15,
        reward: str = "dense",
        reveal_rewards: Literal["step", "episode"] = "step",
    ) -> SQLEnvClient:
        """The same client interface over an in-process environment: no server, no network.

        Args:
            dataset: a :class:`~sqlenv_core.datasets.Dataset` or a spec for
                :func:`sqlenv_core.load` (``"builtin"``, ``"spider:/path?split=dev"``, ...).
            step_budget: exploring actions allowed per episode.
            reward: the reward profile, ``"dense"`` or ``"sparse"``.
            reveal_rewards: ``"step"`` (each step's reward) or ``"episode"`` (the whole return on
                the last step only); a server decides this for its sessions (``SQLENV_REVEAL_REWARDS``).
        """
        from sqlenv_client.local import LocalTransport

        return cls(
            transport=LocalTransport(dataset, step_budget=step_budget, reward=reward, reveal_rewards=reveal_rewards)
        )

    # -- the episode API ----------------------------------------------------------------------

    def reset(self, seed: int | None = None, question_id: str | None = None) -> SQLObservation:
        """Start a new episode, on ``question_id`` or on a question drawn with ``seed``.

        Raises:
            InvalidRequestError: unknown ``question_id`` or an invalid seed.
            CapacityError: the server is full.
            ServerConnectionError: the server cannot be reached (after the reconnect attempts);
                given several servers, none of them could be reached (the message names them).
        """
        self.settings.succeeded()  # a new reset may fail over through every server again
        return self._observe(reset_frame(seed, question_id))

    def step(self, action: SQLAction | Mapping[str, Any]) -> SQLObservation:
        """Send one action (a :class:`SQLAction` or a dict with ``action_type`` and ``argument``).

        Mistakes an agent can make (bad SQL, unknown table, malformed action) come back in
        ``observation.error`` and cost a step, exactly as in-process.

        Raises:
            EpisodeLostError: the connection carrying the episode dropped or timed out.
            SQLEnvError: any other failure, typed by the server's error code.
        """
        return self._observe(step_message(action))

    def describe(self, table: str) -> SQLObservation:
        """DESCRIBE a table: its columns and types join ``schema_info``."""
        return self.step(SQLAction(action_type="DESCRIBE", argument=table))

    def sample(self, table: str) -> SQLObservation:
        """SAMPLE a few rows of a table."""
        return self.step(SQLAction(action_type="SAMPLE", argument=table))

    def query(self, sql: str) -> SQLObservation:
        """Run one read-only SQL statement."""
        return self.step(SQLAction(action_type="QUERY", argument=sql))

    def answer(self, value: object) -> SQLObservation:
        """ANSWER and end the episode; non-strings (numbers, lists, rows, None) are sent as JSON.

        Raises:
            InvalidRequestError: ``value`` cannot be written as JSON.
        """
        return self.step(SQLAction(action_type="ANSWER", argument=answer_text(value)))

    def state(self) -> SQLState:
        """The episode's bookkeeping: id, step count, question and database, done, total reward."""
        return parse_state(self._exchange({"type": "state"}))

    @property
    def session_id(self) -> str | None:
        """The server's id of this client's HTTP session (``None`` over WebSocket or before reset)."""
        transport = self._transport
        return transport.session_id if isinstance(transport, HttpTransport) else None

    @property
    def episode_active(self) -> bool:
        """Whether an episode is in progress (reset, and not yet done)."""
        return self._episode.active

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """End the session on the server and release the connection. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._discard_transport(graceful=True)
        if self._given is not None:
            self._given.close()
        if self._owned_http is not None:
            self._owned_http.close()
            self._owned_http = None
        self._episode.cleared()

    def __enter__(self) -> SQLEnvClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.settings
        where = f"transport={self._given!r}" if self._given is not None else f"{s.base_url}, transport={s.transport!r}"
        return f"SQLEnvClient({where})"

    # -- plumbing -----------------------------------------------------------------------------

    def _observe(self, message: Frame) -> SQLObservation:
        kind = str(message["type"])
        frame = self._exchange(message)
        observation = parse_observation(frame)
        self._episode.observed(kind, observation)
        return observation

    def _exchange(self, message: Frame, attempt: int = 0) -> Frame:
        if self._closed:
            raise SQLEnvError("this client is closed; create a new one", code="CLIENT_CLOSED")
        kind = str(message["type"])
        self._episode.check_usable(kind)
        reused = self._transport is not None
        try:
            transport = self._transport or self._open()
            frame = transport.exchange(message)
        except ServerConnectionError as exc:
            if exc.details.get("not_sent") and attempt < self.settings.reconnect_attempts:
                # The request never reached the server (HTTP connect refused): sending it again
                # is no replay, and an HTTP session survives a short outage.
                time.sleep(self.settings.backoff_delay(attempt))
                return self._exchange(message, attempt + 1)
            self._discard_transport()
            if kind == "reset" and reused and attempt == 0:
                # The connection went stale between episodes (server restart, idle reaping):
                # a reset carries no episode, so it is safe to send again on a fresh one.
                return self._exchange(message, attempt + 1)
            if kind == "reset" and self._switch_server():
                return self._exchange(message)  # this server is down: another may not be
            failure = self._episode.connection_failed(kind, exc, self._where())
            if kind == "reset" and self._given is None and len(self.settings.urls) > 1:
                failure = every_server_failed(self.settings.urls, exc)
            raise failure from (exc if failure is not exc else exc.__cause__)
        if is_session_ending(frame):
            self._discard_transport()
        try:
            raise_if_error(frame)
        except SQLEnvError as error:
            if kind == "reset" and isinstance(error, CapacityError) and self._switch_server():
                return self._exchange(message)  # this server is full: another may not be
            self._episode.server_error(error)
            raise
        self.settings.succeeded()
        return frame

    def _switch_server(self) -> bool:
        """Move to the next of several servers (``base_url`` as a list), if one is left to try."""
        if self._given is not None or not self.settings.failover():
            return False
        self._discard_transport()
        if self._owned_http is not None:  # bound to the previous server's URL
            self._owned_http.close()
            self._owned_http = self._http = None
        return True

    def _where(self) -> str:
        if self._given is not None:
            return repr(self._given)
        return ws_url(self.settings.base_url) if self.settings.transport == "ws" else self.settings.base_url

    def _open(self) -> Transport:
        if self._given is not None:
            self._transport = self._given
            return self._given
        attempts = 0
        delays = self.settings.backoff_delays()
        while True:
            attempts += 1
            try:
                self._transport = self._connect()
                return self._transport
            except ServerConnectionError as exc:
                delay = next(delays, None)
                if delay is None or not exc.details.get("retryable", True):
                    raise connect_failure(self._where(), attempts, exc) from exc
                time.sleep(delay)

    def _connect(self) -> Transport:
        s = self.settings
        if s.transport == "http":
            if self._http is None:
                import httpx  # loaded with the first HTTP transport, not with the client

                self._http = self._owned_http = httpx.Client(
                    base_url=s.base_url,
                    headers=s.headers,
                    timeout=httpx.Timeout(s.message_timeout, connect=s.connect_timeout),
                )
            return HttpTransport(self._http)
        return WebSocketTransport(
            ws_url(s.base_url),
            connect_timeout=s.connect_timeout,
            message_timeout=s.message_timeout,
            max_message_bytes=s.max_message_bytes,
            headers=s.headers or None,
        )

    def _discard_transport(self, *, graceful: bool = False) -> None:
        transport, self._transport = self._transport, None
        if transport is None or transport is self._given:
            return
        if graceful:
            transport.close()
        elif isinstance(transport, HttpTransport):
            transport.session_id = None
        else:
            transport.close()
