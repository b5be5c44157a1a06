"""The asynchronous client: :class:`AsyncSQLEnvClient`, twin of :class:`~sqlenv_client.SQLEnvClient`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from sqlenv_client._async.transports import AsyncHttpTransport, AsyncTransport, AsyncWebSocketTransport
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
from sqlenv_client.errors import CapacityError, ServerConnectionError, SQLEnvError
from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.wire import Frame, reset_frame

if TYPE_CHECKING:
    import httpx

    from sqlenv_core.datasets import Dataset

__all__ = ["AsyncSQLEnvClient"]


class AsyncSQLEnvClient:
    """Play SQLEnv episodes on a server (or in-process with :meth:`local`), with ``async``/``await``.

    The same names, arguments and exceptions as :class:`~sqlenv_client.SQLEnvClient`; close with
    ``await client.aclose()`` or ``async with``. One client is one session; run many clients
    concurrently (e.g. with ``asyncio.gather``) for many episodes at once. Calls on one client
    must not overlap: each waits for its reply.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000`` (``ws://`` works too); or several
            (a list, or URLs separated by commas): the clients of a process then take them in
            turn, and a client whose server is full or unreachable when it resets moves on to
            the next one (see docs/scaling.md).
        transport: ``"ws"`` (one WebSocket, the default), ``"http"`` (HTTP sessions), or an
            :class:`~sqlenv_client.transports.AsyncTransport` object (e.g.
            :class:`~sqlenv_client.transports.AsyncLocalTransport`), used as it is and closed with
            the client.
        connect_timeout: seconds allowed to open a connection.
        message_timeout: seconds allowed for each reply.
        reconnect_attempts: extra connect attempts with exponential backoff.
        backoff: the first pause between connect attempts (doubles each time).
        max_backoff: the longest pause between connect attempts.
        max_message_bytes: the largest reply accepted over WebSocket.
        headers: extra headers for every request.
        http_client: an ``httpx.AsyncClient`` for the HTTP transport (e.g. one with
            ``transport=httpx.ASGITransport(app)`` in tests; the caller closes it).

    Example:
        >>> async with AsyncSQLEnvClient("http://127.0.0.1:8000") as env:  # doctest: +SKIP
        ...     obs = await env.reset(seed=0)
        ...     obs = await env.query("SELECT 1")
    """

    def __init__(
        self,
        base_url: str | Sequence[str] = DEFAULT_URL,
        *,
        transport: TransportName | AsyncTransport = "ws",
        connect_timeout: float = 10.0,
        message_timeout: float = 60.0,
        reconnect_attempts: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        max_message_bytes: int = 16 * 1024 * 1024,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = ClientSettings.for_client(
            base_url,
            transport,
            is_async=True,
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
        self._given: AsyncTransport | None = given
        self._transport: AsyncTransport | None = given
        self._http = http_client
        self._owned_http: httpx.AsyncClient | None = None
        self._closed = False

    @classmethod
    def local(
        cls,
        dataset: Dataset | str = "builtin",
        *,
        step_budget: int = 15,
        reward: str = "dense",
        reveal_rewards: Literal["step", "episode"] = "step",
    ) -> AsyncSQLEnvClient:
        """The same interface over an in-process environment (run on a worker thread).

        Args:
            dataset: a :class:`~sqlenv_core.datasets.Dataset` or a spec for :func:`sqlenv_core.load`.
            step_budget: exploring actions allowed per episode.
            reward: the reward profile, ``"dense"`` or ``"sparse"``.
            reveal_rewards: ``"step"`` (each step's reward) or ``"episode"`` (the whole return on
                the last step only); a server decides this for its sessions (``SQLENV_REVEAL_REWARDS``).
        """
        from sqlenv_client.local import AsyncLocalTransport

        local = AsyncLocalTransport(dataset, step_budget=step_budget, reward=reward, reveal_rewards=reveal_rewards)
        return cls(transport=local)

    # -- the episode API ----------------------------------------------------------------------

    async def reset(self, seed: int | None = None, question_id: str | None = None) -> SQLObservation:
        """Start a new episode, on ``question_id`` or on a question drawn with ``seed``."""
        self.settings.succeeded()  # a new reset may fail over through every server again
        return await self._observe(reset_frame(seed, question_id))

    async def step(self, action: SQLAction | Mapping[str, Any]) -> SQLObservation:
        """Send one action (a :class:`SQLAction` or a dict with ``action_type`` and ``argument``)."""
        return await self._observe(step_message(action))

    async def describe(self, table: str) -> SQLObservation:
        """DESCRIBE a table."""
        return await self.step(SQLAction(action_type="DESCRIBE", argument=table))

    async def sample(self, table: str) -> SQLObservation:
        """SAMPLE a few rows of a table."""
        return await self.step(SQLAction(action_type="SAMPLE", argument=table))

    async def query(self, sql: str) -> SQLObservation:
        """Run one read-only SQL statement."""
        return await self.step(SQLAction(action_type="QUERY", argument=sql))

    async def answer(self, value: object) -> SQLObservation:
        """ANSWER and end the episode; non-strings are sent as JSON."""
        return await self.step(SQLAction(action_type="ANSWER", argument=answer_text(value)))

    async def state(self) -> SQLState:
        """The episode's bookkeeping."""
        return parse_state(await self._exchange({"type": "state"}))

    @property
    def session_id(self) -> str | None:
        """The server's id of this client's HTTP session (``None`` over WebSocket or before reset)."""
        transport = self._transport
        return transport.session_id if isinstance(transport, AsyncHttpTransport) else None

    @property
    def episode_active(self) -> bool:
        """Whether an episode is in progress (reset, and not yet done)."""
        return self._episode.active

    # -- lifecycle ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """End the session on the server and release the connection. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._discard_transport(graceful=True)
        if self._given is not None:
            await self._given.aclose()
        if self._owned_http is not None:
            await self._owned_http.aclose()
            self._owned_http = None
        self._episode.cleared()

    async def __aenter__(self) -> AsyncSQLEnvClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        s = self.settings
        where = f"transport={self._given!r}" if self._given is not None else f"{s.base_url}, transport={s.transport!r}"
        return f"AsyncSQLEnvClient({where})"

    # -- plumbing -----------------------------------------------------------------------------

    async def _observe(self, message: Frame) -> SQLObservation:
        kind = str(message["type"])
        frame = await self._exchange(message)
        observation = parse_observation(frame)
        self._episode.observed(kind, observation)
        return observation

    async def _exchange(self, message: Frame, attempt: int = 0) -> Frame:
        if self._closed:
            raise SQLEnvError("this client is closed; create a new one", code="CLIENT_CLOSED")
        kind = str(message["type"])
        self._episode.check_usable(kind)
        reused = self._transport is not None
        try:
            transport = self._transport or await self._open()
            frame = await transport.exchange(message)
        except ServerConnectionError as exc:
            if exc.details.get("not_sent") and attempt < self.settings.reconnect_attempts:
                await asyncio.sleep(self.settings.backoff_delay(attempt))  # never reached the server
                return await self._exchange(message, attempt + 1)
            await self._discard_transport()
            if kind == "reset" and reused and attempt == 0:
                return await self._exchange(message, attempt + 1)  # a stale connection; safe to resend
            if kind == "reset" and await self._switch_server():
                return await self._exchange(message)  # this server is down: another may not be
            failure = self._episode.connection_failed(kind, exc, self._where())
            if kind == "reset" and self._given is None and len(self.settings.urls) > 1:
                failure = every_server_failed(self.settings.urls, exc)
            raise failure from (exc if failure is not exc else exc.__cause__)
        except asyncio.CancelledError:
            # The reply to a cancelled step may never be read: treat it like a dropped connection.
            await asyncio.shield(self._discard_transport())
            self._episode.connection_failed(kind, ServerConnectionError("the request was cancelled"), self._where())
            raise
        if is_session_ending(frame):
            await self._discard_transport()
        try:
            raise_if_error(frame)
        except SQLEnvError as error:
            if kind == "reset" and isinstance(error, CapacityError) and await self._switch_server():
                return await self._exchange(message)  # this server is full: another may not be
            self._episode.server_error(error)
            raise
        self.settings.succeeded()
        return frame

    async def _switch_server(self) -> bool:
        """Move to the next of several servers (``base_url`` as a list), if one is left to try."""
        if self._given is not None or not self.settings.failover():
            return False
        await self._discard_transport()
        if self._owned_http is not None:  # bound to the previous server's URL
            await self._owned_http.aclose()
            self._owned_http = self._http = None
        return True

    def _where(self) -> str:
        if self._given is not None:
            return repr(self._given)
        return ws_url(self.settings.base_url) if self.settings.transport == "ws" else self.settings.base_url

    async def _open(self) -> AsyncTransport:
        if self._given is not None:
            self._transport = self._given
            return self._given
        attempts = 0
        delays = self.settings.backoff_delays()
        while True:
            attempts += 1
            try:
                self._transport = await self._connect()
                return self._transport
            except ServerConnectionError as exc:
                delay = next(delays, None)
                if delay is None or not exc.details.get("retryable", True):
                    raise connect_failure(self._where(), attempts, exc) from exc
                await asyncio.sleep(delay)

    async def _connect(self) -> AsyncTransport:
        s = self.settings
        if s.transport == "http":
            if self._http is None:
                import httpx  # loaded with the first HTTP transport, not with the client

                self._http = self._owned_http = httpx.AsyncClient(
                    base_url=s.base_url,
                    headers=s.headers,
                    timeout=httpx.Timeout(s.message_timeout, connect=s.connect_timeout),
                )
            return AsyncHttpTransport(self._http)
        return await AsyncWebSocketTransport.open(
            ws_url(s.base_url),
            connect_timeout=s.connect_timeout,
            message_timeout=s.message_timeout,
            max_message_bytes=s.max_message_bytes,
            headers=s.headers or None,
        )

    async def _discard_transport(self, *, graceful: bool = False) -> None:
        transport, self._transport = self._transport, None
        if transport is None or transport is self._given:
            return
        if not graceful and isinstance(transport, AsyncHttpTransport):
            transport.session_id = None
            return
        await transport.aclose()
