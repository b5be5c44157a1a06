"""Sessions: one ``SQLEnvironment`` each, capacity limits, idle reaping, and SQLite work off the loop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Literal

from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.sandbox.limits import InlineBudget
from sqlenv_core.wire import (
    EnvironmentLike,
    ErrorCode,
    ResetRequest,
    StateRequest,
    StepRequest,
    WireError,
    execute,
)
from sqlenv_server.fastpath import StepCosts
from sqlenv_server.metrics import ServerMetrics
from sqlenv_server.runner import StepRunner
from sqlenv_server.sharedlimit import ClientSlots

__all__ = [
    "CapacityReachedError",
    "ClientLimitError",
    "EnvironmentLike",
    "Session",
    "SessionBusyError",
    "SessionManager",
    "SessionNotFoundError",
    "Transport",
]

Transport = Literal["ws", "http", "mcp"]


class CapacityReachedError(WireError):
    """The server already holds ``max_sessions`` sessions (``CAPACITY_REACHED``)."""

    def __init__(self, active: int, max_sessions: int) -> None:
        super().__init__(
            ErrorCode.CAPACITY_REACHED,
            f"server at capacity ({active}/{max_sessions} sessions); retry later, or close a session you no "
            "longer use (idle HTTP/MCP sessions are reaped after the session TTL)",
            active_sessions=active,
            max_sessions=max_sessions,
        )
        self.active = active
        self.max_sessions = max_sessions


class ClientLimitError(WireError):
    """One client already holds ``max_per_client`` sessions (``CAPACITY_REACHED``)."""

    def __init__(self, client: str, held: int, max_per_client: int) -> None:
        super().__init__(
            ErrorCode.CAPACITY_REACHED,
            f"this client ({client[:64]}) already holds {held} sessions, the most one client may hold "
            f"({max_per_client}); close one you no longer use (POST /close, a WebSocket close, "
            "openenv/session/close) or wait for idle ones to be reaped",
            client_sessions=held,
            max_sessions_per_client=max_per_client,
        )


class SessionBusyError(WireError):
    """Too many requests already wait on this session (``CAPACITY_REACHED``, HTTP 429)."""

    http_status = 429

    def __init__(self, waiting: int) -> None:
        super().__init__(
            ErrorCode.CAPACITY_REACHED,
            f"{waiting} requests already wait on this session, which runs one at a time "
            "(SQLENV_MAX_PENDING_PER_SESSION); wait for the replies before sending more",
            max_pending_per_session=waiting,
        )


class SessionNotFoundError(WireError, KeyError):
    """No open session has this id (never created, closed, or reaped after being idle): ``SESSION_ERROR``."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            ErrorCode.SESSION_ERROR,
            f"unknown session {session_id[:64]!r}: it was closed or reaped after being idle; "
            "call reset without a session id to start a new one",
        )
        self.session_id = session_id

    def __str__(self) -> str:
        return self.message


class Session:
    """One client's environment and its bookkeeping.

    Attributes:
        id: the session id clients send back.
        transport: ``ws``, ``http`` or ``mcp``.
        env: the session's own environment.
        attached: held by a live connection (WebSocket): never reaped for idleness.
        client: who opened it (the peer's address), for the per-client limit.
        last_active: monotonic time of the last request.
    """

    __slots__ = (
        "id",
        "transport",
        "env",
        "attached",
        "client",
        "created_at",
        "last_active",
        "lock",
        "closed",
        "db_id",
        "question_id",
        "pending",
        "live",
    )

    def __init__(
        self, session_id: str, transport: Transport, env: EnvironmentLike, *, attached: bool, client: str = ""
    ) -> None:
        self.id = session_id
        self.transport: Transport = transport
        self.env = env
        self.attached = attached
        self.client = client
        self.created_at = self.last_active = time.monotonic()
        # One step at a time per session: an environment is not meant to run two actions at once.
        self.lock = asyncio.Lock()
        self.closed = False
        # The episode's database and question, which key the cost of its actions (fastpath).
        self.db_id: str | None = None
        self.question_id: str | None = None
        self.live = False
        """An episode runs (reset, not yet done): only its steps teach the fast path what they cost."""
        self.pending = 0
        """Requests waiting for or holding the lock (bounded by ``max_pending``)."""

    def touch(self) -> None:
        """Record activity (postpones reaping)."""
        self.last_active = time.monotonic()

    def interrupt(self) -> None:
        """Cancel the query the session is running, if any (its step returns with an error)."""
        self.env.interrupt()


