"""The built-in pack: shipped databases match their sources, and every question is usable.

The sources and the build script live in the repository's ``data/builtin/``; the tests that
rebuild from them skip (saying why) where only the installed package is at hand.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from sqlenv_core.datasets.builtin import builtin, builtin_root
from sqlenv_core.sqlinfo import is_ordered

PACK_DIR = builtin_root()
DATABASES_DIR = PACK_DIR / "databases"
#: The repository this test file sits in (tests run from a checkout, installed package or not).
REPO_ROOT = Path(__file__).resolve().parents[3]
SOURCES_DIR = REPO_ROOT / "data" / "builtin"
DB_IDS = sorted(json.loads((PACK_DIR / "pack.json").read_text(encoding="utf-8"))["databases"])


@pytest.fixture(scope="module")
def build() -> ModuleType:
    """``data/builtin/build.py``, imported from the repository (a skip where it is absent)."""
    script = SOURCES_DIR / "build.py"
    if not script.is_file():
        pytest.skip(f"the built-in pack's sources are not here ({script}); they live in the repository's data/builtin")
    spec = importlib.util.spec_from_file_location("sqlenv_builtin_build", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _questions(db_id: str) -> list[dict[str, str]]:
    lines = (PACK_DIR / "questions" / f"{db_id}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _table_count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def test_shipped_pack_is_exactly_what_the_sources_generate(build: ModuleType) -> None:
    assert build.source_ids() == DB_IDS
    assert build.PACK_DIR.resolve() == PACK_DIR.resolve(), "the script builds into another copy of the package"
    assert build.check_pack() == []


def test_check_names_a_database_whose_shipped_rows_were_changed(build: ModuleType, tmp_path: Path) -> None:
    db_id = "bookshop"
    sources, databases = tmp_path / "sources", tmp_path / "databases"
    shutil.copytree(SOURCES_DIR / db_id, sources / db_id)
    databases.mkdir()
    tampered = databases / f"{db_id}.sqlite"
    shutil.copyfile(DATABASES_DIR / f"{db_id}.sqlite", tampered)
    conn = sqlite3.connect(tampered)
    table = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchone()[0]
    conn.execute(f'DELETE FROM "{table}" WHERE rowid = (SELECT min(rowid) FROM "{table}")')
    conn.commit()
    conn.close()

    problems = build.check_databases(sources_dir=sources, databases_dir=databases)

    assert len(problems) == 1
    assert problems[0].startswith(f"{db_id}: table {table} differs")


def test_check_reports_a_missing_database_file(build: ModuleType, tmp_path: Path) -> None:
    db_id = "bookshop"
    shutil.copytree(SOURCES_DIR / db_id, tmp_path / "sources" / db_id)
    (tmp_path / "databases").mkdir()
    problems = build.check_databases(sources_dir=tmp_path / "sources", databases_dir=tmp_path / "databases")
    assert problems == [f"{db_id}: {tmp_path / 'databases' / f'{db_id}.sqlite'} is missing"]


def test_install_then_check_round_trips_and_names_an_edited_question_file(build: ModuleType, tmp_path: Path) -> None:
    db_id = "football_league"
    sources, pack = tmp_path / "sources", tmp_path / "pack"
    shutil.copytree(SOURCES_DIR / db_id, sources / db_id)
    build.install([db_id], sources_dir=sources, pack_dir=pack)
    shipped = pack / "databases" / f"{db_id}.sqlite"
    assert shipped.read_bytes() == (DATABASES_DIR / f"{db_id}.sqlite").read_bytes()
    assert build.check_pack(sources_dir=sources, pack_dir=pack) == []
    assert json.loads((pack / "pack.json").read_text(encoding="utf-8"))["databases"][db_id]["split"] in (
        "train",
        "eval",
    )

    questions = pack / "questions" / f"{db_id}.jsonl"
    questions.write_text(questions.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    (sources / db_id / "meta.json").write_text('{"split": "eval", "domain": "x", "description": "y"}', encoding="utf-8")
    assert build.check_pack(sources_dir=sources, pack_dir=pack) == [
        f"{db_id}: {questions} differs from its source questions.jsonl",
        f"{pack / 'pack.json'} differs from the sources' meta.json files",
    ]


def test_build_cli_check_passes_on_the_shipped_pack(build: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert build.main(["--check", "bookshop"]) == 0
    assert "ok: 1 databases match their sources" in capsys.readouterr().out


def test_build_cli_refuses_an_unknown_database(build: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        build.main(["--check", "no_such_db"])
    assert exc_info.value.code == 2
    assert "no sources for no_such_db" in capsys.readouterr().err


def test_every_source_folder_is_complete(build: ModuleType) -> None:
    for db_id in DB_IDS:
        folder = SOURCES_DIR / db_id
        for name in ("schema.sql", "generate.py", "questions.jsonl", "meta.json"):
            assert (folder / name).is_file(), f"{db_id} lacks {name}"


def test_every_shipped_database_has_a_valid_split_and_its_files() -> None:
    pack = json.loads((PACK_DIR / "pack.json").read_text(encoding="utf-8"))["databases"]
    for db_id in DB_IDS:
        meta = pack[db_id]
        assert meta["split"] in ("train", "eval"), db_id
        assert meta["domain"].strip() and meta["description"].strip(), db_id
        assert (DATABASES_DIR / f"{db_id}.sqlite").is_file(), f"{db_id} was never built"
        assert (PACK_DIR / "questions" / f"{db_id}.jsonl").is_file(), f"{db_id} has no questions"


def test_at_least_eight_databases_with_five_to_twelve_tables() -> None:
    assert len(DB_IDS) >= 8, f"only {len(DB_IDS)} databases: {DB_IDS}"
    for db_id in DB_IDS:
        tables = _table_count(DATABASES_DIR / f"{db_id}.sqlite")
        assert 5 <= tables <= 12, f"{db_id} has {tables} tables"


def test_splits_are_by_database_and_both_are_populated() -> None:
    train, evaluation = builtin("train"), builtin("eval")
    assert len(train) > 0 and len(evaluation) > 0
    assert set(train.databases).isdisjoint(evaluation.databases)
    assert set(train.databases) | set(evaluation.databases) == set(DB_IDS)
    assert {q.split for q in train} == {"train"} and {q.split for q in evaluation} == {"eval"}


def test_question_ids_are_unique_and_records_are_well_formed() -> None:
    ids: Counter[str] = Counter()
    for db_id in DB_IDS:
        for record in _questions(db_id):
            assert set(record) == {"id", "question", "gold_sql", "difficulty"}, record
            assert record["id"].startswith(f"{db_id}-"), record["id"]
            assert record["difficulty"] in ("easy", "medium", "hard"), record["id"]
            assert record["question"].strip().endswith(("?", ".")), record["id"]
            ids[record["id"]] += 1
    assert [qid for qid, n in ids.items() if n > 1] == []


def test_pack_has_at_least_300_questions() -> None:
    assert len(builtin()) >= 300


@pytest.mark.parametrize("db_id", DB_IDS)
def test_difficulty_mix_is_about_forty_forty_twenty(db_id: str) -> None:
    mix = Counter(r["difficulty"] for r in _questions(db_id))
    total = sum(mix.values())
    assert total >= 30, f"{db_id} has only {total} questions"
    assert 0.3 <= mix["easy"] / total <= 0.5, mix
    assert 0.3 <= mix["medium"] / total <= 0.5, mix
    assert 0.1 <= mix["hard"] / total <= 0.3, mix


@pytest.mark.parametrize("db_id", DB_IDS)
def test_every_gold_query_runs_in_the_sandbox_and_returns_a_usable_result(db_id: str) -> None:
    dataset = builtin().filter(db_ids=[db_id])
    skipped = dataset.compute_gold(drop_unusable=False)
    assert [f"{s.id}: {s.reason}" for s in skipped] == []
    for question in dataset:
        gold = dataset.gold(question.id)
        assert gold.rows and any(v is not None for row in gold.rows for v in row), question.id


@pytest.mark.parametrize("db_id", DB_IDS)
def test_ordered_gold_results_are_announced_in_the_question(db_id: str) -> None:
    # An ordered gold makes the verifier compare row order, so the question must ask for one.
    for record in _questions(db_id):
        if is_ordered(record["gold_sql"]) and " LIMIT " not in record["gold_sql"].upper():
            assert "order" in record["question"].lower(), record["id"]


def test_whole_pack_is_under_ten_megabytes() -> None:
    size = sum(p.stat().st_size for p in PACK_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert size < 10 * 1024 * 1024, f"pack is {size / 1e6:.1f} MB"
