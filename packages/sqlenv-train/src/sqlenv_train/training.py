"""``train()``: GRPO with TRL over SQLEnv, with a warm start, evaluation before and after, and logs.

The default recipe is Qwen3-0.6B on a GPU. ``TrainConfig(model="tiny", ...)`` trains the tiny
local model on CPU (tests, CI, the notebook's smoke mode). Configuration errors are reported,
all at once, before any model loads (:meth:`TrainConfig.validate`).

What a run writes to ``output_dir``:

* ``config.json``: the configuration used;
* ``train_log.jsonl``: TRL's metrics at every logging step (rewards, loss, ``sqlenv/*`` flags),
  one line per step (``step`` is the GRPO step, 1 to ``steps``; the trainer's end-of-run totals go
  to ``summary.json``, not here);
* ``rollouts.jsonl``: one line per rollout (question, per-turn rewards, verdict, flags, transcript),
  with ``step`` the GRPO step it was generated for (the same numbering);
* ``eval_before.json``, ``eval_warm_start.json`` (after the SFT warm start, when there is one) and
  ``eval_after.json``: evaluation reports on the held-out split (``eval_dataset``), each naming
  its dataset and split in ``metadata``;
* ``eval_step_<N>.json`` (every ``eval_steps`` GRPO steps): held-out evaluations during GRPO, whose
  solve rate is also logged as ``heldout/solve_rate`` in ``train_log.jsonl``;
* ``sft_log.jsonl``: the warm start's loss at every step (when there is a warm start);
* ``learning_curve.png``: the warm start's loss, and per GRPO step the reward and the held-out
  solve rate (the before / warm start / after evaluations marked), each on its own axis;
* ``report.html``: one self-contained page with the curves, the evaluations and every evaluated
  episode's transcript, before and after side by side (:mod:`sqlenv_train.html_report`);
* ``checkpoint-*`` (every ``save_steps``, and at the end): model, optimizer, scheduler, RNG and
  trainer state, what ``resume=True`` continues from; ``sft/`` (the warm-started model, with
  ``save_warm_start``) and ``final/``: models and tokenizers;
* ``summary.json``: the headline numbers of the run.

``resume=True`` (``--resume``) continues the run in ``output_dir`` from its last checkpoint: the
trainer restores the model, optimizer, scheduler, step and RNG; the warm start and the
evaluations before it are not redone; the logs are kept and appended to (lines of steps after the
checkpoint, from a run stopped before it could save again, are dropped first, so every step is
logged once). ``steps`` may be raised to train further.

Needs the ``train`` extra (``lora=True`` also the ``lora`` extra; ``use_vllm=True`` vLLM on a GPU).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlenv_core.datasets import Dataset, DatasetError, load, parse_spec
from sqlenv_core.rewards import PROFILES
from sqlenv_core.tools import DEFAULT_MAX_CHARS
from sqlenv_train._deps import MissingDependencyError, install_hint, require
from sqlenv_train._json import as_object
from sqlenv_train.adapter import ENV_REWARDS, EnvReward, SQLEnvFactory, prompt_rows
from sqlenv_train.evaluate import EvalReport
from sqlenv_train.rewards import SQLEnvRewards

__all__ = ["ConfigError", "TrainConfig", "TrainResult", "load_config", "train"]

DEFAULT_MODEL = "Qwen/Qwen3-0.6B"
#: Where a run's training reward comes from (``TrainConfig.reward_source``).
REWARD_SOURCES = ("functions", "environment", "both")
#: The smoke configuration's bounds: questions trained on, and tokens per warm-start conversation.
SMOKE_MAX_QUESTIONS = 64
SMOKE_SFT_MAX_LENGTH = 1024
LOSS_TYPES = ("dapo", "grpo", "dr_grpo", "bnpo", "cispo", "sapo")
SCALE_REWARDS = ("group", "batch", "none")

logger = logging.getLogger("sqlenv_train")


class ConfigError(ValueError):
    """The training configuration is invalid; the message lists every problem found."""


@dataclass
class TrainConfig:
    """Everything a GRPO run needs. Defaults are the GPU recipe for Qwen3-0.6B.

    Attributes:
        model: a Hugging Face model name or a local folder; ``"tiny"`` builds the tiny local model.
        dataset: training questions (a spec: ``builtin:train``, ``spider:/data/spider?split=train``).
        eval_dataset: held-out questions evaluated before and after (``None``: skip evaluation).
            Learning claims need questions the model never trained on: a warning says when it is
            the training dataset itself.
        eval_limit: evaluate on at most this many questions (``None``: all).
        eval_steps: also evaluate on ``eval_dataset`` every this many GRPO steps (``None``: only
            before and after); the solve rate is logged as ``heldout/solve_rate``.
        eval_steps_limit: questions per evaluation during GRPO (``None``: ``eval_limit``).
        max_questions: train on at most the first this many questions of ``dataset`` (``None``:
            all); a warning says when it cuts. The smoke configuration sets it, so ``--smoke`` on
            a large dataset stays small.
        output_dir: where the run writes (see the module docstring).
        base_url: a SQLEnv server to train against (``None``: in-process environments).
        steps: GRPO optimiser steps.
        num_generations: group size (completions per prompt).
        batch_size: completions per device per step (a multiple of ``num_generations``).
        gradient_accumulation_steps: steps accumulated before each update.
        learning_rate: GRPO's learning rate.
        beta: KL coefficient (0: no reference model, as SkyRL-SQL and TRL's default).
        loss_type: TRL's GRPO loss (``dapo``, TRL's default; ``grpo``, ``dr_grpo``, ``bnpo``, ...).
        scale_rewards: advantage scaling: ``group`` (TRL's default), ``batch`` or ``none``.
        curriculum: feed GRPO its questions easiest first (by difficulty, then in dataset order)
            instead of shuffled.
        temperature: sampling temperature of rollouts.
        max_turns: most tool-calling rounds per rollout (TRL's ``max_tool_calling_iterations``).
        max_completion_length: tokens per rollout, tool results included.
        step_budget: exploring actions per episode (in-process environments).
        reward_profile: the environment's reward profile (``dense`` gives the shaped return).
        reward_weights: weights of correctness, shaped return and format validity.
        reward_source: ``functions`` (the three reward functions), ``environment`` (the environment
            owns the reward: TRL 1.16's ``get_reward()``, logged as ``rewards/SQLEnv/mean``; the
            three functions are still computed and logged, with weight 0) or ``both``.
        env_reward: what the environment's ``get_reward()`` pays: ``return`` (the episode's return
            under ``reward_profile``) or ``correctness`` (1/0).
        draw_questions: train without a dataset (TRL's dataset-less mode): every GRPO group plays
            a fresh question drawn from ``dataset``, and ``steps`` bounds the run (single process).
        max_chars: longest tool result shown to the model.
        sft_steps: warm-start steps before GRPO (0: none).
        sft_data: a JSONL file from ``sqlenv-train sft-data`` (default: oracle episodes on ``dataset``).
        sft_learning_rate: warm-start learning rate.
        sft_batch_size: conversations per warm-start step.
        sft_all_tokens: the warm start learns every token of its conversations (questions and tool
            results too), not only the assistant's (see :func:`~sqlenv_train.sft.run_sft`).
        sft_lr_decay: the warm start's learning rate falls along a cosine to a tenth by its last step.
        sft_max_length: drop warm-start conversations longer than this many tokens (``None``: keep
            all); a warning counts them. Bounds the warm start's memory.
        save_warm_start: save the warm-started model and tokenizer to ``output_dir/sft``.
        lora: train LoRA adapters instead of every weight (needs ``peft``).
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling.
        use_vllm: generate with vLLM (GPU only, ``pip install 'trl[vllm]'``).
        vllm_mode: ``colocate`` (same GPU) or ``server`` (a separate ``trl vllm-serve``).
        save_steps: save a checkpoint every this many steps, and at the end (``None``: only the final
            model, and the run cannot be resumed).
        save_total_limit: keep at most this many checkpoints, the newest (``None``: all).
        resume: continue the run in ``output_dir`` from its last checkpoint (see the module docstring).
        logging_steps: log metrics every this many steps.
        eval_max_new_tokens: longest reply per turn when evaluating.
        eval_temperature: 0 for greedy evaluation.
        seed: seeds everything.
        bf16: train in bfloat16 (``None``: on a GPU that has it natively, compute capability 8.0 or more).
        fp16: train in float16 mixed precision (``None``: on a GPU without native bfloat16, e.g. a T4).
        report_to: ``none``, ``wandb``, ``tensorboard``, ...
        show_progress: progress bars.
    """

    model: str = DEFAULT_MODEL
    dataset: str = "builtin:train"
    eval_dataset: str | None = "builtin:eval"
    eval_limit: int | None = None
    eval_steps: int | None = None
    eval_steps_limit: int | None = None
    max_questions: int | None = None
    output_dir: str = "runs/grpo"
    base_url: str | None = None
    steps: int = 300
    num_generations: int = 8
    batch_size: int = 8
    gradient_accumulation_steps: int = 4
    learning_rate: float = 2e-6
    beta: float = 0.0
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    curriculum: bool = False
    temperature: float = 1.0
    max_turns: int = 8
    max_completion_length: int = 2048
    step_budget: int = 10
    reward_profile: str = "dense"
    reward_weights: list[float] = field(default_factory=lambda: list(SQLEnvRewards.default_weights))
    reward_source: str = "functions"
    env_reward: str = "return"
    draw_questions: bool = False
    max_chars: int = DEFAULT_MAX_CHARS
    sft_steps: int = 0
    sft_data: str | None = None
    sft_learning_rate: float = 1e-5
    sft_batch_size: int = 8
    sft_all_tokens: bool = False
    sft_lr_decay: bool = False
    sft_max_length: int | None = None
    save_warm_start: bool = False
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    save_steps: int | None = 50
    save_total_limit: int | None = 2
    resume: bool = False
    logging_steps: int = 1
    eval_max_new_tokens: int = 256
    eval_temperature: float = 0.0
    seed: int = 0
    bf16: bool | None = None
    fp16: bool | None = None
    report_to: str = "none"
    show_progress: bool = True

    @classmethod
    def smoke(cls, **overrides: Any) -> TrainConfig:
        """A CPU run of the tiny model that finishes in about a minute (tests, CI, notebook smoke mode).

        It trains on easy questions of ``builtin:train`` and evaluates on the held-out databases of
        ``builtin:eval``, which the tiny model does not solve: the smoke run shows that the
        pipeline works, not that anything was learned. Whatever dataset it is given, it trains on
        at most 64 questions and warm-starts on conversations of at most 1,024 tokens.
        """
        values: dict[str, Any] = {
            "model": "tiny",
            "dataset": "builtin:train?difficulty=easy&limit=16",
            "eval_dataset": "builtin:eval?difficulty=easy",
            "eval_limit": 6,
            "eval_steps": 2,
            "eval_steps_limit": 3,
            "max_questions": SMOKE_MAX_QUESTIONS,
            "sft_max_length": SMOKE_SFT_MAX_LENGTH,
            "steps": 4,
            "num_generations": 4,
            "batch_size": 4,
            "gradient_accumulation_steps": 1,
            "learning_rate": 5e-5,
            "temperature": 0.7,
            "max_turns": 4,
            "max_completion_length": 256,
            "step_budget": 5,
            "sft_steps": 200,
            "sft_learning_rate": 3e-3,
            # The tiny model's tool calls are a few tokens: a longer reply is a failure already.
            "eval_max_new_tokens": 48,
            "save_steps": 2,
        }
        values.update(overrides)
        if values["eval_dataset"] is None and "eval_steps" not in overrides:
            values["eval_steps"] = None  # no held-out split asked for: nothing to evaluate during GRPO
        return cls(**values)

    def validate(self) -> None:
        """Check everything that can be checked without loading a model.

        Raises:
            ConfigError: every problem found, one per line (settings of the wrong type first:
                the other checks need the right types).
        """
        _raise_if(self._type_problems() or self._setting_problems() + self._input_problems())

    def _type_problems(self) -> list[str]:
        """Settings whose value is not of the annotated type (``None`` only where the type allows it)."""
        hints = typing.get_type_hints(type(self))
        problems: list[str] = []
        for f in dataclasses.fields(self):
            problem = _type_problem(f.name, hints[f.name], getattr(self, f.name))
            if problem is not None:
                problems.append(problem)
        return problems

    def _setting_problems(self) -> list[str]:
        problems: list[str] = []

        def need(condition: bool, message: str) -> None:
            if not condition:
                problems.append(message)

        for name in ("steps", "num_generations", "batch_size", "gradient_accumulation_steps", "max_turns"):
            need(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        need(
            self.num_generations >= 2,
            f"num_generations must be at least 2 (GRPO compares a group), got {self.num_generations}",
        )
        generation_batch = self.batch_size * self.gradient_accumulation_steps
        need(
            self.num_generations < 2 or generation_batch % max(self.num_generations, 1) == 0,
            f"batch_size x gradient_accumulation_steps ({generation_batch}) must be a multiple of "
            f"num_generations ({self.num_generations})",
        )
        need(
            self.max_completion_length >= 32,
            f"max_completion_length must be at least 32, got {self.max_completion_length}",
        )
        need(self.step_budget >= 1, f"step_budget must be at least 1, got {self.step_budget}")
        need(self.max_chars >= 200, f"max_chars must be at least 200, got {self.max_chars}")
        need(self.sft_steps >= 0, f"sft_steps must be 0 or more, got {self.sft_steps}")
        need(self.logging_steps >= 1, f"logging_steps must be at least 1, got {self.logging_steps}")
        need(
            self.steps < 1 or self.logging_steps <= self.steps,
            f"logging_steps ({self.logging_steps}) must be at most steps ({self.steps}): nothing would be logged",
        )
        need(self.save_steps is None or self.save_steps >= 1, f"save_steps must be at least 1, got {self.save_steps}")
        need(
            self.save_total_limit is None or self.save_total_limit >= 1,
            f"save_total_limit must be at least 1, got {self.save_total_limit}",
        )
        for name in ("eval_limit", "eval_steps", "eval_steps_limit", "max_questions"):
            value = getattr(self, name)
            need(value is None or value >= 1, f"{name} must be at least 1, got {value}")
        need(
            self.sft_max_length is None or self.sft_max_length >= 32,
            f"sft_max_length must be at least 32, got {self.sft_max_length}",
        )
        need(
            self.eval_steps is None or self.eval_dataset is not None,
            "eval_steps needs an eval_dataset (the held-out questions to evaluate on)",
        )
        need(self.loss_type in LOSS_TYPES, f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {self.loss_type!r}")
        need(
            self.scale_rewards in SCALE_REWARDS,
            f"scale_rewards must be one of {', '.join(SCALE_REWARDS)}, got {self.scale_rewards!r}",
        )
        for name in ("learning_rate", "sft_learning_rate"):
            value = getattr(self, name)
            need(math.isfinite(value) and value > 0, f"{name} must be a positive number, got {value}")
        need(
            math.isfinite(self.temperature) and self.temperature > 0,
            f"temperature must be positive, got {self.temperature}",
        )
        need(self.beta >= 0, f"beta must be 0 or more, got {self.beta}")
        need(not (self.bf16 and self.fp16), "bf16 and fp16 cannot both be on")
        need(
            len(self.reward_weights) == 3 and all(math.isfinite(w) for w in self.reward_weights),
            "reward_weights must be 3 numbers (correctness, shaped_return, format_validity), "
            f"got {self.reward_weights}",
        )
        need(
            self.reward_profile in PROFILES,
            f"reward_profile must be one of {', '.join(PROFILES)}, got {self.reward_profile!r}",
        )
        need(
            self.reward_source in REWARD_SOURCES,
            f"reward_source must be one of {', '.join(REWARD_SOURCES)}, got {self.reward_source!r}",
        )
        need(
            self.env_reward in ENV_REWARDS,
            f"env_reward must be one of {', '.join(ENV_REWARDS)}, got {self.env_reward!r}",
        )
        need(
            self.vllm_mode in ("colocate", "server"),
            f"vllm_mode must be 'colocate' or 'server', got {self.vllm_mode!r}",
        )
        return problems

    def _input_problems(self) -> list[str]:
        """Datasets, files, the model folder, the server URL and the installed dependencies."""
        problems = [p for name in ("dataset", "eval_dataset") for p in _spec_problems(name, getattr(self, name))]
        if self.sft_data is not None and not Path(self.sft_data).is_file():
            problems.append(f"sft_data: no file at {self.sft_data}")
        if self.model != "tiny" and _looks_like_path(self.model) and not Path(self.model).expanduser().exists():
            problems.append(f"model: no folder at {self.model} (give a Hugging Face name, a local folder or 'tiny')")
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://", "ws://", "wss://")):
            problems.append(f"base_url must start with http://, https://, ws:// or wss://, got {self.base_url!r}")
        return problems + self._resume_problems() + self._dependency_problems()

    def _resume_problems(self) -> list[str]:
        """With ``resume``: a checkpoint to continue from, and the settings it was trained with."""
        if not self.resume:
            return []
        checkpoint = last_checkpoint(self.output_dir)
        if checkpoint is None:
            return [f"resume: no checkpoint-* folder in {self.output_dir} (checkpoints are saved every save_steps)"]
        problems: list[str] = []
        try:
            saved = as_object(json.loads((Path(self.output_dir) / "config.json").read_text(encoding="utf-8"))) or {}
        except (OSError, ValueError):
            saved = {}
        for name in _FIXED_ON_RESUME:
            if name in saved and saved[name] != getattr(self, name):
                problems.append(
                    f"resume: {name} was {saved[name]!r} in the run being resumed, not {getattr(self, name)!r}"
                )
        done = checkpoint_step(checkpoint)
        if done >= self.steps:
            problems.append(f"resume: {checkpoint.name} is at step {done}; raise steps above {done} to train further")
        return problems

    def _dependency_problems(self) -> list[str]:
        problems: list[str] = []
        missing: list[str] = []
        for module in ("torch", "transformers", "trl"):
            try:
                require(module)
            except MissingDependencyError:
                missing.append(module)
        if missing:  # one line for the whole stack: its install command is the same
            problems.append(f"{', '.join(missing)} not installed: {install_hint('train')}")
        if self.lora:
            try:
                require("peft")
            except MissingDependencyError as exc:
                problems.append(str(exc))
        if self.use_vllm:
            try:
                require("vllm")
            except MissingDependencyError as exc:
                problems.append(f"use_vllm: {exc}")
        return problems


#: Settings a resumed run must share with the run it continues (its checkpoint was trained with them).
_FIXED_ON_RESUME = (
    "model",
    "dataset",
    "num_generations",
    "batch_size",
    "gradient_accumulation_steps",
    "lora",
    "lora_r",
    "lora_alpha",
    "seed",
)


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``checkpoint-N`` folder of ``output_dir`` with the largest ``N`` (``None``: there is none)."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.removeprefix("checkpoint-").isdigit()]
    return max(found, key=checkpoint_step) if found else None


def checkpoint_step(checkpoint: Path) -> int:
    """The GRPO step a ``checkpoint-N`` folder was saved at."""
    return int(checkpoint.name.removeprefix("checkpoint-"))


def _keep_steps_up_to(path: Path, step: int) -> None:
    """Drop the lines of a JSONL log whose ``step`` is after ``step`` (a resumed run logs them again)."""
    if not path.is_file():
        return
    kept: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = as_object(json.loads(line))
        except ValueError:
            continue  # a line cut short when the run was stopped
        if entry is not None and int(entry.get("step", 0)) <= step:
            kept.append(line)
    path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")


def _spec_problems(name: str, spec: str | None) -> list[str]:
    """What is wrong with a dataset spec, found without loading it (``[]``: nothing)."""
    if spec is None:
        return []
    try:
        parsed = parse_spec(spec)
        if parsed.kind == "builtin":
            load(spec, compute_gold=False)  # instant: checks the split and the filters
        elif parsed.kind != "procgen" and not Path(parsed.target).expanduser().exists():
            # (procgen: parse_spec checked the split and every option; databases are made on load)
            return [f"{name}: no such path {parsed.target!r} in {spec!r}"]
    except DatasetError as exc:
        return [f"{name}: {exc}"]
    return []


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ConfigError("invalid training configuration:\n  - " + "\n  - ".join(problems))


def _type_problem(name: str, hint: Any, value: object) -> str | None:
    """Why ``value`` does not fit the annotation ``hint`` (``None`` when it does)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if typing.get_origin(hint) is list:
        (item,) = args
        fits = isinstance(value, list | tuple) and all(_fits(item, v) for v in typing.cast("Sequence[object]", value))
        if fits:
            return None
        return f"{name} must be a list of {_type_name(item)}s, got {value!r}"
    return None if _fits(hint, value) else f"{name} must be {_type_name(hint)}, got {value!r}"


def _fits(kind: Any, value: object) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _type_name(kind: Any) -> str:
    return "number" if kind is float else getattr(kind, "__name__", str(kind))


def _looks_like_path(model: str) -> bool:
    # "Qwen/Qwen3-0.6B" is a hub name; "./runs/x", "/models/x" and "~/x" are folders.
    return model.startswith(("./", "../", "/", "~"))


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a TOML or JSON file (keys as the attributes), then ``overrides``.

    ``None`` overrides are ignored (unset command-line flags).

    Raises:
        ConfigError: unreadable file, unknown keys (with the known ones listed) or wrong types
            (every one listed).
    """
    values: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {file}: {exc}") from None
        try:
            loaded = as_object(json.loads(text) if file.suffix == ".json" else tomllib.loads(text))
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{file}: not valid {'JSON' if file.suffix == '.json' else 'TOML'}: {exc}") from None
        if loaded is not None and as_object(loaded.get("train")) is not None:
            loaded = as_object(loaded["train"])
        if loaded is None:
            raise ConfigError(f"{file}: expected a table of settings")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    config = TrainConfig(**values)
    _raise_if(config._type_problems())  # pyright: ignore[reportPrivateUsage]
    return config


@dataclass
class TrainResult:
    """What :func:`train` returns (also written as ``summary.json``)."""

    output_dir: str
    model_dir: str
    steps: int
    train_seconds: float
    seconds_per_step: float
    sft: dict[str, float] | None
    solve_rate_before: float | None
    solve_rate_warm_start: float | None
    solve_rate_after: float | None
    reward_first: float | None
    reward_last: float | None
    flag_rates: dict[str, float]
    env_seconds: float
    env_share_of_train: float
    resumed_from: int | None = None
    trainer: dict[str, float] = field(default_factory=lambda: {})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def resolve_model(model: str) -> str:
    """``"tiny"`` → the folder of the (built or cached) tiny model; anything else unchanged."""
    if model == "tiny":
        from sqlenv_train.tiny import build_tiny_model

        return str(build_tiny_model())
    return model


def _solve_rate(report: EvalReport | None) -> float | None:
    return None if report is None else report.solve_rate


def _evaluation(
    model: Any,
    tokenizer: Any,
    config: TrainConfig,
    dataset: Dataset | None,
    out: Path,
    label: str,
    *,
    limit: int | None = None,
    step: int | None = None,
    held_out: bool = True,
) -> EvalReport | None:
    """Evaluate greedily (as configured) on the held-out dataset; the report names dataset, split and stage."""
    if dataset is None:
        return None
    from sqlenv_client import SQLEnvClient
    from sqlenv_train.evaluate import evaluate
    from sqlenv_train.hf import HFPolicy

    ids = [q.id for q in dataset][: limit if limit is not None else config.eval_limit]
    policy = HFPolicy(
        model,
        tokenizer,
        name=f"{label}",
        temperature=config.eval_temperature,
        max_new_tokens=config.eval_max_new_tokens,
        max_chars=config.max_chars,
        seed=config.seed,
    )
    was_training = bool(model.training)
    model.eval()
    with SQLEnvClient.local(dataset, step_budget=config.step_budget, reward=config.reward_profile) as env:
        report = evaluate(
            policy,
            env,
            ids,
            dataset=dataset,
            show_progress=config.show_progress,
            metadata={
                "model": config.model,
                "dataset": config.eval_dataset,
                "held_out": held_out,
                "trained_on": config.dataset,
                "seed": config.seed,
                "stage": label,
                **({"grpo_step": step} if step is not None else {}),
            },
        )
    if was_training:
        model.train()
    report.save(out)
    low, high = report.solve_rate_ci95
    logger.info(
        "%s: solved %d/%d of %s (%.1f%%, 95%% CI %.1f-%.1f%%)",
        label,
        sum(e.solved for e in report.episodes),
        len(report.episodes),
        config.eval_dataset,
        100 * report.solve_rate,
        100 * low,
        100 * high,
    )
    return report


def _heldout_callback(
    config: TrainConfig, model_tokenizer: tuple[Any, Any], dataset: Dataset, out: Path, holder: dict[str, Any]
) -> Any:
    """Evaluates on the held-out split every ``eval_steps`` GRPO steps and logs it as ``heldout/*``.

    The figures go into the trainer's metrics of that step, so ``train_log.jsonl`` (and wandb or
    tensorboard with ``report_to``) show them beside the reward. The last step is left to the
    ``after`` evaluation.
    """
    transformers = require("transformers")
    _, tokenizer = model_tokenizer

    class HeldOutEval(transformers.TrainerCallback):  # pyright: ignore[reportUntypedBaseClass]
        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            step = int(state.global_step)
            if not config.eval_steps or step % config.eval_steps or step >= int(state.max_steps):
                return
            report = _evaluation(
                model if model is not None else model_tokenizer[0],
                tokenizer,
                config,
                dataset,
                out / f"eval_step_{step}.json",
                f"GRPO step {step}",
                limit=config.eval_steps_limit or config.eval_limit,
                step=step,
                held_out=holder.get("held_out", True),
            )
            if report is None:
                return
            low, high = report.solve_rate_ci95
            metrics = {
                "heldout/solve_rate": report.solve_rate,
                "heldout/ci95_low": low,
                "heldout/ci95_high": high,
                "heldout/episodes": float(len(report.episodes)),
                "heldout/mean_return": report.mean_return,
            }
            trainer = holder.get("trainer")
            store: Any = getattr(trainer, "_metrics", None)
            if isinstance(store, dict) and "train" in store:
                for key, value in metrics.items():
                    store["train"][key].append(value)  # logged with this step's metrics
            else:  # a TRL without per-step metrics: write the line ourselves
                with (out / "train_log.jsonl").open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"step": step, **metrics}) + "\n")

    return HeldOutEval()


def _eval_label(config: TrainConfig, dataset: Dataset | None) -> str:
    if dataset is None:
        return ""
    limit = config.eval_limit if config.eval_limit is not None else len(dataset)
    return f"{config.eval_dataset} ({min(limit, len(dataset))} questions)"


def _load_training_data(config: TrainConfig) -> Dataset:
    """The training dataset, cut to ``max_questions`` (before any gold answer is computed)."""
    if config.max_questions is None:
        data = load(config.dataset)
    else:
        data = load(config.dataset, compute_gold=False)
        if len(data) > config.max_questions:
            logger.warning(
                "training on the first %d of the %d questions of %r (max_questions; the smoke configuration "
                "sets it to keep the run small)",
                config.max_questions,
                len(data),
                config.dataset,
            )
            data = first_questions(data, config.max_questions)
        data.compute_gold()
    if len(data) == 0:
        raise ConfigError(f"dataset {config.dataset!r} has no usable questions")
    return data


def _load_eval_data(config: TrainConfig, train_data: Dataset) -> tuple[Dataset | None, bool]:
    """The held-out dataset, and whether it is held out; a warning when it shares questions with the training data."""
    if config.eval_dataset is None:
        return None, False
    eval_data = load(config.eval_dataset)
    seen = {q.id for q in train_data}
    overlap = sum(q.id in seen for q in eval_data)
    if config.eval_dataset == config.dataset or overlap:
        logger.warning(
            "eval_dataset %r shares %d of its %d questions with the training dataset %r: its solve rate "
            "measures memorisation, not learning; evaluate on a held-out split",
            config.eval_dataset,
            overlap,
            len(eval_data),
            config.dataset,
        )
        return eval_data, False
    return eval_data, True


def first_questions(data: Dataset, n: int) -> Dataset:
    """The first ``n`` questions of ``data`` as a dataset of their own (only the databases they use)."""
    kept = data.questions[:n]
    used = {q.db_id for q in kept}
    return Dataset(
        data.name,
        kept,
        {db_id: path for db_id, path in data.databases.items() if db_id in used},
        skipped=data.skipped,
        limits=data.limits,
        gold_cache=data.gold_cache,
    )


def _curriculum(rows: list[dict[str, Any]], needed: int, seed: int) -> list[dict[str, Any]]:
    """The ``needed`` rows the run will use (a seeded draw keeping the dataset's mix), easiest first."""
    import random

    order = {"easy": 0, "medium": 1, "hard": 2, "extra": 3}

    def rank(row: dict[str, Any]) -> tuple[int, str]:
        difficulty = str(row.get("difficulty", ""))
        digits = "".join(ch for ch in difficulty if ch.isdigit())
        return (int(digits) if digits else order.get(difficulty, 9), difficulty)

    drawn = list(rows)
    random.Random(seed).shuffle(drawn)
    return sorted(drawn[: max(needed, 1)], key=rank)  # stable: the draw's order within a level


#: Keys of the trainer's one end-of-run log (totals, not a step): kept for summary.json.
_RUN_TOTALS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss")


def _precision(config: TrainConfig, torch: Any) -> tuple[bool, bool]:
    """(bf16, fp16): as configured, else bf16 where the GPU has it natively and fp16 on other GPUs."""
    from sqlenv_train.recipe import dtype_for

    cuda = bool(torch.cuda.is_available())
    native = cuda and dtype_for(tuple(torch.cuda.get_device_capability(0))) == "bf16"
    bf16 = config.bf16 if config.bf16 is not None else native
    fp16 = config.fp16 if config.fp16 is not None else bool(cuda and not bf16)
    return bool(bf16), bool(fp16)


def _saved_solve_rate(path: Path) -> float | None:
    """The solve rate of a report written by an earlier part of the run (``None``: there is none)."""
    if not path.is_file():
        return None
    summary = as_object((as_object(json.loads(path.read_text(encoding="utf-8"))) or {}).get("summary")) or {}
    rate = summary.get("solve_rate")
    return float(rate) if isinstance(rate, int | float) else None


def _log_callback(path: Path, totals: dict[str, float]) -> Any:
    transformers = require("transformers")

    class JsonlLog(transformers.TrainerCallback):  # pyright: ignore[reportUntypedBaseClass]
        """Appends every logged metric dict to a JSONL file, one line per step; run totals go to ``totals``."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not logs:
                return
            if any(key in logs for key in _RUN_TOTALS):  # the end of train(): not a step of its own
                totals.update({k: float(v) for k, v in logs.items() if isinstance(v, int | float)})
                return
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": int(state.global_step), **logs}, default=float) + "\n")

    return JsonlLog()


def _prepare_output(config: TrainConfig, out: Path) -> Path | None:
    """Ready ``out`` for the run: the checkpoint a resumed run continues from (``None`` for a new run).

    A resumed run keeps its logs up to the checkpoint's step; a new run removes what an earlier run
    left (logs, held-out evaluations and checkpoints), so that a later ``--resume`` cannot continue
    the wrong run.
    """
    checkpoint = last_checkpoint(out) if config.resume else None
    if checkpoint is not None:  # the logs go on: only what came after the checkpoint is dropped
        for log in ("train_log.jsonl", "rollouts.jsonl"):
            _keep_steps_up_to(out / log, checkpoint_step(checkpoint))
        logger.info("resuming from %s (step %d)", checkpoint, checkpoint_step(checkpoint))
        return checkpoint
    for stale in ("train_log.jsonl", "rollouts.jsonl", *(p.name for p in out.glob("eval_step_*.json"))):
        (out / stale).unlink(missing_ok=True)
    stale_checkpoints = sorted(p for p in out.glob("checkpoint-*") if p.is_dir())
    if stale_checkpoints:
        import shutil

        logger.warning(
            "a new run in %s: removing the earlier run's %s (pass resume=True / --resume to continue it)",
            out,
            ", ".join(p.name for p in stale_checkpoints),
        )
        for folder in stale_checkpoints:
            shutil.rmtree(folder)
    return None


def _make_factory(config: TrainConfig, train_data: Dataset) -> SQLEnvFactory:
    """The rollout environments of the run (drawing their own questions with ``draw_questions``)."""
    env_reward = typing.cast(EnvReward, config.env_reward) if config.reward_source != "functions" else None
    factory_options: dict[str, Any] = {
        "base_url": config.base_url,
        "step_budget": config.step_budget,
        "reward": config.reward_profile,
        "max_chars": config.max_chars,
        "env_reward": env_reward,
    }
    if config.draw_questions:
        return SQLEnvFactory.dataset_free(
            train_data, num_generations=config.num_generations, seed=config.seed, **factory_options
        )
    return SQLEnvFactory(train_data, **factory_options)


def train(config: TrainConfig) -> TrainResult:
    """Run a GRPO training as ``config`` says (see the module docstring for what it writes).

    Raises:
        ConfigError: the configuration is invalid (before anything loads).
        ServerCapacityError: a remote server cannot hold one session per rollout of a batch.
    """
    config.validate()
    torch = require("torch")
    transformers = require("transformers")
    trl = require("trl")
    datasets = require("datasets")
    from sqlenv_train.sft import oracle_conversations, read_sft_data, run_sft, sft_rows

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = _prepare_output(config, out)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2), encoding="utf-8")
    # TRL warns at every trainer start that environment_factory is experimental; said once in the docs.
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

    train_data = _load_training_data(config)
    # Loaded once (gold answers included), before the model: evaluated before, after the warm start and after.
    eval_data, held_out = _load_eval_data(config, train_data)
    factory = _make_factory(config, train_data)
    factory.check_capacity(config.batch_size * config.gradient_accumulation_steps)

    transformers.set_seed(config.seed)
    model_path = resolve_model(config.model)
    cuda = bool(torch.cuda.is_available())
    bf16, fp16 = _precision(config, torch)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
    # fp16 is mixed precision: the weights stay float32 (the warm start trains every one of them).
    model = transformers.AutoModelForCausalLM.from_pretrained(
        model_path, dtype=torch.bfloat16 if bf16 else torch.float32
    )
    if cuda:
        model = model.to("cuda")

    sft_stats: dict[str, float] | None = None
    solve_warm: float | None = None
    if checkpoint is not None:  # done by the run being resumed: its results are read back, not redone
        solve_before = _saved_solve_rate(out / "eval_before.json")
        solve_warm = _saved_solve_rate(out / "eval_warm_start.json")
        sft_file = out / "sft.json"
        sft_stats = json.loads(sft_file.read_text(encoding="utf-8")) if sft_file.is_file() else None
    else:
        solve_before = _solve_rate(
            _evaluation(model, tokenizer, config, eval_data, out / "eval_before.json", "before", held_out=held_out)
        )
        (out / "sft_log.jsonl").unlink(missing_ok=True)
    if config.sft_steps > 0 and checkpoint is None:
        rows = read_sft_data(config.sft_data) if config.sft_data else sft_rows(oracle_conversations(train_data))
        with (out / "sft_log.jsonl").open("w", encoding="utf-8") as sft_log:

            def log_sft(step: int, loss: float) -> None:
                sft_log.write(json.dumps({"sft_step": step, "loss": loss}) + "\n")
                sft_log.flush()

            sft_stats = run_sft(
                model,
                tokenizer,
                rows,
                max_steps=config.sft_steps,
                learning_rate=config.sft_learning_rate,
                batch_size=config.sft_batch_size,
                seed=config.seed,
                show_progress=config.show_progress,
                max_length=config.sft_max_length,
                on_step=log_sft,
                all_tokens=config.sft_all_tokens,
                lr_decay=config.sft_lr_decay,
            )
        (out / "sft.json").write_text(json.dumps(sft_stats, indent=2), encoding="utf-8")
        if config.save_warm_start:
            model.save_pretrained(out / "sft")
            tokenizer.save_pretrained(out / "sft")
        solve_warm = _solve_rate(
            _evaluation(
                model, tokenizer, config, eval_data, out / "eval_warm_start.json", "warm start", held_out=held_out
            )
        )

    rewards = SQLEnvRewards(out / "rollouts.jsonl", max_completion_length=config.max_completion_length)
    totals: dict[str, float] = {}
    peft_config = None
    if config.lora:
        peft = require("peft")
        peft_config = peft.LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    grpo_args = trl.GRPOConfig(
        output_dir=str(out),
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_generations=config.num_generations,
        learning_rate=config.learning_rate,
        beta=config.beta,
        temperature=config.temperature,
        max_completion_length=config.max_completion_length,
        max_tool_calling_iterations=config.max_turns,
        # With reward_source="environment" the three functions still run (they log every rollout
        # and its flags) but weigh nothing: the environment's get_reward() is the training reward.
        reward_weights=[0.0] * 3 if config.reward_source == "environment" else list(config.reward_weights),
        loss_type=config.loss_type,
        scale_rewards=config.scale_rewards,
        shuffle_dataset=not config.curriculum,
        chat_template_kwargs={"enable_thinking": False},
        logging_steps=config.logging_steps,
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500,
        save_total_limit=config.save_total_limit,
        report_to=config.report_to,
        seed=config.seed,
        bf16=bf16,
        fp16=fp16,
        use_cpu=not cuda,
        use_vllm=config.use_vllm,
        vllm_mode=config.vllm_mode,
        disable_tqdm=not config.show_progress,
        # Explicit, under the name transformers 5 uses (GRPOConfig's own default is the deprecated alias).
        activation_checkpointing=False,
        dataloader_num_workers=0,
    )
    train_rows = prompt_rows(
        train_data, repeat=max(1, math.ceil(config.steps * config.batch_size / max(len(train_data), 1)))
    )
    if config.curriculum:
        # Unique prompts the run uses: each step samples batch x accumulation / group size of them.
        prompts = config.steps * config.batch_size * config.gradient_accumulation_steps // config.num_generations
        train_rows = _curriculum(train_rows, prompts, config.seed)
    holder: dict[str, Any] = {"held_out": held_out}
    callbacks = [_log_callback(out / "train_log.jsonl", totals)]
    if config.eval_steps and eval_data is not None:
        callbacks.append(_heldout_callback(config, (model, tokenizer), eval_data, out, holder))
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=rewards.functions,
        args=grpo_args,
        # Without a dataset, TRL drives the run with placeholder rows and reset() draws the questions.
        train_dataset=None if config.draw_questions else datasets.Dataset.from_list(train_rows),
        processing_class=tokenizer,
        environment_factory=factory,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    holder["trainer"] = trainer
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    finally:
        train_seconds = time.perf_counter() - started
        env_seconds = sum(env.tool_seconds for env in factory.instances)
        factory.close()  # server sessions are released even when training fails

    final = out / "final"
    trained = trainer.model
    if config.lora and hasattr(trained, "merge_and_unload"):
        trained = trained.merge_and_unload()
    trained.save_pretrained(final)
    tokenizer.save_pretrained(final)

    solve_after = _solve_rate(
        _evaluation(trained, tokenizer, config, eval_data, out / "eval_after.json", "after", held_out=held_out)
    )
    history = [json.loads(line) for line in (out / "train_log.jsonl").read_text(encoding="utf-8").splitlines() if line]
    rewards_logged = [float(h["reward"]) for h in history if "reward" in h]
    if not rewards_logged:
        logger.warning("no reward was logged during training: learning_curve.png is not drawn")
    else:
        try:
            from sqlenv_train.report import plot_learning_curve

            plot_learning_curve(
                out / "train_log.jsonl",
                out / "learning_curve.png",
                sft_log=out / "sft_log.jsonl" if config.sft_steps > 0 else None,
                stages={
                    "before": solve_before,
                    "warm start": solve_warm,
                    "after": solve_after,
                },
                final_step=int(trainer.state.global_step),
                eval_label=_eval_label(config, eval_data),
            )
        except MissingDependencyError:
            pass
    steps_done = int(trainer.state.global_step)
    result = TrainResult(
        output_dir=str(out),
        model_dir=str(final),
        steps=steps_done,
        train_seconds=round(train_seconds, 3),
        seconds_per_step=round(
            train_seconds / max(steps_done - checkpoint_step(checkpoint) if checkpoint else steps_done, 1), 3
        ),
        sft=sft_stats,
        solve_rate_before=solve_before,
        solve_rate_warm_start=solve_warm,
        solve_rate_after=solve_after,
        reward_first=rewards_logged[0] if rewards_logged else None,
        reward_last=rewards_logged[-1] if rewards_logged else None,
        flag_rates=rewards.rates(),
        env_seconds=round(env_seconds, 3),
        env_share_of_train=round(env_seconds / train_seconds, 4) if train_seconds else 0.0,
        resumed_from=checkpoint_step(checkpoint) if checkpoint is not None else None,
        trainer=totals,
    )
    (out / "summary.json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
    _write_run_report(out, config)
    return result


def _write_run_report(out: Path, config: TrainConfig) -> None:
    """``report.html``: the curves, the evaluations before and after, their transcripts side by side."""
    from sqlenv_train.html_report import write_html_report
    from sqlenv_train.report import load_report

    names = ("eval_before.json", "eval_warm_start.json", "eval_after.json")
    reports = [load_report(out / name) for name in names if (out / name).is_file()]
    title = f"GRPO run: {config.model} on {config.dataset}"
    write_html_report(
        reports, out / "report.html", train_log=out / "train_log.jsonl", rollouts=out / "rollouts.jsonl", title=title
    )
