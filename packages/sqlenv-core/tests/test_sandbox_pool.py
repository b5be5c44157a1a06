"""Connections are pooled per database and shared by sessions, without giving up isolation.

Sessions borrow a connection for one call: moving an episode to another database closes nothing,
idle sessions hold no connection, two sessions querying at once get two connections, and a
cancelled or timed-out call leaves a connection the next session can use.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from test_sandbox import build_db

from sqlenv_core import SQLAction, SQLEnvironment
from sqlenv_core.datasets import Dataset, Question
from sqlenv_core.sandbox import ConnectionPool, Sandbox, SandboxError, SandboxLimits

SLOW = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT max(i) FROM r"


@pytest.fixture
def two_db_dataset(tmp_path: Path) -> Dataset:
    first = build_db(tmp_path / "town.sqlite")
    second = tmp_path / "village.sqlite"
    shutil.copy(first, second)
    questions = [
        Question("t1", "town", "How many people?", "SELECT count(*) FROM people"),
        Question("v1", "village", "How many pets?", "SELECT count(*) FROM pets"),
    ]
    return Dataset("towns", questions, {"town": first, "village": second})


def two_sessions(dataset: Dataset, *, timeout_s: float) -> tuple[ConnectionPool, Sandbox, Sandbox]:
    """Two sessions' sandboxes on one database, sharing a fresh pool."""
    pool = ConnectionPool()
    limits = SandboxLimits(timeout_s=timeout_s)
    db = dataset.db_path("town")
    return pool, Sandbox(db, limits, pool=pool), Sandbox(db, limits, pool=pool)


def run_in_thread(box: Sandbox) -> tuple[threading.Thread, list[str]]:
    """Start the endless query on ``box`` in a thread; its error code lands in the list."""
    outcome: list[str] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            box.execute(SLOW)
        except SandboxError as exc:
            outcome.append(exc.code)

    worker = threading.Thread(target=run)
    worker.start()
    started.wait(5)
    return worker, outcome


def query(env: SQLEnvironment, sql: str) -> list[list[object]]:
    obs = env.step(SQLAction(action_type="QUERY", argument=sql))
    assert obs.error == "", obs.error
    return obs.rows  # type: ignore[return-value]


def test_episodes_moving_between_databases_reuse_open_connections(two_db_dataset: Dataset) -> None:
    pool = ConnectionPool()
    limits = SandboxLimits(timeout_s=2.0)
    a = Sandbox(two_db_dataset.db_path("town"), limits, pool=pool)
    b = Sandbox(two_db_dataset.db_path("village"), limits, pool=pool)
    for _ in range(5):
        assert a.execute("SELECT count(*) FROM people").rows == [(400,)]
        assert b.execute("SELECT count(*) FROM pets").rows == [(600,)]
    assert pool.opened == 2 and len(pool) == 2  # one per database, opened once, idle between calls


def test_environments_share_the_process_pool_and_idle_ones_hold_nothing(two_db_dataset: Dataset) -> None:
    from sqlenv_core.sandbox import SHARED_POOL

    envs = [SQLEnvironment(two_db_dataset, cache_results=False) for _ in range(40)]
    opened = SHARED_POOL.opened
    for i, env in enumerate(envs):
        env.reset(question_id="t1" if i % 2 else "v1")
        assert query(env, f"SELECT {i}, count(*) FROM people") == [[i, 400]]
    for env in envs:  # every episode moves to the other database
        env.reset(question_id="v1" if env.state.question_id == "t1" else "t1")
        query(env, "SELECT count(*) FROM pets")
    # Calls ran one after another, so one connection per database served all 40 sessions.
    assert SHARED_POOL.opened - opened == 2
    assert len(SHARED_POOL) <= SHARED_POOL.max_idle


def test_concurrent_sessions_get_their_own_connections(two_db_dataset: Dataset) -> None:
    pool, slow_box, quick_box = two_sessions(two_db_dataset, timeout_s=1.0)
    worker, outcome = run_in_thread(slow_box)
    time.sleep(0.1)
    t0 = time.monotonic()
    assert quick_box.execute("SELECT count(*) FROM people").rows == [(400,)]
    quick = time.monotonic() - t0
    worker.join(10)
    assert outcome == ["timeout"]
    assert quick < 0.9, "the second session waited for the first one's query"
    assert pool.opened == 2
    # Both connections went back and work: the timed-out one included.
    for _ in range(3):
        assert slow_box.execute("SELECT count(*) FROM pets").rows == [(600,)]


def test_interrupt_reaches_only_its_own_session_on_a_shared_connection(two_db_dataset: Dataset) -> None:
    pool, victim, bystander = two_sessions(two_db_dataset, timeout_s=20.0)
    worker, outcome = run_in_thread(victim)
    for _ in range(500):  # bounded: until the statement is running
        if victim.interrupt():
            break
        time.sleep(0.01)
    worker.join(10)
    assert outcome == ["cancelled"]
    assert bystander.interrupt() is False
    # The cancelled call's connection is lent next; a stale interrupt must not hit the new call.
    for _ in range(5):
        assert bystander.execute("SELECT count(*) FROM people").rows == [(400,)]
    assert pool.opened == 1


def test_pool_keeps_a_bounded_number_of_idle_connections(two_db_dataset: Dataset) -> None:
    pool = ConnectionPool(max_idle_per_database=2, max_idle=3)
    limits = SandboxLimits()
    lent = [pool.acquire(two_db_dataset.db_path("town"), limits) for _ in range(5)]
    lent += [pool.acquire(two_db_dataset.db_path("village"), limits) for _ in range(2)]
    for conn in lent:
        pool.release(conn)
    assert len(pool) == 3
    pool.close()
    assert len(pool) == 0
    with pytest.raises(ValueError):
        ConnectionPool(max_idle_per_database=0)


def test_a_database_replaced_at_the_same_path_is_read_afresh(tmp_path: Path) -> None:
    # `sqlenv data import --replace` renames a new file into place; a pooled immutable
    # connection would go on reading the old one.
    pool = ConnectionPool()
    db = tmp_path / "n.sqlite"
    for version in (1, 2):
        fresh = tmp_path / f"v{version}.sqlite"
        conn = sqlite3.connect(fresh)
        conn.execute("CREATE TABLE t (v INTEGER)")
        conn.execute("INSERT INTO t VALUES (?)", (version,))
        conn.commit()
        conn.close()
        fresh.replace(db)
        assert Sandbox(db, pool=pool).execute("SELECT v FROM t").rows == [(version,)]
    assert pool.opened == 2


def test_limits_from_another_process_find_this_process_pool_entries() -> None:
    """Limits key the pool and the result cache by hash: one unpickled from a process with another
    hash seed must hash as this process's equal limits do (a memoised hash must not travel)."""
    import os
    import pickle
    import subprocess
    import sys

    child = "import pickle, sys; from sqlenv_core.sandbox import SandboxLimits; "
    child += "sys.stdout.buffer.write(pickle.dumps(SandboxLimits(temp_store='memory')))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    sent = subprocess.run([sys.executable, "-c", child], capture_output=True, env=env, timeout=60, check=True)
    received = pickle.loads(sent.stdout)
    local = SandboxLimits(temp_store="memory")
    assert received == local
    assert hash(received) == hash(local)
    assert {local: "pooled"}.get(received) == "pooled"
