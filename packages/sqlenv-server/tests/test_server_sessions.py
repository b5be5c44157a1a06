"""SessionManager: capacity, idle reaping, and SQLite work that never blocks other sessions."""

from __future__ import annotations

import time

import anyio
import pytest
from server_helpers import SLOW_SQL, TestClient

from sqlenv_core import SQLAction, SQLEnvironment, SQLObservation
from sqlenv_core.datasets import Dataset
from sqlenv_server import CapacityReachedError, Session, SessionManager, SessionNotFoundError, Settings, create_app
from sqlenv_server.sessions import ClientLimitError

pytestmark = pytest.mark.anyio

QUICK = SQLAction(action_type="QUERY", argument="SELECT count(*) FROM items")


def manager_for(dataset: Dataset, **kwargs: float) -> SessionManager:
    return SessionManager(
        lambda: SQLEnvironment(dataset),
        max_sessions=int(kwargs.get("max_sessions", 8)),
        ttl_s=kwargs.get("ttl_s", 60.0),
        inline_step_s=kwargs.get("inline_step_s", 0.002),
    )


#: A threshold that a tiny count(*) meets even on a loaded CI machine and SLOW_SQL never does: the
#: fast-path tests assert which steps go inline, not how fast this machine is (2 ms was flaky under load).
GENEROUS_INLINE_S = 0.1


async def test_capacity_counts_every_transport(dataset: Dataset) -> None:
    manager = manager_for(dataset, max_sessions=2)
    manager.open("ws", attached=True)
    held = manager.open("http")
    with pytest.raises(CapacityReachedError, match="2/2 sessions"):
        manager.open("mcp")
    assert await manager.close(held.id)
    assert not await manager.close(held.id)
    manager.open("mcp")
    assert manager.count() == 2


async def test_idle_sessions_are_reaped_but_connected_ones_are_not(dataset: Dataset) -> None:
    manager = manager_for(dataset, ttl_s=10.0)
    idle = manager.open("http")
    busy = manager.open("http")
    connected = manager.open("ws", attached=True)
    await manager.reset(idle)
    now = time.monotonic()
    busy.last_active = now + 5  # active recently, relative to the sweep below
    assert await manager.reap_idle(now=now + 11) == 1
    with pytest.raises(SessionNotFoundError, match="reset"):
        manager.get(idle.id)
    assert manager.get(busy.id) is busy
    assert manager.get(connected.id) is connected


async def test_the_lifespan_reaper_runs_by_itself(dataset: Dataset) -> None:
    settings = Settings(session_ttl=0.2, reap_interval=0.05)
    with TestClient(create_app(settings, dataset=dataset)) as client:
        session_id = client.post("/reset").json()["session_id"]
        deadline = time.monotonic() + 10
        while client.app.state.sessions.count() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        assert client.app.state.sessions.count() == 0  # type: ignore[attr-defined]
        assert client.post("/step", json={"action": QUICK.model_dump(), "session_id": session_id}).status_code == 404
        assert "sqlenv_sessions_reaped_total 1.0" in client.get("/metrics").text


async def test_a_slow_query_does_not_hold_up_other_sessions(dataset: Dataset) -> None:
    manager = manager_for(dataset)
    slow, fast = manager.open("ws", attached=True), manager.open("ws", attached=True)
    await manager.reset(slow, question_id="q-count")
    await manager.reset(fast, question_id="q-count")
    events: list[str] = []

    async def run_slow() -> None:
        observation = await manager.step(slow, SQLAction(action_type="QUERY", argument=SLOW_SQL))
        assert observation.error == "" and observation.rows == [[5_000_000]]
        events.append("slow done")

    async def run_fast() -> None:
        await anyio.sleep(0.05)  # let the slow query start first
        for _ in range(5):
            observation = await manager.step(fast, QUICK)
            assert observation.rows == [[30]]
            events.append("fast step")

    async with anyio.create_task_group() as group:
        group.start_soon(run_slow)
        group.start_soon(run_fast)
    # Every quick step finished while the slow query was still running.
    assert events == ["fast step"] * 5 + ["slow done"]


async def test_closing_a_session_mid_query_cancels_the_query_and_frees_it(dataset: Dataset) -> None:
    manager = manager_for(dataset)
    session = manager.open("ws", attached=True)
    await manager.reset(session, question_id="q-count")
    results: list[str] = []

    async def run_slow() -> None:
        observation = await manager.step(session, SQLAction(action_type="QUERY", argument=SLOW_SQL))
        results.append(observation.error or "ok")

    async with anyio.create_task_group() as group:
        group.start_soon(run_slow)
        await anyio.sleep(0.05)
        assert await manager.close(session.id)
        assert manager.count() == 0  # the slot is free at once
    # The query was interrupted, not left to run to its end (it would have answered 5,000,000).
    assert len(results) == 1 and "cancelled" in results[0]


