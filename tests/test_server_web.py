"""The /web playground, played end to end in headless Chromium against a real uvicorn."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
