"""The per-rollout tool server: one SQLEnv episode, and the four tools the model calls.

verifiers launches one server per rollout (a task-scoped ``vf.Toolset``), so the episode lives in
this process and nothing of one rollout is visible to another. The tools are
:class:`sqlenv_train.adapter.SQLEnvToolEnvironment`'s, the same ones TRL's GRPO trainer gives a
model: names, descriptions and arguments from :mod:`sqlenv_core.tools`, observations rendered the
same way, invalid arguments answered with an ``Error: ...`` text. After every call the episode's
record (per-step rewards as the environment paid them, the verdict, the return) is written to the
rollout's state, which the task's reward and stop condition read on the host.

Run as ``python -m sqlenv_verifiers.toolset`` by verifiers itself.
"""

from __future__ import annotations

from typing import Any

import verifiers.v1 as vf

from sqlenv_core.tools import get_tool
from sqlenv_train.adapter import SQLEnvFactory, SQLEnvToolEnvironment

__all__ = ["SQLEnvState", "SQLEnvToolset"]


class SQLEnvState(vf.State):
    """What one rollout's episode did, shared with the host (reward, metrics, stop)."""

    question_id: str = ""
    step_rewards: list[float] = []
    total_reward: float = 0.0
    tool_calls: int = 0
    invalid_calls: int = 0
    calls_after_done: int = 0
    answered: bool = False
    correct: bool = False
    done: bool = False
    reason: str = ""


class SQLEnvToolset(vf.Toolset[vf.ToolsetConfig, SQLEnvState]):
    """``describe``, ``sample``, ``query`` and ``answer`` over one SQLEnv episode (tool names unprefixed)."""

    TOOL_PREFIX = None

    def __init__(self, config: vf.ToolsetConfig) -> None:
        super().__init__(config)
        self._env: SQLEnvToolEnvironment | None = None
        self._factory: SQLEnvFactory | None = None

    async def setup_task(self, task: Any) -> None:
        """Start the rollout's episode on the task's question (locally or on the task's server).

        verifiers hands a task-scoped server the rollout's task data (a ``SQLEnvData``).
        """
        data = getattr(task, "data", task)
        self._factory = SQLEnvFactory(
            data.dataset,
            base_url=data.base_url,
            step_budget=data.step_budget,
            reward=data.reward_profile,
            max_chars=data.max_chars,
        )
        self._env = self._factory()
        self._env.reset(question_id=data.id)

    def _call(self, name: str, value: str) -> str:
        if self._env is None:
            return "Error: no episode in progress."
        text = getattr(self._env, name)(value)
        record = self._env.rollout
        state = self.state
        state.question_id = record.question_id
        state.step_rewards = [turn.reward for turn in record.turns if turn.valid and not turn.after_done]
        # Until the episode ends, the return is what stopping now earns: the open shaping potential
        # is taken back, as an abandoned episode pays it back (docs/rewards.md#reward-integrity).
        state.total_reward = round(record.total_reward - record.open_potential, 10)
        state.tool_calls = record.tool_calls
        state.invalid_calls = record.invalid_calls
        state.calls_after_done = record.calls_after_done
        state.answered = record.answered
        state.correct = record.correct
        state.done = record.done
        state.reason = record.reason
        return text

    @vf.tool
    def describe(self, table: str) -> str:  # noqa: D102
        return self._call("describe", table)

    @vf.tool
    def sample(self, table: str) -> str:  # noqa: D102
        return self._call("sample", table)

    @vf.tool
    def query(self, sql: str) -> str:  # noqa: D102
        return self._call("query", sql)

    @vf.tool
    def answer(self, answer: str) -> str:  # noqa: D102
        return self._call("answer", answer)


for _name in ("describe", "sample", "query", "answer"):
    getattr(SQLEnvToolset, _name).__doc__ = get_tool(_name).docstring()


if __name__ == "__main__":
    SQLEnvToolset.run()
