"""The TRL environment adapter, driven exactly as TRL drives it (no trl needed)."""

from __future__ import annotations

import inspect

import pytest

from sqlenv_core import Dataset, SQLEnvironment, load
from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.tools import SYSTEM_PROMPT, TOOL_NAMES, get_tool
from sqlenv_train import SQLEnvFactory, SQLEnvToolEnvironment, prompt_rows
from sqlenv_train.adapter import mixed_prompt_rows
from sqlenv_train.sft import answer_text


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load("builtin:train?difficulty=easy&limit=6")


def public_methods(env: SQLEnvToolEnvironment) -> list[str]:
    # TRL's rule (grpo_trainer.py): every public function of the class except reset/get_reward is a tool.
    return sorted(
        name
        for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
        if not name.startswith("_") and name not in ("reset", "get_reward")
    )


def test_the_tools_trl_sees_are_exactly_the_four_core_tools(data: Dataset) -> None:
    env = SQLEnvFactory(data)()
    assert public_methods(env) == sorted(TOOL_NAMES)
    for name in TOOL_NAMES:
        method = getattr(env, name)
        assert method.__doc__ == get_tool(name).docstring()
        assert list(inspect.signature(method).parameters) == [get_tool(name).parameter]


def test_reset_returns_the_start_text_and_an_oracle_rollout_is_solved(data: Dataset) -> None:
    factory = SQLEnvFactory(data, step_budget=4)
    env = factory()
    question = data.questions[0]
    start = env.reset(**prompt_rows(data)[0])
    assert start.startswith(f"Question: {question.question}\nTables: ")
    assert start.endswith("[4 steps left]")
    result = env.query(question.gold_sql)
    assert "[3 steps left]" in result
    verdict = env.answer(answer_text(data.gold(question.id).rows))
    assert verdict.startswith("Answer correct")
    record = env.rollout
    assert (record.question_id, record.answered, record.correct, record.done) == (question.id, True, True, True)
    assert [t.tool for t in record.turns] == ["query", "answer"]
    assert record.turns[1].reward == pytest.approx(1.0, abs=0.1)
    assert record.total_reward == pytest.approx(sum(t.reward for t in record.turns))


def test_invalid_arguments_and_calls_after_answer_are_errors_the_model_reads(data: Dataset) -> None:
    env = SQLEnvFactory(data, step_budget=4)()
    env.reset(question_id=data.questions[1].id)
    assert env.describe("   ").startswith("Error: describe needs a non-empty 'table'")
    assert env.query(123).startswith("Error: query: 'sql' must be a string")  # type: ignore[arg-type]
    assert env.describe("no_such_table").startswith("Error: ")  # a real environment error, costs a step
    env.answer("nonsense")
    assert env.sample("x") == "Error: the episode is over; do not call more tools."
    record = env.rollout
    assert (record.invalid_calls, record.calls_after_done, record.tool_calls) == (2, 1, 5)
    assert record.answered and not record.correct


def test_tools_before_reset_do_not_raise(data: Dataset) -> None:
    env = SQLEnvFactory(data)()
    assert env.query("SELECT 1") == "Error: no episode in progress."


def test_reset_clears_the_previous_rollout_and_instances_share_the_dataset(data: Dataset) -> None:
    factory = SQLEnvFactory(data)
    first, second = factory(), factory()
    first.reset(question_id=data.questions[0].id)
    first.query("SELECT 1")
    first.reset(question_id=data.questions[2].id)
    assert first.rollout.turns == [] and first.rollout.question_id == data.questions[2].id
    second.reset(question_id=data.questions[2].id)
    assert len(factory.instances) == 2
    sql = data.questions[2].gold_sql
    first.query(sql)
    hits_before = data.result_cache.hits
    second.query(sql)
    assert data.result_cache.hits == hits_before + 1  # one dataset, one result cache for every rollout
    factory.close()
    assert factory.instances == []


