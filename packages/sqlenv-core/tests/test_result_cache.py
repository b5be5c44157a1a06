"""Deterministic results are shared between sessions; anything else is always recomputed."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from sqlenv_core import SQLAction, SQLEnvironment
from sqlenv_core.cache import ResultCache
from sqlenv_core.datasets import Dataset
from sqlenv_core.sandbox import QueryResult


def act(kind: str, arg: str = "") -> SQLAction:
    return SQLAction(action_type=kind, argument=arg)  # type: ignore[arg-type]


def test_sessions_on_one_dataset_share_deterministic_results(shop_dataset: Dataset) -> None:
    first, second = SQLEnvironment(shop_dataset), SQLEnvironment(shop_dataset)
    first.reset(question_id="shop-1")
    second.reset(question_id="shop-1")
    cache = shop_dataset.result_cache
    a = first.step(act("QUERY", "SELECT name FROM customers ORDER BY id"))
    hits = cache.hits
    b = second.step(act("QUERY", "SELECT name FROM customers ORDER BY id"))
    assert cache.hits == hits + 1
    assert (a.columns, a.rows, a.result) == (b.columns, b.rows, b.result)
    second.step(act("DESCRIBE", "orders"))
    first.step(act("DESCRIBE", "orders"))
    assert cache.hits == hits + 3  # table_info and count(*)


def test_nondeterministic_sql_is_never_cached(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset, step_budget=50)
    env.reset(question_id="shop-1")
    seen = {tuple(env.step(act("QUERY", "SELECT random()")).rows[0]) for _ in range(5)}
    assert len(seen) > 1
    before = len(shop_dataset.result_cache)
    env.step(act("QUERY", "SELECT date('now')"))
    assert len(shop_dataset.result_cache) == before


def test_statements_the_pooled_connection_ran_before_are_still_cached(shop_dataset: Dataset) -> None:
    """sqlite3 reuses a statement it prepared before without asking the authorizer again; such a run
    used to count as nondeterministic, so SQL seen before on a pooled connection (the gold SQL run at
    warm-up, a query every rollout of a group sends) was never cached."""
    sql = "SELECT count(*) FROM orders WHERE id > 1"
    env = SQLEnvironment(shop_dataset, cache_results=False, step_budget=50)
    env.reset(question_id="shop-1")
    env.step(act("QUERY", sql))  # compiled on the pooled connection, not cached
    env.step(act("QUERY", sql))  # the prepared statement reused
    cached = SQLEnvironment(shop_dataset)
    cached.reset(question_id="shop-1")
    cache = shop_dataset.result_cache
    cached.step(act("QUERY", sql))  # reuses the prepared statement too; its result must be kept
    hits = cache.hits
    cached.step(act("QUERY", sql))
    assert cache.hits == hits + 1
    # What is nondeterministic stays so when its prepared statement is reused.
    before = len(cache)
    for _ in range(3):
        cached.step(act("QUERY", "SELECT random()"))
    assert len(cache) == before


def test_cache_can_be_turned_off(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset, cache_results=False)
    env.reset(question_id="shop-1")
    env.step(act("QUERY", "SELECT count(*) FROM orders"))
    env.step(act("QUERY", "SELECT count(*) FROM orders"))
    assert shop_dataset.result_cache.hits == 0 and len(shop_dataset.result_cache) == 0


def test_cache_stays_within_its_byte_budget() -> None:
    cache = ResultCache(max_bytes=8_000)
    for i in range(100):
        cache.put("db", f"q{i}", None, QueryResult(["x"], [("y" * 100,)], nbytes=108, deterministic=True))
    assert cache.nbytes <= 8_000 and 0 < len(cache) < 100
    assert cache.get("db", "q99") is not None and cache.get("db", "q0") is None
    cache.put("db", "big", None, QueryResult(["x"], [("z" * 5_000,)], nbytes=5_000, deterministic=True))
    assert cache.get("db", "big") is None  # larger than an eighth of the budget
    cache.put("db", "rand", None, QueryResult(["x"], [(1,)], nbytes=8, deterministic=False))
    assert cache.get("db", "rand") is None
    hit = cache.get("db", "q99")
    assert hit is not None and hit.rows == [("y" * 100,)] and hit.columns == ["x"] and hit.deterministic


def test_scopes_and_databases_keep_results_apart() -> None:
    cache = ResultCache()
    cache.put("a.sqlite", "SELECT 1", "limits-1", QueryResult(["1"], [(1,)], nbytes=8, deterministic=True))
    assert cache.get("a.sqlite", "SELECT 1", "limits-1") is not None
    assert cache.get("b.sqlite", "SELECT 1", "limits-1") is None
    assert cache.get("a.sqlite", "SELECT 1", "limits-2") is None
    assert cache.get("a.sqlite", "SELECT 1 ", "limits-1") is None


def test_entries_unused_for_the_ttl_are_dropped() -> None:
    now = [0.0]
    cache = ResultCache(ttl_s=60.0, clock=lambda: now[0])
    for i in range(10):
        cache.put("db", f"q{i}", None, QueryResult(["x"], [(i,)], nbytes=8, deterministic=True))
    now[0] = 40.0
    assert cache.get("db", "q3") is not None  # used: its idle time starts again
    now[0] = 70.0
    assert cache.prune() == 9
    assert len(cache) == 1 and cache.get("db", "q0") is None and cache.get("db", "q3") is not None
    now[0] = 200.0
    assert cache.get("db", "q3") is None  # expired entries are gone on any call, not only prune()
    assert len(cache) == 0 and cache.nbytes == 0
    with pytest.raises(ValueError):
        ResultCache(ttl_s=0)


def test_what_the_cache_reports_is_what_it_holds(shop_dataset: Dataset) -> None:
    # Issue 9 item 4: 20k steps of `SELECT {i} --<20 KB comment>` grew RSS from 82 to 894 MB while
    # the cache reported 5 MB: it kept the SQL text of every key, and SQLite's echo of it as the
    # column name, outside its count. Now keys are digests and results are counted as stored.
    env = SQLEnvironment(shop_dataset, step_budget=100_000, reward="sparse")
    env.reset(question_id="shop-1")
    cache = shop_dataset.result_cache
    comment = "--" + "x" * 19_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1_500):
            obs = env.step(act("QUERY", f"SELECT {i} {comment}"))
            assert obs.rows == [[i]]
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == 1_500
    # Each entry's column name is the 19 KB comment SQLite echoes; the count includes it.
    assert cache.nbytes > 1_500 * 19_000
    assert grown < cache.nbytes * 1.2 + 2_000_000, (grown, cache.nbytes)


def test_a_full_cache_gives_the_garbage_collector_nothing_to_scan() -> None:
    cache = ResultCache(max_bytes=1 << 30)
    gc.collect()
    tracked = len(gc.get_objects())
    for i in range(20_000):
        rows = [(i, f"name {i}", i / 3) for _ in range(5)]
        cache.put("db", f"SELECT {i}", None, QueryResult(["a", "b", "c"], rows, nbytes=200, deterministic=True))
    gc.collect()
    assert len(gc.get_objects()) - tracked < 1_000
    assert len(cache) == 20_000
