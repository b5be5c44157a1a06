"""validate_dataset on questions built to be wrong in known ways, and the `sqlenv` CLI run for real."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sqlenv_core.cli import main
from sqlenv_core.datasets import Dataset, Question
from sqlenv_core.datasets.validate import strip_limit
from sqlenv_core.validate import validate_dataset


def make_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE product (id INTEGER PRIMARY KEY, name TEXT, price REAL, category TEXT);"
        "INSERT INTO product VALUES (1, 'pen', 2.5, 'office'), (2, 'book', 12.0, 'media'),"
        " (3, 'lamp', 30.0, 'home'), (4, 'mug', 12.0, 'home');"
    )
    conn.commit()
    conn.close()
    return path


def q(qid: str, question: str, sql: str) -> Question:
    return Question(id=qid, db_id="shop", question=question, gold_sql=sql)


def test_validate_flags_what_makes_a_question_unfair(tmp_path: Path) -> None:
    db = make_db(tmp_path / "shop.sqlite")
    questions = [
        q("good", "Most expensive product?", "SELECT name FROM product ORDER BY price DESC LIMIT 1"),
        q("tie", "Second most expensive product?", "SELECT name FROM product ORDER BY price DESC LIMIT 1 OFFSET 1"),
        q(
            "alias_tie",
            "Least common price?",
            "SELECT price AS p FROM product GROUP BY p ORDER BY count(*) ASC LIMIT 1",
        ),
        q("nolimit_order", "Any two products?", "SELECT name FROM product LIMIT 2"),
        q("unasked", "Which products are there?", "SELECT name FROM product ORDER BY name"),
        q("asked", "List the products in alphabetical order.", "SELECT name FROM product ORDER BY name"),
        q("broken", "Broken?", "SELECT nope FROM product"),
        q("empty", "Nothing?", "SELECT name FROM product WHERE price > 1000"),
        q("nulls", "Nulls?", "SELECT NULL FROM product"),
    ]
    report = validate_dataset(Dataset("t", questions, {"shop": db}))
    codes = {(p.question_id, p.severity, p.code) for p in report.problems}
    assert codes == {
        ("tie", "error", "limit_tie"),
        ("alias_tie", "error", "limit_tie"),
        ("nolimit_order", "error", "limit_without_order"),
        ("unasked", "warning", "order_not_asked"),
        ("broken", "error", "gold_failed"),
        ("empty", "error", "gold_empty"),
        ("nulls", "error", "gold_all_null"),
    }
    assert not report.ok and report.checked == 9
    assert report.oracle_solved == 6  # every question whose gold runs and is usable
    assert "no such column: nope" in next(p.message for p in report.problems if p.code == "gold_failed")
    assert json.loads(json.dumps(report.to_dict()))["errors"] == 6


def test_validate_reports_a_missing_database_without_stopping(tmp_path: Path) -> None:
    db = make_db(tmp_path / "shop.sqlite")
    ds = Dataset("t", [q("a", "How many?", "SELECT count(*) FROM product")], {"shop": db})
    db.unlink()
    report = validate_dataset(ds, oracle=False)
    assert {p.code for p in report.problems} == {"db_missing"} and not report.ok


def test_strip_limit_removes_only_the_outermost_limit() -> None:
    stripped = strip_limit("SELECT a FROM (SELECT a FROM t LIMIT 5) ORDER BY a LIMIT 1 OFFSET 2")
    assert stripped is not None and stripped.count("LIMIT") == 1 and "OFFSET" not in stripped
    assert strip_limit("SELECT a FROM t") is None


# -- the CLI ------------------------------------------------------------------------------------


def make_dataset_dir(root: Path) -> Path:
    make_db(root / "shop.sqlite")
    lines = [
        {"id": "count", "db_id": "shop", "question": "How many products?", "gold_sql": "SELECT count(*) FROM product"},
        {
            "id": "empty",
            "db_id": "shop",
            "question": "Costly?",
            "gold_sql": "SELECT name FROM product WHERE price > 99",
        },
    ]
    (root / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    return root


def test_data_list_shows_counts_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset_dir(tmp_path / "d")
    assert main(["data", "list", f"dir:{root}"]) == 0
    out = capsys.readouterr().out
    assert "1 questions on 1 databases" in out
    assert "by difficulty:  medium 1" in out
    assert "skipped: 1 questions" in out and "gold result is empty" in out


def test_data_validate_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset_dir(tmp_path / "d")
    assert main(["data", "validate", f"dir:{root}"]) == 0
    assert "oracle solved 1/1" in capsys.readouterr().out
    with (root / "questions.jsonl").open("a") as fh:
        fh.write(
            "\n"
            + json.dumps(
                {
                    "id": "tie",
                    "db_id": "shop",
                    "question": "Dearest after the top?",
                    "gold_sql": "SELECT name FROM product ORDER BY price DESC LIMIT 1 OFFSET 1",
                }
            )
        )
    assert main(["data", "validate", f"dir:{root}", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"error:limit_tie": 1}


def test_the_validate_summary_adds_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    root = make_dataset_dir(tmp_path / "d")  # 2 questions: one usable, one with an empty gold result
    with (root / "questions.jsonl").open("a") as fh:
        tie = {"id": "tie", "db_id": "shop", "question": "Dearest after the top?"}
        tie["gold_sql"] = "SELECT name FROM product ORDER BY price DESC LIMIT 1 OFFSET 1"
        fh.write("\n" + json.dumps(tie))
    assert main(["data", "validate", f"dir:{root}"]) == 1
    out = capsys.readouterr().out
    head = re.search(r"(\d+) questions = (\d+) checked \+ (\d+) skipped at load time", out)
    assert head is not None and int(head[1]) == int(head[2]) + int(head[3]) == 3
    assert "skipped: 1 gold result is empty" in out
    checked = re.search(r"checked: (\d+) without errors \+ (\d+) with errors", out)
    assert checked is not None and int(checked[1]) + int(checked[2]) == int(head[2]) == 2
    assert "errors: 1 limit_tie" in out
    assert "oracle solved 2/2 checked questions (it answers with the gold result itself" in out


def test_bad_spec_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "spider"]) == 2
    assert "spider spec needs a path" in capsys.readouterr().err


def test_data_import_builds_a_database_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sales.csv").write_text("id,item,amount\n1,pen,2.5\n2,book,12\n3,pen,4\n")
    (tmp_path / "staff.jsonl").write_text('{"name": "ann", "age": 31}\n{"name": "bob", "age": 45}\n')
    out_dir = tmp_path / "mine"
    assert (
        main(
            [
                "data",
                "import",
                str(tmp_path / "sales.csv"),
                str(tmp_path / "staff.jsonl"),
                "--db",
                "shop",
                "--to",
                str(out_dir),
            ]
        )
        == 0
    )
    assert "sales: 3 rows" in capsys.readouterr().out
    (out_dir / "questions.jsonl").write_text(
        json.dumps(
            {
                "db_id": "shop",
                "question": "Total pen sales?",
                "gold_sql": "SELECT sum(amount) FROM sales WHERE item = 'pen'",
            }
        )
    )
    assert main(["data", "validate", f"dir:{out_dir}"]) == 0  # numbers were typed: 2.5 + 4 sums to 6.5
    conn = sqlite3.connect(out_dir / "shop.sqlite")
    assert conn.execute("SELECT sum(amount), typeof(amount) FROM sales WHERE item='pen'").fetchone() == (6.5, "real")
    conn.close()
    assert main(["data", "import", str(tmp_path / "sales.csv"), "--db", "shop", "--to", str(out_dir)]) == 2
    assert "already exists; pass --replace" in capsys.readouterr().err


def test_data_import_bad_json_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rows.jsonl").write_text('{"a": 1}\n{"a": \n')
    assert main(["data", "import", str(tmp_path / "rows.jsonl"), "--db", "x", "--to", str(tmp_path / "o")]) == 2
    assert "rows.jsonl:2: invalid JSON" in capsys.readouterr().err
    assert list((tmp_path / "o").iterdir()) == []


def _run_cli(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "sqlenv_core", *args], input=stdin, capture_output=True, text=True, timeout=120, env=env
    )


def test_play_with_piped_input_finishes_an_episode(tmp_path: Path) -> None:
    root = make_dataset_dir(tmp_path / "d")
    script = "help\nfly away\ndescribe product\nSELECT count(*) FROM product\nanswer 4\n"
    done = _run_cli(["play", f"dir:{root}", "--question-id", "count"], script)
    assert done.returncode == 0, done.stderr
    assert "How many products?" in done.stdout
    assert "unknown command 'fly'" in done.stdout
    assert "Table product (4 rows)" in done.stdout
    assert "episode over: correct" in done.stdout


def test_play_exits_cleanly_on_end_of_input_and_unknown_question(tmp_path: Path) -> None:
    root = make_dataset_dir(tmp_path / "d")
    eof = _run_cli(["play", f"dir:{root}", "--seed", "1"], "describe product\n")
    assert eof.returncode == 0 and "episode abandoned" in eof.stdout
    assert "Traceback" not in eof.stderr
    missing = _run_cli(["play", f"dir:{root}", "--question-id", "nope"], "")
    assert missing.returncode == 2 and "no question 'nope'" in missing.stderr
