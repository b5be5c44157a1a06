"""A self-contained HTML report of a run: its curves, the comparison table, every episode's transcript.

``train()`` writes ``report.html`` into the run's folder, and ``sqlenv-train report A.json B.json
[--train-log run/train_log.jsonl]`` into ``--out-dir``. One file, nothing fetched (inline SVG,
CSS and a little JavaScript), so it opens offline and can be attached or archived as it is:

* **curves** from ``train_log.jsonl``, each quantity on its own axis: the mean reward per GRPO step
  on a reward axis; the training batches' solve rate and tool-call validity on a 0–100% axis, with
  the held-out evaluations (before, after the warm start, after, and any logged during training)
  marked as separate points;
* **the comparison table**, one table per dataset and split (reports on different datasets are
  never put in one column: the report says so and splits them), with a by-difficulty table in
  which a difficulty without questions reads "no questions", not 0%;
* **every evaluated episode** as a transcript (question, each action with the environment's
  answer and reward, the verdict), the reports side by side for the same question (before and
  after), filterable by verdict, by change between the first and the last report, by difficulty
  and by database;
* **training rollouts** from ``rollouts.jsonl`` (given one): the GRPO group of a chosen step, every
  completion as the model wrote it (tool calls, tool results), with its verdict, return and
  flags. TRL's own completions table keeps only the last step; this keeps up to
  ``MAX_ROLLOUT_STEPS`` steps, evenly spaced, the first and the last included.

Only the standard library: it needs no extra.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlenv_train._json import as_list, as_object

__all__ = ["dataset_and_split", "html_report", "nice_ticks", "write_html_report"]

_DIFFICULTY_ORDER = {"easy": 0, "medium": 1, "hard": 2, "extra": 3}
#: Training steps whose rollouts the page shows at most (evenly spaced, the first and the last included).
MAX_ROLLOUT_STEPS = 24
#: Longest message of a training rollout shown (rollouts.jsonl already clips them).
_ROLLOUT_CHARS = 1500
_COLOURS = ("#3b6fb6", "#d9822b", "#2e9e6a", "#b8475a", "#7a5bb5", "#6b6b6b")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def dataset_and_split(report: dict[str, Any]) -> tuple[str, str]:
    """The dataset a report was evaluated on (its spec without the split) and the split (``–``: unknown)."""
    meta = as_object(report.get("metadata")) or {}
    spec = str(meta.get("dataset") or "")
    if not spec:
        return ("unknown", "–")
    head, _, query = spec.partition("?")
    kind, _, target = head.partition(":")
    options = [part for part in query.split("&") if part]
    split = next((part.split("=", 1)[1] for part in options if part.startswith("split=")), "")
    rest = [part for part in options if not part.startswith("split=")]
    if kind == "builtin":
        split = split or target or "all"
        name = "builtin"
    else:
        name = head
    return (name + ("?" + "&".join(rest) if rest else ""), split or "–")


def _label(report: dict[str, Any]) -> str:
    meta = as_object(report.get("metadata")) or {}
    stage = meta.get("stage")
    label = str(report.get("policy", "?"))
    return f"{label} ({stage})" if stage and str(stage) not in label else label


def _pct(value: float) -> str:
    return f"{value:.1%}"


# ---------------------------------------------------------------------------------------------- axes


def nice_ticks(low: float, high: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten) covering [low, high].

    With ``integer`` (GRPO steps), ticks are whole numbers.

    Example:
        >>> nice_ticks(0, 1.7)
        [0.0, 0.5, 1.0, 1.5, 2.0]
        >>> nice_ticks(1, 4, integer=True)
        [1.0, 2.0, 3.0, 4.0]
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    multiples = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multiples if m * magnitude >= raw)
    if integer:
        step = max(1.0, round(step))
    start = math.floor(low / step + 1e-9) * step
    ticks: list[float] = []
    value = start
    while value < high + step * 0.999 and len(ticks) < 50:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _tick_text(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.0%}"
    return f"{value:g}"


def _svg_chart(
    title: str,
    series: Sequence[tuple[str, list[tuple[float, float]], str]],
    *,
    held_out: Sequence[tuple[str, float, float, str]] = (),
    percent: bool = False,
    y_label: str,
) -> str:
    """A line chart: ``series`` are (name, points, colour); ``held_out`` (name, x, y, colour) are marked points."""
    # The legend sits above the plot, three entries a row: it never hides a line.
    entries = [(n, c, "line") for n, pts, c in series if pts]
    seen: set[str] = set()
    for name, _, _, colour in held_out:
        key = name.split(" (")[0]
        if key not in seen:
            seen.add(key)
            entries.append((f"held-out: {key}", colour, "diamond"))
    rows = math.ceil(len(entries) / 3)
    width, height = 620, 250 + 15 * rows
    left, right, top, bottom = 56, 16, 34 + 15 * rows, 44
    xs = [x for _, pts, _ in series for x, _ in pts] + [x for _, x, _, _ in held_out]
    ys = [y for _, pts, _ in series for _, y in pts] + [y for _, _, y, _ in held_out]
    if not xs:
        return ""
    x_ticks = nice_ticks(min(xs), max(xs), 6, integer=True)
    if percent:
        y_ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    else:
        y_ticks = nice_ticks(min(0.0, min(ys)), max(ys), 5)
    x0, x1 = x_ticks[0], x_ticks[-1]
    y0, y1 = y_ticks[0], y_ticks[-1]

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - y0) / ((y1 - y0) or 1) * (height - top - bottom)

    parts = [
        f'<svg class="chart" role="img" aria-label="{_e(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="18" class="chart-title">{_e(title)}</text>',
    ]
    for y in y_ticks:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" class="grid"/>')
        parts.append(
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end" class="tick">{_tick_text(y, percent)}</text>'
        )
    for x in x_ticks:
        parts.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle" class="tick">{x:g}</text>')
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle" class="axis">GRPO step</text>'
    )
    parts.append(
        f'<text transform="translate(14 {(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle" '
        f'class="axis">{_e(y_label)}</text>'
    )
    for name, points, colour in series:
        if not points:
            continue
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [
            f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"><title>{_e(name)}: step {x:g}, '
            f"{_tick_text(y, percent) if percent else f'{y:.3f}'}</title></circle>"
            for x, y in points
        ]
    for name, x, y, colour in held_out:
        cx, cy = px(x), py(y)
        parts.append(
            f'<path class="held-out" d="M{cx:.1f},{cy - 6:.1f} L{cx + 6:.1f},{cy:.1f} L{cx:.1f},{cy + 6:.1f} '
            f'L{cx - 6:.1f},{cy:.1f} Z" fill="white" stroke="{colour}" stroke-width="2"><title>held-out: {_e(name)}, '
            f"step {x:g}, {_pct(y)}</title></path>"
        )
    for i, (name, colour, kind) in enumerate(entries):
        legend_x = left + (i % 3) * 185
        y = 34 + (i // 3) * 15
        if kind == "line":
            parts.append(
                f'<line x1="{legend_x}" x2="{legend_x + 16}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
            )
        else:
            parts.append(
                f'<path d="M{legend_x + 8},{y - 5} L{legend_x + 13},{y} L{legend_x + 8},{y + 5} L{legend_x + 3},{y} Z" '
                f'fill="white" stroke="{colour}" stroke-width="2"/>'
            )
        parts.append(f'<text x="{legend_x + 22}" y="{y + 4}" class="legend">{_e(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _log_points(log: Sequence[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for entry in log:
        value = entry.get(key)
        if isinstance(value, int | float) and math.isfinite(value) and isinstance(entry.get("step"), int | float):
            points.append((float(entry["step"]), float(value)))
    return points


def _curves(log: Sequence[dict[str, Any]], reports: Sequence[dict[str, Any]]) -> str:
    if not log:
        return '<p class="note">No training log was given: no curves.</p>'
    last_step = max((float(e["step"]) for e in log if isinstance(e.get("step"), int | float)), default=0.0)
    charts: list[str] = []
    reward = _log_points(log, "reward")
    if reward:
        series = [("mean reward (weighted)", reward, _COLOURS[0])]
        for i, name in enumerate(("correctness", "shaped_return", "format_validity")):
            points = _log_points(log, f"rewards/{name}/mean")
            if points:
                series.append((name, points, _COLOURS[i + 1]))
        charts.append(_svg_chart("Reward per GRPO step (training batches)", series, y_label="reward"))
    rates = [
        ("solve rate (training batches)", _log_points(log, "sqlenv/solve_rate"), _COLOURS[0]),
        ("tool-call validity", _log_points(log, "sqlenv/tool_call_validity"), _COLOURS[2]),
    ]
    held_out: list[tuple[str, float, float, str]] = []
    stage_colour = {"before": _COLOURS[3], "warm start": _COLOURS[4], "after": _COLOURS[1]}
    for report in reports:
        meta = as_object(report.get("metadata")) or {}
        stage = str(meta.get("stage") or "")
        summary = as_object(report.get("summary")) or {}
        rate = summary.get("solve_rate")
        if stage in ("before", "warm start", "after") and isinstance(rate, int | float):
            x = last_step if stage == "after" else 0.0
            held_out.append((f"{stage} ({dataset_and_split(report)[1]})", x, float(rate), stage_colour[stage]))
    # Held-out evaluations logged during training (train()'s eval_steps log heldout/solve_rate; TRL's
    # own evaluations eval*solve_rate).
    logged = {k for e in log for k in e if k.startswith(("eval", "heldout/")) and k.endswith("solve_rate")}
    for key in sorted(logged):
        held_out += [(f"during training ({key})", x, y, _COLOURS[5]) for x, y in _log_points(log, key)]
    if any(points for _, points, _ in rates) or held_out:
        charts.append(
            _svg_chart("Rates per GRPO step", rates, held_out=held_out, percent=True, y_label="share of rollouts")
        )
    length = _log_points(log, "completions/mean_length")
    if length:
        charts.append(
            _svg_chart("Completion length per GRPO step", [("mean tokens", length, _COLOURS[1])], y_label="tokens")
        )
    return "\n".join(f'<figure class="curve">{chart}</figure>' for chart in charts)


# -------------------------------------------------------------------------------------------- tables


def _comparison(reports: Sequence[dict[str, Any]]) -> str:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for report in reports:
        groups.setdefault(dataset_and_split(report), []).append(report)
    parts: list[str] = []
    if len(groups) > 1:
        parts.append(
            '<p class="warning" id="mixed-datasets">These reports were evaluated on '
            f"{len(groups)} different datasets or splits: their rates are not comparable, so each has its own "
            "table below.</p>"
        )
    for (dataset, split), members in groups.items():
        rows: list[str] = []
        for report in members:
            s = as_object(report.get("summary")) or {}
            ci = as_list(s.get("solve_rate_ci95")) or [0.0, 0.0]
            rows.append(
                "<tr>"
                f"<td>{_e(_label(report))}</td><td>{_e(dataset)}</td><td>{_e(split)}</td>"
                f"<td class=num>{int(s.get('episodes', 0))}</td>"
                f"<td class=num>{_pct(float(s.get('solve_rate', 0.0)))}</td>"
                f"<td class=num>{_pct(float(ci[0]))}–{_pct(float(ci[1]))}</td>"
                f"<td class=num>{float(s.get('mean_return', 0.0)):.3f}</td>"
                f"<td class=num>{float(s.get('mean_steps', 0.0)):.2f}</td>"
                f"<td class=num>{_pct(float(s.get('invalid_action_rate', 0.0)))}</td>"
                "</tr>"
            )
        parts.append(
            f'<table class="comparison" data-dataset="{_e(dataset)}" data-split="{_e(split)}">'
            "<thead><tr><th>policy</th><th>dataset</th><th>split</th><th>episodes</th><th>solve rate</th>"
            "<th>95% CI</th><th>mean return</th><th>mean steps</th><th>invalid actions</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
        parts.append(_by_difficulty(members))
    return "\n".join(parts)


def _by_difficulty(reports: Sequence[dict[str, Any]]) -> str:
    names: list[str] = []
    for report in reports:
        for name in as_object(report.get("by_difficulty")) or {}:
            if str(name) not in names:
                names.append(str(name))
    if not names:
        return ""
    names.sort(key=lambda d: (_DIFFICULTY_ORDER.get(d, 9), d))
    rows: list[str] = []
    for report in reports:
        groups = as_object(report.get("by_difficulty")) or {}
        cells: list[str] = []
        for name in names:
            group = as_object(groups.get(name)) or {}
            n = int(group.get("episodes", 0) or 0)
            if n == 0:
                cells.append('<td class="num empty">no questions</td>')
            else:
                cells.append(f"<td class=num>{_pct(float(group.get('solve_rate', 0.0)))} <small>(n={n})</small></td>")
        rows.append(f"<tr><td>{_e(_label(report))}</td>{''.join(cells)}</tr>")
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    return (
        f'<table class="by-difficulty"><thead><tr><th>solve rate by difficulty</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# ------------------------------------------------------------------------------------------ episodes


def _verdict(episode: dict[str, Any]) -> str:
    if episode.get("solved"):
        return "correct"
    return "wrong" if episode.get("answered") else "no answer"


def _side(report: dict[str, Any], episode: dict[str, Any] | None) -> str:
    label = _e(_label(report))
    if episode is None:
        return f'<div class="side"><h4>{label}</h4><p class="note">not evaluated on this question</p></div>'
    verdict = _verdict(episode)
    steps: list[str] = []
    for turn in as_list(episode.get("transcript")) or []:
        t = as_object(turn) or {}
        reward = t.get("reward")
        reward_text = f"{float(reward):+.3f}" if isinstance(reward, int | float) else "–"
        outcome = (
            f'<pre class="error">{_e(t.get("error"))}</pre>'
            if t.get("error")
            else f"<pre>{_e(t.get('result', ''))}</pre>"
        )
        steps.append(
            f'<li><div class="call"><span class="action">{_e(t.get("action", "?"))}</span> '
            f'<code>{_e(t.get("argument", ""))}</code><span class="reward">{reward_text}</span></div>{outcome}</li>'
        )
    body = (
        f'<ol class="transcript">{"".join(steps)}</ol>'
        if steps
        else '<p class="note">no transcript in this report (written before transcripts were recorded)</p>'
    )
    return (
        f'<div class="side" data-verdict="{_e(verdict)}"><h4>{label}</h4>'
        f'<p><span class="verdict {verdict.replace(" ", "-")}">{_e(verdict)}</span> '
        f"{_e(episode.get('reason', ''))} · return {float(episode.get('total_reward', 0.0)):.3f} · "
        f"{int(episode.get('steps', 0))} steps</p>{body}</div>"
    )


def _episodes(reports: Sequence[dict[str, Any]]) -> str:
    by_report: list[dict[str, dict[str, Any]]] = []
    order: list[str] = []
    for report in reports:
        found: dict[str, dict[str, Any]] = {}
        for item in as_list(report.get("episodes")) or []:
            episode = as_object(item)
            if episode is not None and "question_id" in episode:
                found[str(episode["question_id"])] = episode
                if str(episode["question_id"]) not in order:
                    order.append(str(episode["question_id"]))
        by_report.append(found)
    cards: list[str] = []
    difficulties: set[str] = set()
    databases: set[str] = set()
    for qid in order:
        present = [found[qid] for found in by_report if qid in found]
        first, last = present[0], present[-1]
        difficulty = str(next((e.get("difficulty") for e in present if e.get("difficulty")), "") or "unknown")
        database = str(first.get("db_id", "") or "unknown")
        question = next((str(e["question"]) for e in present if e.get("question")), "")
        difficulties.add(difficulty)
        databases.add(database)
        if len(present) < 2 or bool(first.get("solved")) == bool(last.get("solved")):
            change = "unchanged"
        else:
            change = "improved" if last.get("solved") else "regressed"
        sides = "".join(_side(report, found.get(qid)) for report, found in zip(reports, by_report, strict=True))
        cards.append(
            f'<section class="episode" data-question="{_e(qid)}" data-verdict="{_e(_verdict(last))}" '
            f'data-change="{change}" data-difficulty="{_e(difficulty)}" data-database="{_e(database)}">'
            f"<h3>{_e(qid)} <small>{_e(database)} · {_e(difficulty)}</small></h3>"
            f'<p class="question">{_e(question or "(question text not recorded)")}</p>'
            f'<div class="sides" style="--columns:{len(reports)}">{sides}</div></section>'
        )

    def options(select_id: str, label: str, values: Sequence[str]) -> str:
        items = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
        return (
            f'<label>{_e(label)} <select class="filter" id="{select_id}" data-key="{select_id[2:]}">'
            f'<option value="">all</option>{items}</select></label>'
        )

    last_label = _label(reports[-1]) if reports else ""
    filters = [
        options("f-verdict", f"verdict ({last_label})", ["correct", "wrong", "no answer"]),
        options("f-difficulty", "difficulty", sorted(difficulties, key=lambda d: (_DIFFICULTY_ORDER.get(d, 9), d))),
        options("f-database", "database", sorted(databases)),
    ]
    if len(reports) > 1:
        filters.insert(
            1, options("f-change", f"{_label(reports[0])} → {last_label}", ["improved", "regressed", "unchanged"])
        )
    return (
        f'<div class="filters">{"".join(filters)} <span><b id="shown">{len(cards)}</b> of {len(cards)} '
        f"questions shown</span></div>\n" + "\n".join(cards)
    )


def _message_html(message: dict[str, Any]) -> str:
    role = str(message.get("role", "?"))
    parts: list[str] = []
    content = str(message.get("content") or "")
    if content.strip():
        parts.append(f"<pre>{_e(content[:_ROLLOUT_CHARS])}</pre>")
    for call in as_list(message.get("tool_calls")) or []:
        function = as_object((as_object(call) or {}).get("function")) or {}
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        parts.append(
            f'<div class="call"><span class="action">{_e(function.get("name", "?"))}</span> '
            f"<code>{_e(text[:_ROLLOUT_CHARS])}</code></div>"
        )
    return f'<li class="msg {_e(role)}"><span class="role">{_e(role)}</span>{"".join(parts)}</li>'


def _rollouts(rollouts: Sequence[dict[str, Any]]) -> str:
    by_step: dict[int, list[dict[str, Any]]] = {}
    for rollout in rollouts:
        step = rollout.get("step")
        if isinstance(step, int):
            by_step.setdefault(step, []).append(rollout)
    if not by_step:
        return '<p class="note">No rollouts.jsonl was given.</p>'
    steps = sorted(by_step)
    if len(steps) > MAX_ROLLOUT_STEPS:
        picks = {steps[round(i * (len(steps) - 1) / (MAX_ROLLOUT_STEPS - 1))] for i in range(MAX_ROLLOUT_STEPS)}
        steps = sorted(picks)
    groups: list[str] = []
    for step in steps:
        cards: list[str] = []
        for rollout in by_step[step]:
            verdict = "correct" if rollout.get("correct") else "wrong" if rollout.get("answered") else "no answer"
            flags = ", ".join(str(f) for f in as_list(rollout.get("flags")) or []) or "no flags"
            messages = "".join(_message_html(as_object(m) or {}) for m in as_list(rollout.get("transcript")) or [])
            cards.append(
                f'<div class="side rollout"><h4>{_e(rollout.get("question_id", "?"))}</h4>'
                f'<p><span class="verdict {verdict.replace(" ", "-")}">{_e(verdict)}</span> '
                f"return {float(rollout.get('total_reward', 0.0) or 0.0):.3f} · {_e(flags)}</p>"
                f'<ol class="messages">{messages}</ol></div>'
            )
        groups.append(
            f'<div class="step-rollouts" data-step="{step}" hidden><p>{len(cards)} rollouts at GRPO step {step}</p>'
            f'<div class="rollout-grid">{"".join(cards)}</div></div>'
        )
    options = "".join(f'<option value="{s}">{s}</option>' for s in steps)
    kept = f" ({len(steps)} of {len(by_step)} steps kept)" if len(steps) < len(by_step) else ""
    return f'<label>GRPO step <select id="rollout-step">{options}</select></label>{_e(kept)}\n' + "\n".join(groups)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1400px;padding:16px 24px;
color:#1d1d1f}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:0 0 4px}h3 small{color:#666;font-weight:normal}h4{margin:0 0 4px;font-size:14px}
.meta,.note{color:#666}.warning{background:#fff4d6;border:1px solid #e0b84c;padding:8px 10px;border-radius:6px}
table{border-collapse:collapse;margin:8px 0 14px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f7}td.num{text-align:right}td.empty{color:#999;font-style:italic}
.curves{display:flex;flex-wrap:wrap;gap:12px}figure.curve{margin:0;border:1px solid #eee;border-radius:6px}
.chart-title{font-weight:600;font-size:13px}.tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}
.legend{font-size:11px;fill:#333}.grid{stroke:#eee}
.filters{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #ddd;display:flex;gap:16px;
flex-wrap:wrap;align-items:center;z-index:1}
.episode{border:1px solid #ddd;border-radius:8px;padding:10px 12px;margin:12px 0}
.question{font-size:15px;margin:2px 0 8px}
.sides{display:grid;grid-template-columns:repeat(var(--columns),minmax(280px,1fr));gap:10px;overflow-x:auto}
.side{background:#fafafa;border:1px solid #eee;border-radius:6px;padding:8px;min-width:0}
.verdict{border-radius:4px;padding:1px 6px;font-weight:600}.verdict.correct{background:#d7f2e1;color:#145c32}
.verdict.wrong{background:#fadbd8;color:#8a1c12}.verdict.no-answer{background:#eee;color:#444}
ol.transcript{padding-left:20px;margin:4px 0}ol.transcript li{margin:6px 0}
.call{display:flex;gap:6px;align-items:baseline}.action{font-weight:600;font-size:12px}
.call code{white-space:pre-wrap;word-break:break-word;flex:1}.reward{color:#555;font-size:12px}
.rollout-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:10px}
ol.messages{list-style:none;padding:0;margin:4px 0}ol.messages li{margin:4px 0}
.role{font-size:11px;color:#777;text-transform:uppercase;margin-right:6px}
pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;background:#fff;border:1px solid #eee;padding:4px;
font-size:12px;max-height:240px;overflow:auto}pre.error{border-color:#e6b0aa;color:#8a1c12}
"""

