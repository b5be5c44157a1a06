"""The HTML report of a run, opened in headless Chromium: self-contained, filterable, before and after side by side.

Two real evaluations on the same held-out questions play the roles of "before" (the random policy)
and "after" (the oracle); ``sqlenv-train report`` writes ``report.html`` from them and a training
log, and the page is driven as a reader would: filters chosen, cards counted, columns measured.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlenv_client import SQLEnvClient
from sqlenv_core.datasets import builtin
from sqlenv_train import OraclePolicy, RandomPolicy, evaluate
from sqlenv_train.cli import main

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("SQLENV_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture
def page() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set SQLENV_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the integration dependency group")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            tab.set_default_timeout(15_000)
            yield tab
        finally:
            browser.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("report")
    pack = builtin("eval")
    # Questions of every database of the held-out split, a few each: several databases and difficulties.
    ids: list[str] = []
    for question in pack:
        if sum(q.startswith(question.db_id + "-") for q in ids) < 3:
            ids.append(question.id)
    reports: dict[str, Any] = {}
    with SQLEnvClient.local(pack) as env:
        for stage, policy in (("before", RandomPolicy(seed=0)), ("after", OraclePolicy(pack))):
            meta = {"dataset": "builtin:eval", "stage": stage}
            report = evaluate(policy, env, ids, dataset=pack, show_progress=False, metadata=meta)
            reports[stage] = report.save(out / f"eval_{stage}.json")
    # A training log as train() writes it: one line per GRPO step, and held-out points logged during training.
    log = out / "train_log.jsonl"
    lines = [
        {"step": s, "reward": 0.2 + 0.1 * s, "sqlenv/solve_rate": min(1.0, 0.1 * s), "sqlenv/tool_call_validity": 0.9}
        for s in range(1, 11)
    ]
    lines[4]["eval_solve_rate"] = 0.5
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # Rollouts as rewards.py writes them: two steps of a group of two.
    rollouts = out / "rollouts.jsonl"
    rows = [
        {
            "step": step,
            "question_id": f"q-{step}-{i}",
            "correct": i == 0,
            "answered": True,
            "total_reward": 1.0 if i == 0 else 0.0,
            "flags": [] if i == 0 else ["calls_after_answer"],
            "transcript": [
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "query", "arguments": {"sql": f"SELECT {step}"}}}],
                },
                {"role": "tool", "content": f"<b>{step}</b>"},
            ],
        }
        for step in (1, 2)
        for i in range(2)
    ]
    rollouts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    cmp = out / "cmp"
    args = ["report", str(reports["before"]), str(reports["after"]), "--out-dir", str(cmp), "--train-log", str(log)]
    args += ["--rollouts", str(rollouts)]
    assert main([*args, "--no-plots"]) == 0
    return {
        "html": cmp / "report.html",
        "before": json.loads(reports["before"].read_text()),
        "after": json.loads(reports["after"].read_text()),
    }


def _shown(page: Any) -> int:
    return int(page.evaluate("document.querySelectorAll('section.episode:not([hidden])').length"))


def test_the_report_opens_offline_and_its_filters_and_columns_work(page: Any, run: dict[str, Any]) -> None:
    fetched: list[str] = []
    errors: list[str] = []
    page.on("request", lambda req: fetched.append(req.url))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(run["html"].as_uri())
    assert [url for url in fetched if not url.startswith("file://")] == []  # nothing from a CDN or elsewhere
    assert errors == []

    before = {e["question_id"]: e for e in run["before"]["episodes"]}
    after = {e["question_id"]: e for e in run["after"]["episodes"]}
    total = len(after)
    assert total >= 6 and _shown(page) == total
    assert page.text_content("#shown") == str(total)

    # The comparison table names the dataset and the split of every row.
    headers = page.locator("table.comparison th").all_text_contents()
    assert headers[:3] == ["policy", "dataset", "split"]
    assert page.locator("table.comparison tbody tr").nth(0).locator("td").all_text_contents()[1:3] == [
        "builtin",
        "eval",
    ]
    # Curves: rewards and rates on separate charts; the held-out points are marked.
    assert page.locator("svg.chart").count() >= 2
    assert page.locator("svg.chart path.held-out").count() == 3  # before, after, and the one logged at step 5

    # Before and after of the same question, side by side: two columns on one row, in order.
    card = page.locator("section.episode").nth(0)
    sides = card.locator(".side")
    assert sides.count() == 2
    assert [sides.nth(i).locator("h4").text_content() for i in range(2)] == ["random (before)", "oracle (after)"]
    left, right = sides.nth(0).bounding_box(), sides.nth(1).bounding_box()
    assert abs(left["y"] - right["y"]) < 2 and right["x"] >= left["x"] + left["width"] - 1
    qid = card.get_attribute("data-question")
    assert card.locator(".question").text_content() == after[qid]["question"]
    oracle_steps = sides.nth(1).locator("ol.transcript li")
    assert oracle_steps.count() == len(after[qid]["transcript"]) >= 2
    assert "QUERY" in oracle_steps.nth(0).text_content()
    assert sides.nth(1).locator(".verdict").text_content() == "correct"

    # Filters: by change, by verdict, by database, by difficulty; the count follows.
    improved = [q for q in after if after[q]["solved"] and not before[q]["solved"]]
    page.select_option("#f-change", "improved")
    assert _shown(page) == len(improved) > 0
    assert page.text_content("#shown") == str(len(improved))
    page.select_option("#f-change", "")
    page.select_option("#f-verdict", "wrong")
    assert _shown(page) == sum(1 for e in after.values() if e["answered"] and not e["solved"])
    page.select_option("#f-verdict", "correct")
    assert _shown(page) == sum(1 for e in after.values() if e["solved"])
    page.select_option("#f-verdict", "")
    database = after[qid]["db_id"]
    page.select_option("#f-database", database)
    visible = page.locator("section.episode:not([hidden])")
    assert _shown(page) == sum(1 for e in after.values() if e["db_id"] == database) < total
    assert {visible.nth(i).get_attribute("data-database") for i in range(visible.count())} == {database}
    page.select_option("#f-database", "")
    difficulty = after[qid]["difficulty"]
    page.select_option("#f-difficulty", difficulty)
    assert _shown(page) == sum(1 for e in after.values() if e["difficulty"] == difficulty)
    page.select_option("#f-difficulty", "")
    assert _shown(page) == total

    # Training rollouts: one GRPO step at a time, the group side by side, tool results as text.
    visible_steps = (
        "Array.from(document.querySelectorAll('.step-rollouts')).filter(g => !g.hidden).map(g => g.dataset.step)"
    )
    assert page.evaluate(visible_steps) == ["1"]
    page.select_option("#rollout-step", "2")
    assert page.evaluate(visible_steps) == ["2"]
    group = page.locator(".step-rollouts[data-step='2'] .rollout")
    assert group.count() == 2
    assert group.nth(0).locator(".verdict").text_content() == "correct"
    assert "SELECT 2" in group.nth(0).text_content() and "<b>2</b>" in group.nth(0).text_content()
    page.screenshot(path=os.environ.get("SQLENV_REPORT_SCREENSHOT", "/tmp/sqlenv-report.png"), full_page=False)
