"""SQLEnv's taskset for verifiers v1: one task per question of any dataset spec.

``vf-eval sqlenv-verifiers --env.taskset.dataset builtin:eval`` plays every question of the
split; ``--env.taskset.base-url http://host:8000`` plays them on a SQLEnv server instead of
in-process. Each task's prompt is SQLEnv's start text (question, tables, budget) under SQLEnv's
system prompt; the model answers through native tool calls (see :mod:`sqlenv_verifiers.toolset`).

Scores per rollout:

* reward ``sqlenv_return``: the episode's return as SQLEnv paid it (``reward_profile="dense"``:
  the per-step shaping terms plus 1 for a correct answer; ``"sparse"``: 1/0);
* metrics ``correct``, ``answered``, ``tool_calls``, ``invalid_calls``, ``calls_after_done``.

The rollout stops as soon as the episode ends (an answer, or the step budget spent).
"""

from __future__ import annotations

from collections.abc import Iterator

import verifiers.v1 as vf
from verifiers.v1.harnesses.null.harness import NullHarness

from sqlenv_core.datasets import load
from sqlenv_core.tools import DEFAULT_MAX_CHARS, SYSTEM_PROMPT
from sqlenv_train.adapter import SQLEnvFactory
from sqlenv_verifiers.toolset import SQLEnvState, SQLEnvToolset

__all__ = ["SQLEnvConfig", "SQLEnvData", "SQLEnvHarness", "SQLEnvTask", "SQLEnvTaskset"]


class SQLEnvData(vf.TaskData):
    """One question: ``id`` is its SQLEnv question id; where and how its episode runs."""

    dataset: str
    base_url: str | None = None
    step_budget: int = 10
    reward_profile: str = "dense"
    max_chars: int = DEFAULT_MAX_CHARS
    db_id: str = ""
    difficulty: str = ""


class SQLEnvTaskConfig(vf.TaskConfig):
    """The per-rollout tool server's placement (verifiers' defaults: a local subprocess)."""

    tools: vf.ToolsetConfig = vf.ToolsetConfig()


class SQLEnvTask(vf.Task[SQLEnvData, SQLEnvState, SQLEnvTaskConfig]):
    """One SQLEnv episode: the four tools, SQLEnv's return as the reward."""

    @classmethod
    def toolsets(cls, config: SQLEnvTaskConfig) -> list[vf.Toolset]:
        """One SQLEnv tool server per rollout."""
        return [SQLEnvToolset(config.tools)]

    @property
    def key(self) -> str:
        """The SQLEnv question id (durable across runs)."""
        return f"{self.data.dataset}#{self.data.id}"

    @vf.stop
    async def episode_over(self, trace: vf.Trace) -> bool:
        """Stop once the episode has ended (an answer, or the budget spent)."""
        return trace.state.done

    @vf.reward(weight=1.0)
    async def sqlenv_return(self, trace: vf.Trace) -> float:
        """The episode's return: the sum of the per-step rewards SQLEnv paid."""
        return float(trace.state.total_reward)

    @vf.metric
    async def correct(self, trace: vf.Trace) -> float:
        """1 when SQLEnv's verifier accepted the answer."""
        return float(trace.state.correct)

    @vf.metric
    async def answered(self, trace: vf.Trace) -> float:
        """1 when the model called answer."""
        return float(trace.state.answered)

    @vf.metric
    async def tool_calls(self, trace: vf.Trace) -> float:
        """Every tool call that reached the episode."""
        return float(trace.state.tool_calls)

    @vf.metric
    async def invalid_calls(self, trace: vf.Trace) -> float:
        """Calls whose arguments could not become an action."""
        return float(trace.state.invalid_calls)

    @vf.metric
    async def calls_after_done(self, trace: vf.Trace) -> float:
        """Calls made after the episode had ended."""
        return float(trace.state.calls_after_done)


class SQLEnvConfig(vf.TasksetConfig):
    """``--env.taskset.*``: which questions, where episodes run, and how they pay."""

    dataset: str = "builtin:eval"
    """A SQLEnv dataset spec: ``builtin:eval``, ``spider:$SQLENV_SPIDER_DIR?split=dev``, ..."""
    base_url: str | None = None
    """A SQLEnv server (``http://host:port``) to play on; unset: in-process episodes."""
    step_budget: int = 10
    """Exploring actions per episode (in-process; a server uses its own)."""
    reward_profile: str = "dense"
    """SQLEnv's reward profile: ``dense`` (shaped per step) or ``sparse``."""
    max_chars: int = DEFAULT_MAX_CHARS
    """Longest tool result shown to the model."""
    task: SQLEnvTaskConfig = SQLEnvTaskConfig()


class SQLEnvTaskset(vf.Taskset[SQLEnvTask, SQLEnvConfig]):
    """Every question of ``dataset``, in order (``-n`` takes the first ones, ``-s`` shuffles)."""

    def load(self) -> Iterator[SQLEnvTask]:
        """One task per question of the dataset, with SQLEnv's start text as the prompt."""
        config = self.config
        data = load(config.dataset)
        # The prompt is SQLEnv's own start text, rendered from a local episode on the same data.
        renderer = SQLEnvFactory(data, step_budget=config.step_budget, max_chars=config.max_chars)()
        try:
            for index, question in enumerate(data.questions):
                yield SQLEnvTask(
                    SQLEnvData(
                        idx=index,
                        id=question.id,
                        name=question.id,
                        system_prompt=SYSTEM_PROMPT,
                        prompt=renderer.reset(question_id=question.id),
                        dataset=config.dataset,
                        base_url=config.base_url,
                        step_budget=config.step_budget,
                        reward_profile=config.reward_profile,
                        max_chars=config.max_chars,
                        db_id=question.db_id,
                        difficulty=question.difficulty,
                    ),
                    config.task,
                )
        finally:
            renderer._backend.close()  # pyright: ignore[reportPrivateUsage]


class SQLEnvHarness(NullHarness):
    """The default harness for this taskset: a plain chat loop whose only tools are SQLEnv's four.

    (verifiers' general default, ``bash``, would also hand the model a shell on the host, where
    it could read the databases and gold answers directly.)
    """
