"""A statement tried under an InlineBudget: done within it, or refused at once with nothing changed."""

from __future__ import annotations

import pytest

from sqlenv_core import SQLAction, SQLEnvironment
from sqlenv_core.datasets import Dataset
from sqlenv_core.sandbox import InlineBudget, Sandbox, SandboxError

FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def db_path(dataset: Dataset) -> str:
    return str(dataset.db_path(dataset.questions[0].db_id))


def over_budget(box: Sandbox, sql: str, budget: InlineBudget) -> bool:
    try:
        box.execute(sql, budget=budget)
    except SandboxError as exc:
        return exc.code == "over_budget"
    return False


def test_small_statements_run_within_the_budget_and_give_what_a_full_run_gives(shop_dataset: Dataset) -> None:
    with Sandbox(db_path(shop_dataset)) as box:
        for sql in ("SELECT count(*) FROM orders", "SELECT name, city FROM customers ORDER BY id"):
            bounded = box.execute(sql, budget=InlineBudget())
            full = box.execute(sql)
            assert (bounded.columns, bounded.rows) == (full.columns, full.rows)


@pytest.mark.parametrize(
    "budget",
    [InlineBudget(max_s=60.0, max_ops=20_000), InlineBudget(max_s=0.001, max_ops=10**12)],
    ids=["instructions", "wall-clock"],
)
def test_a_statement_that_never_ends_is_stopped_by_either_bound(shop_dataset: Dataset, budget: InlineBudget) -> None:
    with Sandbox(db_path(shop_dataset)) as box:
        assert over_budget(box, FOREVER, budget)


def test_what_one_instruction_could_spend_is_refused_not_run(shop_dataset: Dataset) -> None:
    # SQLite checks the budget only between instructions: long values and long LIKE patterns,
    # which make one instruction slow, are over the budget; the same statements run in full.
    budget = InlineBudget()
    long_pattern = "'" + "%a" * 20 + "'"
    cases = [
        "SELECT length(zeroblob(100000))",
        f"SELECT count(*) FROM customers WHERE name LIKE {long_pattern}",
        "SELECT 1 /*" + " " * 3_000 + "*/",  # compiling is not interruptible: long SQL is refused
    ]
    with Sandbox(db_path(shop_dataset)) as box:
        for sql in cases:
            assert over_budget(box, sql, budget), sql
            box.execute(sql)  # without the budget it runs: the limits are put back


def test_results_larger_than_the_budget_are_refused(shop_dataset: Dataset) -> None:
    with Sandbox(db_path(shop_dataset)) as box:
        assert over_budget(box, "SELECT * FROM orders", InlineBudget(max_cells=10))
        assert len(box.execute("SELECT * FROM orders", budget=InlineBudget()).rows) == 30


def test_plain_errors_are_answered_under_the_budget(shop_dataset: Dataset) -> None:
    with Sandbox(db_path(shop_dataset)) as box:
        with pytest.raises(SandboxError) as syntax:
            box.execute("SELEC 1", budget=InlineBudget())
        assert syntax.value.code == "sql_error"
        with pytest.raises(SandboxError) as unknown:
            box.execute("SELECT * FROM nope", budget=InlineBudget())
        assert unknown.value.code == "unknown_table" and "customers" in str(unknown.value)


def test_databases_larger_than_the_budget_allows_are_left_to_a_full_run(shop_dataset: Dataset) -> None:
    with Sandbox(db_path(shop_dataset)) as box:
        assert over_budget(box, "SELECT 1", InlineBudget(max_db_bytes=1))


def test_the_connection_is_as_before_after_a_refused_statement(shop_dataset: Dataset) -> None:
    with Sandbox(db_path(shop_dataset)) as box:
        assert over_budget(box, FOREVER, InlineBudget(max_ops=1_000))
        # No progress handler is left behind: a statement longer than the budget runs in full.
        count = box.execute(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT count(*) FROM c"
        )
        assert count.rows == [(200000,)]
        assert box.execute("SELECT length(zeroblob(50000))").rows == [(50000,)]


def test_budgets_must_be_positive() -> None:
    with pytest.raises(ValueError):
        InlineBudget(max_s=0)


def test_a_bounded_step_over_the_budget_changes_nothing(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset, cache_results=False)
    env.reset(seed=0)
    before = env.state
    assert env.step_bounded(SQLAction(action_type="QUERY", argument=FOREVER), InlineBudget(max_ops=1_000)) is None
    long_answer = SQLAction(action_type="ANSWER", argument="1, " * 1_000)
    assert env.step_bounded(long_answer) is None
    assert env.state == before
    quick = SQLAction(action_type="QUERY", argument="SELECT count(*) FROM orders")
    bounded = env.step_bounded(quick)
    assert bounded is not None and bounded.rows == [[30]] and env.state.step_count == 1


def test_a_bounded_step_gives_the_observation_a_full_step_gives(shop_dataset: Dataset) -> None:
    actions = [
        SQLAction(action_type="DESCRIBE", argument="orders"),
        SQLAction(action_type="QUERY", argument="SELECT city, count(*) FROM customers GROUP BY city"),
        SQLAction(action_type="QUERY", argument="SELEC 1"),
        SQLAction(action_type="ANSWER", argument="30"),
    ]
    full, bounded = SQLEnvironment(shop_dataset, cache_results=False), SQLEnvironment(shop_dataset, cache_results=False)
    full.reset(seed=3)
    bounded.reset(seed=3)
    for action in actions:
        expected = full.step(action)
        got = bounded.step_bounded(action)
        assert got is not None
        assert got.model_dump(exclude={"metadata"}) == expected.model_dump(exclude={"metadata"})
