"""The transfer experiment at smoke size: a model built from scratch, warm start, GRPO, held-out evaluations.

The full run is ``bench/bench_transfer.py`` (about 25 minutes); this one takes under a minute and
checks what the benchmark's figures rest on: the three evaluations are on the held-out split and
say so, ``transfer.json`` has its shape, held-out progress is logged during GRPO, and the saved
models load and score through ``sqlenv-train eval``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="needs the training stack (trl): run `uv run nox -s train`")

from transformers import AutoModelForCausalLM, AutoTokenizer

from sqlenv_core import load
from sqlenv_train import TrainConfig, train
from sqlenv_train.sft import _tokenize_for_sft, oracle_conversations, run_sft, sft_rows  # pyright: ignore[reportPrivateUsage]
from sqlenv_train.tiny import TinyModelSpec, build_tiny_model
from sqlenv_train.transfer import TransferConfig, copy_pretrain, run_transfer

# Three disjoint sets of generated tasks: the eval split's domains never appear in training.
TRAIN = "procgen:train?seed=1&n=24&level=1-2"
GRPO = "procgen:train?seed=2&n=16&level=1"
HELD_OUT = "procgen:eval?seed=3&n=6&level=1-2"


@pytest.fixture(scope="module")
def transfer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("transfer")
    config = TransferConfig(
        out_dir=str(out),
        sft_dataset=TRAIN,
        grpo_dataset=GRPO,
        eval_dataset=HELD_OUT,
        model=TinyModelSpec(
            vocab_size=1024,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            word_tokens=True,
        ),
        sft_steps=30,
        sft_batch_size=8,
        copy_steps=4,
        train={
            "steps": 3,
            "num_generations": 2,
            "batch_size": 4,
            "gradient_accumulation_steps": 1,
            "learning_rate": 1e-4,
            "max_turns": 3,
            "max_completion_length": 192,
            "step_budget": 4,
            "eval_max_new_tokens": 40,
            "eval_steps": 2,
            "eval_steps_limit": 3,
            "curriculum": True,
            "loss_type": "dr_grpo",
        },
    )
    return out, run_transfer(config, show_progress=False)


def test_transfer_json_has_every_stage_on_the_held_out_split(transfer: tuple[Path, dict[str, Any]]) -> None:
    out, summary = transfer
    assert json.loads((out / "transfer.json").read_text()) == json.loads(json.dumps(summary, default=str))
    for stage in ("untrained", "sft", "grpo"):
        result = summary[stage]
        assert result["n"] == 6 and result["dataset"] == HELD_OUT and result["split"] == "eval"
        low, high = result["ci95"]
        assert low <= result["solve_rate"] <= high
        assert sum(group["n"] for group in result["by_level"].values()) == 6
        assert set(result["by_level"]) == {"level-1", "level-2"}
    assert summary["datasets"] == {"sft": TRAIN, "grpo": GRPO, "eval": HELD_OUT}
    assert summary["untrained"]["solve_rate"] == 0.0  # a random model answers nothing
    assert summary["sft"]["ci95"][1] > 0 and summary["model"]["parameters"] > 0
    assert summary["seconds"]["total_s"] > 0 and summary["machine"]["cpus"]
    # The copy pre-training ran first, and the warm start started from the model it saved.
    assert summary["copy_pretrain"]["steps"] == 4 and summary["seconds"]["copy_pretrain_s"] > 0
    assert summary["config"]["train"]["model"] == str(out / "copy_pretrained")


def test_held_out_progress_is_logged_during_grpo(transfer: tuple[Path, dict[str, Any]]) -> None:
    out, summary = transfer
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    held = [entry for entry in log if "heldout/solve_rate" in entry]
    assert [entry["step"] for entry in held] == [2]  # step 3 is the final evaluation's
    assert held[0]["heldout/episodes"] == 3 and "reward" in held[0]
    assert summary["heldout_during_grpo"][0]["step"] == 2
    report = json.loads((out / "eval_step_2.json").read_text())
    assert report["metadata"]["grpo_step"] == 2 and report["metadata"]["dataset"] == HELD_OUT
    assert report["metadata"]["held_out"] is True and report["metadata"]["split"] == "eval"
    sft_log = [json.loads(line) for line in (out / "sft_log.jsonl").read_text().splitlines()]
    assert [e["sft_step"] for e in sft_log] == list(range(1, 31))
    assert (out / "learning_curve.png").stat().st_size > 10_000


def test_saved_models_load_and_score_with_the_eval_command(transfer: tuple[Path, dict[str, Any]]) -> None:
    from sqlenv_train.cli import main

    out, _ = transfer
    for name in ("untrained", "sft", "final"):
        AutoModelForCausalLM.from_pretrained(out / name)
        AutoTokenizer.from_pretrained(out / name)
    report_path = out / "other.json"
    other = "procgen:eval?seed=11&n=3"
    code = main(
        ["eval", "--policy", "hf", "--model", str(out / "final"), "--dataset", other, "--max-tokens", "48"]
        + ["--out", str(report_path), "--no-progress"]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["summary"]["episodes"] == 3 and report["metadata"]["dataset"] == other
    assert report["usage"]["model_calls"] >= 3


def test_smoke_on_a_large_dataset_is_cut_and_an_overlapping_eval_is_named(
    tmp_path: Path, tiny_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sqlenv_train")
    config = TrainConfig.smoke(
        output_dir=str(tmp_path),
        dataset="builtin:train",  # 240 questions: smoke trains on the first 64
        eval_dataset="builtin:train?limit=2",
        steps=1,
        sft_steps=2,
        eval_steps=None,
        eval_limit=1,
        eval_max_new_tokens=16,
        show_progress=False,
    )
    train(config)
    messages = " | ".join(record.getMessage() for record in caplog.records)
    assert "training on the first 64 of the 240 questions of 'builtin:train'" in messages
    assert "shares 2 of its 2 questions with the training dataset" in messages
    first = {q.id for q in load("builtin:train").questions[:64]}
    rollouts = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert rollouts and {r["question_id"] for r in rollouts} <= first
    before = json.loads((tmp_path / "eval_before.json").read_text())
    assert before["metadata"]["held_out"] is False


def test_warm_start_drops_conversations_too_long_and_refuses_when_none_fit(
    tiny_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    rows = sft_rows(oracle_conversations("builtin:train?difficulty=easy&limit=6"))
    lengths = sorted(len(_tokenize_for_sft(tokenizer, row)[0]) for row in rows)
    caplog.set_level(logging.WARNING, logger="sqlenv_train")
    cut = lengths[len(lengths) // 2]  # about half fit
    stats = run_sft(model, tokenizer, rows, max_steps=2, batch_size=2, max_length=cut, show_progress=False)
    assert stats["examples"] == sum(n <= cut for n in lengths) < len(rows)
    assert stats["dropped_too_long"] == len(rows) - stats["examples"]
    assert "longer than" in caplog.text
    with pytest.raises(ValueError, match="longer than max_length=32 tokens"):
        run_sft(model, tokenizer, rows, max_steps=1, max_length=32, show_progress=False)


def test_letter_tokens_spell_an_unseen_name_alike_everywhere(tmp_path: Path) -> None:
    spec = TinyModelSpec(vocab_size=512, hidden_size=16, intermediate_size=32, word_tokens=True, letter_tokens=True)
    path = build_tiny_model(tmp_path / "letters", spec, dataset_spec="procgen:train?seed=1&n=6&level=1")
    tokenizer = AutoTokenizer.from_pretrained(path)
    name = "Zygomorph_visits"  # no training domain has it
    pieces = tokenizer.tokenize(name)
    assert [tokenizer.convert_tokens_to_string([p]) for p in pieces] == list("Zygomorph") + ["_"] + list("visits")
    # The same ids in the question, the table list, a tool call's JSON and SQL: copyable wherever it is read.
    ids = tokenizer(name, add_special_tokens=False)["input_ids"]
    for text in (f"How many {name} are there?", f"Tables: a, {name}", f'{{"table": "{name}"}}', f"FROM {name} WHERE"):
        found = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert any(found[i : i + len(ids)] == ids for i in range(len(found))), text


def _prompt_loss(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> float:
    """Mean loss on the tokens that are not the assistant's (question, tool results)."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            ids, mask = _tokenize_for_sft(tokenizer, row)
            labels = torch.tensor([[-100 if m else t for t, m in zip(ids, mask, strict=True)]])
            out = model(input_ids=torch.tensor([ids]), labels=labels)
            n = int((labels[0, 1:] != -100).sum())
            total, count = total + float(out.loss) * n, count + n
    return total / count


