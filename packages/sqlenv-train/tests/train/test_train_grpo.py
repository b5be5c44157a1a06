"""Real GRPO: the tiny model, warm-started, trained by TRL's GRPOTrainer over in-process SQLEnv.

One module-scoped ``train()`` run (the smoke recipe) feeds most tests; one test drives
``GRPOTrainer`` directly to look at the token masks of its rollouts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="needs the training stack (trl): run `uv run nox -s train`")

import torch
from datasets import Dataset as HFDataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from sqlenv_client import SQLEnvClient
from sqlenv_core import load
from sqlenv_train import HFPolicy, SQLEnvFactory, SQLEnvRewards, TrainConfig, TrainResult, evaluate, prompt_rows, train
from sqlenv_train.adapter import trl_tool_schemas
from sqlenv_train.report import write_comparison


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> TrainResult:
    out = tmp_path_factory.mktemp("smoke")
    return train(TrainConfig.smoke(output_dir=str(out), show_progress=False))


def test_the_smoke_run_writes_every_artifact(smoke: TrainResult) -> None:
    out = Path(smoke.output_dir)
    for name in (
        "config.json",
        "train_log.jsonl",
        "rollouts.jsonl",
        "eval_before.json",
        "eval_warm_start.json",
        "eval_after.json",
        "learning_curve.png",
        "summary.json",
        "sft.json",
        "sft_log.jsonl",
        "eval_step_2.json",
    ):
        assert (out / name).is_file(), name
    assert (Path(smoke.model_dir) / "config.json").is_file()
    assert smoke.steps == 4
    assert smoke.sft is not None and smoke.sft["last_loss"] < smoke.sft["first_loss"] / 10
    summary = json.loads((out / "summary.json").read_text())
    assert summary["solve_rate_after"] == smoke.solve_rate_after
    assert 0 < summary["env_share_of_train"] < 0.5


def test_rollouts_called_tools_and_were_logged_with_flags(smoke: TrainResult) -> None:
    lines = [json.loads(line) for line in (Path(smoke.output_dir) / "rollouts.jsonl").read_text().splitlines()]
    assert len(lines) == 4 * 4  # 4 steps x batch 4
    executed = [turn for line in lines for turn in line["turns"] if turn["valid"] and not turn["after_done"]]
    assert executed, "the warm-started model made no tool call the environment executed"
    assert {turn["tool"] for turn in executed} <= {"describe", "sample", "query", "answer"}
    assert all("flags" in line and "transcript" in line for line in lines)
    log = [json.loads(line) for line in (Path(smoke.output_dir) / "train_log.jsonl").read_text().splitlines()]
    steps = [entry for entry in log if "reward" in entry]
    assert len(steps) == 4
    for key in (
        "rewards/correctness/mean",
        "rewards/shaped_return/mean",
        "rewards/format_validity/mean",
        "sqlenv/no_tool_calls",
        "sqlenv/truncated",
        "tools/call_frequency",
    ):
        assert key in steps[0], key


def test_evaluations_before_and_after_are_reports(smoke: TrainResult, tmp_path: Path) -> None:
    out = Path(smoke.output_dir)
    before = json.loads((out / "eval_before.json").read_text())
    after = json.loads((out / "eval_after.json").read_text())
    assert before["summary"]["episodes"] == after["summary"]["episodes"] == 6
    assert after["usage"]["model_calls"] > 0 and after["usage"]["completion_tokens"] > 0
    assert after["metadata"]["stage"] == "after" and after["metadata"]["versions"]["trl"]
    # The smoke run trains on builtin:train and evaluates on the held-out databases of builtin:eval.
    for report in (before, after):
        assert report["metadata"]["dataset"] == "builtin:eval?difficulty=easy"
        assert report["metadata"]["split"] == "eval" and report["metadata"]["held_out"] is True
        assert report["metadata"]["trained_on"] == "builtin:train?difficulty=easy&limit=16"
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    held = [entry for entry in log if "heldout/solve_rate" in entry]
    assert [entry["step"] for entry in held] == [2] and held[0]["heldout/episodes"] == 3
    table, files = write_comparison(
        [out / "eval_before.json", out / "eval_warm_start.json", out / "eval_after.json"],
        tmp_path,
        train_log=out / "train_log.jsonl",
    )
    assert "| before |" in table and "| after |" in table
    assert {f.name for f in files} == {
        "comparison.md",
        "report.html",
        "solve_rate.png",
        "by_difficulty.png",
        "steps.png",
        "learning_curve.png",
    }
    assert all(f.stat().st_size > 1000 for f in files if f.suffix == ".png")
    # train() wrote its own report.html: the three evaluations side by side, the curves of every step.
    page = (out / "report.html").read_text()
    episodes = before["summary"]["episodes"]
    assert page.count('<section class="episode"') == episodes and page.count('<div class="side"') == episodes * 3
    assert page.count('<svg class="chart"') >= 2 and "Reward per GRPO step" in page


class CapturingTrainer(GRPOTrainer):  # type: ignore[misc]
    """Keeps what each batch of rollouts produced (TRL's private step; the masks are not exposed otherwise)."""

    captured: list[dict[str, Any]]

    def _generate_and_score_completions(self, inputs: Any) -> Any:
        output = super()._generate_and_score_completions(inputs)
        self.captured.append({k: output[k] for k in ("completion_ids", "completion_mask", "tool_mask") if k in output})
        return output


def test_grpo_steps_execute_tools_mask_their_tokens_and_change_parameters(smoke: TrainResult, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(smoke.model_dir)
    model = AutoModelForCausalLM.from_pretrained(smoke.model_dir)
    data = load("builtin:train?difficulty=easy&limit=16")
    factory = SQLEnvFactory(data, step_budget=5)
    rewards = SQLEnvRewards(max_completion_length=256)
    args = GRPOConfig(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=256, learning_rate=1e-4, logging_steps=1, report_to="none", use_cpu=True,
        save_strategy="no", seed=0, temperature=1.0, chat_template_kwargs={"enable_thinking": False},
        reward_weights=list(rewards.default_weights), max_tool_calling_iterations=4, disable_tqdm=True,
        activation_checkpointing=False,
    )  # fmt: skip
    # Temperature 1: the warm-started model solves these questions, and at 0.7 every rollout of a
    # group came out the same (zero advantage, so GRPO has nothing to move the weights with).
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = CapturingTrainer(
        model=model, args=args, train_dataset=HFDataset.from_list(prompt_rows(data)), reward_funcs=rewards.functions,
        processing_class=tokenizer, environment_factory=factory,
    )  # fmt: skip
    trainer.captured = []
    trainer.train()
    changed = [name for name, p in model.named_parameters() if not torch.equal(before[name], p)]
    assert len(changed) == len(before), "every parameter tensor should move"
    records = [env.rollout for env in factory.instances]
    assert sum(r.tool_calls - r.invalid_calls for r in records) > 0
    masks = torch.cat([c["tool_mask"].flatten() for c in trainer.captured if "tool_mask" in c])
    completion = torch.cat([c["completion_mask"].flatten() for c in trainer.captured])
    masked = int(((masks == 0) & (completion == 1)).sum())
    assert masked > 0, "tool-result tokens must be masked out of the loss"
    assert int(((masks == 1) & (completion == 1)).sum()) > 0


def test_hf_policy_renders_exactly_the_prompt_grpo_trains_on(smoke: TrainResult) -> None:
    tokenizer = AutoTokenizer.from_pretrained(smoke.model_dir)
    data = load("builtin:train?difficulty=easy&limit=3")
    env = SQLEnvFactory(data)()
    row = prompt_rows(data)[0]
    start = env.reset(**row)
    trl_prompt = [row["prompt"][0], {"role": "user", "content": row["prompt"][1]["content"] + start}]
    # TRL renders the environment's bound methods; transformers turns them into these schemas.
    from transformers.utils import get_json_schema

    assert [get_json_schema(getattr(env, t["function"]["name"])) for t in trl_tool_schemas()] == trl_tool_schemas()
    expected = tokenizer.apply_chat_template(
        trl_prompt,
        tools=[env.describe, env.sample, env.query, env.answer],
        add_generation_prompt=True,
        enable_thinking=False,
        tokenize=False,
    )
    policy = HFPolicy(smoke.model_dir, name="tiny", max_new_tokens=64)
    seen: list[str] = []
    original = policy.tokenizer.apply_chat_template

    def spy(messages: Any, **kwargs: Any) -> Any:
        seen.append(original(messages, **{**kwargs, "tokenize": False, "return_dict": False, "return_tensors": None}))
        return original(messages, **kwargs)

    policy.tokenizer.apply_chat_template = spy  # type: ignore[method-assign]
    with SQLEnvClient.local(data) as client:
        report = evaluate(policy, client, [q.id for q in data], dataset=data, show_progress=False)
    assert seen[0] == expected
    assert len(report.episodes) == 3
    usage = report.usage()
    assert usage["model_calls"] >= 3 and usage["prompt_tokens"] > 0 and usage["latency_s"] > 0


def test_lora_run_with_checkpoints_saves_a_merged_model(tmp_path: Path, tiny_model_path: Path) -> None:
    pytest.importorskip("peft", reason="needs peft (the lora extra): run `uv run nox -s train`")
    config = TrainConfig.smoke(
        output_dir=str(tmp_path),
        lora=True,
        sft_steps=0,
        steps=2,
        save_steps=1,
        eval_dataset=None,
        eval_steps=None,
        show_progress=False,
    )
    result = train(config)
    assert result.steps == 2 and result.solve_rate_before is None and result.solve_rate_after is None
    assert (tmp_path / "checkpoint-1").is_dir() and (tmp_path / "checkpoint-2").is_dir()
    merged = AutoModelForCausalLM.from_pretrained(result.model_dir)
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_eval_cli_with_the_hf_policy_on_the_tiny_model(tmp_path: Path, tiny_model_path: Path) -> None:
    from sqlenv_train.cli import main

    out = tmp_path / "hf.json"
    assert (
        main(
            [
                "eval",
                "--policy",
                "hf",
                "--model",
                "tiny",
                "--limit",
                "2",
                "--max-tokens",
                "32",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["summary"]["episodes"] == 2 and report["usage"]["model_calls"] >= 2
    assert report["metadata"]["model"] == "tiny" and report["metadata"]["model_path"] == str(tiny_model_path)
