"""Does training on SQLEnv transfer to databases the model never saw? A from-scratch CPU experiment.

:func:`run_transfer` builds a small causal LM from nothing (its own tokenizer, trained on oracle
conversations of the *training* tasks only; a randomly initialised ``Qwen3ForCausalLM``),
warm-starts it on oracle episodes of one set of training tasks, then runs GRPO through TRL's
``GRPOTrainer`` and :class:`~sqlenv_train.adapter.SQLEnvFactory` on *fresh* training tasks, and
evaluates it greedily on held-out tasks (for ``procgen``: other domains, so other schemas, table
names and vocabulary) untrained, after the warm start and after GRPO, with 95% Wilson intervals
and rates per level. Nothing is downloaded.

It writes into ``out_dir`` what :func:`~sqlenv_train.training.train` writes (train log, rollouts,
evaluation reports, ``learning_curve.png``), plus:

* ``untrained/``, ``sft/`` and ``final/``: the model and tokenizer before training, after the warm
  start and after GRPO (each loads with ``from_pretrained`` and scores with
  ``sqlenv-train eval --policy hf --model DIR/final --dataset ...``);
* ``copy_pretrained/``: with ``copy_steps``, the model after :func:`copy_pretrain`;
* ``sft_data.jsonl``: the warm-start conversations;
* ``transfer.json``: ``{"untrained"|"sft"|"grpo": {"solve_rate", "ci95", "n", "by_level", ...}}``
  with the datasets, the configuration, the time taken and the machine.

``bench/bench_transfer.py`` runs the full configuration (about 20 minutes on 2 CPU cores); the ``train`` tests run a
smoke-sized one. Needs the ``train`` extra.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlenv_core.datasets import Dataset, Question, load
from sqlenv_train._deps import require
from sqlenv_train._json import as_object
from sqlenv_train.evaluate import wilson_interval
from sqlenv_train.tiny import TinyModelSpec

__all__ = [
    "STAGES",
    "TRANSFER_MODEL",
    "TransferConfig",
    "copy_pretrain",
    "copy_rows",
    "invent_names",
    "invented_copies",
    "level_of",
    "run_transfer",
    "stage_summary",
    "transfer_model",
]


def transfer_model(
    *, hidden: int = 128, layers: int = 4, heads: int = 4, vocab: int = 1536, letters: bool = True
) -> TinyModelSpec:
    """The benchmark's model shape at a given size.

    Word-level tokens (one per letter with ``letters``), an MLP three times the width, half as
    many key/value heads as heads.
    """
    return TinyModelSpec(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=hidden * 3,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        word_tokens=True,
        letter_tokens=letters,
    )


#: The default model: one token per letter inside words (a name the model never saw is made of
#: tokens it knows, and tokenizes alike everywhere, so it can be copied), 4 layers of 4 heads (room
#: for induction heads, which copy), width 128: about 0.8M parameters.
TRANSFER_MODEL = transfer_model()

#: transfer.json's stages and the evaluation report each comes from.
STAGES = {"untrained": "eval_before.json", "sft": "eval_warm_start.json", "grpo": "eval_after.json"}


@dataclass
class TransferConfig:
    """One transfer experiment: three datasets (warm start, GRPO, held-out evaluation), a model, two phases.

    Attributes:
        out_dir: where everything is written.
        sft_dataset: the warm start's tasks (oracle episodes); the tokenizer is trained on them too.
        grpo_dataset: GRPO's tasks (fresh: not the warm start's).
        eval_dataset: held-out tasks (other domains), evaluated untrained, after the warm start
            and after GRPO.
        model: the model's size (:class:`~sqlenv_train.tiny.TinyModelSpec`).
        sft_steps: warm-start steps (keep it short of saturation: GRPO needs reward spread).
        sft_learning_rate: warm-start learning rate.
        sft_batch_size: conversations per warm-start step.
        sft_all_tokens: the warm start learns every token of its conversations, not only the
            assistant's (names repeated between the question, the tool results and the calls
            teach copying).
        sft_lr_decay: the warm start's learning rate falls along a cosine to a tenth by its last step.
        describe_first: the warm start's oracle DESCRIBEs the table it queries first.
        invented_names: add this share of the warm-start conversations again with the database's
            words replaced by invented ones (:func:`invented_copies`; above 1, several copies of
            each, each with its own words), so that copying names, not memorising them, is what
            the warm start teaches.
        copy_steps: before the warm start, this many steps of :func:`copy_pretrain` (a synthetic
            task of invented names to copy from the question into the calls; 0: none).
        train: any other :class:`~sqlenv_train.training.TrainConfig` settings of the GRPO phase
            (``steps``, ``num_generations``, ``temperature``, ``loss_type``, ``eval_steps``, ...).
    """

    out_dir: str
    sft_dataset: str = "procgen:train?seed=1&n=1200&level=1-5"
    grpo_dataset: str = "procgen:train?seed=2&n=1200&level=1-5"
    eval_dataset: str = "procgen:eval?seed=3&n=200&level=1-5"
    model: TinyModelSpec = field(default_factory=lambda: TRANSFER_MODEL)
    sft_steps: int = 600
    sft_learning_rate: float = 2e-3
    sft_batch_size: int = 16
    sft_all_tokens: bool = True
    sft_lr_decay: bool = True
    describe_first: bool = True
    invented_names: float = 0.0
    copy_steps: int = 0
    train: dict[str, Any] = field(default_factory=dict[str, Any])


#: Words an identifier may contain that are kept as they are when names are invented.
_KEPT_WORDS = frozenset(
    "id ids name names date count type table tables column columns rows row in on at of by to is the and or "
    "for with from per no num avg max min sum total year years day days month months".split()
)
_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def _invent_word(rng: random.Random) -> str:
    """A pronounceable invented word of 2-3 syllables (``lamobe``)."""
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3)))


def _database_words(messages: list[dict[str, Any]]) -> set[str]:
    """The lower-cased parts of the table names (``Tables:`` line) and column names (DESCRIBE results)."""
    words: set[str] = set()
    for message in messages:
        for line in str(message.get("content") or "").splitlines():
            if line.startswith("Tables: "):
                for name in line[len("Tables: ") :].split(", "):
                    words.update(part.lower() for part in _PART.findall(name))
            elif " | " in line and not line.startswith("column"):
                words.update(part.lower() for part in _PART.findall(line.split(" | ", 1)[0]))
    return words


def invent_names(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The warm-start row with the database's words (table and column name parts) replaced by invented ones.

    The same word becomes the same invented word everywhere in the conversation (the question,
    the table list, tool calls, SQL, tool results), plurals stay plurals and capitals stay
    capitals, so the conversation is still right: its answer and its queries' results do not
    change. A model that learns from such rows cannot memorise the training domains' names; it
    has to copy names from what it reads, which is what it needs on databases it never saw.
    """
    messages: list[dict[str, Any]] = row["messages"]
    words = _database_words(messages)
    stems = {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words}
    stems = {w for w in stems if len(w) >= 3 and w not in _KEPT_WORDS}
    invented: dict[str, str] = {}
    for stem in sorted(stems):
        while True:
            word = _invent_word(rng)
            if word not in invented.values() and word not in _KEPT_WORDS:
                invented[stem] = word
                break

    def swap(match: re.Match[str]) -> str:
        part = match.group(0)
        low = part.lower()
        plural = low.endswith("s") and low[:-1] in invented
        new = invented.get(low[:-1] if plural else low)
        if new is None:
            return part
        new = new + "s" if plural else new
        if part.isupper() and len(part) > 1:
            return new.upper()
        return new.capitalize() if part[0].isupper() else new

    def rewrite(text: str) -> str:
        return _PART.sub(swap, text)

    out: list[dict[str, Any]] = []
    for message in messages:
        copy = dict(message)
        if message["role"] != "system" and isinstance(message.get("content"), str):
            copy["content"] = rewrite(message["content"])
        if message.get("tool_calls"):
            copy["tool_calls"] = [
                {**call, "function": {**call["function"], "arguments": rewrite(call["function"]["arguments"])}}
                for call in message["tool_calls"]
            ]
        out.append(copy)
    return {**row, "messages": out, "invented_names": True}