_JS = """
(function () {
  const selects = Array.from(document.querySelectorAll('select.filter'));
  const cards = Array.from(document.querySelectorAll('section.episode'));
  function apply() {
    let shown = 0;
    for (const card of cards) {
      const ok = selects.every(s => !s.value || card.dataset[s.dataset.key] === s.value);
      card.hidden = !ok;
      shown += ok ? 1 : 0;
    }
    document.getElementById('shown').textContent = String(shown);
  }
  selects.forEach(s => s.addEventListener('change', apply));
  apply();
  const step = document.getElementById('rollout-step');
  if (step) {
    const groups = document.querySelectorAll('.step-rollouts');
    const show = () => groups.forEach(g => { g.hidden = g.dataset.step !== step.value; });
    step.addEventListener('change', show);
    show();
  }
})();
"""


def html_report(
    reports: Sequence[dict[str, Any]],
    *,
    train_log: Sequence[dict[str, Any]] = (),
    rollouts: Sequence[dict[str, Any]] = (),
    title: str = "SQLEnv report",
) -> str:
    """The report as one HTML document (see the module docstring); ``reports`` as :func:`load_report` reads them."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sources = ", ".join(_e(Path(str(r.get("_path", _label(r)))).name) for r in reports)
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="meta">generated {generated} from {sources or "no reports"}</p>'
        f'<h2>Training curves</h2><div class="curves">{_curves(train_log, reports)}</div>'
        f"<h2>Comparison</h2>{_comparison(reports) if reports else '<p class=note>No evaluation reports.</p>'}"
        f"<h2>Episodes</h2>{_episodes(reports) if reports else ''}"
        + (f"<h2>Training rollouts</h2>{_rollouts(rollouts)}" if rollouts else "")
        + f"<script>{_JS}</script></body></html>\n"
    )


def read_train_log(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a JSONL log, ``train_log.jsonl`` or ``rollouts.jsonl`` (other lines are skipped)."""
    entries: list[dict[str, Any]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = as_object(json.loads(line)) if line.strip() else None
        except ValueError:
            entry = None
        if entry is not None:
            entries.append(entry)
    return entries


def write_html_report(
    reports: Sequence[dict[str, Any]],
    out: str | Path,
    *,
    train_log: str | Path | None = None,
    rollouts: str | Path | None = None,
    title: str = "SQLEnv report",
) -> Path:
    """Write :func:`html_report` to ``out``; returns the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = read_train_log(train_log) if train_log is not None and Path(train_log).is_file() else []
    lines = read_train_log(rollouts) if rollouts is not None and Path(rollouts).is_file() else []
    path.write_text(html_report(reports, train_log=log, rollouts=lines, title=title), encoding="utf-8")
    return path