def test_all_tokens_warm_start_learns_the_questions_and_tool_results_too(tiny_model_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    rows = sft_rows(oracle_conversations("builtin:train?difficulty=easy&limit=4"))
    losses: dict[bool, float] = {}
    for all_tokens in (False, True):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
        run_sft(model, tokenizer, rows, max_steps=12, batch_size=4, show_progress=False, all_tokens=all_tokens)
        losses[all_tokens] = _prompt_loss(model, tokenizer, rows)
    assert losses[True] < losses[False] - 0.5


def test_warm_start_learning_rate_decays_to_a_tenth_when_asked(tiny_model_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    rows = sft_rows(oracle_conversations("builtin:train?difficulty=easy&limit=2"))
    for decay, final in ((False, 1e-3), (True, 1e-4)):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
        stats = run_sft(
            model, tokenizer, rows, max_steps=20, batch_size=2, learning_rate=1e-3, lr_decay=decay, show_progress=False
        )
        assert stats["final_learning_rate"] == pytest.approx(final)


def test_copy_pretraining_runs_its_steps_and_lowers_the_loss(tiny_model_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    seen: list[int] = []
    summary = copy_pretrain(model, tokenizer, steps=12, batch_size=4, on_step=lambda step, _: seen.append(step))
    assert seen == list(range(1, 13))
    assert len(summary["losses"]) == 12 and summary["examples"] == 48
    assert summary["last_loss"] < summary["first_loss"]
    with pytest.raises(ValueError, match="at least 1 step"):
        copy_pretrain(model, tokenizer, steps=0)