def invented_copies(rows: list[dict[str, Any]], share: float, rng: random.Random) -> list[dict[str, Any]]:
    """``share`` times as many rows again, with invented names (:func:`invent_names`).

    Each row gets ``int(share)`` copies, and one more with probability ``share - int(share)``;
    every copy invents its own words, so no invented name is seen twice.
    """
    if share < 0:
        raise ValueError(f"invented_names must be at least 0, got {share}")
    whole, extra = int(share), share - int(share)
    out: list[dict[str, Any]] = []
    for row in rows:
        copies = whole + (1 if rng.random() < extra else 0)
        out += [invent_names(row, rng) for _ in range(copies)]
    return out


def _styled(words: list[str], style: str) -> str:
    if style == "snake":
        return "_".join(words)
    if style == "camel":
        return "".join(w.capitalize() for w in words)
    if style == "title":
        return "_".join(w.capitalize() for w in words)
    return "".join(words)


def copy_rows(
    count: int, rng: random.Random, *, step_budget: int = 5, include_prompt: bool = False
) -> list[dict[str, Any]]:
    """``count`` synthetic warm-start rows whose calls copy invented names from what the model reads.

    Each row is a short episode start in the real format (``Question: ...`` / ``Tables: ...`` /
    budget, the same tool-call syntax; without the system prompt and tool schemas, which would
    make it four times as long, so with ``include_prompt=False``): a question
    about one of 2-5 tables with freshly invented names (:func:`invent_names`' words, in one
    naming style per row: ``lamobe``, ``Lamobe``, ``LamobeKitu``, ``lamobe_kitu``...), then
    ``describe`` of that table, its invented columns, and a ``query`` that names the table and,
    for most questions, a column the question mentions. No name is ever seen twice, so the only
    way to predict the calls is to copy: the task cannot be memorised.
    """
    from sqlenv_core.tools import SYSTEM_PROMPT
    from sqlenv_train.adapter import trl_tool_schemas

    tools = json.dumps(trl_tool_schemas()) if include_prompt else None
    rows: list[dict[str, Any]] = []
    for index in range(count):
        style = rng.choice(("plain", "capital", "camel", "snake", "title"))
        parts = 1 if style in ("plain", "capital") else rng.randint(1, 2)

        def name(parts: int = parts, style: str = style) -> tuple[str, str]:
            words = [_invent_word(rng) for _ in range(parts)]
            text = _styled(words, style)
            return (text.capitalize() if style == "capital" else text), " ".join(words)

        tables = [name() for _ in range(rng.randint(2, 4))]
        table, spoken = rng.choice(tables)
        columns = [name() for _ in range(rng.randint(2, 4))]
        column, column_spoken = rng.choice(columns)
        plural = spoken + "s"
        kind = rng.randrange(4)
        if kind == 0:
            question, sql = f"How many {plural} are there?", f"SELECT count(*) FROM {table}"
        elif kind == 1:
            question, sql = f"List the {column_spoken} of every {spoken}.", f"SELECT {column} FROM {table}"
        elif kind == 2:
            question = f"What is the average {column_spoken} of the {plural}?"
            sql = f"SELECT avg({column}) FROM {table}"
        else:
            question, sql = (
                f"What is the largest {column_spoken} among all {plural}?",
                f"SELECT max({column}) FROM {table}",
            )
        id_column = "id" if style in ("plain", "snake") else "Id"
        schema = "\n".join(f"{c} | {rng.choice(('TEXT', 'INTEGER', 'REAL'))}" for c, _ in columns)
        db = f"{_invent_word(rng)}_c{index:04d}"

        def call(tool: str, argument: str, value: str) -> dict[str, Any]:
            arguments = json.dumps({argument: value})
            function = {"name": tool, "arguments": arguments}
            return {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": function}]}

        start = (
            f"Question: {question}\nTables: {', '.join(t for t, _ in tables)}\n"
            f"Database '{db}' with {len(tables)} tables.\n[{step_budget} steps left]"
        )
        described = (
            f"Table {table} ({rng.randint(5, 300)} rows)\ncolumn | type\n-------------\n"
            f"{id_column} | INTEGER\n{schema}\n[{step_budget - 1} steps left]"
        )
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}] if include_prompt else []
        messages += [
            {"role": "user", "content": start},
            call("describe", "table", table),
            {"role": "tool", "content": described, "name": "describe"},
            call("query", "sql", sql),
        ]
        rows.append(
            {
                "messages": messages,
                "tools": tools,
                "chat_template_kwargs": {"enable_thinking": False},
                "copy_task": {"table": table, "tables": [t for t, _ in tables], "sql": sql},
            }
        )
    return rows