async def test_a_cancelled_request_interrupts_its_query(dataset: Dataset) -> None:
    """A client that goes away (its task cancelled) stops its query; the session stays usable."""
    manager = manager_for(dataset)
    session = manager.open("http")
    await manager.reset(session, question_id="q-count")
    with anyio.move_on_after(0.1) as scope:
        await manager.step(session, SQLAction(action_type="QUERY", argument=SLOW_SQL))
    assert scope.cancelled_caught
    assert not session.lock.locked()  # the worker came back before the cancellation went on
    assert (await manager.step(session, QUICK)).rows == [[30]]
    assert (await manager.state(session)).step_count == 2


async def test_one_client_cannot_take_every_slot(dataset: Dataset) -> None:
    manager = SessionManager(lambda: SQLEnvironment(dataset), max_sessions=4, ttl_s=60, max_per_client=2)
    held = [manager.open("http", client="10.0.0.1") for _ in range(2)]
    with pytest.raises(ClientLimitError, match=r"already holds 2 sessions.*\(2\)") as refused:
        manager.open("ws", client="10.0.0.1")
    assert refused.value.code == "CAPACITY_REACHED"
    assert manager.open("mcp", client="10.0.0.2").client == "10.0.0.2"  # others still get in
    await manager.close(held[0].id)
    manager.open("http", client="10.0.0.1")  # a closed session gives its client a slot back


async def test_slow_steps_give_their_worker_slot_to_quick_ones(dataset: Dataset) -> None:
    """Every start slot busy with a slow query: a quick step elsewhere still runs before they end."""
    manager = SessionManager(
        lambda: SQLEnvironment(dataset), max_sessions=8, ttl_s=60, worker_threads=2, slow_step_s=0.02
    )
    bombs = [manager.open("ws", attached=True) for _ in range(4)]
    quick = manager.open("ws", attached=True)
    for session in [*bombs, quick]:
        await manager.reset(session, question_id="q-count")
    events: list[str] = []

    async def bomb(session: Session) -> None:
        await manager.step(session, SQLAction(action_type="QUERY", argument=SLOW_SQL))
        events.append("bomb")

    async def cheap() -> None:
        await anyio.sleep(0.2)  # every bomb has started and holds a thread
        assert manager.runner.running == 4
        assert (await manager.step(quick, QUICK)).rows == [[30]]
        events.append("quick")

    async with anyio.create_task_group() as group:
        for session in bombs:
            group.start_soon(bomb, session)
        group.start_soon(cheap)
    assert events[0] == "quick" and events.count("bomb") == 4


async def test_steps_slow_in_python_keep_their_slot() -> None:
    """A step slow in SQLite gives its slot back (above); one slow in Python (a reward over a wide
    result, a long answer's verdict) keeps it, so that at most ``fresh_slots`` threads compete with
    the event loop for the GIL. They used to give it back too: 64 sessions then starved /health."""
    import time

    from sqlenv_server.runner import StepRunner

    runner = StepRunner(fresh_slots=1, max_threads=4, slow_after_s=0.02)
    events: list[str] = []

    def python_heavy() -> None:
        deadline = time.monotonic() + 0.3  # well past slow_after_s, never inside the sandbox
        while time.monotonic() < deadline:
            pass
        events.append("heavy")

    async def quick() -> None:
        await anyio.sleep(0.1)  # the heavy step runs, past slow_after_s
        await runner.run(lambda: events.append("quick"))

    async with anyio.create_task_group() as group:
        group.start_soon(runner.run, python_heavy)
        group.start_soon(quick)
    runner.shutdown()
    assert events == ["heavy", "quick"]


async def test_the_runner_tells_a_thread_busy_for_long_from_one_just_started() -> None:
    import threading

    from sqlenv_server.runner import StepRunner

    runner = StepRunner(fresh_slots=2, max_threads=4, slow_after_s=10)
    release = threading.Event()
    assert not runner.busy_for(0)  # nothing runs
    async with anyio.create_task_group() as group:
        group.start_soon(runner.run, lambda: release.wait(10))
        group.start_soon(runner.run, lambda: release.wait(10))
        with anyio.fail_after(10):
            while not runner.busy_for(0.05):  # true once the first has run 50 ms
                await anyio.sleep(0.005)
        assert not runner.busy_for(60)  # ... and not a minute
        release.set()
    assert runner.running == 0 and not runner.busy_for(0)
    runner.shutdown()


