"""Reward functions for GRPO over SQLEnv, and the log of every rollout they score.

TRL calls each reward function with the batch's ``completions`` and, with an ``environment_factory``,
the rollouts' ``environments``. :class:`SQLEnvRewards` offers three, weighted through GRPOConfig's
``reward_weights``:

``correctness``
    1 when the rollout's ANSWER was right, else 0.
``shaped_return``
    the episode's return under the environment's reward profile (with ``"dense"``: the per-step
    shaping terms plus the terminal 1/0).
``format_validity``
    in [-1, 1]: -1 for a rollout with no tool call at all; otherwise 1 for a clean rollout that
    answered (0 if it never answered), minus 0.5 for a malformed tool call, 0.5 when the
    completion was truncated, 0.25 for calls after the episode ended and 0.25 per invalid call.

The first function (``correctness``) also analyses the batch: it writes one JSON line per rollout
(question, verdict, per-turn rewards, flags, transcript) and counts the known failure modes of
tool-calling GRPO, logged as TRL metrics ``sqlenv/<flag>`` and as warnings when frequent:

* ``malformed_tool_call``: the model wrote a ``<tool_call>`` TRL could not parse (it falls back to
  plain text and the rollout ends);
* ``calls_after_answer``: the model kept calling tools after ANSWER (TRL lets it generate one
  more turn);
* ``truncated``: the completion hit ``max_completion_length`` (tool results count towards it),
  which cuts the rollout before an answer and zeroes its correctness;
* ``no_tool_calls``: the model answered in plain text and never used a tool (the usual cure: a
  warm start, see ``sqlenv-train sft-data``);
* ``no_answer`` and ``invalid_arguments`` (calls TRL or the environment rejected).

Nothing here imports torch or trl.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlenv_train.adapter import RolloutRecord, SQLEnvToolEnvironment, settle_rollout

__all__ = ["FLAGS", "RolloutAnalysis", "SQLEnvRewards", "analyse_rollout"]

logger = logging.getLogger("sqlenv_train")

#: The failure modes counted per rollout.
FLAGS = ("no_tool_calls", "malformed_tool_call", "calls_after_answer", "truncated", "no_answer", "invalid_arguments")
_WARN_AT = {"no_tool_calls": 0.5, "malformed_tool_call": 0.25, "truncated": 0.25, "calls_after_answer": 0.5}
_ADVICE = {
    "no_tool_calls": "the model is not calling tools: warm-start it (sqlenv-train sft-data, then --sft-steps)",
    "malformed_tool_call": "tool calls TRL cannot parse end the rollout: more warm-start steps or a lower temperature",
    "truncated": "raise max_completion_length (tool results count towards it) or lower max_chars / step budget",
    "calls_after_answer": "the model keeps calling tools after ANSWER; format_validity penalises it",
}
_TRANSCRIPT_CHARS = 2000


@dataclass(frozen=True)
class RolloutAnalysis:
    """What one rollout did, from the environment's record and TRL's completion messages."""

    record: RolloutRecord
    flags: dict[str, bool]
    tool_calls: int
    valid_tool_calls: int
    invalid_calls: int
    completion_tokens: int

    @property
    def tool_call_validity(self) -> float | None:
        """Share of the rollout's tool calls that were well-formed and accepted (None: no call)."""
        return self.valid_tool_calls / self.tool_calls if self.tool_calls else None


def _messages(completion: object) -> list[dict[str, Any]]:
    if isinstance(completion, list):
        return [m for m in completion if isinstance(m, dict)]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(completion, str):
        return [{"role": "assistant", "content": completion}]
    return []


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType, reportUnknownArgumentType]
    return ""


