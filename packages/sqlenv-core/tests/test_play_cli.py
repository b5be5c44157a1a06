"""`sqlenv play` as a person uses it: a mistyped id, a bare `answer`, several episodes, readable numbers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sqlenv_core.cli import human_number


def make_data(root: Path) -> Path:
    root.mkdir(parents=True)
    conn = sqlite3.connect(root / "shop.sqlite")
    with conn:
        conn.execute("CREATE TABLE product (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO product VALUES (?, ?, ?)", [(1, "pen", 0.1), (2, "mug", 0.2), (3, "lamp", 30.0)])
    conn.close()
    questions = [
        {"id": "count", "db_id": "shop", "question": "How many products?", "gold_sql": "SELECT count(*) FROM product"},
        {
            "id": "small",
            "db_id": "shop",
            "question": "What do a pen and a mug cost together?",
            "gold_sql": "SELECT sum(price) FROM product WHERE name IN ('pen', 'mug')",
        },
        {"id": "none", "db_id": "shop", "question": "Costly?", "gold_sql": "SELECT name FROM product WHERE price > 99"},
    ]
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions), encoding="utf-8")
    return root


def play(args: list[str], stdin: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "SQLENV_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "sqlenv_core", "play", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_mistyped_question_id_is_refused_before_any_gold_answer_is_computed(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    result = play([f"dir:{data}", "--question-id", "cout"], "", tmp_path / "cache")
    assert result.returncode == 2
    assert "no question 'cout'" in result.stderr
    assert "computing gold answers" not in result.stderr
    assert not (tmp_path / "cache").exists()  # no gold query ran, nothing was cached
    unusable = play([f"dir:{data}", "--question-id", "none"], "", tmp_path / "cache")
    assert unusable.returncode == 2
    assert "question 'none' cannot be played: gold result is empty" in unusable.stderr


def test_a_bare_answer_is_refused_and_play_goes_on_until_quit(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    script = "answer\nsample\nanswer 3\n\nnew small\nanswer 1\nwhat\n\nquit\n"
    result = play([f"dir:{data}", "--question-id", "count"], script, tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "answer needs a value" in out and "nothing was sent; no step used" in out
    assert "sample needs a table name, e.g. `sample product`" in out
    assert "Answer correct." in out and "episode over: correct" in out
    assert "question small on database shop" in out
    assert "Answer incorrect: value mismatch" in out
    assert "the episode is over: press Enter" in out
    assert out.count("Press Enter for another question") == 2
    assert "2 episodes played, 1 solved" in out
    assert "Traceback" not in result.stderr


def test_end_of_input_leaves_cleanly_mid_episode(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    result = play([f"dir:{data}", "--seed", "1"], "describe product\n", tmp_path / "cache")
    assert result.returncode == 0
    assert "Table product (3 rows)" in result.stdout
    assert "end of input: episode abandoned" in result.stdout


def test_floats_print_for_people_and_the_printed_value_is_accepted(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    script = "query SELECT sum(price) AS total FROM product WHERE name IN ('pen', 'mug')\nanswer 0.3\nquit\n"
    result = play([f"dir:{data}", "--question-id", "small"], script, tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert "0.30000000000000004" not in result.stdout
    assert "\n0.3\n" in result.stdout
    assert "episode over: correct" in result.stdout


def test_the_second_start_reads_gold_answers_from_the_cache(tmp_path: Path) -> None:
    data = make_data(tmp_path / "d")
    play([f"dir:{data}", "--question-id", "count"], "quit\n", tmp_path / "cache")
    files = sorted((tmp_path / "cache" / "gold").glob("*.json"))
    entries = [f for f in files if f.name != "file-hashes.json"]
    assert len(entries) == 1
    # Tamper with the cached count: the next start uses it, so it was read, not recomputed.
    payload = json.loads(entries[0].read_text(encoding="utf-8"))
    for entry in payload["entries"].values():
        if entry["columns"] == ["count(*)"]:
            entry["rows"] = [[99]]
    entries[0].write_text(json.dumps(payload), encoding="utf-8")
    result = play([f"dir:{data}", "--question-id", "count"], "answer 99\nquit\n", tmp_path / "cache")
    assert "episode over: correct" in result.stdout


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (156.79999999999998, "156.8"),
        (0.1 + 0.2, "0.3"),
        (123456789012.5, "123456789012.5"),
        (1e-20, "1e-20"),
        (3.0, "3.0"),
        (-2.675, "-2.675"),
        (float("inf"), "inf"),
        (12345678901234567890, "12345678901234567890"),
        (None, "NULL"),
        ("0.30000000000000004", "0.30000000000000004"),
    ],
)
def test_human_number(value: object, shown: str) -> None:
    assert human_number(value) == shown