async def test_new_actions_run_on_the_event_loop_within_the_inline_budget_and_slow_ones_never_again(
    dataset: Dataset,
) -> None:
    import threading

    manager = manager_for(dataset, inline_step_s=GENEROUS_INLINE_S)
    session = manager.open("ws", attached=True)
    await manager.reset(session, question_id="q-count")
    inline = manager.metrics.inline_steps
    env = session.env
    assert isinstance(env, SQLEnvironment)
    tries: list[str] = []  # the steps tried on the event loop, under the budget
    full: list[str] = []  # the steps run without a budget, and on which thread
    real_bounded, real_step = env.step_bounded, env.step

    trying = threading.local()

    def watched_bounded(action: SQLAction, budget: object = None) -> object:
        tries.append(action.argument)
        trying.now = True
        try:
            return real_bounded(action, budget)  # type: ignore[arg-type]
        finally:
            trying.now = False

    def watched_step(action: SQLAction) -> object:
        if not getattr(trying, "now", False):
            full.append(threading.current_thread().name)
        return real_step(action)

    env.step_bounded = watched_bounded  # type: ignore[method-assign]
    env.step = watched_step  # type: ignore[method-assign]

    async def step(sql: str) -> SQLObservation:
        return await manager.step(session, SQLAction(action_type="QUERY", argument=sql))

    assert (await step("SELECT count(*) FROM items")).rows == [[30]]  # never seen, cheap: on the loop
    assert inline._value.get() == 1  # type: ignore[attr-defined]
    slow = await step(SLOW_SQL)  # never seen: tried on the loop, over the budget, then a worker thread
    assert tries.count(SLOW_SQL) == 1 and "over_budget" not in slow.error
    assert inline._value.get() == 1  # type: ignore[attr-defined]
    assert full and all(name != threading.main_thread().name for name in full)
    await step(SLOW_SQL)  # seen to be slow: straight to a worker, not tried on the loop again
    assert tries.count(SLOW_SQL) == 1 and len(full) == 2
    # Costs are per question for QUERY: the same SQL in another question's episode is tried anew.
    await manager.reset(session, question_id="q-max")
    await step("SELECT count(*) FROM items")
    assert inline._value.get() == 2  # type: ignore[attr-defined]
    assert (await manager.state(session)).step_count == 1


@pytest.mark.parametrize("thread_busy", [True, False], ids=["thread-busy-long", "thread-just-started"])
async def test_no_sql_runs_on_the_event_loop_while_a_worker_thread_is_busy_for_long(
    dataset: Dataset, monkeypatch: pytest.MonkeyPatch, thread_busy: bool
) -> None:
    # SQLite releases the GIL between rows: with a worker thread busy for long (a bomb, a wide
    # result's reward), SQL on the loop would wait for the GIL at every row, so a step never seen
    # goes to a worker thread then. A step that only just started does not keep SQL off the loop
    # (most are over in a millisecond): "just" is stretched to a minute here, not timed.
    from sqlenv_server import sessions

    if not thread_busy:
        monkeypatch.setattr(sessions, "BUSY_THREAD_S", 60.0)
    manager = manager_for(dataset, inline_step_s=GENEROUS_INLINE_S)
    busy, other = manager.open("ws", attached=True), manager.open("ws", attached=True)
    await manager.reset(busy, question_id="q-count")
    await manager.reset(other, question_id="q-count")
    env = other.env
    assert isinstance(env, SQLEnvironment)
    tries: list[str] = []
    real_bounded = env.step_bounded

    def watched_bounded(action: SQLAction, budget: object = None) -> object:
        tries.append(action.argument)
        return real_bounded(action, budget)  # type: ignore[arg-type]

    env.step_bounded = watched_bounded  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(manager.step, busy, SQLAction(action_type="QUERY", argument=SLOW_SQL))
        with anyio.fail_after(10):
            while not manager.runner.busy_for(sessions.BUSY_THREAD_S if thread_busy else 0.05):
                await anyio.sleep(0.005)
        sql = "SELECT max(id) FROM items"
        observation = await manager.step(other, SQLAction(action_type="QUERY", argument=sql))
        assert observation.error == "" and tries == ([] if thread_busy else [sql])
        await manager.close(busy.id)
    assert not manager.runner.busy_for(0)
    assert (await manager.step(other, QUICK)).rows == [[30]] and tries[-1] == QUICK.argument


