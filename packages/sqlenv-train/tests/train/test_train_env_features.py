"""TRL 1.16's newer environment features with the real GRPOTrainer: get_reward, no dataset, several environments.

The tiny model's ``generate`` is replaced by a script that reads each prompt and writes the
oracle's tool calls as the model would (Qwen3's ``<tool_call>`` text), so every rollout is known in
advance: the rewards TRL logs can be checked against the environment's own, and each rollout's
calls against what reached its environment. Training still runs for real (TRL parses the calls,
runs the tools, masks their results and takes optimiser steps on the scripted tokens).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="needs the training stack (trl): run `uv run nox -s train`")

import torch
from datasets import Dataset as HFDataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from sqlenv_core import Dataset, SQLEnvironment, load
from sqlenv_core.protocol import SQLAction
from sqlenv_core.tools import SYSTEM_PROMPT
from sqlenv_train import SQLEnvFactory, SQLEnvRewards, TrainConfig, prompt_rows, train
from sqlenv_train.adapter import SQLEnvToolEnvironment, mixed_prompt_rows
from sqlenv_train.sft import answer_text

WRONG_ANSWER = "-987654321"


class ScriptedGenerate:
    """Stands in for ``model.generate``: the oracle's next tool call for each prompt of the batch.

    Turn 0 queries the gold SQL, turn 1 answers the gold result (or a wrong value), then it stops.
    """

    def __init__(self, tokenizer: Any, datasets: list[Dataset], *, wrong: bool = False) -> None:
        self.tokenizer = tokenizer
        self.wrong = wrong
        self.questions = {(q.prompt.split("\n", 1)[0], q.db_id): (d, q) for d in datasets for q in d}
        self.prompts: list[str] = []

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        pad = self.tokenizer.pad_token_id
        completions: list[list[int]] = []
        masks = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        for row, mask in zip(input_ids, masks, strict=True):
            text = self.tokenizer.decode(row[mask.bool()], skip_special_tokens=False)
            self.prompts.append(text)
            completions.append(self.tokenizer.encode(self._reply(text), add_special_tokens=False))
        width = max(len(c) for c in completions)
        padded = [c + [pad] * (width - len(c)) for c in completions]
        return torch.cat([input_ids, torch.tensor(padded, dtype=input_ids.dtype)], dim=1)

    def _reply(self, prompt: str) -> str:
        turn = prompt.count("<tool_response>")
        question_line = re.findall(r"Question: ([^\n]*)", prompt)[-1]
        db_id = re.findall(r"Database '([^']+)'", prompt)[-1]
        dataset, question = self.questions[(question_line, db_id)]
        if turn == 0:
            call = {"name": "query", "arguments": {"sql": question.gold_sql}}
        elif turn == 1:
            value = WRONG_ANSWER if self.wrong else answer_text(dataset.gold(question.id).rows)
            call = {"name": "answer", "arguments": {"answer": value}}
        else:
            return "Done.<|im_end|>"
        return f"<tool_call>\n{json.dumps(call)}\n</tool_call><|im_end|>"


class Capturing(GRPOTrainer):  # type: ignore[misc]
    """Keeps each batch's environments' records (the pool reuses instances, so records are copied)."""

    batches: list[list[tuple[str, str, float, bool, list[str]]]]

    def _generate_and_score_completions(self, inputs: Any) -> Any:
        output = super()._generate_and_score_completions(inputs)
        self.batches.append(
            [
                (type(env).__name__, env.rollout.question_id, env.rollout.total_reward, env.rollout.correct,
                 [t.tool for t in env.rollout.turns if t.valid and not t.after_done])
                for env in self.environments
            ]
        )  # fmt: skip
        return output


def grpo_args(tmp_path: Path, **overrides: Any) -> GRPOConfig:
    values: dict[str, Any] = dict(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=2,
        max_completion_length=256, learning_rate=1e-4, logging_steps=1, report_to="none", use_cpu=True,
        save_strategy="no", seed=0, temperature=1.0, chat_template_kwargs={"enable_thinking": False},
        max_tool_calling_iterations=4, disable_tqdm=True, activation_checkpointing=False,
    )  # fmt: skip
    values.update(overrides)
    return GRPOConfig(**values)


def oracle_return(dataset: Dataset, question_id: str, *, step_budget: int, wrong: bool = False) -> float:
    """The return the environment pays for the scripted episode, played directly on SQLEnvironment."""
    env = SQLEnvironment(dataset, step_budget=step_budget, reward="dense")
    env.reset(question_id=question_id)
    env.step(SQLAction(action_type="QUERY", argument=dataset.question(question_id).gold_sql))
    answer = WRONG_ANSWER if wrong else answer_text(dataset.gold(question_id).rows)
    env.step(SQLAction(action_type="ANSWER", argument=answer))
    total = env.state.total_reward
    env.close()
    return total


def query_only_return(dataset: Dataset, question_id: str) -> float:
    """The return of an episode with a one-step budget that the gold query spends."""
    env = SQLEnvironment(dataset, step_budget=1, reward="dense")
    env.reset(question_id=question_id)
    observation = env.step(SQLAction(action_type="QUERY", argument=dataset.question(question_id).gold_sql))
    env.close()
    assert observation.done
    return float(observation.reward or 0.0)


def trainer_for(
    tmp_path: Path, model_path: Path, factory: Any, datasets: list[Dataset], *, wrong: bool = False, **kwargs: Any
) -> tuple[Capturing, ScriptedGenerate]:
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    script = ScriptedGenerate(tokenizer, datasets, wrong=wrong)
    model.generate = script  # type: ignore[method-assign]
    args = kwargs.pop("args", None) or grpo_args(tmp_path)
    trainer = Capturing(model=model, args=args, processing_class=tokenizer, environment_factory=factory, **kwargs)
    trainer.batches = []
    return trainer, script


def logged(trainer: GRPOTrainer, key: str) -> list[float]:
    return [float(entry[key]) for entry in trainer.state.log_history if entry.get(key) is not None]


@pytest.fixture(scope="module")
def easy() -> Dataset:
    return load("builtin:train?difficulty=easy&limit=6")


@pytest.mark.parametrize("wrong", [False, True], ids=["oracle", "wrong-answer"])
def test_the_environment_owns_its_reward_and_trl_logs_it_under_its_name(
    tmp_path: Path, tiny_model_path: Path, easy: Dataset, wrong: bool
) -> None:
    factory = SQLEnvFactory(easy, step_budget=5, env_reward="return", name="sqlenv_return")
    trainer, _ = trainer_for(
        tmp_path, tiny_model_path, factory, [easy], wrong=wrong,
        reward_funcs=None, train_dataset=HFDataset.from_list(prompt_rows(easy)),
    )  # fmt: skip
    trainer.train()
    per_step = logged(trainer, "rewards/sqlenv_return/mean")
    assert len(per_step) == 2 == len(trainer.batches)
    for mean, batch in zip(per_step, trainer.batches, strict=True):
        assert [tools for *_, tools in batch] == [["query", "answer"]] * 4, (
            "every scripted call reached the environment"
        )
        assert all(correct is not wrong for *_, correct, _ in batch)
        expected = [oracle_return(easy, qid, step_budget=5, wrong=wrong) for _, qid, *_ in batch]
        assert [total for _, _, total, *_ in batch] == pytest.approx(expected)
        assert mean == pytest.approx(sum(expected) / len(expected), abs=1e-6)
    assert (min(per_step) > 0.9) is not wrong
    assert logged(trainer, "reward") == pytest.approx(per_step, abs=1e-6), "get_reward is the only reward here"


def test_correctness_owned_by_the_environment_sits_beside_the_three_functions(
    tmp_path: Path, tiny_model_path: Path, easy: Dataset
) -> None:
    factory = SQLEnvFactory(easy, step_budget=5, env_reward="correctness", name="solved")
    rewards = SQLEnvRewards()
    trainer, _ = trainer_for(
        tmp_path, tiny_model_path, factory, [easy], wrong=True, reward_funcs=rewards.functions,
        train_dataset=HFDataset.from_list(prompt_rows(easy)),
        args=grpo_args(tmp_path, max_steps=1, reward_weights=list(rewards.default_weights)),
    )  # fmt: skip
    trainer.train()
    assert logged(trainer, "rewards/solved/mean") == [0.0]
    assert logged(trainer, "rewards/correctness/mean") == [0.0]
    assert logged(trainer, "rewards/format_validity/mean") == [1.0]


def test_training_without_a_dataset_draws_one_fresh_question_per_group(
    tmp_path: Path, tiny_model_path: Path, easy: Dataset
) -> None:
    factory = SQLEnvFactory.dataset_free(easy, num_generations=2, seed=3, step_budget=5, env_reward="return")
    trainer, script = trainer_for(
        tmp_path, tiny_model_path, factory, [easy], reward_funcs=None, train_dataset=None,
        args=grpo_args(tmp_path, max_steps=3),
    )  # fmt: skip
    trainer.train()
    assert trainer.state.global_step == 3, "max_steps bounds a run without a dataset"
    played = [qid for batch in trainer.batches for _, qid, *_ in batch]
    assert len(played) == 12
    groups = [played[i : i + 2] for i in range(0, 12, 2)]
    assert all(a == b for a, b in groups), "both rollouts of a GRPO group play the same question"
    assert sorted(g[0] for g in groups) == sorted(q.id for q in easy), "a pass over the data before any repeat"
    assert [g[0] for g in groups] == factory.draw.drawn  # type: ignore[union-attr]
    first_turns = [p for p in script.prompts if "<tool_response>" not in p]
    assert first_turns and all(SYSTEM_PROMPT in p for p in first_turns), "reset() supplies the instructions"
    assert min(logged(trainer, "rewards/SQLEnv/mean")) > 0.9


def test_several_environments_in_one_run_route_rows_tools_and_rewards(
    tmp_path: Path, tiny_model_path: Path, easy: Dataset
) -> None:
    other = load("builtin:eval?difficulty=easy&limit=4")
    factories = {
        "roomy": SQLEnvFactory(easy, step_budget=5, env_reward="return", name="roomy"),
        "tight": SQLEnvFactory(other, step_budget=1, env_reward="return", name="tight"),
    }
    rows = mixed_prompt_rows(factories, shuffle_seed=1)
    trainer, script = trainer_for(
        tmp_path, tiny_model_path, factories, [easy, other], reward_funcs=None,
        train_dataset=HFDataset.from_list(rows), args=grpo_args(tmp_path, max_steps=3),
    )  # fmt: skip
    trainer.train()
    seen = {name: set[str]() for name in factories}
    for batch in trainer.batches:
        for env_name, qid, total, correct, tools in batch:
            seen[env_name].add(qid)
            if env_name == "roomy":
                assert correct and tools == ["query", "answer"]
                assert total == pytest.approx(oracle_return(easy, qid, step_budget=5))
            else:  # a budget of one step: the query spends it and the episode ends before the answer
                assert not correct and tools == ["query"]
                assert total == pytest.approx(query_only_return(other, qid))
    assert seen["roomy"] and seen["tight"]
    assert seen["roomy"] <= {q.id for q in easy} and seen["tight"] <= {q.id for q in other}
    assert any("[1 steps left]" in p for p in script.prompts) and any("[5 steps left]" in p for p in script.prompts)
    # Each environment's reward is its own column, logged only for steps that played it (never as a 0).
    roomy, tight = logged(trainer, "rewards/roomy/mean"), logged(trainer, "rewards/tight/mean")
    assert roomy and all(v > 0.9 for v in roomy)
    assert tight and all(v < 0 for v in tight)
    instances = factories["roomy"].instances + factories["tight"].instances
    assert all(isinstance(env, SQLEnvToolEnvironment) for env in instances)


def test_train_with_the_environment_owning_reward_and_data(tmp_path: Path, tiny_model_path: Path) -> None:
    config = TrainConfig.smoke(
        output_dir=str(tmp_path), sft_steps=0, eval_dataset=None, steps=2, show_progress=False,
        reward_source="environment", env_reward="correctness", draw_questions=True,
    )  # fmt: skip
    result = train(config)
    assert result.steps == 2
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    steps = [entry for entry in log if "reward" in entry]
    assert len(steps) == 2
    for entry in steps:
        # The training reward is the environment's alone; the three functions are logged beside it.
        assert entry["reward"] == pytest.approx(entry["rewards/SQLEnv/mean"])
        assert "rewards/correctness/mean" in entry and "rewards/format_validity/mean" in entry
    rollouts = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert len(rollouts) == 2 * 4
    played = [r["question_id"] for r in rollouts]
    groups = [played[i : i + 4] for i in range(0, len(played), 4)]
    assert all(len(set(group)) == 1 for group in groups), "a group of num_generations=4 plays one question"
    assert len({group[0] for group in groups}) == 2, "each step draws a fresh question"


def test_train_config_rejects_unknown_reward_sources() -> None:
    from sqlenv_train import ConfigError

    with pytest.raises(ConfigError, match="reward_source must be one of functions, environment, both") as info:
        TrainConfig.smoke(reward_source="judge", env_reward="vibes").validate()
    assert "env_reward must be one of return, correctness" in str(info.value)
