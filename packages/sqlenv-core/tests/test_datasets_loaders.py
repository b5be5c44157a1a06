"""BIRD, folder and spec loading on small datasets built here, plus the real Spider dev set when present."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sqlenv_core.datasets import DatasetError, load, load_bird, load_dir, parse_spec
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


def make_bird(root: Path, split: str = "dev") -> Path:
    make_db(root / f"{split}_databases" / "shop" / "shop.sqlite")
    records = [
        {
            "question_id": 0,
            "db_id": "shop",
            "question": "How many products are cheap?",
            "evidence": "cheap refers to price < 10",
            "SQL": "SELECT count(*) FROM product WHERE price < 10",
            "difficulty": "simple",
        },
        {
            "question_id": 1,
            "db_id": "shop",
            "question": "Which categories have more than one product?",
            "evidence": "",
            "SQL": "SELECT category FROM product GROUP BY category HAVING count(*) > 1",
            "difficulty": "moderate",
        },
        {
            "question_id": 2,
            "db_id": "shop",
            "question": "Name the product that costs 99.",
            "evidence": "",
            "SQL": "SELECT name FROM product WHERE price = 99",
            "difficulty": "challenging",
        },
        {
            "question_id": 3,
            "db_id": "gone",
            "question": "Anything?",
            "evidence": "",
            "SQL": "SELECT 1",
            "difficulty": "challenging",
        },
    ]
    (root / f"{split}.json").write_text(json.dumps(records))
    (root / f"{split}_tables.json").write_text("[]")
    return root


def test_bird_loader_maps_evidence_and_difficulty_and_skips_with_reasons(tmp_path: Path) -> None:
    ds = load_bird(make_bird(tmp_path / "bird"))
    assert [q.id for q in ds] == ["bird-dev-00000", "bird-dev-00001"]
    first, second = ds.questions
    assert first.difficulty == "easy" and second.difficulty == "medium"
    assert first.evidence == "cheap refers to price < 10"
    assert "Evidence: cheap refers to price < 10" in first.prompt
    assert ds.gold(first.id).rows == [(1,)]
    reasons = {s.id: s.reason for s in ds.skipped}
    assert reasons["bird-dev-00002"] == "gold result is empty"
    assert reasons["bird-dev-00003"].startswith("database file missing")


def test_bird_accepts_the_parent_of_a_dated_folder_and_the_train_split(tmp_path: Path) -> None:
    make_bird(tmp_path / "dl" / "dev_20240627")
    assert len(load(f"bird:{tmp_path / 'dl'}")) == 2
    make_bird(tmp_path / "train", split="train")
    assert {q.split for q in load(f"bird:{tmp_path / 'train'}?split=train")} == {"train"}


def test_bird_errors_name_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dev\.json not found"):
        load_bird(tmp_path)
    (tmp_path / "dev.json").write_text("[]")
    (tmp_path / "dev_databases.zip").write_bytes(b"PK")
    with pytest.raises(DatasetError, match="unzip dev_databases.zip"):
        load_bird(tmp_path)
    with pytest.raises(DatasetError, match="unknown BIRD split 'test'"):
        load_bird(tmp_path, "test")


def make_dir(root: Path, questions: str, name: str = "questions.jsonl") -> Path:
    make_db(root / "shop.sqlite")
    make_db(root / "depot" / "depot.sqlite")
    (root / name).write_text(questions)
    return root


JSONL = "\n".join(
    json.dumps(r)
    for r in [
        {"db_id": "shop", "question": "How many products?", "gold_sql": "SELECT count(*) FROM product"},
        {
            "id": "dear",
            "db_id": "depot",
            "question": "Most expensive product?",
            "gold_sql": "SELECT name FROM product ORDER BY price DESC LIMIT 1",
            "difficulty": "hard",
            "split": "eval",
        },
    ]
)


def test_dir_loader_reads_jsonl_json_and_csv(tmp_path: Path) -> None:
    ds = load_dir(make_dir(tmp_path / "a", JSONL))
    assert sorted(ds.databases) == ["depot", "shop"]
    assert [(q.id, q.difficulty, q.split) for q in ds] == [("q00001", "medium", "train"), ("dear", "hard", "eval")]
    assert ds.gold("dear").rows == [("lamp",)]
    records = [json.loads(line) for line in JSONL.splitlines()]
    assert len(load_dir(make_dir(tmp_path / "b", json.dumps(records), "questions.json"))) == 2
    csv_text = 'db_id,question,gold_sql,difficulty\nshop,"How many, in all?",SELECT count(*) FROM product,simple\n'
    (q,) = load_dir(make_dir(tmp_path / "c", csv_text, "questions.csv")).questions
    assert q.question == "How many, in all?" and q.difficulty == "easy"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("questions.jsonl", JSONL + "\n{not json", r"questions\.jsonl:3: invalid JSON"),
        ("questions.jsonl", '{"db_id": "shop", "question": "q"}', r"questions\.jsonl:1: missing gold_sql"),
        (
            "questions.jsonl",
            '\n{"db_id": "nope", "question": "q", "gold_sql": "SELECT 1"}',
            r"questions\.jsonl:2: unknown db_id 'nope'; databases in this folder: depot, shop",
        ),
        ("questions.csv", "db_id,question\nshop,q\n", r"questions\.csv:1: CSV header lacks gold_sql"),
        ("questions.csv", "db_id,question,gold_sql\nshop,q,\n", r"questions\.csv:2: missing gold_sql"),
        ("questions.json", '[{"db_id": "shop"', r"questions\.json:1: invalid JSON"),
        (
            "questions.jsonl",
            '{"db_id": "shop", "question": "q", "gold_sql": "SELECT 1", "difficulty": "trivial"}',
            r":1: unknown difficulty 'trivial'",
        ),
    ],
)
def test_dir_loader_errors_name_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dir(make_dir(tmp_path, text, name))


def test_dir_loader_missing_pieces(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_dir(tmp_path / "absent")
    with pytest.raises(DatasetError, match="no SQLite databases"):
        load_dir(tmp_path)
    make_db(tmp_path / "shop.sqlite")
    with pytest.raises(DatasetError, match="expected one of questions.jsonl"):
        load_dir(tmp_path)


def test_spec_filters_and_errors(tmp_path: Path) -> None:
    root = make_dir(tmp_path, JSONL)
    assert [q.id for q in load(f"dir:{root}?db=depot")] == ["dear"]
    assert [q.id for q in load(f"dir:{root}?difficulty=hard,medium&limit=1")] == ["q00001"]
    assert [q.id for q in load(f"dir:{root}?split=eval")] == ["dear"]
    assert parse_spec("builtin:eval?db=transit,clinic&difficulty=easy,medium").db_ids == ("transit", "clinic")
    for bad, message in [
        ("", "empty dataset spec"),
        ("wikisql:/x", "unknown dataset kind 'wikisql'"),
        ("spider", "spider spec needs a path"),
        (f"dir:{root}?colour=red", "unknown option colour"),
        (f"dir:{root}?limit=ten", "limit must be a whole number"),
        (f"dir:{root}?db=nowhere", "unknown db_id nowhere"),
        (f"dir:{root}?difficulty=trivial", "unknown difficulty trivial"),
        (f"dir:{root}?split=test", "no questions with split 'test'"),
        ("spider:/definitely/not/here", "Spider folder not found"),
    ]:
        with pytest.raises(DatasetError, match=message):
            load(bad)


def test_builtin_spec_with_filters() -> None:
    ds = load("builtin:eval?difficulty=easy")
    assert len(ds) > 0 and {q.split for q in ds} == {"eval"} and {q.difficulty for q in ds} == {"easy"}


@pytest.mark.spider
@pytest.mark.slow
def test_spider_dev_every_kept_question_is_solved_by_the_oracle(spider_root: Path) -> None:
    ds = load(f"spider:{spider_root}?split=dev")
    assert len(ds) + len(ds.skipped) == 623
    assert all(s.reason.startswith(("gold result is", "gold SQL failed")) for s in ds.skipped)
    report = validate_dataset(ds)
    assert report.checked == len(ds)
    assert [p for p in report.problems if p.code == "oracle_failed"] == []
    assert report.oracle_solved == len(ds)
