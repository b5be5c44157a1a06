from __future__ import annotations

import json
from pathlib import Path

import pytest

from sqlenv_client import SQLEnvClient
from sqlenv_core import Dataset, builtin
from sqlenv_train import EpisodeRecord, EvalReport, OraclePolicy, RandomPolicy, evaluate


@pytest.fixture(scope="module")
def eval_pack() -> Dataset:
    return builtin("eval")


def test_oracle_solves_every_builtin_eval_question(eval_pack: Dataset, tmp_path: Path) -> None:
    ids = [q.id for q in eval_pack]
    with SQLEnvClient.local(eval_pack) as env:
        report = evaluate(OraclePolicy(eval_pack), env, ids, show_progress=False)
    assert len(report.episodes) == len(ids) >= 50
    failed = [(e.question_id, e.reason) for e in report.episodes if not e.solved]
    assert failed == []
    assert report.mean_return == pytest.approx(0.995, abs=0.01)
    saved = json.loads(report.save(tmp_path / "oracle.json").read_text())
    assert saved["summary"]["solve_rate"] == 1.0
    assert set(saved["by_database"]) == {q.db_id for q in eval_pack}


def test_random_policy_is_reproducible_and_far_below_the_oracle(eval_pack: Dataset) -> None:
    ids = [q.id for q in eval_pack][:30]
    with SQLEnvClient.local(eval_pack) as env:
        first = evaluate(RandomPolicy(seed=3), env, ids, show_progress=False)
        second = evaluate(RandomPolicy(seed=3), env, ids, show_progress=False)
    assert [e.total_reward for e in first.episodes] == [e.total_reward for e in second.episodes]
    assert first.solve_rate < 0.3
    assert all(e.steps <= 15 for e in first.episodes)


def test_summary_of_hand_made_episodes() -> None:
    episodes = [
        EpisodeRecord("q1", "db", True, 1.0, 2, "ok", actions={"QUERY": 1, "ANSWER": 1}, answered=True),
        EpisodeRecord("q2", "db", False, -0.5, 4, "wrong", actions={"QUERY": 3}, invalid_actions=1,
                      usage={"format_errors": 2}),
    ]  # fmt: skip
    summary = EvalReport("p", episodes).summary()
    assert summary == {
        "episodes": 2,
        "solved": 1,
        "solve_rate": 0.5,
        "solve_rate_ci95": pytest.approx(list(EvalReport("p", episodes).solve_rate_ci95)),
        "mean_return": 0.25,
        "mean_steps": 3.0,
        "median_steps": 3.0,
        "max_steps": 4,
        "answered_rate": 0.5,
        "invalid_action_rate": 0.2,
        "format_error_rate": 0.5,
    }
    empty = EvalReport("p").summary()
    assert (empty["episodes"], empty["solve_rate"], empty["format_error_rate"], empty["max_steps"]) == (0, 0.0, 0.0, 0)
