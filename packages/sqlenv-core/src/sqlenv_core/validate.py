"""Validate a dataset: every check of :mod:`sqlenv_core.datasets.validate`, plus an oracle episode.

The oracle answers each question with its gold result as a JSON table, through a real
:class:`~sqlenv_core.environment.SQLEnvironment`, and must be judged correct within the step
budget. It lives here, above the environment, so the datasets never import the engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlenv_core.datasets.base import Dataset, Question
from sqlenv_core.datasets.validate import DatasetChecker, Problem, Severity, ValidationReport, check_dataset
from sqlenv_core.environment import SQLEnvironment
from sqlenv_core.protocol import SQLObservation
from sqlenv_core.sandbox import SandboxError

__all__ = ["Problem", "Severity", "ValidationReport", "validate_dataset"]


def validate_dataset(
    dataset: Dataset,
    *,
    oracle: bool = True,
    step_budget: int = 15,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Check every question of ``dataset`` and report what is wrong, question by question.

    Args:
        dataset: the dataset (its gold cache is used by the oracle episodes).
        oracle: also play one episode per question that answers with the gold result as a JSON
            table and must be judged correct.
        step_budget: the step budget of the oracle's episodes.
        progress: ``progress(done, total)`` after each question.

    Returns:
        The report; ``report.ok`` is false when any question has an error.
    """
    if not oracle:
        return check_dataset(dataset, progress=progress)
    env = SQLEnvironment(dataset, step_budget=step_budget, reward="sparse")
    solved = 0

    def play(checker: DatasetChecker, q: Question) -> None:
        nonlocal solved
        solved += _run_oracle(env, checker, q)

    try:
        report = check_dataset(dataset, after_gold=play, progress=progress)
    finally:
        env.close()
    report.oracle_solved = solved
    return report


def _oracle_correct(obs: SQLObservation) -> tuple[bool, str]:
    verdict = obs.info.get("verdict")
    if isinstance(verdict, dict):
        info: dict[str, Any] = verdict  # pyright: ignore[reportUnknownVariableType]
        return bool(info.get("correct")), str(info.get("reason", ""))
    return obs.reward == 1.0, obs.error or obs.result


def _run_oracle(env: SQLEnvironment, checker: DatasetChecker, q: Question) -> int:
    """Play the oracle's episode on ``q``; 1 when it was judged correct, else 0 and a problem."""
    try:
        gold = checker.dataset.gold(q.id)
    except SandboxError as exc:
        checker.add(q, "error", "oracle_failed", f"gold answer unavailable: {exc}")
        return 0
    answer = json.dumps([list(row) for row in gold.rows], ensure_ascii=False)
    try:
        env.reset(question_id=q.id)
        obs = env.step({"action_type": "ANSWER", "argument": answer})
    except Exception as exc:  # an engine bug must show up in the report, not end the run
        checker.add(q, "error", "oracle_failed", f"the oracle episode crashed: {type(exc).__name__}: {exc}")
        return 0
    correct, reason = _oracle_correct(obs)
    if not correct:
        checker.add(q, "error", "oracle_failed", f"the gold result given as the answer was judged wrong: {reason}")
    return int(correct)
