from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sqlenv_core import SQLAction, SQLEnvironment
from sqlenv_core.datasets import Dataset


def act(kind: str, arg: str = "") -> SQLAction:
    return SQLAction(action_type=kind, argument=arg)  # type: ignore[arg-type]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reset_shows_question_and_tables_but_never_the_gold(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    obs = env.reset(question_id="shop-2")
    assert obs.question.startswith("List the titles")
    assert obs.schema_info.splitlines()[0] == 'Tables: customers, products, orders, odd "name"'
    assert obs.budget_remaining == 15 and obs.step_count == 0 and not obs.done
    dumped = obs.model_dump_json()
    assert "ORDER BY price DESC" not in dumped and "Notebook" not in dumped
    state = env.state
    assert state.question_id == "shop-2" and state.db_id == "shop" and state.episode_id


def test_seeded_resets_are_reproducible(shop_dataset: Dataset) -> None:
    a, b = SQLEnvironment(shop_dataset), SQLEnvironment(shop_dataset)
    seq_a = [a.reset(seed=7).question] + [a.reset().question for _ in range(5)]
    seq_b = [b.reset(seed=7).question] + [b.reset().question for _ in range(5)]
    assert seq_a == seq_b
    assert len({SQLEnvironment(shop_dataset).reset(seed=s).question for s in range(20)}) > 1