def test_prompt_rows_are_conversational_with_the_question_id(data: Dataset) -> None:
    rows = prompt_rows(data, repeat=2, shuffle_seed=1)
    assert len(rows) == 2 * len(data)
    assert {r["question_id"] for r in rows} == {q.id for q in data}
    assert rows[0]["prompt"][0]["role"] == "system" and rows[0]["prompt"][1] == {"role": "user", "content": ""}


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"max_chars": 10}, "max_chars must be at least 200"), ({"step_budget": 0}, "step_budget")]
)
def test_factory_rejects_bad_settings(data: Dataset, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SQLEnvFactory(data, **kwargs)  # type: ignore[arg-type]


class CountingBackend:
    """An in-process environment that counts the state round trips a server would answer."""

    def __init__(self, dataset: Dataset, step_budget: int) -> None:
        self.env = SQLEnvironment(dataset, step_budget=step_budget)
        self.state_calls = 0

    def reset(self, *, question_id: str | None = None, seed: int | None = None) -> SQLObservation:
        return self.env.reset(question_id=question_id, seed=seed)

    def step(self, action: SQLAction) -> SQLObservation:
        return self.env.step(action)

    def episode_state(self) -> SQLState:
        self.state_calls += 1
        return self.env.state

    def close(self) -> None:
        self.env.close()


def test_the_return_is_summed_without_state_round_trips(data: Dataset) -> None:
    backend = CountingBackend(data, step_budget=3)
    env = SQLEnvToolEnvironment(backend, dataset=data)
    question = data.questions[3]
    env.reset(question_id=question.id)
    env.describe("no_such_table")
    env.query(question.gold_sql)
    env.query(question.gold_sql)  # a repeat; the third exploring step also exhausts the budget
    record = env.rollout
    assert backend.state_calls == 0
    assert record.done and not record.answered and record.reason == "step budget exhausted"
    assert (record.question_id, record.db_id, record.difficulty) == (question.id, question.db_id, question.difficulty)
    assert record.total_reward == backend.env.state.total_reward  # exactly the environment's return
    env.reset(seed=1)  # no question id in the row: the state says which question was drawn
    assert backend.state_calls == 1
    assert env.rollout.question_id == backend.env.state.question_id
    assert env.rollout.difficulty == data.question(env.rollout.question_id).difficulty


# -- TRL 1.16's newer features, driven as TRL drives them (the GRPOTrainer runs: tests/train) ------


def test_an_environment_owning_its_reward_has_get_reward_under_its_own_class_name(data: Dataset) -> None:
    plain = SQLEnvFactory(data)()
    assert not hasattr(plain, "get_reward"), "without env_reward TRL must not find a get_reward"
    factory = SQLEnvFactory(data, env_reward="return", name="roomy")
    env = factory()
    assert type(env).__name__ == "roomy" and isinstance(env, SQLEnvToolEnvironment)
    assert type(factory()) is type(env), "TRL matches get_reward's environments by exact type"
    assert "get_reward" not in public_methods(env)
    question = data.questions[0]
    env.reset(question_id=question.id)
    env.query(question.gold_sql)
    env.answer(answer_text(data.gold(question.id).rows))
    assert env.get_reward() == pytest.approx(sum(t.reward for t in env.rollout.turns))  # type: ignore[attr-defined]
    judge = SQLEnvFactory(data, env_reward="correctness")()
    judge.reset(question_id=question.id)
    judge.answer("-1")
    assert judge.get_reward() == 0.0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="env_reward must be one of return, correctness"):
        SQLEnvFactory(data, env_reward="vibes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="identifier"):
        SQLEnvFactory(data, name="two words")


def test_a_dataset_free_factory_gives_each_group_one_fresh_question(data: Dataset) -> None:
    factory = SQLEnvFactory.dataset_free(data, num_generations=3, seed=1)
    envs = [factory() for _ in range(3)]
    placeholder = {"prompt": [{"role": "user", "content": ""}]}  # what TRL passes without a dataset
    played: list[str] = []
    for _ in range(len(data)):
        for env in envs:
            text = env.reset(**placeholder)
            assert text.startswith(SYSTEM_PROMPT), "reset() supplies the instructions TRL's placeholder lacks"
            played.append(env.rollout.question_id)
    groups = [played[i : i + 3] for i in range(0, len(played), 3)]
    assert all(len(set(g)) == 1 for g in groups)
    assert sorted(g[0] for g in groups) == sorted(q.id for q in data), "one pass before any repeat"
    with_system = envs[0].reset(prompt=[{"role": "system", "content": "s"}, {"role": "user", "content": ""}])
    assert not with_system.startswith(SYSTEM_PROMPT)
    picked = SQLEnvFactory.dataset_free(data, num_generations=2, pick=lambda rng: data.questions[-1].id)()
    picked.reset(**placeholder)
    assert picked.rollout.question_id == data.questions[-1].id


def test_mixed_rows_carry_the_environment_trl_routes_on(data: Dataset) -> None:
    factories = {"a": SQLEnvFactory(data, name="a"), "b": SQLEnvFactory(data, step_budget=2, name="b")}
    rows = mixed_prompt_rows(factories)
    assert len(rows) == 2 * len(data)
    assert {r["environment"] for r in rows} == {"a", "b"}
    assert rows != mixed_prompt_rows(factories, shuffle_seed=None), "shuffled together by default"


def test_training_without_a_dataset_draws_from_a_generated_family() -> None:
    # procgen's questions are made on load; the draw takes any Dataset, so groups play them the same way.
    factory = SQLEnvFactory.dataset_free("procgen:train?seed=3&n=4&level=1", num_generations=2, env_reward="return")
    envs = [factory(), factory()]
    played = []
    for _ in range(len(factory.dataset)):
        for env in envs:
            env.reset(prompt=[{"role": "user", "content": ""}])
            played.append(env.rollout.question_id)
    assert [played[i] for i in range(0, len(played), 2)] == [played[i] for i in range(1, len(played), 2)]
    assert sorted(set(played)) == sorted(q.id for q in factory.dataset)
    env = envs[0]
    question = factory.dataset.question(env.rollout.question_id)
    env.query(question.gold_sql)
    env.answer(answer_text(factory.dataset.gold(question.id).rows))
    assert env.rollout.correct and env.get_reward() == pytest.approx(env.rollout.total_reward)  # type: ignore[attr-defined]
