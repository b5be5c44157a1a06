"""``sqlenv-train``: evaluate policies, compare reports, export warm-start data, train with GRPO.

Commands::

    sqlenv-train eval --policy {random,oracle,openai,hf} --dataset SPEC [--base-url URL --model NAME]
                      [--limit N] --out report.json
    sqlenv-train report A.json B.json ... [--out-dir DIR] [--train-log run/train_log.jsonl]  (report.html, ...)
    sqlenv-train sft-data --dataset SPEC --out warmstart.jsonl
    sqlenv-train train [--config recipe.toml] [--smoke] [--resume] [--model ...] [--steps N] ...
                       (one flag per TrainConfig field: ``sqlenv-train train --help``)
    sqlenv-train tiny-model [--out DIR]

Errors in the input (a bad dataset spec, an invalid config, a missing dependency) print one clear
message and exit with status 2; failures while running exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from sqlenv_core.datasets import DatasetError, load

__all__ = ["main"]

POLICIES = ("random", "oracle", "openai", "hf")


class UsageError(Exception):
    """A command-line mistake; printed without a traceback, exit status 2."""


def _eval(args: argparse.Namespace) -> int:
    from sqlenv_client import SQLEnvClient
    from sqlenv_train.evaluate import evaluate
    from sqlenv_train.policies import OraclePolicy, Policy, RandomPolicy

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    if args.policy in ("openai", "hf") and not args.model:
        raise UsageError(f"--policy {args.policy} needs --model")
    if args.policy == "openai" and not args.base_url:
        raise UsageError("--policy openai needs --base-url (the API root, e.g. http://127.0.0.1:8000/v1)")
    dataset = load(args.dataset)
    ids = [q.id for q in dataset][: args.limit]
    if not ids:
        raise UsageError(f"dataset {args.dataset!r} has no questions")
    policy: Policy
    closer: Any = None
    meta: dict[str, Any] = {"dataset": args.dataset, "seed": args.seed, "env": args.env_url or "local"}
    if args.policy == "random":
        policy = RandomPolicy(seed=args.seed)
    elif args.policy == "oracle":
        policy = OraclePolicy(dataset)
    elif args.policy == "openai":
        from sqlenv_train.llm import LLMPolicy

        llm = LLMPolicy(
            args.model,
            base_url=args.base_url,
            temperature=args.temperature,
            timeout_s=args.timeout,
            max_retries=args.max_retries,
            max_tokens=args.max_tokens,
        )
        policy, closer = llm, llm
        meta.update(model=args.model, endpoint=args.base_url, temperature=args.temperature)
    else:
        from sqlenv_train.hf import HFPolicy
        from sqlenv_train.training import resolve_model

        path = resolve_model(args.model)
        policy = HFPolicy(path, temperature=args.temperature, max_new_tokens=args.max_tokens, seed=args.seed)
        meta.update(model=args.model, model_path=path, temperature=args.temperature)
    try:
        if args.env_url:
            env = SQLEnvClient(args.env_url)
        else:
            env = SQLEnvClient.local(dataset, step_budget=args.step_budget)
        with env:
            report = evaluate(policy, env, ids, dataset=dataset, show_progress=not args.no_progress, metadata=meta)
    finally:
        if closer is not None:
            closer.close()
    out = report.save(args.out)
    low, high = report.solve_rate_ci95
    split = report.metadata.get("split") or "?"
    print(
        f"{report.policy} on {args.dataset} (split {split}): solved {sum(e.solved for e in report.episodes)}/"
        f"{len(report.episodes)} ({report.solve_rate:.1%}, 95% CI {low:.1%}–{high:.1%}), "
        f"mean return {report.mean_return:.3f} -> {out}"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from sqlenv_train._deps import MissingDependencyError
    from sqlenv_train.report import write_comparison

    try:
        table, files = write_comparison(
            args.reports, args.out_dir, train_log=args.train_log, rollouts=args.rollouts, plots=not args.no_plots
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except MissingDependencyError as exc:
        raise UsageError(f"{exc}; or pass --no-plots for the markdown table alone") from None
    print(table)
    print()
    for file in files:
        print(f"wrote {file}")
    return 0


def _sft_data(args: argparse.Namespace) -> int:
    from sqlenv_train.policies import Policy, RandomPolicy
    from sqlenv_train.sft import ScriptedOraclePolicy, episode_conversations, write_sft_data

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    dataset = load(args.dataset)
    policy: Policy = (
        ScriptedOraclePolicy(dataset, describe_first=args.describe_first)
        if args.policy == "oracle"
        else RandomPolicy(seed=args.seed)
    )
    ids = [q.id for q in dataset][: args.limit]
    conversations = episode_conversations(
        policy, dataset, question_ids=ids, step_budget=args.step_budget, only_correct=not args.include_failed
    )
    out = write_sft_data(conversations, args.out)
    print(f"{len(conversations)} of {len(ids)} episodes written as chat conversations with tool calls -> {out}")
    return 0


def _none_or(kind: type) -> Any:
    """An argparse type for an optional setting: ``none`` (any case) is ``None``, else ``kind``."""

    def parse(text: str) -> Any:
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


def _attribute_help() -> dict[str, str]:
    """Each ``TrainConfig`` attribute's description, from the class docstring (one source for both)."""
    import inspect
    import re

    from sqlenv_train.training import TrainConfig

    doc = inspect.getdoc(TrainConfig) or ""
    described: dict[str, str] = {}
    name: str | None = None
    for line in doc.partition("Attributes:")[2].splitlines():
        entry = re.match(r"^ {4}(\w+): (.*)$", line)
        if entry is not None:
            name = str(entry[1])
            described[name] = str(entry[2])
        elif name is not None and line.startswith(" " * 8):
            described[name] += " " + line.strip()
    return described


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``TrainConfig`` field, derived from its type, default and docstring.

    ``--steps 8``; ``--eval-limit none`` for an optional setting; ``--lora`` / ``--no-lora`` for a
    switch; ``--reward-weights 1 0.5 0.2`` for a list. A flag that is not given leaves the setting
    to the config file, or to the default.
    """
    import dataclasses
    import typing

    from sqlenv_train.training import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    described = _attribute_help()
    for f in dataclasses.fields(TrainConfig):
        hint: Any = hints[f.name]
        optional = type(None) in typing.get_args(hint)
        if optional:
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        text = f"{described.get(f.name, f.name)} (default: {default})".replace("%", "%%").replace("``", "")
        names = [flag, "--progress"] if f.name == "show_progress" else [flag]
        common: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": text}
        if hint is bool:
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **common)
        elif typing.get_origin(hint) is list:
            (item,) = typing.get_args(hint)
            parser.add_argument(*names, nargs="+", type=item, metavar=item.__name__.upper(), **common)
        else:
            metavar = f"{hint.__name__.upper()}|none" if optional else hint.__name__.upper()
            parser.add_argument(*names, type=_none_or(hint) if optional else hint, metavar=metavar, **common)


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``TrainConfig`` settings given on the command line (``None`` where ``none`` was given)."""
    import dataclasses

    from sqlenv_train.training import TrainConfig

    return {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}


