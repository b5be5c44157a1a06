"""Evaluate a policy over many episodes, with a progress bar and a JSON report.

The report keeps ``summary.solve_rate`` and ``summary.episodes`` and adds the solve rate's 95%
interval (Wilson), results by difficulty and by database, the action mix, invalid-action and
format-error rates, steps per episode, tokens and latency for model policies, and the run's
metadata (policy, model, endpoint, dataset, seed, versions).
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from sqlenv_client import SQLEnvClient
from sqlenv_core.datasets import Dataset
from sqlenv_core.protocol import ACTION_TYPES, SQLAction
from sqlenv_train._json import as_object
from sqlenv_train._progress import progress_bar
from sqlenv_train.policies import Policy

__all__ = ["EpisodeRecord", "EvalReport", "evaluate", "wilson_interval"]

_VERSIONED = ("sqlenv-core", "sqlenv-client", "sqlenv-train", "torch", "transformers", "trl", "httpx")


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); ``(0, 0)`` for ``n == 0``."""
    if n <= 0:
        return (0.0, 0.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class EpisodeRecord:
    """One evaluated episode.

    Attributes:
        question_id: the question played.
        db_id: its database.
        solved: the answer was correct.
        total_reward: the episode's return.
        steps: exploring steps taken (ANSWER is free).
        reason: the verifier's verdict, or why there was no answer.
        difficulty: the question's difficulty (when the dataset was given).
        actions: how many actions of each type the policy sent.
        invalid_actions: actions the environment answered with an error (bad SQL, unknown table...).
        answered: the policy sent an ANSWER (before the budget ran out).
        usage: a model policy's per-episode counts (tokens, latency, format errors); empty otherwise.
        question: the question's text.
        transcript: every action and what the environment answered: ``action``, ``argument``,
            ``result`` (clipped to ``TRANSCRIPT_CHARS``), ``error``, ``reward``.
    """

    question_id: str
    db_id: str
    solved: bool
    total_reward: float
    steps: int
    reason: str
    difficulty: str = ""
    actions: dict[str, int] = field(default_factory=dict[str, int])
    invalid_actions: int = 0
    answered: bool = False
    usage: dict[str, Any] = field(default_factory=dict[str, Any])
    question: str = ""
    transcript: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


#: The longest tool result kept per step in a report's transcripts (the rest is cut, with a note).
TRANSCRIPT_CHARS = 2000


def _clip(text: str) -> str:
    if len(text) <= TRANSCRIPT_CHARS:
        return text
    return text[:TRANSCRIPT_CHARS] + f"\n[... {len(text) - TRANSCRIPT_CHARS} more characters]"


def _group(episodes: Sequence[EpisodeRecord]) -> dict[str, Any]:
    solved = sum(e.solved for e in episodes)
    low, high = wilson_interval(solved, len(episodes))
    return {
        "episodes": len(episodes),
        "solved": solved,
        "solve_rate": solved / len(episodes) if episodes else 0.0,
        "solve_rate_ci95": [low, high],
        "mean_return": statistics.fmean(e.total_reward for e in episodes) if episodes else 0.0,
        "mean_steps": statistics.fmean(e.steps for e in episodes) if episodes else 0.0,
    }


@dataclass
class EvalReport:
    """Per-episode records, their summary and the run's metadata."""

    policy: str
    episodes: list[EpisodeRecord] = field(default_factory=list[EpisodeRecord])
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])

    @property
    def solve_rate(self) -> float:
        """Share of episodes whose answer was correct."""
        return sum(e.solved for e in self.episodes) / len(self.episodes) if self.episodes else 0.0

    @property
    def solve_rate_ci95(self) -> tuple[float, float]:
        """95% Wilson interval of the solve rate."""
        return wilson_interval(sum(e.solved for e in self.episodes), len(self.episodes))

    @property
    def mean_return(self) -> float:
        """Mean total reward per episode."""
        return statistics.fmean(e.total_reward for e in self.episodes) if self.episodes else 0.0

    def by_database(self) -> dict[str, dict[str, Any]]:
        """Solve rate (with interval), mean return and steps per database."""
        return self._by(lambda e: e.db_id)

    def by_difficulty(self) -> dict[str, dict[str, Any]]:
        """The same per difficulty (``easy``, ``medium``, ``hard``, ``extra``)."""
        order = {"easy": 0, "medium": 1, "hard": 2, "extra": 3}
        groups = self._by(lambda e: e.difficulty or "unknown")
        return dict(sorted(groups.items(), key=lambda item: (order.get(item[0], 9), item[0])))

    def _by(self, key: Callable[[EpisodeRecord], str]) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[EpisodeRecord]] = defaultdict(list)
        for e in self.episodes:
            groups[key(e)].append(e)
        return {name: _group(items) for name, items in sorted(groups.items())}

    def action_mix(self) -> dict[str, float]:
        """Share of each action type among all actions sent."""
        counts: Counter[str] = Counter()
        for e in self.episodes:
            counts.update(e.actions)
        total = sum(counts.values())
        return {kind: counts[kind] / total if total else 0.0 for kind in ACTION_TYPES}

    def usage(self) -> dict[str, Any]:
        """Tokens, model calls, latency and format errors of a model policy (empty for others)."""
        used = [e.usage for e in self.episodes if e.usage]
        if not used:
            return {}
        calls = sum(int(u.get("model_calls", 0)) for u in used)
        latency = sum(float(u.get("latency_s", 0.0)) for u in used)
        prompt = sum(int(u.get("prompt_tokens", 0)) for u in used)
        completion = sum(int(u.get("completion_tokens", 0)) for u in used)
        return {
            "model_calls": calls,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "tokens_per_episode": (prompt + completion) / len(used),
            "latency_s": latency,
            "latency_per_call_s": latency / calls if calls else 0.0,
            "retries": sum(int(u.get("retries", 0)) for u in used),
            "format_errors": sum(int(u.get("format_errors", 0)) for u in used),
            "no_tool_call": sum(int(u.get("no_tool_call", 0)) for u in used),
            "malformed": sum(int(u.get("malformed", 0)) for u in used),
            "gave_up": sum(bool(u.get("gave_up")) for u in used),
        }

    def summary(self) -> dict[str, Any]:
        """The headline figures: :func:`_group`'s over every episode, plus steps, answers and errors."""
        episodes = self.episodes
        n = len(episodes)
        actions = sum(sum(e.actions.values()) for e in episodes)
        steps = [e.steps for e in episodes]
        return {
            **_group(episodes),
            "median_steps": statistics.median(steps) if steps else 0.0,
            "max_steps": max(steps) if steps else 0,
            "answered_rate": sum(e.answered for e in episodes) / n if n else 0.0,
            "invalid_action_rate": sum(e.invalid_actions for e in episodes) / actions if actions else 0.0,
            "format_error_rate": sum(1 for e in episodes if e.usage.get("format_errors")) / n if n else 0.0,
        }

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return {
            "policy": self.policy,
            "summary": self.summary(),
            "by_difficulty": self.by_difficulty(),
            "by_database": self.by_database(),
            "action_mix": self.action_mix(),
            "usage": self.usage(),
            "metadata": self.metadata,
            "episodes": [asdict(e) for e in self.episodes],
        }

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON; returns the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        return out