def test_describe_gives_columns_types_and_row_count(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    obs = env.step(act("DESCRIBE", "ORDERS"))
    assert obs.error == ""
    assert obs.result.startswith("Table orders (30 rows)")
    assert obs.rows[0] == ["id", "INTEGER"] and ["placed_on", "TEXT"] in obs.rows
    assert "orders: id INTEGER, customer_id INTEGER" in obs.schema_info
    assert obs.budget_remaining == 14


def test_unknown_table_error_lists_the_real_tables(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    obs = env.step(act("DESCRIBE", "clients"))
    assert "clients" in obs.error and "customers, products, orders" in obs.error
    assert obs.step_count == 1 and obs.budget_remaining == 14


def test_table_names_are_quoted_not_spliced(shop_dataset: Dataset) -> None:
    db = shop_dataset.db_path("shop")
    before = digest(db)
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    evil = env.step(act("SAMPLE", "customers; DROP TABLE orders; --"))
    assert "no table named" in evil.error
    odd = env.step(act("SAMPLE", 'odd "name"'))
    assert odd.error == "" and odd.rows == [[1]]
    assert digest(db) == before


def test_sample_returns_five_rows(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    obs = env.step(act("sample", "orders"))
    assert obs.error == "" and len(obs.rows) == 5 and obs.columns[0] == "id"


def test_query_shows_at_most_twenty_rows_and_says_so(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    obs = env.step(act("QUERY", "SELECT id FROM orders ORDER BY id"))
    assert len(obs.rows) == 20 and obs.truncated
    assert "10 more rows not shown" in obs.result
    small = env.step(act("QUERY", "SELECT name FROM customers WHERE city IS NULL"))
    assert small.rows == [["Linus"]] and not small.truncated


@pytest.mark.parametrize(
    "action",
    [
        None,
        42,
        "QUERY SELECT 1",
        {},
        {"action_type": "DROP", "argument": "x"},
        {"action_type": "QUERY", "argument": 123},
        {"action_type": "QUERY", "argument": "SELECT 1", "extra": True},
        {"action_type": "QUERY", "argument": "   "},
        {"action_type": "DESCRIBE"},
        {"action_type": "QUERY", "argument": "DELETE FROM customers"},
        {"action_type": "QUERY", "argument": "SELEC nothing"},
        {"action_type": "QUERY", "argument": "x" * 200_000},
    ],
)
def test_invalid_actions_cost_a_step_and_never_raise(shop_dataset: Dataset, action: Any) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    obs = env.step(action)
    assert obs.error, "an invalid action must explain itself"
    assert obs.step_count == 1 and obs.budget_remaining == 14 and not obs.done
    assert env.step(act("QUERY", "SELECT count(*) FROM customers")).rows == [[4]]


def test_correct_answer_ends_episode_free_of_budget(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset, reward="sparse")
    env.reset(question_id="shop-1")
    env.step(act("QUERY", "SELECT count(*) FROM customers"))
    obs = env.step(act("ANSWER", "4"))
    assert obs.done and obs.reward == 1.0
    assert obs.budget_remaining == 14 and obs.step_count == 1
    assert obs.info["verdict"]["correct"] is True
    assert "gold_sql" not in obs.info  # the gold is never handed out (replaying it would score 100%)
    assert env.state.done and env.state.total_reward == 1.0


def test_wrong_answer_pays_nothing(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset, reward="sparse")
    env.reset(question_id="shop-2")
    obs = env.step(act("ANSWER", '["Notebook", "Lamp"]'))
    assert obs.done and obs.reward == 0.0 and obs.info["verdict"]["correct"] is False


def test_steps_after_the_end_return_the_final_observation_with_an_error(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    final = env.step(act("ANSWER", "4"))
    again = env.step(act("QUERY", "SELECT 1"))
    assert again.done and "episode is over" in again.error and again.reward == 0.0
    assert again.step_count == final.step_count and env.state.total_reward == final.reward


def test_step_before_reset_is_an_error_not_an_exception(shop_dataset: Dataset) -> None:
    obs = SQLEnvironment(shop_dataset).step(act("QUERY", "SELECT 1"))
    assert "reset()" in obs.error


def test_exhausted_budget_ends_with_zero_terminal_reward(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset, step_budget=3)
    env.reset(question_id="shop-1")
    observations = [env.step(act("QUERY", f"SELECT {i}")) for i in range(3)]
    last = observations[-1]
    assert [o.done for o in observations] == [False, False, True]
    assert last.info["verdict"] == {"correct": False, "reason": "step budget exhausted"}
    assert last.info["reward"]["terminal"] == 0.0 and last.budget_remaining == 0


def test_episode_history_and_total_reward_are_consistent(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-2")
    rewards = []
    for action in [
        act("DESCRIBE", "products"),
        act("QUERY", "SELECT title FROM products"),
        act("ANSWER", "Lamp, Notebook"),
    ]:
        obs = env.step(action)
        assert obs.reward is not None
        rewards.append(obs.reward)
    assert obs.action_history == ["DESCRIBE products", "QUERY SELECT title FROM products", "ANSWER Lamp, Notebook"]
    assert env.state.total_reward == pytest.approx(sum(rewards))
    json.dumps(obs.model_dump())  # the observation is plain JSON


def test_dataset_spec_string_is_accepted(shop_dataset: Dataset) -> None:
    with pytest.raises(ValueError, match="step_budget"):
        SQLEnvironment(shop_dataset, step_budget=0)
    with pytest.raises(ValueError, match="unknown reward profile"):
        SQLEnvironment(shop_dataset, reward="nope")


BOMB = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"


def test_interrupt_is_a_no_op_between_steps(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(seed=0)
    assert env.interrupt() is False
    assert env.step(SQLAction(action_type="QUERY", argument="SELECT 1")).error == ""  # nothing left pending


def test_an_interrupt_that_lands_before_the_query_starts_still_cancels_it(
    shop_dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client that leaves while its step is still getting ready (no statement running yet) must
    # not leave the query to run to its deadline: the cancellation waits for it.
    env = SQLEnvironment(shop_dataset)
    env.reset(seed=0)
    get_sandbox = env._box  # pyright: ignore[reportPrivateUsage]

    def sandbox_after_the_client_left() -> Any:
        assert env.interrupt() is True  # a step is in progress, its query not started
        return get_sandbox()

    monkeypatch.setattr(env, "_box", sandbox_after_the_client_left)
    obs = env.step(SQLAction(action_type="QUERY", argument=BOMB))
    assert "cancelled" in obs.error
    monkeypatch.undo()
    assert env.step(SQLAction(action_type="QUERY", argument="SELECT 2")).rows == [[2]]  # the next step runs


def test_step_cached_takes_a_step_only_from_the_result_cache(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(seed=0)
    sql = "SELECT count(*) FROM products -- step_cached"
    before = env.state
    assert env.step_cached(SQLAction(action_type="QUERY", argument=sql)) is None  # needs the database
    assert env.state == before  # and nothing changed
    first = env.step(SQLAction(action_type="QUERY", argument=sql))
    again = env.step_cached(SQLAction(action_type="QUERY", argument=sql))
    assert again is not None and again.rows == first.rows and again.step_count == first.step_count + 1
    answer = env.step_cached(SQLAction(action_type="ANSWER", argument="3"))  # no SQL at all
    assert answer is not None and answer.done
