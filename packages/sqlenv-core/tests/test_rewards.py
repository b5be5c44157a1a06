from __future__ import annotations

import pytest

from sqlenv_core import SQLAction, SQLEnvironment
from sqlenv_core.datasets import Dataset
from sqlenv_core.rewards import PROFILES, RewardProfile, get_profile


def act(kind: str, arg: str = "") -> SQLAction:
    return SQLAction(action_type=kind, argument=arg)  # type: ignore[arg-type]


def terms(env: SQLEnvironment, kind: str, arg: str) -> dict[str, float]:
    return env.step(act(kind, arg)).info["reward"]


def test_sparse_pays_only_the_terminal_reward(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset, reward="sparse")
    env.reset(question_id="shop-1")
    assert env.step(act("QUERY", "SELECT count(*) FROM customers")).reward == 0.0
    assert env.step(act("QUERY", "SELEC")).reward == 0.0
    assert env.step(act("ANSWER", "4")).reward == 1.0


def test_dense_breakdown_has_every_term_and_sums_to_the_reward(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    obs = env.step(act("DESCRIBE", "customers"))
    breakdown = obs.info["reward"]
    p = PROFILES["dense"]
    assert breakdown == {"step_cost": p.step_cost, "success": p.success, "new_info": p.new_info, "total": obs.reward}
    assert obs.reward == pytest.approx(p.step_cost + p.success + p.new_info)


def test_errors_cost_more_than_successes(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    ok = env.step(act("QUERY", "SELECT 1")).reward
    bad = env.step(act("QUERY", "SELECT nope FROM nowhere")).reward
    assert ok is not None and bad is not None and bad < ok


def test_repeats_are_detected_through_spelling_case_and_whitespace(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-1")
    first = terms(env, "QUERY", "SELECT name FROM customers WHERE city = 'London'")
    again = terms(env, "QUERY", "select   NAME\nfrom Customers -- same thing\nwhere city='London';")
    different_literal = terms(env, "QUERY", "SELECT name FROM customers WHERE city = 'london'")
    assert "repeat" not in first and again["repeat"] == PROFILES["dense"].repeat
    assert "repeat" not in different_literal
    assert "repeat" not in terms(env, "DESCRIBE", "orders")
    assert terms(env, "DESCRIBE", "ORDERS")["repeat"] == PROFILES["dense"].repeat


def test_progress_is_potential_based_away_and_back_nets_zero(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset)
    env.reset(question_id="shop-2")  # gold: Lamp, Notebook (ordered by price desc)
    near = terms(env, "QUERY", "SELECT title FROM products ORDER BY price DESC")
    exact = terms(env, "QUERY", "SELECT title FROM products WHERE price > 2 ORDER BY price DESC")
    away = terms(env, "QUERY", "SELECT name FROM customers")
    back = terms(env, "QUERY", "SELECT title FROM products WHERE price > 2 ORDER BY price DESC -- again")
    assert near["progress"] > 0 and exact["progress"] > 0
    assert away["progress"] < 0
    assert away["progress"] + back["progress"] == pytest.approx(0.0, abs=1e-12)
    assert near["progress"] + exact["progress"] == pytest.approx(PROFILES["dense"].progress_weight)
    final = env.step(act("ANSWER", "Lamp, Notebook")).info["reward"]
    assert final["terminal"] == 1.0
    assert final["progress"] == pytest.approx(-PROFILES["dense"].progress_weight)


def test_progress_over_a_whole_episode_sums_to_zero(shop_dataset: Dataset) -> None:
    env = SQLEnvironment(shop_dataset, step_budget=4)
    env.reset(question_id="shop-3")
    total_progress = 0.0
    for sql in ["SELECT city FROM customers", "SELECT name FROM customers", "SELECT 1", "SELECT city FROM customers"]:
        total_progress += env.step(act("QUERY", sql)).info["reward"].get("progress", 0.0)
    assert env.state.done
    assert total_progress == pytest.approx(0.0, abs=1e-12)


def test_custom_profiles_and_unknown_names() -> None:
    mine = RewardProfile("mine", step_cost=-0.5)
    assert get_profile(mine) is mine and mine.shaped
    assert not get_profile("SPARSE").shaped
    with pytest.raises(ValueError, match="dense"):
        get_profile("shaped")


def test_a_result_seen_again_in_the_episode_reuses_its_similarity(
    shop_dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlenv_core.rewards as rewards

    calls: list[int] = []
    real = rewards.result_similarity

    def counting(rows: object, gold: object) -> float:
        calls.append(1)
        return real(rows, gold)  # type: ignore[arg-type]

    monkeypatch.setattr(rewards, "result_similarity", counting)
    env = SQLEnvironment(shop_dataset, step_budget=20)
    env.reset(question_id="shop-2")
    first = terms(env, "QUERY", "SELECT title FROM products WHERE price > 2")
    other = terms(env, "QUERY", "SELECT name FROM customers")
    again = terms(env, "QUERY", "SELECT title FROM products WHERE price >= 3")  # same rows, other SQL
    assert len(calls) == 2  # the third result is the first one's: its score is reused
    # Back to the first result: the potential returns to what it was after the first step.
    assert first["progress"] > 0 and again["progress"] == pytest.approx(-other["progress"])