def _train(args: argparse.Namespace) -> int:
    from dataclasses import asdict, replace

    from sqlenv_train.training import ConfigError, TrainConfig, load_config, train

    overrides = train_overrides(args)
    try:
        if args.smoke:
            if args.config:
                raise UsageError("--smoke and --config are exclusive")
            config = TrainConfig.smoke(**overrides)
        else:
            # load_config ignores None (an unset setting): a `none` given on the command line is set after.
            config = load_config(args.config, **overrides)
            config = replace(config, **{k: None for k, v in overrides.items() if v is None})
        config.validate()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.dry_run:
        print(json.dumps(asdict(config), indent=2))
        return 0
    if config.resume:
        from sqlenv_train.training import last_checkpoint

        print(f"resuming from {last_checkpoint(config.output_dir)}", file=sys.stderr)
    result = train(config)
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def _tiny(args: argparse.Namespace) -> int:
    from sqlenv_train.tiny import build_tiny_model

    print(build_tiny_model(args.out, force=args.force))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sqlenv-train``."""
    parser = argparse.ArgumentParser(prog="sqlenv-train", description="Train and evaluate SQLEnv agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("eval", help="evaluate a policy and write a JSON report")
    ev.add_argument("--policy", choices=POLICIES, required=True)
    ev.add_argument("--dataset", default="builtin:eval", help="dataset spec (default builtin:eval)")
    ev.add_argument("--base-url", help="openai: the API root of an OpenAI-compatible endpoint")
    ev.add_argument("--model", help="openai: the model name; hf: a model name, folder or 'tiny'")
    ev.add_argument("--limit", type=int, help="evaluate the first N questions")
    ev.add_argument("--out", required=True, help="where to write the JSON report")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--env-url", help="play on a SQLEnv server instead of in-process")
    ev.add_argument("--step-budget", type=int, default=15, help="exploring actions per episode (in-process)")
    ev.add_argument("--temperature", type=float, default=0.0, help="model policies (0: greedy)")
    ev.add_argument("--max-tokens", type=int, default=512, help="model policies: longest reply per turn")
    ev.add_argument("--timeout", type=float, default=60.0, help="openai: seconds per request")
    ev.add_argument("--max-retries", type=int, default=3, help="openai: retries on errors and timeouts")
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(run=_eval)

    rp = sub.add_parser("report", help="compare reports: report.html (transcripts side by side), a table, plots")
    rp.add_argument("reports", nargs="+", help="report JSON files")
    rp.add_argument("--out-dir", default="reports", help="where report.html, comparison.md and the PNGs go")
    rp.add_argument("--train-log", help="a train_log.jsonl to draw the training curves from")
    rp.add_argument("--rollouts", help="a rollouts.jsonl whose training rollouts report.html shows, step by step")
    rp.add_argument("--no-plots", action="store_true", help="no PNG plots (report.html needs no extra)")
    rp.set_defaults(run=_report)

    sd = sub.add_parser("sft-data", help="export episodes as a chat dataset with tool calls (warm start)")
    sd.add_argument("--dataset", default="builtin:train")
    sd.add_argument("--out", required=True)
    sd.add_argument("--policy", choices=("oracle", "random"), default="oracle")
    sd.add_argument("--describe-first", action="store_true", help="oracle: DESCRIBE a table before querying")
    sd.add_argument("--include-failed", action="store_true", help="keep episodes whose answer was wrong")
    sd.add_argument("--limit", type=int, help="export the first N questions")
    sd.add_argument("--step-budget", type=int, default=15)
    sd.add_argument("--seed", type=int, default=0)
    sd.set_defaults(run=_sft_data)

    tr = sub.add_parser("train", help="GRPO training with TRL (needs sqlenv-train[train])")
    tr.add_argument("--config", help="a TOML or JSON file of settings (flags override it)")
    tr.add_argument("--smoke", action="store_true", help="the tiny model on CPU for a few steps")
    tr.add_argument("--dry-run", action="store_true", help="validate and print the configuration, then stop")
    add_config_flags(tr)
    tr.set_defaults(run=_train)

    tm = sub.add_parser("tiny-model", help="build the tiny local model (cached) and print its folder")
    tm.add_argument("--out", help="folder to write (default: the cache)")
    tm.add_argument("--force", action="store_true")
    tm.set_defaults(run=_tiny)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from sqlenv_train._deps import MissingDependencyError

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, DatasetError, MissingDependencyError) as exc:
        print(f"sqlenv-train {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a failure while running: one line, not a traceback
        from sqlenv_train.llm import LLMError

        if isinstance(exc, LLMError | OSError | ValueError | RuntimeError):
            print(f"sqlenv-train {args.command}: failed: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    raise SystemExit(main())
