"""Train the tiny local model on CPU (warm start, then GRPO) and report what changed; then the baselines.

Part 1, on an easy slice of ``builtin:train`` (the training questions themselves: the tiny model can
only memorise, this shows whether the loop learns at all):

* the mean GRPO reward and the tool-call validity (share of tool calls the environment executed)
  over the first and the last ``--window`` steps of GRPO, and their ratio (end / start, same run);
* greedy evaluations before training, after the warm start, and after GRPO.

Part 2, the baseline table on ``builtin:eval`` (held-out databases): random, oracle, the tiny model
before and after training, and an ``LLMPolicy`` through the scripted loopback endpoint (the
protocol path of an LLM baseline, played by the oracle).

Run: ``uv run nox -s bench_train`` (or ``python bench/bench_train.py`` in the train session's
environment). It prints figures; it never fails on them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any


def window_mean(points: list[dict[str, Any]], key: str, first: bool, window: int) -> float:
    values = [float(p[key]) for p in points if key in p]
    chosen = values[:window] if first else values[-window:]
    return statistics.fmean(chosen) if chosen else float("nan")


def part_one(args: argparse.Namespace, out: Path) -> tuple[Any, float]:
    from sqlenv_train import TrainConfig, train

    config = TrainConfig(
        model="tiny",
        dataset=f"builtin:train?difficulty=easy&limit={args.questions}",
        eval_dataset=f"builtin:train?difficulty=easy&limit={args.questions}",
        output_dir=str(out / "run"),
        steps=args.steps,
        num_generations=4,
        batch_size=8,
        gradient_accumulation_steps=1,
        learning_rate=args.lr,
        temperature=0.7,
        max_turns=4,
        max_completion_length=256,
        step_budget=5,
        sft_steps=args.sft_steps,
        sft_learning_rate=3e-3,
        eval_max_new_tokens=96,
        logging_steps=1,
        seed=args.seed,
        show_progress=False,
    )
    started = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - started
    log = [json.loads(line) for line in (out / "run" / "train_log.jsonl").read_text().splitlines() if line]
    points = [p for p in log if "reward" in p]
    w = args.window
    print(
        f"\n== Part 1: warm start ({args.sft_steps} SFT steps) then {result.steps} GRPO steps "
        f"on {args.questions} easy train questions =="
    )
    print(
        f"wall {wall:.0f} s; GRPO {result.train_seconds:.0f} s ({result.seconds_per_step:.2f} s/step); "
        f"environment {result.env_seconds:.2f} s = {result.env_share_of_train:.1%} of GRPO time"
    )
    if result.sft:
        print(f"warm-start loss {result.sft['first_loss']:.3f} -> {result.sft['last_loss']:.4f}")
    print(
        f"{'GRPO metric':<30}{'first ' + str(w) + ' steps':>16}{'last ' + str(w) + ' steps':>16}"
        f"{'change':>9}{'end/start':>11}"
    )
    for key, label in (
        ("reward", "mean reward (weighted)"),
        ("rewards/correctness/mean", "correctness"),
        ("rewards/format_validity/mean", "format validity"),
        ("sqlenv/tool_call_validity", "tool-call validity"),
        ("sqlenv/malformed_tool_call", "malformed tool calls"),
        ("sqlenv/no_tool_calls", "rollouts without a tool call"),
        ("sqlenv/truncated", "truncated rollouts"),
    ):
        start, end = window_mean(points, key, True, w), window_mean(points, key, False, w)
        # A ratio only means something between two positive figures (rewards here can be negative).
        ratio = f"{end / start:.2f}" if start > 0 and end >= 0 else "n/a"
        print(f"{label:<30}{start:>16.3f}{end:>16.3f}{end - start:>+9.3f}{ratio:>11}")
    print(f"{'greedy evaluation':<30}{'solve rate':>16}")
    for stage, value in (
        ("before", result.solve_rate_before),
        ("after warm start", result.solve_rate_warm_start),
        ("after GRPO", result.solve_rate_after),
    ):
        print(f"{stage:<30}{value if value is not None else float('nan'):>16.1%}")
    return result, wall


def part_two(args: argparse.Namespace, out: Path, trained_model: str | None) -> None:
    from sqlenv_client import SQLEnvClient
    from sqlenv_core.datasets import builtin
    from sqlenv_train import HFPolicy, LLMPolicy, OraclePolicy, RandomPolicy, evaluate
    from sqlenv_train.report import load_report, markdown_table
    from sqlenv_train.testing import ScriptedChatServer
    from sqlenv_train.tiny import build_tiny_model

    pack = builtin("eval")
    ids = [q.id for q in pack]
    paths: list[Path] = []
    with SQLEnvClient.local(pack) as env:
        runs: list[tuple[str, Any]] = [("random", RandomPolicy(seed=args.seed)), ("oracle", OraclePolicy(pack))]
        runs.append(("tiny-before", HFPolicy(str(build_tiny_model()), name="tiny (untrained)", max_new_tokens=96)))
        if trained_model:
            runs.append(("tiny-after", HFPolicy(trained_model, name="tiny (after bench training)", max_new_tokens=96)))
        for key, policy in runs:
            started = time.perf_counter()
            report = evaluate(policy, env, ids, dataset=pack, show_progress=False)
            paths.append(report.save(out / f"eval_{key}.json"))
            print(f"  {policy.name}: {time.perf_counter() - started:.1f} s")
        with ScriptedChatServer(pack) as server, LLMPolicy("scripted-oracle", base_url=server.base_url) as llm:
            started = time.perf_counter()
            report = evaluate(llm, env, ids, dataset=pack, show_progress=False, metadata={"endpoint": "loopback"})
            paths.append(report.save(out / "eval_llm_scripted.json"))
            print(f"  {llm.name}: {time.perf_counter() - started:.1f} s")
    print(f"\n== Part 2: baselines on builtin:eval ({len(ids)} questions, 2 held-out databases) ==")
    print(markdown_table([load_report(p) for p in paths]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=24, help="easy train questions in the slice")
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--steps", type=int, default=60, help="GRPO steps")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--window", type=int, default=10, help="steps averaged at the start and at the end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/train")
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), cpus {os.cpu_count()}"
    )
    result, _ = part_one(args, out)
    if not args.skip_baselines:
        part_two(args, out, result.model_dir)


if __name__ == "__main__":
    main()
