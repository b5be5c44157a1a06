"""Reward functions and the rollout log, fed completions shaped as TRL passes them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from sqlenv_core import Dataset, load
from sqlenv_train import SQLEnvFactory, SQLEnvRewards, SQLEnvToolEnvironment
from sqlenv_train.rewards import FLAGS
from sqlenv_train.sft import answer_text


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load("builtin:train?difficulty=easy&limit=4")


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}],
    }


def tool(text: str, name: str = "query") -> dict[str, Any]:
    return {"role": "tool", "name": name, "content": text}


def rollout(factory: SQLEnvFactory, data: Dataset, index: int) -> SQLEnvToolEnvironment:
    env = factory()
    env.reset(question_id=data.questions[index].id)
    return env


def test_each_failure_mode_is_flagged_and_scored(
    data: Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    factory = SQLEnvFactory(data, step_budget=5)
    q0 = data.questions[0]
    clean = rollout(factory, data, 0)
    r1 = clean.query(q0.gold_sql)
    r2 = clean.answer(answer_text(data.gold(q0.id).rows))
    clean_completion = [
        call("query", sql=q0.gold_sql),
        tool(r1),
        call("answer", answer="x"),
        tool(r2, "answer"),
        {"role": "assistant", "content": ""},
    ]

    silent = rollout(factory, data, 1)
    malformed = rollout(factory, data, 2)
    truncated = rollout(factory, data, 3)
    t1 = truncated.query("SELECT 1")
    chatty = rollout(factory, data, 0)
    chatty.answer("wrong")
    chatty.query("SELECT 1")
    rejected = rollout(factory, data, 1)
    completions = [
        clean_completion,
        [{"role": "assistant", "content": "The answer is 4."}],
        [{"role": "assistant", "content": '<tool_call>\n{"name": "query", "arguments": {"sql": "SEL'}],
        [call("query", sql="SELECT 1"), tool(t1), call("query", sql="SELECT 2")],
        [
            call("answer", answer="wrong"),
            tool("..."),
            call("query", sql="SELECT 1"),
            tool("Error: the episode is over"),
        ],
        [call("drop_table", table="x"), tool("{'error': 'Tool drop_table not found.'}", "drop_table")],
    ]
    envs = [clean, silent, malformed, truncated, chatty, rejected]
    metrics: dict[str, float] = {}
    rewards = SQLEnvRewards(tmp_path / "rollouts.jsonl", max_completion_length=512)
    state = type("State", (), {"global_step": 7})()
    kwargs = {"completion_ids": [[1] * 40] * 6, "trainer_state": state, "log_metric": metrics.__setitem__}
    with caplog.at_level(logging.WARNING, logger="sqlenv_train"):
        correctness = rewards.correctness(completions, envs, **kwargs)
    shaped = rewards.shaped_return(completions, envs, **kwargs)
    validity = rewards.format_validity(completions, envs, **kwargs)

    assert correctness == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert shaped[0] == pytest.approx(clean.rollout.total_reward) and shaped[0] > 0.9
    assert validity == [1.0, -1.0, -0.5, -0.5, 0.75, 0.0 - 0.25]
    lines = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [line["flags"] for line in lines] == [
        [],
        ["no_tool_calls", "no_answer"],
        ["malformed_tool_call", "no_answer"],
        ["truncated", "no_answer"],
        ["calls_after_answer"],
        ["no_answer", "invalid_arguments"],
    ]
    # global_step 7 = seven steps done: these rollouts are for GRPO step 8, as train_log.jsonl numbers it.
    assert lines[0]["step"] == 8 and lines[0]["correct"] and lines[0]["transcript"][0]["tool_calls"]
    assert [t["tool"] for t in lines[0]["turns"]] == ["query", "answer"]
    assert metrics["sqlenv/no_tool_calls"] == pytest.approx(1 / 6)
    assert metrics["sqlenv/solve_rate"] == pytest.approx(1 / 6)
    assert set(metrics) >= {f"sqlenv/{flag}" for flag in FLAGS}
    assert rewards.rates()["malformed_tool_call"] == pytest.approx(1 / 6)
    assert rewards.rollouts == 6


def test_long_completions_count_as_truncated(data: Dataset) -> None:
    env = rollout(SQLEnvFactory(data), data, 0)
    rewards = SQLEnvRewards(max_completion_length=64)
    completion = [{"role": "assistant", "content": "x" * 100}]
    rewards.correctness([completion], [env], completion_ids=[[5] * 64])
    assert rewards.totals["truncated"] == 1


def test_frequent_failures_are_logged_as_warnings(data: Dataset, caplog: pytest.LogCaptureFixture) -> None:
    envs = [rollout(SQLEnvFactory(data), data, i) for i in range(2)]
    with caplog.at_level(logging.WARNING, logger="sqlenv_train"):
        SQLEnvRewards().correctness([[{"role": "assistant", "content": "hi"}]] * 2, envs)
    assert "2 of 2 rollouts: no_tool_calls; the model is not calling tools: warm-start it" in caplog.text


def test_reward_functions_need_the_environments(data: Dataset) -> None:
    with pytest.raises(ValueError, match="pass SQLEnvFactory as GRPOTrainer's environment_factory"):
        SQLEnvRewards().correctness([[]], [])
    with pytest.raises(TypeError, match="expected SQLEnvToolEnvironment"):
        SQLEnvRewards().correctness([[]], [object()])


def test_warnings_are_not_repeated_every_batch(data: Dataset, caplog: pytest.LogCaptureFixture) -> None:
    rewards = SQLEnvRewards(warn_every=3)
    env = rollout(SQLEnvFactory(data), data, 0)
    with caplog.at_level(logging.WARNING, logger="sqlenv_train"):
        for _ in range(7):
            rewards.correctness([[{"role": "assistant", "content": "hi"}]], [env])
    assert caplog.text.count("no_tool_calls; the model is not calling tools") == 3  # batches 1, 4 and 7


@pytest.mark.parametrize("reveal", ["step", "episode"])
def test_a_rollout_that_stops_after_a_near_miss_earns_what_a_wrong_answer_earns(data: Dataset, reveal: str) -> None:
    """TRL cuts rollouts at max_turns: stopping must not keep the open shaping potential."""
    question = next(q for q in data if " where " in q.gold_sql.lower())
    near_miss = question.gold_sql.lower().split(" where ")[0]  # the right table and column, no filter
    factory = SQLEnvFactory(data, step_budget=5, reveal_rewards=reveal)  # type: ignore[arg-type]
    stopped, wrong = factory(), factory()
    for env in (stopped, wrong):
        env.reset(question_id=question.id)
        env.query(near_miss)
    if reveal == "step":  # the near miss did earn progress, which is open while the rollout runs
        assert stopped.rollout.turns[-1].reward > -0.005
    wrong.answer("-12345")
    completions = [
        [call("query", sql=near_miss), tool("...")],
        [call("query", sql=near_miss), call("answer", answer="-12345")],
    ]
    returns = SQLEnvRewards().shaped_return(completions, [stopped, wrong])
    assert returns[0] == returns[1] <= 0
    assert stopped.rollout.done and not stopped.rollout.answered and stopped.rollout.reason == "no answer"
    assert SQLEnvRewards().shaped_return(completions, [stopped, wrong]) == returns  # settling twice changes nothing
