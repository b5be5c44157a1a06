"""Why does (or doesn't) the transfer benchmark's warm start transfer? A few-minute diagnostic.

Builds the benchmark's from-scratch model, warm-starts it for ``--sft-steps`` on oracle episodes of
``procgen:train``, then measures, teacher-forced, the per-token accuracy and loss of the assistant
tokens split by category:

* ``syntax``: the fixed text of a tool call (``<tool_call>{"name": ..., "arguments": {"``...);
* ``action``: the tool's name (describe / query / answer);
* ``table``: the table name DESCRIBE gets;
* ``name``: table and column names inside SQL;
* ``sqlkw``: SQL keywords, functions and punctuation;
* ``literal``: quoted strings and numbers inside SQL (copied from the question);
* ``answer``: the answer's text (copied from the query's result);

on the warm start's own conversations, on fresh ``procgen:train`` databases and on ``procgen:eval``
(unseen domains). Then it plays a few greedy episodes on ``procgen:eval`` and prints what the
model did. Run in the train session's environment::

    python bench/diag_transfer.py --out-dir /tmp/diag --sft-steps 200 --levels 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
from collections import defaultdict
from typing import Any

CATEGORIES = ("syntax", "action", "table", "name", "sqlkw", "literal", "answer")
_SQL_WORDS = frozenset(
    "select from where and or not in is null like between join on as group by order having limit asc desc "
    "distinct count sum avg min max union intersect except case when then else end inner left outer".split()
)
_SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*|\s+|.")
_CALL = re.compile(r'<tool_call>\n\{"name": "([a-z]+)", "arguments": \{"([a-z]+)": "((?:[^"\\]|\\.)*)"\}\}')


def char_labels(text: str, start: int, end: int) -> dict[int, str]:
    """A category for every character of ``text[start:end]`` (one assistant turn)."""
    labels = dict.fromkeys(range(start, end), "syntax")
    for match in _CALL.finditer(text, start, end):
        for i in range(match.start(1), match.end(1)):
            labels[i] = "action"
        tool, value_start = match.group(1), match.start(3)
        value = match.group(3)
        if tool == "describe":
            for i in range(match.start(3), match.end(3)):
                labels[i] = "table"
        elif tool == "answer":
            for i in range(match.start(3), match.end(3)):
                labels[i] = "answer"
        elif tool == "query":
            for piece in _SQL_TOKEN.finditer(value):
                word = piece.group(0)
                if word.startswith("'") or word[0].isdigit():
                    category = "literal"
                elif word[0].isalpha() or word[0] == "_":
                    category = "sqlkw" if word.lower() in _SQL_WORDS else "name"
                else:
                    category = "sqlkw"
                for i in range(value_start + piece.start(), value_start + piece.end()):
                    labels[i] = category
    return labels


def labelled_examples(tokenizer: Any, rows: list[dict[str, Any]]) -> list[tuple[list[int], list[str | None]]]:
    """(token ids, category of each token or ``None`` where it is not an assistant token)."""
    from sqlenv_train.sft import _tokenize_for_sft, training_chat_template  # pyright: ignore[reportPrivateUsage]

    out: list[tuple[list[int], list[str | None]]] = []
    template = training_chat_template(tokenizer)
    for row in rows:
        ids, mask = _tokenize_for_sft(tokenizer, row)
        tools = json.loads(row["tools"]) if isinstance(row["tools"], str) else row["tools"]
        text = tokenizer.apply_chat_template(
            row["messages"], tools=tools, chat_template=template, tokenize=False, enable_thinking=False
        )
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if list(enc["input_ids"]) != ids:
            continue  # rendering differs from the tokenized form; skip rather than mislabel
        labels: dict[int, str] = {}
        for match in re.finditer(r"<\|im_start\|>assistant\n(.*?)<\|im_end\|>", text, re.S):
            labels.update(char_labels(text, match.start(1), match.end(1)))
        cats: list[str | None] = []
        for (a, b), m in zip(enc["offset_mapping"], mask, strict=True):
            if not m:
                cats.append(None)
                continue
            chars = [labels.get(i, "syntax") for i in range(a, b) if not text[i].isspace()]
            cats.append(chars[0] if chars else "syntax")
        out.append((ids, cats))
    return out


def teacher_forced(model: Any, examples: list[tuple[list[int], list[str | None]]]) -> dict[str, Any]:
    """Per category: token accuracy, mean loss, and n; plus the share of calls whose argument is exact."""
    import torch

    stats: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    model.eval()
    with torch.no_grad():
        for ids, cats in examples:
            x = torch.tensor([ids])
            logits = model(input_ids=x).logits[0, :-1].float()
            target = x[0, 1:]
            logp = torch.log_softmax(logits, -1)
            loss = -logp.gather(1, target[:, None])[:, 0]
            right = logits.argmax(-1) == target
            for i, cat in enumerate(cats[1:]):
                if cat is None:
                    continue
                s = stats[cat]
                s[0] += float(right[i])
                s[1] += float(loss[i])
                s[2] += 1
    out: dict[str, Any] = {}
    total = [0.0, 0.0, 0.0]
    for cat in CATEGORIES:
        if cat in stats:
            a, lo, n = stats[cat]
            out[cat] = {"acc": a / n, "loss": lo / n, "n": int(n)}
            total = [total[0] + a, total[1] + lo, total[2] + n]
    out["all"] = {"acc": total[0] / total[2], "loss": total[1] / total[2], "n": int(total[2])}
    return out


def rows_for(spec: str, step_budget: int, describe_first: bool, limit: int | None = None) -> list[dict[str, Any]]:
    from sqlenv_core.datasets import load
    from sqlenv_train.sft import ScriptedOraclePolicy, episode_conversations, sft_rows

    data = load(spec)
    ids = [q.id for q in data][:limit]
    conversations = episode_conversations(
        ScriptedOraclePolicy(data, describe_first=describe_first), data, question_ids=ids, step_budget=step_budget
    )
    return sft_rows(conversations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--levels", default="1-5")
    parser.add_argument("--sft-questions", type=int, default=800)
    parser.add_argument("--sft-steps", type=int, default=200)
    parser.add_argument("--sft-lr", type=float, default=2e-3)
    parser.add_argument("--sft-batch", type=int, default=12)
    parser.add_argument("--invented-names", type=float, default=1.0)
    parser.add_argument("--no-describe", action="store_true", help="oracle episodes without the DESCRIBE step")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=1536)
    parser.add_argument("--letters", action="store_true", help="one token per letter (TinyModelSpec.letter_tokens)")
    parser.add_argument(
        "--first-turns", action="store_true", help="train only on each conversation up to its first call (copy drill)"
    )
    parser.add_argument("--decay", action="store_true", help="cosine learning-rate decay")
    parser.add_argument("--all-tokens", action="store_true", help="warm-start loss on every token")
    parser.add_argument(
        "--copy-steps",
        type=int,
        default=0,
        help="copy pre-training steps (transfer.copy_pretrain) taken out of --sft-steps (same total budget)",
    )
    parser.add_argument("--copy-batch", type=int, default=16)
    parser.add_argument(
        "--copy-mix", type=int, default=0, help="also add this many copy-task rows to the warm start's conversations"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--probe", type=int, default=48, help="conversations per teacher-forced set")
    parser.add_argument("--rollouts", type=int, default=8, help="greedy eval episodes to print")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sqlenv_train.sft import run_sft
    from sqlenv_train.tiny import build_tiny_model
    from sqlenv_train.transfer import copy_pretrain, copy_rows, invented_copies, transfer_model

    if args.threads:
        torch.set_num_threads(args.threads)
    describe = not args.no_describe
    started = time.perf_counter()
    sft_spec = f"procgen:train?seed=1&n={args.sft_questions}&level={args.levels}"
    rows = rows_for(sft_spec, 5, describe)
    rng = random.Random(0)
    rows += invented_copies(rows, args.invented_names, rng)
    rng.shuffle(rows)
    spec = transfer_model(
        hidden=args.hidden, layers=args.layers, heads=args.heads, vocab=args.vocab, letters=args.letters
    )
    path = build_tiny_model(os.path.join(args.out_dir, "untrained"), spec, dataset_spec=sft_spec, force=True)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    print(
        f"{len(rows)} warm-start rows, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, "
        f"torch threads {torch.get_num_threads()}, setup {time.perf_counter() - started:.0f}s"
    )

    sets = {
        "train(seen)": labelled_examples(tokenizer, [r for r in rows if not r.get("invented_names")][: args.probe]),
        "train(fresh)": labelled_examples(
            tokenizer, rows_for(f"procgen:train?seed=9&n=200&level={args.levels}", 5, describe, args.probe)
        ),
        "fresh(invented)": labelled_examples(
            tokenizer,
            invented_copies(
                rows_for(f"procgen:train?seed=9&n=200&level={args.levels}", 5, describe, args.probe),
                1.0,
                random.Random(7),
            ),
        ),
        "eval": labelled_examples(
            tokenizer, rows_for(f"procgen:eval?seed=3&n=200&level={args.levels}", 5, describe, args.probe)
        ),
        # The copy task's own examples, with names no training row has (another seed).
        "copy-task": labelled_examples(tokenizer, copy_rows(args.probe, random.Random(99))),
    }
    lengths = [len(ids) for ids, _ in sets["eval"]]
    print(f"eval conversation tokens: mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}")
    log: list[tuple[int, float]] = []
    mark = time.perf_counter()

    def on_step(step: int, loss: float) -> None:
        log.append((step, loss))
        if step % 25 == 0:
            recent = [v for _, v in log[-25:]]
            pace = (time.perf_counter() - mark) / step
            print(f"  step {step}: loss {sum(recent) / len(recent):.3f} ({pace:.2f} s/step)", flush=True)

    copy_log: list[float] = []
    if args.copy_steps:
        if args.copy_steps >= args.sft_steps:
            parser.error("--copy-steps must be below --sft-steps (they share the step budget)")
        copy = copy_pretrain(
            model, tokenizer, steps=args.copy_steps, batch_size=args.copy_batch, learning_rate=args.sft_lr
        )
        copy_log = copy["losses"]
        after = teacher_forced(model, sets["copy-task"])
        print(f"copy task after copy pre-training: table {after['table']['acc']:.1%}, names {after['name']['acc']:.1%}")
        print(
            f"copy pre-training {args.copy_steps} steps x {args.copy_batch} in {time.perf_counter() - mark:.0f}s: "
            f"loss {copy['first_loss']:.3f} -> {copy['last_loss']:.3f}",
            flush=True,
        )
        mark = time.perf_counter()
    train_rows = rows
    if args.copy_mix:
        train_rows = rows + copy_rows(args.copy_mix, random.Random(5))
    if args.first_turns:
        train_rows = [{**r, "messages": r["messages"][:3]} for r in train_rows]
    run_sft(
        model,
        tokenizer,
        train_rows,
        max_steps=args.sft_steps - args.copy_steps,
        learning_rate=args.sft_lr,
        batch_size=args.sft_batch,
        show_progress=False,
        on_step=on_step,
        all_tokens=args.all_tokens,
        lr_decay=args.decay,
    )
    print(f"SFT {args.sft_steps - args.copy_steps} steps in {time.perf_counter() - mark:.0f}s")
    results = {name: teacher_forced(model, examples) for name, examples in sets.items()}
    print(f"\n{'category':<10}" + "".join(f"{name:>24}" for name in results))
    for cat in (*CATEGORIES, "all"):
        cells = ""
        for name in results:
            r = results[name].get(cat)
            cells += f"{r['acc']:>9.1%} {r['loss']:>5.2f} n={r['n']:<5}" if r else f"{'-':>24}"
        print(f"{cat:<10}{cells}")

    if args.rollouts:
        from sqlenv_client import SQLEnvClient
        from sqlenv_core.datasets import load
        from sqlenv_train.evaluate import evaluate
        from sqlenv_train.hf import HFPolicy

        data = load(f"procgen:eval?seed=3&n=200&level={args.levels}")
        ids = [q.id for q in data]
        random.Random(1).shuffle(ids)
        policy = HFPolicy(model, tokenizer, name="diag", max_new_tokens=args.max_new_tokens)
        with SQLEnvClient.local(data, step_budget=5) as env:
            report = evaluate(policy, env, ids[: args.rollouts], dataset=data, show_progress=False)
        print(f"\ngreedy on eval: {sum(e.solved for e in report.episodes)}/{len(report.episodes)} solved")
        for e in report.episodes:
            q = data.question(e.question_id)
            print(f"\n[{q.difficulty}] {e.question}\n  gold: {q.gold_sql}")
            print(f"  -> {e.reason}; usage {json.dumps(e.usage)}")
            for t in e.transcript:
                result = (t["error"] or t["result"]).replace("\n", " / ")[:110]
                print(f"  {t['action']} {t['argument'][:150]!r} => {result}")
    with open(os.path.join(args.out_dir, "diag.json"), "w", encoding="utf-8") as handle:
        json.dump({"args": vars(args), "copy_loss": copy_log, "loss": log, "teacher_forced": results}, handle, indent=1)


if __name__ == "__main__":
    main()
