"""report.html without a browser: self-contained, dataset-aware tables, honest empty cells, round ticks.

(The page is driven in headless Chromium by tests/test_report_html.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlenv_client import SQLEnvClient
from sqlenv_core.datasets import builtin, load
from sqlenv_train import OraclePolicy, RandomPolicy, evaluate
from sqlenv_train.html_report import dataset_and_split, html_report, nice_ticks
from sqlenv_train.report import load_report, markdown_table


def _report(tmp_path: Path, spec: str, policy: str, stage: str, limit: int = 4) -> dict[str, object]:
    data = load(spec)
    ids = [q.id for q in data][:limit]
    chosen = RandomPolicy(seed=0) if policy == "random" else OraclePolicy(data)
    with SQLEnvClient.local(data) as env:
        report = evaluate(
            chosen, env, ids, dataset=data, show_progress=False, metadata={"dataset": spec, "stage": stage}
        )
    return load_report(report.save(tmp_path / f"{policy}-{stage}-{abs(hash(spec))}.json"))


def test_ticks_are_round_and_steps_are_whole() -> None:
    assert nice_ticks(0, 1.7) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert nice_ticks(1, 4, integer=True) == [1.0, 2.0, 3.0, 4.0]
    steps = nice_ticks(0, 300, 6, integer=True)
    assert all(t == int(t) for t in steps) and steps[0] == 0 and steps[-1] >= 300 and len(steps) <= 8
    assert nice_ticks(1, 1, integer=True) == [1.0, 2.0]  # one logged step: an axis, not a division by 0


def test_dataset_and_split_of_specs() -> None:
    assert dataset_and_split({"metadata": {"dataset": "builtin:eval"}}) == ("builtin", "eval")
    assert dataset_and_split({"metadata": {"dataset": "spider:/d/spider?split=dev&limit=5"}}) == (
        "spider:/d/spider?limit=5",
        "dev",
    )
    assert dataset_and_split({"metadata": {}}) == ("unknown", "–")


def test_the_page_is_self_contained_and_transcripts_are_escaped(tmp_path: Path) -> None:
    before = _report(tmp_path, "builtin:eval", "random", "before")
    after = _report(tmp_path, "builtin:eval", "oracle", "after")
    page = html_report([before, after])
    # Nothing is fetched: no external script, stylesheet, image or font.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert page.count('<section class="episode"') == 4
    assert page.count('<div class="side"') == 8
    # The SQL of the transcripts is shown as text (escaped), never as markup.
    assert "&lt;" in page or "SELECT" in page
    assert "<script>" in page and page.count("<script") == 1


def test_different_datasets_are_never_one_column_and_empty_difficulties_are_not_zero(tmp_path: Path) -> None:
    on_eval = _report(tmp_path, "builtin:eval", "oracle", "after")
    on_train = _report(tmp_path, "builtin:train?difficulty=medium", "oracle", "after")
    page = html_report([on_eval, on_train])
    assert 'id="mixed-datasets"' in page
    assert page.count('<table class="comparison"') == 2  # one table per dataset and split
    table = markdown_table([on_eval, on_train])
    assert "2 different datasets or splits" in table and "| builtin | eval |" in table
    # A difficulty that one report has and another has not reads "no questions", not 0%.
    on_eval["by_difficulty"] = {**on_eval["by_difficulty"], "hard": {"episodes": 0, "solve_rate": 0.0}}  # type: ignore[dict-item]
    page = html_report([on_eval])
    assert "no questions" in page
    assert "no questions" in markdown_table([on_eval])


def test_old_reports_without_transcripts_still_render(tmp_path: Path) -> None:
    report = _report(tmp_path, "builtin:eval", "oracle", "after")
    for episode in report["episodes"]:  # type: ignore[union-attr]
        episode.pop("transcript")  # type: ignore[union-attr]
        episode.pop("question")  # type: ignore[union-attr]
    page = html_report([report])
    assert "no transcript in this report" in page and "question text not recorded" in page
    assert builtin("eval") is not None


def test_training_rollouts_keep_a_bounded_spread_of_steps() -> None:
    from sqlenv_train.html_report import MAX_ROLLOUT_STEPS

    rows = [
        {"step": step, "question_id": f"q{step}", "correct": False, "answered": False, "transcript": []}
        for step in range(1, 301)
    ]
    page = html_report([], rollouts=rows)
    kept = re.findall(r'<div class="step-rollouts" data-step="(\d+)"', page)
    assert len(kept) == MAX_ROLLOUT_STEPS and kept[0] == "1" and kept[-1] == "300"
    assert f"({MAX_ROLLOUT_STEPS} of 300 steps kept)" in page
    assert "no answer" in page
