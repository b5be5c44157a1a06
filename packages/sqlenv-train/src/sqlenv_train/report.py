"""Compare evaluation reports as a markdown table and draw PNG plots.

``sqlenv-train report A.json B.json ...`` prints :func:`markdown_table` and writes, with matplotlib
(the ``plots`` extra):

* ``solve_rate.png``: solve rate per policy with its 95% interval;
* ``by_difficulty.png``: solve rate per difficulty, one bar per policy;
* ``steps.png``: steps per episode, per policy;
* ``learning_curve.png``: mean reward and held-out solve rate per training step (given a ``train_log.jsonl``);

and, always (no extra needed), ``report.html``: the curves, the comparison table and every episode's
transcript side by side, in one self-contained file (:mod:`sqlenv_train.html_report`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlenv_train._deps import require
from sqlenv_train._json import as_list, as_object

__all__ = ["load_report", "markdown_table", "plot_learning_curve", "plot_reports", "write_comparison"]


def load_report(path: str | Path) -> dict[str, Any]:
    """Read an evaluation report written by ``evaluate(...).save()`` or ``sqlenv-train eval``.

    Raises:
        ValueError: the file is not such a report (the message names the file and what is missing).
    """
    file = Path(path)
    try:
        data = as_object(json.loads(file.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ValueError(f"cannot read {file}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{file} is not JSON: {exc}") from None
    summary = as_object(data.get("summary")) if data is not None else None
    if data is None or summary is None:
        raise ValueError(f"{file} is not an evaluation report (no 'summary')")
    for key in ("solve_rate", "episodes"):
        if key not in summary:
            raise ValueError(f"{file}: the summary has no {key!r}")
    data.setdefault("policy", file.stem)
    data["_path"] = str(file)
    return data


def _label(report: dict[str, Any]) -> str:
    meta = as_object(report.get("metadata")) or {}
    stage = meta.get("stage")
    label = str(report.get("policy", "?"))
    return f"{label} ({stage})" if stage and str(stage) not in label else label


def _interval(summary: dict[str, Any]) -> tuple[float, float]:
    ci: Any = summary.get("solve_rate_ci95")
    if isinstance(ci, list) and len(ci) == 2:  # pyright: ignore[reportUnknownArgumentType]
        return float(ci[0]), float(ci[1])  # pyright: ignore[reportUnknownArgumentType]
    from sqlenv_train.evaluate import wilson_interval

    n = int(summary.get("episodes", 0))
    return wilson_interval(round(float(summary.get("solve_rate", 0.0)) * n), n)


def markdown_table(reports: Sequence[dict[str, Any]]) -> str:
    """One row per report: solve rate with interval, return, steps, error rates, tokens, latency."""
    from sqlenv_train.html_report import dataset_and_split

    header = (
        "| policy | dataset | split | episodes | solve rate | 95% CI | mean return | mean steps | invalid actions "
        "| format errors | tokens/episode | s/call |"
    )
    lines = [header, "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    datasets = {dataset_and_split(r) for r in reports}
    if len(datasets) > 1:
        named = "; ".join(f"{d} ({s})" for d, s in sorted(datasets))
        lines.insert(0, f"> These reports were evaluated on {len(datasets)} different datasets or splits ({named}):")
        lines.insert(1, "> compare rates only between rows of the same dataset and split.\n")
    for report in reports:
        dataset, split = dataset_and_split(report)
        s: dict[str, Any] = report["summary"]
        low, high = _interval(s)
        usage: Any = report.get("usage") or {}
        tokens = f"{usage['tokens_per_episode']:.0f}" if usage.get("tokens_per_episode") else "–"
        latency = f"{usage['latency_per_call_s']:.3f}" if usage.get("latency_per_call_s") else "–"
        lines.append(
            f"| {_label(report)} | {dataset} | {split} | {s['episodes']} | {float(s['solve_rate']):.1%} "
            f"| {low:.1%}–{high:.1%} "
            f"| {float(s.get('mean_return', 0.0)):.3f} | {float(s.get('mean_steps', 0.0)):.2f} "
            f"| {float(s.get('invalid_action_rate', 0.0)):.1%} | {float(s.get('format_error_rate', 0.0)):.1%} "
            f"| {tokens} | {latency} |"
        )
    difficulties = _difficulties(reports)
    if difficulties:
        lines += ["", "| policy | " + " | ".join(difficulties) + " |", "|---|" + "---:|" * len(difficulties)]
        for report in reports:
            groups: Any = report.get("by_difficulty") or {}
            cells = [
                f"{float(groups[d]['solve_rate']):.1%} (n={groups[d]['episodes']})"
                if int((as_object(groups.get(d)) or {}).get("episodes", 0) or 0)
                else "no questions"
                for d in difficulties
            ]
            lines.append(f"| {_label(report)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _difficulties(reports: Sequence[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for report in reports:
        names += [str(d) for d in as_object(report.get("by_difficulty")) or {} if str(d) not in names]
    return names


def _pyplot() -> Any:
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot")


def plot_reports(reports: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Draw the solve-rate, by-difficulty and steps plots; returns the PNG paths."""
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = [_label(r) for r in reports]
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(reports) + 2), 3.6))
    rates = [float(r["summary"]["solve_rate"]) for r in reports]
    intervals = [_interval(r["summary"]) for r in reports]
    errors = [
        [max(rate - low, 0.0) for rate, (low, _) in zip(rates, intervals, strict=True)],
        [max(high - rate, 0.0) for rate, (_, high) in zip(rates, intervals, strict=True)],
    ]
    ax.bar(range(len(reports)), rates, yerr=errors, capsize=6, color="#4C72B0")
    for x, (rate, (_, high)) in enumerate(zip(rates, intervals, strict=True)):
        # The value in words: a 0% bar is otherwise invisible.
        ax.annotate(
            f"{rate:.0%}", (x, min(high, 1.0)), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8
        )
    ax.set_xticks(range(len(reports)), labels, rotation=20, ha="right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("solve rate (95% CI)")
    ax.set_title("Solve rate per policy")
    written.append(_save(fig, out / "solve_rate.png", plt))

    difficulties = _difficulties(reports)
    if difficulties:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(difficulties) + 2), 3.6))
        width = 0.8 / max(len(reports), 1)
        for i, report in enumerate(reports):
            groups: Any = report.get("by_difficulty") or {}
            counts = [int((as_object(groups.get(d)) or {}).get("episodes", 0) or 0) for d in difficulties]
            values = [float(groups[d]["solve_rate"]) if n else 0.0 for d, n in zip(difficulties, counts, strict=True)]
            xs = [x + i * width for x in range(len(difficulties))]
            ax.bar(xs, values, width, label=labels[i])
            for x, n in zip(xs, counts, strict=True):
                if not n:  # not a 0% bar: no question of this difficulty was evaluated
                    ax.annotate("n=0", (x, 0.01), ha="center", fontsize=7, rotation=90, color="#777")
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(difficulties))], difficulties)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("solve rate")
        ax.set_title("Solve rate by difficulty")
        ax.legend(fontsize=8)
        written.append(_save(fig, out / "by_difficulty.png", plt))

    steps = [[int((as_object(e) or {}).get("steps", 0)) for e in as_list(r.get("episodes")) or []] for r in reports]
    if any(steps):
        fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(reports) + 2), 3.6))
        ax.boxplot([s or [0] for s in steps], showmeans=True)
        ax.set_xticks(range(1, len(reports) + 1), labels, rotation=20, ha="right")
        ax.set_ylabel("exploring steps per episode")
        ax.set_title("Steps per episode")
        written.append(_save(fig, out / "steps.png", plt))
    return written


