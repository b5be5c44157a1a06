"""The /web playground, played end to end in headless Chromium against a real uvicorn."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_helpers import SLOW_SQL

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("SQLENV_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(os.environ.get("SQLENV_SCREENSHOT", "/tmp/sqlenv-playground.png"))


@pytest.fixture
def page() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set SQLENV_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the integration dependency group")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            tab = context.new_page()
            tab.set_default_timeout(15_000)
            yield tab
        finally:
            browser.close()


def test_playground_plays_a_whole_episode(page: Any, server_url: str) -> None:
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    external: list[str] = []
    page.on(
        "request",
        lambda req: (
            None
            if req.url.startswith(server_url.replace("http", "ws")) or req.url.startswith(server_url)
            else external.append(req.url)
        ),
    )

    page.goto(f"{server_url}/web")
    page.wait_for_selector("#status[data-state=open]")
    page.fill("#question-id", "q-count")
    page.click("#reset")
    page.wait_for_function("document.querySelector('#question').textContent.includes('How many items')")
    assert page.locator("#schema li.table").count() == 2
    assert page.text_content("#budget") == "15"

    # DESCRIBE from the schema panel: the columns appear there.
    page.click("#schema li[data-table=items] button[title='DESCRIBE items']")
    page.wait_for_function("document.querySelector('#schema li[data-table=items] .cols').textContent.includes('price')")
    assert page.locator("#history tr").count() == 1

    # A QUERY typed in the form: the result table shows its rows.
    page.select_option("#action-type", "QUERY")
    page.fill("#argument", "SELECT count(*) AS n FROM items")
    page.click("#send")
    # The DESCRIBE above may have left a result table: wait for this step's reply, not for any table.
    page.wait_for_function("document.querySelector('#step-count').textContent === '2'")
    page.wait_for_selector("#result-table")
    assert page.locator("#result-table th").all_text_contents() == ["n"]
    assert page.locator("#result-table td").all_text_contents() == ["30"]
    assert page.text_content("#step-count") == "2"

    # A bad query: the error is shown, the page keeps working.
    page.fill("#argument", "SELECT nope FROM items")
    page.click("#send")
    page.wait_for_selector("#error:not([hidden])")
    assert "nope" in page.text_content("#error")

    page.select_option("#action-type", "ANSWER")
    page.fill("#argument", "30")
    page.click("#send")
    page.wait_for_selector("#verdict.correct")
    assert page.locator("#history tr").count() == 4
    assert float(page.text_content("#total-reward")) > 0.5
    assert page.is_disabled("#send")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    assert console_errors == []
    assert external == []


def start_episode(page: Any, server_url: str, question_id: str) -> None:
    page.goto(f"{server_url}/web")
    page.wait_for_selector("#status[data-state=open]")
    page.wait_for_function("!document.querySelector('#reset').disabled")
    page.fill("#question-id", question_id)
    page.click("#reset")
    page.wait_for_function(f"document.querySelector('#question').textContent.length > 0 && {QUESTION_LOADED}")


QUESTION_LOADED = "document.querySelector('#step-count').textContent === '0'"


def send(page: Any, kind: str, argument: str) -> None:
    """Send an action through the form and wait until its reply is on the page."""
    before = page.locator("#history tr").count()
    page.select_option("#action-type", kind)
    page.fill("#argument", argument)
    page.click("#send")
    page.wait_for_function(f"document.querySelectorAll('#history tr').length > {before}")
    page.wait_for_function("document.body.dataset.busy === 'false'")


def test_one_action_in_flight_a_slow_query_cannot_be_overtaken(page: Any, server_url: str) -> None:
    start_episode(page, server_url, "q-count")
    page.select_option("#action-type", "QUERY")
    page.fill("#argument", SLOW_SQL)
    page.click("#send")
    page.wait_for_function("document.body.dataset.busy === 'true'")
    # While it runs, nothing else can be sent: not the button, not Ctrl+Enter, not a schema chip,
    # not New episode, and not a direct call of the page's own act().
    assert page.is_disabled("#send") and page.is_disabled("#reset")
    assert page.is_disabled("#schema li[data-table=items] button[title='DESCRIBE items']")
    assert page.is_visible("#busy")
    page.fill("#argument", "SELECT count(*) AS fast FROM items")
    page.press("#argument", "Control+Enter")
    assert page.evaluate("act('QUERY', 'SELECT 1').then((sent) => sent)") is False
    page.wait_for_function("document.body.dataset.busy === 'false'", timeout=60_000)

    # Exactly one step happened, and the page shows the slow query's own reply.
    assert page.text_content("#step-count") == "1"
    assert page.locator("#history tr").count() == 1
    assert page.locator("#result-table td").all_text_contents() == ["5000000"]
    assert page.is_hidden("#error")

    send(page, "QUERY", "SELECT count(*) AS fast FROM items")
    assert page.text_content("#step-count") == "2"
    assert page.locator("#result-table th").all_text_contents() == ["fast"]
    rewards = [float(t) for t in page.locator("#history td.num").all_text_contents()]
    assert len(rewards) == 2
    assert abs(float(page.text_content("#total-reward")) - sum(rewards)) < 0.002


def test_replies_are_matched_to_requests_even_when_two_are_sent_at_once(page: Any, server_url: str) -> None:
    start_episode(page, server_url, "q-count")
    # Bypass the controls: two steps on the socket back to back, the slow one first.
    replies = page.evaluate(
        """async (slow) => {
            const a = request({type: "step", data: {action_type: "QUERY", argument: slow}});
            const b = request({type: "step", data: {action_type: "QUERY", argument: "SELECT 7 AS fast"}});
            const [first, second] = await Promise.all([a, b]);
            return [first.data.observation, second.data.observation];
        }""",
        SLOW_SQL,
    )
    assert replies[0]["rows"] == [[5000000]] and replies[0]["step_count"] == 1
    assert replies[1]["rows"] == [[7]] and replies[1]["step_count"] == 2


def test_the_answer_box_shows_the_formats_and_takes_a_pasted_table(page: Any, server_url: str) -> None:
    start_episode(page, server_url, "q-books")
    page.select_option("#action-type", "ANSWER")
    assert page.is_visible("#answer-hint")
    assert "Paris" in page.get_attribute("#argument", "placeholder")
    assert "SELECT" not in page.get_attribute("#argument", "placeholder")
    page.select_option("#action-type", "QUERY")
    assert page.is_hidden("#answer-hint")

    # Not sent: an empty answer, SQL as an answer, a header without rows, a table cut short.
    for text, says in [
        ("   ", "Type the answer first"),
        ("SELECT name FROM items", "That is SQL"),
    ]:
        page.select_option("#action-type", "ANSWER")
        page.fill("#argument", text)
        page.click("#send")
        page.wait_for_function(f"document.querySelector('#error').textContent.includes({says!r})")
        assert "Nothing was sent" in page.text_content("#error")
    assert page.locator("#history tr").count() == 0 and page.text_content("#step-count") == "0"

    send(page, "QUERY", "SELECT name AS item_name FROM items")  # 30 rows: only 20 shown
    cut = page.evaluate("document.querySelector('#result-table').innerText")
    page.select_option("#action-type", "ANSWER")
    page.fill("#argument", cut)
    page.click("#send")
    page.wait_for_function("document.querySelector('#error').textContent.includes('only the first 20 rows')")
    page.fill("#argument", "item_name\n")
    page.click("#send")
    page.wait_for_function("document.querySelector('#error').textContent.includes('Only the header row')")
    assert page.locator("#history tr").count() == 1 and not page.is_disabled("#send")

    # The whole result, copied from the page as a person would (header row included): accepted.
    send(
        page,
        "QUERY",
        "SELECT i.name AS item_name FROM items i JOIN categories c ON c.id = i.category_id WHERE c.name = 'books'",
    )
    pasted = page.evaluate("document.querySelector('#result-table').innerText")
    assert pasted.splitlines()[0].strip() == "item_name"
    page.select_option("#action-type", "ANSWER")
    page.fill("#argument", pasted)
    page.click("#send")
    page.wait_for_selector("#verdict.correct")
    last = page.locator("#history tr").last.locator("td").all_text_contents()
    assert "header row (item_name) left out" in last[1] and last[3] == "correct"


def test_small_things_read_right(page: Any, server_url: str) -> None:
    start_episode(page, server_url, "q-max")
    send(page, "DESCRIBE", "items")
    assert page.locator("#history tr").last.locator("td").nth(3).text_content() == "4 columns, 30 rows in the table"
    assert "Table items (30 rows)" in page.text_content("#result")
    send(page, "QUERY", "SELECT nope FROM items")
    assert "nope" in page.text_content("#error")
    assert "No rows." not in page.text_content("#result")
    send(page, "QUERY", "SELECT name FROM items WHERE price > 1000")
    assert page.is_hidden("#error") and "No rows." in page.text_content("#result")
    send(page, "QUERY", "SELECT price * 1.1 AS p FROM items WHERE id = 3")  # 4.5 * 1.1 = 4.95 (+ float noise)
    assert page.locator("#result-table td").all_text_contents() == ["4.95"]
    send(page, "ANSWER", "45")
    page.wait_for_selector("#verdict.correct")

    # A New episode that fails says why next to the form and does not leave the old verdict up.
    page.fill("#question-id", "no-such-question")
    page.click("#reset")
    page.wait_for_selector("#reset-error:not([hidden])")
    assert "no-such-question" in page.text_content("#reset-error")
    assert page.is_hidden("#verdict")


def test_docs_page_renders_offline(page: Any, server_url: str) -> None:
    external: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(server_url) else external.append(req.url))
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{server_url}/docs")
    page.wait_for_selector(".opblock")
    paths = page.locator(".opblock-summary-path").all_text_contents()
    assert "/reset" in paths and "/step" in paths
    assert external == []
    assert console_errors == []