async def test_a_cost_is_cpu_time_not_time_spent_waiting(dataset: Dataset) -> None:
    """A step that waited (for the GIL, for a core) is not marked slow for that: the cost recorded
    is the CPU time of the thread that ran it. It was the wall clock, and on a busy machine one
    slowed DESCRIBE went to a worker thread for good."""
    # A threshold no DESCRIBE's CPU time reaches even on a loaded CI machine, and a wait three
    # times as long: by the wall clock the step is slow, by its CPU time it is cheap.
    manager = manager_for(dataset, inline_step_s=GENEROUS_INLINE_S)
    session = manager.open("ws", attached=True)
    await manager.reset(session, question_id="q-count")
    env = session.env
    assert isinstance(env, SQLEnvironment)
    real = env.step_bounded

    def stalled(action: SQLAction, budget: object = None) -> object:
        time.sleep(3 * GENEROUS_INLINE_S)  # waits, as behind the GIL: no CPU
        return real(action, budget)  # type: ignore[arg-type]

    env.step_bounded = stalled  # type: ignore[method-assign]
    describe = SQLAction(action_type="DESCRIBE", argument="items")
    assert "items" in (await manager.step(session, describe)).result
    key = manager.costs.key(describe, session.db_id, session.question_id)
    assert key is not None and manager.costs.known(key) and manager.costs.is_cheap(key)


async def test_steps_to_a_finished_episode_do_not_prime_the_fast_path(dataset: Dataset) -> None:
    """A step to a finished episode returns at once whatever it carries; it used to be recorded as
    cheap, so an expensive ANSWER sent there first then ran on the event loop in a live episode."""
    manager = manager_for(dataset)
    session = manager.open("ws", attached=True)
    inline = manager.metrics.inline_steps
    answer = SQLAction(action_type="ANSWER", argument="[" + ", ".join(["1.5"] * 2_000) + "]")
    await manager.reset(session, question_id="q-count")
    await manager.step(session, SQLAction(action_type="ANSWER", argument="30"))  # the episode is over
    for _ in range(3):
        assert "episode is over" in (await manager.step(session, answer)).error
    await manager.reset(session, question_id="q-count")
    before = inline._value.get()  # type: ignore[attr-defined]
    await manager.step(session, answer)  # its first real run: too long to try inline; a worker thread
    assert inline._value.get() == before  # type: ignore[attr-defined]


def test_step_costs_stay_bounded_and_keep_the_worst_run() -> None:
    from sqlenv_server.fastpath import StepCosts

    costs = StepCosts(cheap_s=0.002, max_entries=3)
    action = SQLAction(action_type="DESCRIBE", argument="items")
    key = StepCosts.key(action, "shop", "q-count")
    assert key is not None and key == StepCosts.key(action, "shop", "q-max")  # DESCRIBE: per database
    assert StepCosts.key(QUICK, "shop", "q-count") != StepCosts.key(QUICK, "shop", "q-max")  # QUERY: per question
    assert StepCosts.key(QUICK, "shop", None) is None
    costs.record(key, 0.0001)
    assert costs.is_cheap(key)
    costs.record(key, 0.5)  # once slow...
    costs.record(key, 0.0001)
    assert not costs.is_cheap(key)  # ...never cheap again
    for i in range(10):
        costs.record(bytes([i]) * 16, 0.0)
    assert len(costs) == 3
    assert not StepCosts(cheap_s=0).is_cheap(bytes(16))


async def test_with_the_fast_path_off_no_step_is_keyed_or_recorded(dataset: Dataset) -> None:
    manager = SessionManager(lambda: SQLEnvironment(dataset), max_sessions=2, ttl_s=60.0, inline_step_s=0)
    assert not manager.costs.enabled
    session = manager.open("http")
    await manager.reset(session, question_id="q-count")
    for _ in range(3):
        await manager.step(session, QUICK)
    assert len(manager.costs) == 0
    await manager.close_all()


def test_resets_move_to_the_event_loop_once_the_dataset_is_warm(dataset: Dataset) -> None:
    with TestClient(create_app(Settings(), dataset=dataset)) as client:
        manager = client.app.state.sessions  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while not manager.inline_resets and time.monotonic() < deadline:
            time.sleep(0.02)
        assert manager.inline_resets  # every gold answer and table list is cached: a reset runs no SQL
        for question in dataset.questions:  # and normalised: no first QUERY or ANSWER pays for it
            gold = dataset.gold(question.id)
            assert "view" in vars(gold) and "key_set" in vars(gold.view) and "column_keys" in vars(gold.view)
        assert client.post("/reset", json={"question_id": "q-books"}).status_code == 200