def copy_pretrain(
    model: Any,
    tokenizer: Any,
    *,
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    seed: int = 0,
    show_progress: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Pre-train ``model`` in place on :func:`copy_rows` (fresh names every example) before the warm start.

    A from-scratch model warm-started on oracle episodes memorises the training domains' names
    instead of copying them from its context; this stage gives it a task only copying solves.
    Loss on the assistant's calls only; ``steps * batch_size`` distinct examples (none repeats).
    Returns :func:`~sqlenv_train.sft.run_sft`'s summary plus ``"losses"``, one per step.
    """
    from sqlenv_train.sft import run_sft

    if steps < 1:
        raise ValueError(f"copy pre-training needs at least 1 step, got {steps}")
    rows = copy_rows(steps * batch_size, random.Random(seed))
    losses: list[float] = []

    def record(step: int, loss: float) -> None:
        losses.append(loss)
        if on_step is not None:
            on_step(step, loss)

    summary: dict[str, Any] = dict(
        run_sft(
            model,
            tokenizer,
            rows,
            max_steps=steps,
            learning_rate=learning_rate,
            batch_size=batch_size,
            seed=seed,
            show_progress=show_progress,
            on_step=record,
            lr_decay=True,
        )
    )
    summary["losses"] = losses
    return summary


def level_of(question: Question) -> str:
    """A question's level: its difficulty (procgen's ``level-1`` to ``level-5``; ``easy``... elsewhere)."""
    return question.difficulty


def stage_summary(report: dict[str, Any], levels: dict[str, str]) -> dict[str, Any]:
    """``solve_rate``, ``ci95``, ``n`` and ``by_level`` (each with its own interval) of an evaluation report."""
    episodes: list[dict[str, Any]] = list(report.get("episodes") or [])
    solved = sum(bool(e.get("solved")) for e in episodes)
    groups: dict[str, list[bool]] = {}
    for e in episodes:
        groups.setdefault(levels.get(str(e.get("question_id")), "?"), []).append(bool(e.get("solved")))
    by_level: dict[str, Any] = {}
    order = {"easy": 0, "medium": 1, "hard": 2, "extra": 3}
    for level in sorted(groups, key=lambda name: (order.get(name, 9), name)):
        outcomes = groups[level]
        by_level[level] = {
            "solve_rate": sum(outcomes) / len(outcomes),
            "ci95": list(wilson_interval(sum(outcomes), len(outcomes))),
            "n": len(outcomes),
        }
    meta: dict[str, Any] = dict(report.get("metadata") or {})
    summary: dict[str, Any] = dict(report.get("summary") or {})
    return {
        "solve_rate": solved / len(episodes) if episodes else 0.0,
        "ci95": list(wilson_interval(solved, len(episodes))),
        "n": len(episodes),
        "by_level": by_level,
        "dataset": meta.get("dataset"),
        "split": meta.get("split"),
        "mean_return": summary.get("mean_return"),
        "answered_rate": summary.get("answered_rate"),
        "invalid_action_rate": summary.get("invalid_action_rate"),
    }


def run_transfer(config: TransferConfig, *, show_progress: bool = True) -> dict[str, Any]:
    """Build, warm-start, GRPO-train and evaluate a model from scratch; returns what ``transfer.json`` holds."""
    from sqlenv_train.sft import ScriptedOraclePolicy, episode_conversations, sft_rows
    from sqlenv_train.tiny import build_tiny_model
    from sqlenv_train.training import TrainConfig, train

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_start = _load_average()
    timings: dict[str, float] = {}

    sft_data = load(config.sft_dataset)
    # The warm start sees the budget line GRPO and the evaluations will show ("[5 steps left]").
    step_budget = int(config.train.get("step_budget", TrainConfig.step_budget))
    conversations = episode_conversations(
        ScriptedOraclePolicy(sft_data, describe_first=config.describe_first), sft_data, step_budget=step_budget
    )
    rows = sft_rows(conversations)
    rng = random.Random(0)
    rows += invented_copies(rows, config.invented_names, rng)
    rng.shuffle(rows)
    sft_path = out / "sft_data.jsonl"
    with sft_path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    timings["sft_data_s"] = time.perf_counter() - started

    mark = time.perf_counter()
    model_dir = build_tiny_model(out / "untrained", config.model, dataset_spec=config.sft_dataset, force=True)
    timings["build_model_s"] = time.perf_counter() - mark
    info = json.loads((model_dir / "sqlenv_tiny.json").read_text(encoding="utf-8"))
    copy_summary: dict[str, Any] | None = None
    if config.copy_steps > 0:
        # The copy task trains the untrained model, saved beside it; the warm start starts from that.
        transformers = require("transformers")
        mark = time.perf_counter()
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
        copy_summary = copy_pretrain(model, tokenizer, steps=config.copy_steps, show_progress=show_progress)
        model_dir = out / "copy_pretrained"
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        timings["copy_pretrain_s"] = time.perf_counter() - mark
        del copy_summary["losses"]

    settings: dict[str, Any] = {
        "model": str(model_dir),
        "dataset": config.grpo_dataset,
        "eval_dataset": config.eval_dataset,
        "output_dir": str(out),
        "sft_steps": config.sft_steps,
        "sft_data": str(sft_path),
        "sft_learning_rate": config.sft_learning_rate,
        "sft_batch_size": config.sft_batch_size,
        "sft_all_tokens": config.sft_all_tokens,
        "sft_lr_decay": config.sft_lr_decay,
        "save_warm_start": True,
        "show_progress": show_progress,
        **config.train,
    }
    train_config = TrainConfig(**settings)
    mark = time.perf_counter()
    result = train(train_config)
    timings["train_s"] = time.perf_counter() - mark

    eval_data = load(config.eval_dataset, compute_gold=False)
    levels = {q.id: level_of(q) for q in eval_data}
    stages: dict[str, Any] = {}
    for stage, name in STAGES.items():
        path = out / name
        if path.is_file():
            stages[stage] = stage_summary(json.loads(path.read_text(encoding="utf-8")), levels)
    timings["total_s"] = time.perf_counter() - started
    torch = require("torch")

    summary: dict[str, Any] = {
        **stages,
        "gain": {
            "sft_over_untrained": _diff(stages, "sft", "untrained"),
            "grpo_over_sft": _diff(stages, "grpo", "sft"),
        },
        "datasets": {"sft": config.sft_dataset, "grpo": config.grpo_dataset, "eval": config.eval_dataset},
        "warm_start_conversations": len(rows),
        "warm_start_with_invented_names": len(rows) - len(conversations),
        "model": info,
        "copy_pretrain": copy_summary,
        "warm_start": result.sft,
        "grpo_run": {
            "steps": result.steps,
            "seconds_per_step": result.seconds_per_step,
            "reward_first": result.reward_first,
            "reward_last": result.reward_last,
            "env_share_of_train": result.env_share_of_train,
        },
        "heldout_during_grpo": _heldout_points(out / "train_log.jsonl"),
        "config": {**asdict(config), "train": asdict(train_config)},
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            # Other jobs on the machine slow every figure of "seconds": 1-, 5- and 15-minute averages.
            "load_average_start": load_start,
            "load_average_end": _load_average(),
        },
    }
    (out / "transfer.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return summary


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not on every platform
        return None


def _diff(stages: dict[str, Any], a: str, b: str) -> float | None:
    if a in stages and b in stages:
        return float(stages[a]["solve_rate"]) - float(stages[b]["solve_rate"])
    return None


def _heldout_points(train_log: Path) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    if not train_log.is_file():
        return points
    for line in train_log.read_text(encoding="utf-8").splitlines():
        entry = as_object(json.loads(line)) if line.strip() else None
        if entry is not None and "heldout/solve_rate" in entry:
            points.append(
                {
                    "step": entry.get("step"),
                    "solve_rate": entry["heldout/solve_rate"],
                    "ci95": [entry.get("heldout/ci95_low"), entry.get("heldout/ci95_high")],
                    "n": entry.get("heldout/episodes"),
                }
            )
    return points


def levels_of(dataset: Dataset) -> dict[str, str]:
    """``question_id`` → level, for :func:`stage_summary`."""
    return {q.id: level_of(q) for q in dataset}