#: A worker thread that has run one step this long keeps SQL off the event loop (see
#: ``SessionManager._step_inline``). Steps that just started do not: most are over in a
#: millisecond, and sending every new step to a thread while any runs cost the episode mix its
#: p99 at 64 sessions (hops to a thread wait for the busy loop: 20-40 ms against 0.2 ms inline).
BUSY_THREAD_S = 0.02


class SessionManager:
    """Owns every open session of one app.

    Environments are created by ``env_factory``; their blocking SQLite work runs in worker
    threads (:class:`~sqlenv_server.runner.StepRunner`: at most ``worker_threads`` steps start at
    once, and a step that runs long gives its slot back), so a slow query in one session never
    holds up another session or the event loop. Closing a session cancels the query it runs.

    Args:
        env_factory: makes a fresh environment for a new session.
        max_sessions: sessions open at once, all transports together.
        ttl_s: idle seconds after which a session not held by a connection is reaped.
        metrics: where to count sessions, steps and latencies.
        worker_threads: steps that may start running at once.
        max_per_client: sessions one client (peer address) may hold at once; default: all of them.
        slow_step_s: seconds after which a step running inside SQLite gives its worker slot to
            others (a step slow in Python keeps it).
        inline_step_s: a step never seen before, or whose every earlier run took less than this,
            is tried on the event loop under an inline budget of half this
            (:mod:`sqlenv_server.fastpath`); 0 sends every step to a worker thread.
        id_prefix: put in front of every session id (names the server or worker that holds it,
            so that a load balancer can route by id).
        max_pending: requests that may wait behind a session's running one; more are refused
            with :class:`SessionBusyError` instead of queueing with their bodies.
        client_slots: where a client's sessions on every worker are counted (``--workers N``):
            the per-client limit is then checked against them all, not this worker's alone.
    """

    def __init__(
        self,
        env_factory: Callable[[], EnvironmentLike],
        *,
        max_sessions: int,
        ttl_s: float,
        metrics: ServerMetrics | None = None,
        worker_threads: int = 32,
        max_per_client: int | None = None,
        slow_step_s: float = 0.1,
        inline_step_s: float = 0.002,
        id_prefix: str = "",
        max_pending: int = 4,
        client_slots: ClientSlots | None = None,
    ) -> None:
        self.client_slots = client_slots
        self._factory = env_factory
        self.max_pending = max_pending
        self.max_sessions = max_sessions
        self.max_per_client = max_per_client or max_sessions
        self.ttl_s = ttl_s
        self.id_prefix = id_prefix
        self.metrics = metrics or ServerMetrics()
        self._sessions: dict[str, Session] = {}
        self._per_client: dict[str, int] = {}
        self.costs = StepCosts(inline_step_s)
        """What each action has cost so far: the cheap ones run on the event loop."""
        self.inline_budget = InlineBudget(max_s=inline_step_s / 2) if inline_step_s > 0 else None
        """What a step tried on the event loop may use before it goes to a worker thread."""
        self.inline_resets = False
        """Run resets on the event loop: set once every question's gold answer and every database's
        tables are cached (:func:`sqlenv_server.app.warm`), so that a reset runs no SQL at all."""
        self.runner = StepRunner(fresh_slots=worker_threads, max_threads=max_sessions + 8, slow_after_s=slow_step_s)

    def __len__(self) -> int:
        return len(self._sessions)

    def count(self, transport: Transport | None = None) -> int:
        """Open sessions, optionally of one transport only."""
        if transport is None:
            return len(self._sessions)
        return sum(1 for s in self._sessions.values() if s.transport == transport)

    def open(self, transport: Transport, *, attached: bool = False, client: str = "") -> Session:
        """Create a session with a fresh environment.

        Args:
            transport: which protocol holds it.
            attached: held by a live connection (never reaped for idleness).
            client: who asks (the peer's address), for the per-client limit.

        Raises:
            CapacityReachedError: ``max_sessions`` are already open.
            ClientLimitError: this client already holds ``max_per_client`` sessions.
        """
        if len(self._sessions) >= self.max_sessions:
            raise CapacityReachedError(len(self._sessions), self.max_sessions)
        held = self._per_client.get(client, 0)
        if self.client_slots is not None:
            refused = self.client_slots.acquire(client)
            if refused is not None:
                raise ClientLimitError(client or "unknown", refused, self.client_slots.limit)
        elif held >= self.max_per_client:
            raise ClientLimitError(client or "unknown", held, self.max_per_client)
        session_id = self.id_prefix + uuid.uuid4().hex
        try:
            env = self._factory()
        except BaseException:
            if self.client_slots is not None:
                self.client_slots.release(client)
            raise
        session = Session(session_id, transport, env, attached=attached, client=client)
        self._sessions[session.id] = session
        self._per_client[client] = held + 1
        self.metrics.sessions_opened.labels(transport).inc()
        self.metrics.active_sessions.labels(transport).inc()
        return session

    def get(self, session_id: str) -> Session:
        """The open session with this id.

        Raises:
            SessionNotFoundError: there is none.
        """
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(session_id)
        session.touch()
        return session

    async def run(
        self, session: Session, request: ResetRequest | StepRequest | StateRequest
    ) -> SQLObservation | SQLState:
        """Run one request on the session's environment (reset and step in a worker thread).

        One request at a time per session; steps are counted and timed in the metrics. When the
        awaiting task is cancelled (its client went away), the running query is interrupted.

        Raises:
            SessionBusyError: ``max_pending`` requests already wait on this session.
            WireError: the request was refused (e.g. ``VALIDATION_ERROR`` for an unknown question id).
        """
        if session.pending > self.max_pending:  # one running, max_pending waiting
            raise SessionBusyError(self.max_pending)
        session.pending += 1
        try:
            return await self._run(session, request)
        finally:
            session.pending -= 1

    async def _run(
        self, session: Session, request: ResetRequest | StepRequest | StateRequest
    ) -> SQLObservation | SQLState:
        if isinstance(request, StateRequest):
            async with session.lock:
                self._check_open(session)
                session.touch()
                return session.env.state

        def run() -> tuple[SQLObservation | SQLState, float, float]:
            started, cpu = time.perf_counter(), time.thread_time()
            result = execute(session.env, request)
            return result, time.perf_counter() - started, time.thread_time() - cpu

        key = None
        async with session.lock:
            self._check_open(session)
            session.touch()
            # A step to a finished (or never started) episode returns at once whatever it says:
            # what it cost says nothing about what it costs in a live one, so it is not recorded.
            if isinstance(request, StepRequest) and self.costs.enabled and session.live:
                # Keyed under the lock: after any reset queued before it.
                key = self.costs.key(request.action, session.db_id, session.question_id)
            result: SQLObservation | SQLState | None = None
            elapsed = cpu = 0.0
            if isinstance(request, ResetRequest):
                if self.inline_resets:  # no SQL to run: cheaper than the hop to a thread
                    result, elapsed, cpu = run()
            elif key is not None:
                result, elapsed, cpu = self._step_inline(session, request.action, key)
            inline = result is not None
            if result is None:
                result, elapsed, cpu = await self.runner.run(run, session.interrupt)
            if isinstance(request, ResetRequest):
                state = session.env.state
                session.db_id, session.question_id = state.db_id, state.question_id
            if isinstance(result, SQLObservation):
                session.live = not result.done
            session.touch()
        if key is not None:
            # Its CPU time, not the wall clock: time spent waiting for the GIL or for a core (a busy
            # machine) is no work of the step's, and one run slowed so would mark it slow for good.
            self.costs.record(key, cpu)
        if isinstance(request, StepRequest):
            self.metrics.step_done(request.action.action_type, elapsed, inline=inline)
        return result

    def _step_inline(
        self, session: Session, action: SQLAction, key: bytes
    ) -> tuple[SQLObservation | None, float, float]:
        """Take the step on the event loop if it is small (``None``: it goes to a worker thread).

        Never seen, it is tried under the inline budget (about a millisecond of SQLite, whatever
        the SQL); seen to be cheap every time, likewise; once slow, never again. SQL runs on the
        loop only while no worker thread has been busy with one step for over
        :data:`BUSY_THREAD_S`: SQLite releases the GIL between rows, and such a thread would then
        keep the loop waiting for it at every row. Then a step known to be cheap still runs here if
        every statement it needs is in the result cache. Returns the result, wall and CPU seconds.
        """
        budget = self.inline_budget
        try_sql = budget is not None and not self.runner.busy_for(BUSY_THREAD_S)
        cheap = self.costs.is_cheap(key)
        if not cheap and not (try_sql and not self.costs.known(key)):
            return None, 0.0, 0.0
        started, cpu = time.perf_counter(), time.thread_time()
        if try_sql:
            result = session.env.step_bounded(action, budget)
        else:
            result = session.env.step_cached(action)
        return result, time.perf_counter() - started, time.thread_time() - cpu

    def client_at_limit(self, client: str) -> bool:
        """Whether ``client`` already holds as many sessions as it may (on every worker, when shared)."""
        if self.client_slots is not None:
            return self.client_slots.held(client) >= self.client_slots.limit
        return self._per_client.get(client, 0) >= self.max_per_client

    @staticmethod
    def _check_open(session: Session) -> None:
        """Refuse a request that waited on the lock of a session closed meanwhile.

        Without this, every request queued behind a slow step would run once the step was
        interrupted, and ``close`` (which waits for the lock) would wait for all of them.
        """
        if session.closed:
            raise SessionNotFoundError(session.id)

    async def reset(
        self, session: Session, *, seed: int | None = None, question_id: str | None = None
    ) -> SQLObservation:
        """Start a new episode in ``session``.

        Raises:
            WireError: ``question_id`` is unknown (``VALIDATION_ERROR``).
        """
        result = await self.run(session, ResetRequest(seed=seed, question_id=question_id))
        assert isinstance(result, SQLObservation)
        return result

    async def step(self, session: Session, action: SQLAction) -> SQLObservation:
        """Run one action in ``session``."""
        result = await self.run(session, StepRequest(action))
        assert isinstance(result, SQLObservation)
        return result

    async def state(self, session: Session) -> SQLState:
        """The episode bookkeeping of ``session`` (waits for a running step to finish)."""
        result = await self.run(session, StateRequest())
        assert isinstance(result, SQLState)
        return result

    async def close(self, session_id: str) -> bool:
        """Close a session now; ``False`` when it was not open.

        The slot is freed at once; a query the session is running is interrupted, and the
        environment is closed as soon as that step has returned.
        """
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        self.metrics.active_sessions.labels(session.transport).dec()
        if self.client_slots is not None:
            self.client_slots.release(session.client)
        left = self._per_client.get(session.client, 1) - 1
        if left > 0:
            self._per_client[session.client] = left
        else:
            self._per_client.pop(session.client, None)
        session.closed = True
        if session.lock.locked():
            session.interrupt()
        async with session.lock:
            session.env.close()
        return True

    async def reap_idle(self, *, now: float | None = None) -> int:
        """Close the sessions idle for longer than the TTL that no connection holds.

        Returns:
            How many sessions were closed.
        """
        moment = time.monotonic() if now is None else now
        stale = [
            s.id
            for s in self._sessions.values()
            if not s.attached and not s.lock.locked() and moment - s.last_active > self.ttl_s
        ]
        reaped = 0
        for session_id in stale:
            if await self.close(session_id):
                reaped += 1
        if reaped:
            self.metrics.sessions_reaped.inc(reaped)
        return reaped

    async def close_all(self) -> None:
        """Close every session (at shutdown)."""
        for session_id in list(self._sessions):
            await self.close(session_id)
        self.runner.shutdown()
