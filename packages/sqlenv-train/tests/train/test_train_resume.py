"""A run stops and resumes from its last checkpoint with TRL's real GRPOTrainer on the tiny model.

Run 1 trains 3 steps with a checkpoint every 2 (so checkpoint-2, and checkpoint-3 at the end); the
test then deletes checkpoint-3, as if the run had been killed after step 3 before it could save.
Run 2 (``--resume``, 5 steps) must continue from checkpoint-2 at step 3, with the trainer state,
optimizer and scheduler restored, and append to the logs: every step 1..5 logged exactly once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="needs the training stack (trl): run `uv run nox -s train`")

import torch

from sqlenv_train import TrainConfig, train
from sqlenv_train.cli import main
from sqlenv_train.training import ConfigError


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _config(out: Path, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "output_dir": str(out),
        "sft_steps": 0,
        "eval_dataset": None,
        "save_steps": 2,
        "show_progress": False,
    }
    values.update(overrides)
    return TrainConfig.smoke(**values)


def test_resume_continues_at_the_checkpoint_step_and_appends_the_logs(tmp_path: Path, tiny_model_path: Path) -> None:
    out = tmp_path / "run"
    first = train(_config(out, steps=3))
    assert first.steps == 3 and first.resumed_from is None
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-2", "checkpoint-3"}
    log = _lines(out / "train_log.jsonl")
    first_two = log[:2]
    assert [e["step"] for e in log] == [1, 2, 3]  # one line per step, no end-of-run summary line
    assert "train_runtime" in first.trainer and all("train_runtime" not in e for e in log)
    rollouts = _lines(out / "rollouts.jsonl")
    assert sorted({r["step"] for r in rollouts}) == [1, 2, 3]  # the same numbering as train_log
    step2 = [r for r in rollouts if r["step"] <= 2]
    saved_optimizer = torch.load(out / "checkpoint-2" / "optimizer.pt", weights_only=False)
    assert saved_optimizer["state"], "checkpoint-2 holds the optimizer's moments"

    shutil.rmtree(out / "checkpoint-3")  # killed after step 3, before it saved

    # Nothing to resume from elsewhere, and a setting the checkpoint was trained with cannot change.
    with pytest.raises(ConfigError, match="no checkpoint"):
        _config(tmp_path / "empty", steps=5, resume=True).validate()
    with pytest.raises(ConfigError, match="batch_size was 4"):
        _config(out, steps=6, resume=True, batch_size=8, num_generations=4).validate()

    second = train(_config(out, steps=5, resume=True))
    assert second.resumed_from == 2 and second.steps == 5
    state = json.loads((out / "checkpoint-5" / "trainer_state.json").read_text())
    assert state["global_step"] == 5
    logged = [e["step"] for e in state["log_history"] if "loss" in e]
    assert logged == [1, 2, 3, 4, 5]  # the trainer's own history went on from checkpoint-2's
    log = _lines(out / "train_log.jsonl")
    assert [e["step"] for e in log] == [1, 2, 3, 4, 5]  # step 3 of run 1 dropped, then logged again
    assert log[:2] == first_two  # run 1's lines, kept
    rollouts = _lines(out / "rollouts.jsonl")
    assert [r["step"] for r in rollouts] == sorted(r["step"] for r in rollouts)
    assert sorted({r["step"] for r in rollouts}) == [1, 2, 3, 4, 5]
    assert rollouts[: len(step2)] == step2
    assert len(rollouts) == 5 * 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"] == 2 and summary["steps"] == 5


def test_the_cli_resumes_and_every_config_field_is_a_flag(
    tmp_path: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    args = ["train", "--smoke", "--sft-steps", "0", "--eval-dataset", "none", "--no-progress", "--output-dir", str(out)]
    assert main([*args, "--steps", "2", "--save-steps", "1"]) == 0
    capsys.readouterr()
    assert main([*args, "--steps", "3", "--save-steps", "1", "--resume"]) == 0
    assert f"resuming from {out / 'checkpoint-2'}" in capsys.readouterr().err
    assert [e["step"] for e in _lines(out / "train_log.jsonl")] == [1, 2, 3]
    assert json.loads((out / "summary.json").read_text())["resumed_from"] == 2
    # A new run (no --resume) in the same folder starts over: the earlier run's checkpoints go,
    # so that a later --resume can never continue the wrong run.
    assert main([*args, "--steps", "1", "--save-steps", "1"]) == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1"]
    assert [e["step"] for e in _lines(out / "train_log.jsonl")] == [1]