def _jsonl(path: str | Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = as_object(json.loads(line))
            if entry is not None:
                entries.append(entry)
    return entries


def plot_learning_curve(
    train_log: str | Path,
    out: str | Path,
    *,
    sft_log: str | Path | None = None,
    stages: dict[str, float | None] | None = None,
    final_step: int | None = None,
    eval_label: str = "",
) -> Path:
    """The learning curve of a run: the warm start's loss, then GRPO's reward and held-out solve rate.

    Each quantity has its own axis: the warm start's loss per SFT step (left panel, when
    ``sft_log`` is given); per GRPO step the mean reward (right panel, left axis) and the solve
    rate (right axis) of the held-out evaluations logged as ``heldout/solve_rate`` (``eval_steps``)
    with their 95% intervals, the training rollouts' solve rate in a lighter line, and the
    ``stages`` evaluations marked: ``before`` and ``warm start`` at step 0, ``after`` at
    ``final_step``.

    Args:
        train_log: a ``train_log.jsonl`` of ``sqlenv-train train``.
        out: the PNG to write.
        sft_log: the run's ``sft_log.jsonl`` (the warm start's loss per step).
        stages: held-out solve rates of the ``before``, ``warm start`` and ``after`` evaluations.
        final_step: the GRPO step the ``after`` evaluation belongs to (default: the last logged).
        eval_label: what the held-out evaluations were on (the dataset spec), for the axis.

    Raises:
        ValueError: the log has no reward entries.
    """
    entries = _jsonl(train_log)
    points = [e for e in entries if "reward" in e]
    if not points:
        raise ValueError(f"{train_log} has no reward entries (is it a train_log.jsonl of sqlenv-train train?)")
    heldout = [e for e in entries if "heldout/solve_rate" in e]
    sft = [e for e in _jsonl(sft_log) if "loss" in e] if sft_log is not None and Path(sft_log).is_file() else []
    plt = _pyplot()
    if sft:
        fig, (ax_sft, ax) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 1.6]})
        ax_sft.plot([int(e.get("sft_step", i + 1)) for i, e in enumerate(sft)], [float(e["loss"]) for e in sft])
        ax_sft.set_yscale("log")
        ax_sft.set_xlabel("warm-start (SFT) step")
        ax_sft.set_ylabel("SFT loss (assistant tokens)")
        ax_sft.set_title("Warm start")
        ax_sft.grid(alpha=0.3)
    else:
        fig, ax = plt.subplots(figsize=(7, 3.8))
    steps = [int(p.get("step", i + 1)) for i, p in enumerate(points)]
    ax.plot(steps, [float(p["reward"]) for p in points], color="#4C72B0", alpha=0.8, label="mean reward")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean reward (weighted)", color="#4C72B0")
    ax.grid(alpha=0.3)
    rate = ax.twinx()
    rate.set_ylim(-0.02, 1.02)
    rate.set_ylabel("held-out solve rate", fontsize=9)
    if any("sqlenv/solve_rate" in p for p in points):
        rate.plot(
            steps,
            [float(p.get("sqlenv/solve_rate", float("nan"))) for p in points],
            color="#999999",
            linewidth=0.8,
            label="training rollouts",
        )
    marks: list[tuple[int, float, str]] = []
    stage_values = stages or {}
    for name, color in (("before", "#C44E52"), ("warm start", "#DD8452")):
        value = stage_values.get(name)
        if value is not None:
            marks.append((0, value, name))
            rate.plot([0], [value], marker="s" if name == "before" else "D", color=color, linestyle="", label=name)
    curve = [(int(e.get("step", 0)), float(e["heldout/solve_rate"])) for e in heldout]
    after = stage_values.get("after")
    last = final_step if final_step is not None else (steps[-1] if steps else 0)
    line = ([(0, stage_values["warm start"])] if stage_values.get("warm start") is not None else []) + curve
    if after is not None:
        line.append((last, after))
    if line:
        rate.plot([x for x, _ in line], [y for _, y in line], color="#55A868", linewidth=1.5)
    if heldout:
        lows = [float(e.get("heldout/ci95_low", e["heldout/solve_rate"])) for e in heldout]
        highs = [float(e.get("heldout/ci95_high", e["heldout/solve_rate"])) for e in heldout]
        rate.errorbar(
            [x for x, _ in curve],
            [y for _, y in curve],
            yerr=[
                [y - lo for (_, y), lo in zip(curve, lows, strict=True)],
                [hi - y for (_, y), hi in zip(curve, highs, strict=True)],
            ],
            fmt="o",
            color="#55A868",
            capsize=3,
            label="held out, during GRPO",
        )
    if after is not None:
        marks.append((last, after, "after"))
        rate.plot([last], [after], marker="*", markersize=11, color="#8172B2", linestyle="", label="after")
    for x, y, name in marks:
        below = name == "before"  # before and warm start share step 0: one label above, one below
        rate.annotate(
            f"{name} {y:.0%}", (x, y), xytext=(4, -11 if below else 6), textcoords="offset points", fontsize=7
        )
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = rate.get_legend_handles_labels()
    rate.legend(handles + more_handles, labels + more_labels, fontsize=7, loc="upper left")
    ax.set_title("GRPO" + (f", evaluated on {eval_label}" if eval_label else ""), fontsize=9)
    return _save(fig, Path(out), plt)


def _save(fig: Any, path: Path, plt: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_comparison(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    train_log: str | Path | None = None,
    rollouts: str | Path | None = None,
    plots: bool = True,
) -> tuple[str, list[Path]]:
    """Load reports, write ``comparison.md`` and the plots into ``out_dir``; returns (markdown, files)."""
    reports = [load_report(p) for p in paths]
    table = markdown_table(reports)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "comparison.md"]
    files[0].write_text(table + "\n", encoding="utf-8")
    from sqlenv_train.html_report import write_html_report

    files.append(write_html_report(reports, out / "report.html", train_log=train_log, rollouts=rollouts))
    if plots:
        files += plot_reports(reports, out)
        if train_log is not None:
            files.append(plot_learning_curve(train_log, out / "learning_curve.png"))
    return table, files