def analyse_rollout(
    completion: object,
    environment: SQLEnvToolEnvironment,
    completion_ids: Sequence[int] | None = None,
    *,
    max_completion_length: int | None = None,
) -> RolloutAnalysis:
    """Flags and counts for one rollout.

    Args:
        completion: TRL's completion (a list of messages: assistant turns and tool results).
        environment: the rollout's environment.
        completion_ids: the completion's token ids (for the truncation check).
        max_completion_length: GRPOConfig's limit; a completion this long was truncated.
    """
    record = settle_rollout(environment)  # the model has stopped: an open episode ends here
    messages = _messages(completion)
    malformed = any(m.get("role") == "assistant" and "<tool_call>" in _text(m) for m in messages)
    trl_rejected = sum(1 for m in messages if m.get("role") == "tool" and _text(m).startswith(("{'error'", '{"error"')))
    # TRL rolls back a tool result that would overflow the completion budget and ends the rollout:
    # the last message is then an assistant turn whose calls never got an answer.
    rolled_back = bool(messages) and messages[-1].get("role") == "assistant" and bool(messages[-1].get("tool_calls"))
    tokens = len(completion_ids) if completion_ids is not None else 0
    truncated = rolled_back or (max_completion_length is not None and tokens >= max_completion_length)
    calls = record.tool_calls + trl_rejected + (1 if malformed else 0)
    valid = record.tool_calls - record.invalid_calls - record.calls_after_done
    flags = {
        "no_tool_calls": calls == 0,
        "malformed_tool_call": malformed,
        "calls_after_answer": record.calls_after_done > 0,
        "truncated": truncated,
        "no_answer": not record.answered,
        "invalid_arguments": record.invalid_calls + trl_rejected > 0,
    }
    return RolloutAnalysis(record, flags, calls, max(valid, 0), record.invalid_calls + trl_rejected, tokens)


def format_score(analysis: RolloutAnalysis) -> float:
    """The format/validity reward of one rollout, in [-1, 1] (see the module docstring)."""
    flags = analysis.flags
    if flags["no_tool_calls"]:
        return -1.0
    score = 0.0 if flags["no_answer"] else 1.0
    score -= 0.5 * flags["malformed_tool_call"]
    score -= 0.5 * flags["truncated"]
    score -= 0.25 * flags["calls_after_answer"]
    score -= 0.25 * analysis.invalid_calls
    return max(-1.0, min(1.0, score))


