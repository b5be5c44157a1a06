"""Does GRPO on SQLEnv transfer to unseen databases? A from-scratch model on 2 CPU cores, nothing downloaded.

Builds a small ``Qwen3ForCausalLM`` and its own tokenizer (one token per letter inside words, each
fixed line of the prompt one token) from oracle conversations of ``procgen:train`` tasks,
warm-starts it on those episodes (levels 1-3; loss on every token; half of them with invented
names), runs GRPO through TRL's ``GRPOTrainer``
and ``SQLEnvFactory`` on *fresh* ``procgen:train`` tasks, and evaluates it greedily on
``procgen:eval`` (other domains: schemas, table names and vocabulary never seen in training)
untrained, after the warm start and after GRPO, with 95% Wilson intervals and rates per level.
Held-out progress is evaluated every ``--eval-steps`` GRPO steps.

Writes ``DIR/transfer.json``, the models ``DIR/untrained``, ``DIR/sft`` and ``DIR/final``, the
evaluation reports and ``DIR/learning_curve.png`` (see ``sqlenv_train.transfer``). Score a saved
model on any other seed with::

    sqlenv-train eval --policy hf --model DIR/final --dataset "procgen:eval?seed=9&n=200"

Run: ``uv run nox -s bench_transfer -- --out-dir DIR`` (or ``python bench/bench_transfer.py --out-dir
DIR`` in the train session's environment). The default configuration takes about 20 minutes on 2
CPU cores shared with other jobs; ``--quick`` takes a few minutes. Larger runs: ``--sft-steps``,
``--grpo-steps``, ``--hidden``, ``--layers``. It prints figures; it never fails on them. Why a
configuration does or does not transfer: ``bench/diag_transfer.py`` (a few minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any


def specs(args: argparse.Namespace) -> tuple[str, str, str]:
    """The warm-start, GRPO and evaluation dataset specs."""
    if args.family == "builtin":  # the hand-written pack: 6 training databases, 2 held-out ones
        return "builtin:train", "builtin:train", "builtin:eval"
    return (
        f"procgen:train?seed={args.seed}&n={args.sft_questions}&level={args.sft_levels or args.levels}",
        f"procgen:train?seed={args.seed + 1}&n={args.grpo_questions}&level={args.grpo_levels}",
        f"procgen:eval?seed={args.seed + 2}&n={args.eval_questions}&level={args.levels}",
    )


def print_table(summary: dict[str, Any]) -> None:
    stages = [s for s in ("untrained", "sft", "grpo") if s in summary]
    levels: list[str] = []
    for stage in stages:
        levels += [lv for lv in summary[stage]["by_level"] if lv not in levels]
    first = summary[stages[0]] if stages else {}
    print(f"\nGreedy evaluation on {first.get('dataset')} (split {first.get('split')}, n={first.get('n')}):")
    header = f"{'stage':<12}{'solve rate':>11}{'95% CI':>16}" + "".join(f"{lv:>14}" for lv in levels)
    print(header)
    for stage in stages:
        s = summary[stage]
        low, high = s["ci95"]
        cells = ""
        for lv in levels:
            group = s["by_level"].get(lv)
            cells += f"{group['solve_rate']:>8.1%} n={group['n']:<3}" if group else f"{'–':>14}"
        print(f"{stage:<12}{s['solve_rate']:>11.1%}{f'{low:.1%}–{high:.1%}':>16}{cells}")
    gain = summary.get("gain", {})
    for key, label in (("sft_over_untrained", "warm start over untrained"), ("grpo_over_sft", "GRPO over warm start")):
        if gain.get(key) is not None:
            print(f"{label}: {gain[key] * 100:+.1f} points")
    points = summary.get("heldout_during_grpo") or []
    if points:
        print("held out during GRPO: " + ", ".join(f"step {p['step']}: {p['solve_rate']:.1%}" for p in points))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", required=True, help="where models, reports and transfer.json go")
    parser.add_argument("--family", choices=("procgen", "builtin"), default="procgen")
    parser.add_argument("--levels", default="1-5", help="procgen levels of the evaluation")
    parser.add_argument("--sft-levels", default="1-3", help="procgen levels of the warm start ('': as --levels)")
    parser.add_argument("--grpo-levels", default="1-2", help="procgen levels GRPO trains on (easiest first)")
    parser.add_argument("--seed", type=int, default=1, help="procgen seed of the warm start (GRPO +1, eval +2)")
    parser.add_argument("--sft-questions", type=int, default=900)
    parser.add_argument("--grpo-questions", type=int, default=600)
    parser.add_argument("--eval-questions", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=128, help="model width")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=1536)
    parser.add_argument("--sft-steps", type=int, default=550)
    parser.add_argument(
        "--invented-names", type=float, default=1.0, help="share of warm-start episodes added with invented names"
    )
    parser.add_argument(
        "--letters",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one token per letter inside words (TinyModelSpec.letter_tokens)",
    )
    parser.add_argument(
        "--sft-all-tokens",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the warm start learns every token of a conversation, not only the assistant's",
    )
    parser.add_argument(
        "--sft-lr-decay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="cosine decay of the warm start's learning rate to a tenth",
    )
    parser.add_argument(
        "--copy-steps", type=int, default=0, help="copy pre-training steps before the warm start (copy_pretrain)"
    )
    parser.add_argument("--sft-lr", type=float, default=2e-3)
    parser.add_argument("--sft-batch", type=int, default=12)
    parser.add_argument("--grpo-steps", type=int, default=16)
    parser.add_argument("--generations", type=int, default=8, help="GRPO group size")
    parser.add_argument("--batch", type=int, default=16, help="completions per GRPO step")
    parser.add_argument("--lr", type=float, default=1e-4, help="GRPO learning rate")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--loss-type", default="dapo")
    parser.add_argument("--scale-rewards", default="group")
    parser.add_argument("--reward-weights", default="1.0,0.0,0.2", help="correctness, shaped return, format")
    parser.add_argument("--eval-max-new-tokens", type=int, default=200, help="longest reply per turn when evaluating")
    parser.add_argument("--no-curriculum", action="store_true", help="shuffle GRPO's tasks instead of easiest first")
    parser.add_argument("--eval-steps", type=int, default=8, help="held-out evaluation every N GRPO steps")
    parser.add_argument("--eval-steps-limit", type=int, default=40, help="questions per evaluation during GRPO")
    parser.add_argument("--max-completion-length", type=int, default=1024, help="tokens per GRPO rollout")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="a few minutes: small data, few steps (checks the setup)")
    args = parser.parse_args()
    if args.quick:
        args.sft_questions, args.grpo_questions, args.eval_questions = 200, 200, 40
        args.sft_steps, args.grpo_steps, args.eval_steps, args.eval_steps_limit = 80, 6, 3, 20
        args.batch, args.generations = 8, 4
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from sqlenv_train.transfer import TransferConfig, run_transfer, transfer_model

    sft_spec, grpo_spec, eval_spec = specs(args)
    config = TransferConfig(
        out_dir=args.out_dir,
        sft_dataset=sft_spec,
        grpo_dataset=grpo_spec,
        eval_dataset=eval_spec,
        model=transfer_model(
            hidden=args.hidden, layers=args.layers, heads=args.heads, vocab=args.vocab, letters=args.letters
        ),
        sft_steps=args.sft_steps,
        sft_learning_rate=args.sft_lr,
        sft_batch_size=args.sft_batch,
        sft_all_tokens=args.sft_all_tokens,
        sft_lr_decay=args.sft_lr_decay,
        invented_names=args.invented_names,
        copy_steps=args.copy_steps,
        train={
            "steps": args.grpo_steps,
            "num_generations": args.generations,
            "batch_size": args.batch,
            "gradient_accumulation_steps": 1,
            "learning_rate": args.lr,
            "temperature": args.temperature,
            "loss_type": args.loss_type,
            "scale_rewards": args.scale_rewards,
            "reward_weights": [float(w) for w in args.reward_weights.split(",")],
            "curriculum": not args.no_curriculum,
            "max_turns": 4,
            "max_completion_length": args.max_completion_length,
            "step_budget": 5,
            "eval_max_new_tokens": args.eval_max_new_tokens,
            "eval_steps": args.eval_steps,
            "eval_steps_limit": args.eval_steps_limit,
            "logging_steps": 1,
        },
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), cpus {os.cpu_count()}"
    )
    print(f"warm start on {sft_spec}; GRPO on {grpo_spec}; evaluated on {eval_spec}")
    started = time.perf_counter()
    summary = run_transfer(config, show_progress=False)
    wall = time.perf_counter() - started
    model = summary["model"]
    print(
        f"\nmodel: Qwen3ForCausalLM from scratch, {model['parameters'] / 1e6:.2f}M parameters, "
        f"vocabulary {model['vocab_size']}; {summary['warm_start_conversations']} warm-start conversations"
    )
    sft = summary["warm_start"] or {}
    if sft:
        print(f"warm start: {sft['steps']:.0f} steps, loss {sft['first_loss']:.3f} -> {sft['last_loss']:.3f}")
    grpo = summary["grpo_run"]
    print(
        f"GRPO: {grpo['steps']} steps, {grpo['seconds_per_step']:.2f} s/step, "
        f"reward {grpo['reward_first']} -> {grpo['reward_last']}, "
        f"environment {grpo['env_share_of_train']:.1%} of GRPO time"
    )
    print_table(summary)
    print(f"\nwall {wall / 60:.1f} min; seconds {json.dumps(summary['seconds'])}")
    print(f"wrote {Path(args.out_dir) / 'transfer.json'}")


if __name__ == "__main__":
    main()