def run_metadata(**extra: Any) -> dict[str, Any]:
    """Versions of the libraries involved, the Python, the time; plus ``extra`` (model, dataset, ...)."""
    versions: dict[str, str] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return {**{k: v for k, v in extra.items() if v is not None}, "versions": versions}


def evaluate(
    policy: Policy,
    env: SQLEnvClient,
    question_ids: Sequence[str] | Iterable[str],
    *,
    max_steps: int = 100,
    show_progress: bool = True,
    dataset: Dataset | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> EvalReport:
    """Play one episode per question id with ``policy`` and collect the outcomes.

    Args:
        policy: the agent (any object with ``name``, ``reset()`` and ``act()``; chat policies also
            report tokens and latency through ``episode_stats()``).
        env: a connected client (``SQLEnvClient(url)`` or ``SQLEnvClient.local(dataset)``).
        question_ids: the questions to play, in order.
        max_steps: a safety stop for policies that never answer (the step budget ends episodes
            first unless the server's budget is larger).
        show_progress: draw a progress bar (rich; plain when not a terminal).
        dataset: the questions' dataset, to report results by difficulty and to name the dataset
            and split in the report's metadata (unless ``metadata`` names them).
        metadata: recorded in the report (model, endpoint, dataset spec, seed, ...).
    """
    ids = list(question_ids)
    started = time.perf_counter()
    meta = run_metadata(policy=policy.name, started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    meta.update(dict(metadata or {}))
    if dataset is not None:
        # Every report names what it was measured on: the dataset and the split(s) of its questions.
        wanted = set(ids)
        meta.setdefault("dataset", dataset.name)
        meta.setdefault("split", ",".join(sorted({q.split for q in dataset.questions if q.id in wanted})))
    report = EvalReport(policy=policy.name, metadata=meta)
    solved = 0
    with progress_bar(policy.name, len(ids), enabled=show_progress) as advance:
        for question_id in ids:
            record = _play(policy, env, question_id, max_steps, dataset)
            report.episodes.append(record)
            solved += record.solved
            advance(solved=f"{solved}/{len(report.episodes)}")
    report.metadata["duration_s"] = round(time.perf_counter() - started, 3)
    return report


def _play(
    policy: Policy, env: SQLEnvClient, question_id: str, max_steps: int, dataset: Dataset | None
) -> EpisodeRecord:
    policy.reset()
    obs = env.reset(question_id=question_id)
    state = env.state()
    actions: Counter[str] = Counter()
    invalid = 0
    answered = False
    question = obs.question
    transcript: list[dict[str, Any]] = []
    for _ in range(max_steps):
        if obs.done:
            break
        action: SQLAction = policy.act(obs, state)
        actions[action.action_type] += 1
        answered = answered or action.action_type == "ANSWER"
        obs = env.step(action)
        invalid += bool(obs.error)
        state = env.state()
        transcript.append(
            {
                "action": action.action_type,
                "argument": _clip(str(action.argument)),
                "result": _clip(obs.result or ""),
                "error": obs.error or "",
                "reward": obs.reward,
            }
        )
    verdict: dict[str, Any] = obs.info.get("verdict", {})
    if not obs.done:
        # The policy stopped without answering: end the episode as an empty (wrong) answer ends it,
        # so that its return gives back the open shaping potential (docs/rewards.md).
        env.step(SQLAction(action_type="ANSWER", argument=""))
        state = env.state()
        verdict = {"correct": False, "reason": "no answer"}
    stats: Any = getattr(policy, "episode_stats", None)
    usage: dict[str, Any] = dict(as_object(stats()) or {}) if callable(stats) else {}
    reason = str(verdict.get("reason", "no answer"))
    if usage.get("gave_up"):
        reason = f"gave up: {usage['gave_up']}"
    difficulty = ""
    if dataset is not None:
        try:
            difficulty = dataset.question(question_id).difficulty
        except KeyError:
            difficulty = ""
    return EpisodeRecord(
        question_id=question_id,
        db_id=state.db_id or "",
        solved=bool(verdict.get("correct")),
        total_reward=state.total_reward,
        steps=state.step_count,
        reason=reason,
        difficulty=difficulty,
        actions=dict(actions),
        invalid_actions=invalid,
        answered=answered and not usage.get("gave_up"),
        usage=usage,
        question=question,
        transcript=transcript,
    )