class SQLEnvRewards:
    """The three reward functions, plus the rollout log written while they score.

    Args:
        log_path: a JSONL file that gets one line per rollout (``None``: no file).
        max_completion_length: GRPOConfig's value, to tell truncated completions.
        transcript: include each rollout's messages in the log (clipped).
        warn_every: repeat a warning about the same failure mode at most every this many batches.

    Example:
        >>> rewards = SQLEnvRewards()
        >>> [f.__name__ for f in rewards.functions]
        ['correctness', 'shaped_return', 'format_validity']
    """

    def __init__(
        self,
        log_path: str | Path | None = None,
        *,
        max_completion_length: int | None = None,
        transcript: bool = True,
        warn_every: int = 20,
    ) -> None:
        self.log_path = Path(log_path) if log_path is not None else None
        self.max_completion_length = max_completion_length
        self.transcript = transcript
        self.totals: Counter[str] = Counter()
        self.rollouts = 0
        self.batches = 0
        self.warn_every = warn_every
        self._warned_at: dict[str, int] = {}
        self._lock = threading.Lock()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def functions(self) -> list[Callable[..., list[float]]]:
        """``[correctness, shaped_return, format_validity]``, in the order of ``default_weights``."""
        return [self.correctness, self.shaped_return, self.format_validity]

    #: Weights for :attr:`functions` (GRPOConfig's ``reward_weights``).
    default_weights: tuple[float, float, float] = (1.0, 0.5, 0.2)

    def rates(self) -> dict[str, float]:
        """Share of all rollouts scored so far that had each flag."""
        return {flag: self.totals[flag] / self.rollouts if self.rollouts else 0.0 for flag in FLAGS}

    def _analyse(self, completions: Sequence[object], environments: Sequence[object], kwargs: dict[str, Any]):
        if len(environments) != len(completions):
            raise ValueError(
                f"got {len(environments)} environments for {len(completions)} completions: "
                "pass SQLEnvFactory as GRPOTrainer's environment_factory"
            )
        ids: Sequence[Sequence[int] | None] = kwargs.get("completion_ids") or [None] * len(completions)
        analyses: list[RolloutAnalysis] = []
        for completion, env, completion_ids in zip(completions, environments, ids, strict=True):
            if not isinstance(env, SQLEnvToolEnvironment):
                raise TypeError(f"expected SQLEnvToolEnvironment instances, got {type(env).__name__}")
            analyses.append(
                analyse_rollout(completion, env, completion_ids, max_completion_length=self.max_completion_length)
            )
        return analyses

    def correctness(self, completions: Sequence[object], environments: Sequence[object], **kwargs: Any) -> list[float]:
        """1.0 for a correct ANSWER, else 0.0; also logs the batch (see the class docstring)."""
        analyses = self._analyse(completions, environments, kwargs)
        self._log_batch(completions, analyses, kwargs)
        return [1.0 if a.record.correct else 0.0 for a in analyses]

    def shaped_return(
        self, completions: Sequence[object], environments: Sequence[object], **kwargs: Any
    ) -> list[float]:
        """The episode's return under the environment's reward profile (dense: shaping + terminal)."""
        return [a.record.total_reward for a in self._analyse(completions, environments, kwargs)]

    def format_validity(
        self, completions: Sequence[object], environments: Sequence[object], **kwargs: Any
    ) -> list[float]:
        """The format/validity term in [-1, 1]."""
        return [format_score(a) for a in self._analyse(completions, environments, kwargs)]

    def _log_batch(
        self, completions: Sequence[object], analyses: list[RolloutAnalysis], kwargs: dict[str, Any]
    ) -> None:
        state = kwargs.get("trainer_state")
        # The GRPO step these rollouts are generated for: the trainer's global_step counts the steps
        # done (0 during the first), and train_log.jsonl logs step N's metrics under N.
        step = int(getattr(state, "global_step", 0) or 0) + 1
        batch: Counter[str] = Counter()
        for analysis in analyses:
            batch.update(flag for flag, on in analysis.flags.items() if on)
        with self._lock:
            self.batches += 1
            self.rollouts += len(analyses)
            self.totals.update(batch)
        log_metric = kwargs.get("log_metric")
        n = max(len(analyses), 1)
        calls = sum(a.tool_calls for a in analyses)
        valid = sum(a.valid_tool_calls for a in analyses)
        if callable(log_metric):
            for flag in FLAGS:
                log_metric(f"sqlenv/{flag}", batch[flag] / n)
            log_metric("sqlenv/tool_call_validity", valid / calls if calls else 0.0)
            log_metric("sqlenv/solve_rate", sum(a.record.correct for a in analyses) / n)
        for flag, threshold in _WARN_AT.items():
            last = self._warned_at.get(flag)
            # At most one warning per flag every `warn_every` batches: enough to be seen, not a flood.
            if batch[flag] / n >= threshold and (last is None or self.batches - last >= self.warn_every):
                self._warned_at[flag] = self.batches
                logger.warning("step %d: %d of %d rollouts: %s; %s", step, batch[flag], n, flag, _ADVICE[flag])
        if self.log_path is None:
            return
        with self._lock, self.log_path.open("a", encoding="utf-8") as handle:
            for completion, analysis in zip(completions, analyses, strict=True):
                line: dict[str, Any] = {
                    "step": step,
                    **analysis.record.to_dict(),
                    "flags": [flag for flag, on in analysis.flags.items() if on],
                    "format_validity": format_score(analysis),
                    "completion_tokens": analysis.completion_tokens,
                }
                if self.transcript:
                    line["transcript"] = [
                        {
                            "role": m.get("role"),
                            "content": _text(m)[:_TRANSCRIPT_CHARS],
                            **({"tool_calls": m["tool_calls"]} if m.get("tool_calls") else {}),
                        }
                        for m in _messages(completion)
                    ]
                handle.write(json.dumps(line, default=str) + "\n")
