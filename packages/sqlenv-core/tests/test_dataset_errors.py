"""Datasets that cannot be served are refused with one clear line (issue 9 item 8).

A WAL-mode database whose data sits in its -wal file read as empty; `sqlenv data import` printed
raw tracebacks (more than 999 columns, duplicate column names, a table named sqlite_master,
deeply nested JSON) or silently dropped data (a repeated CSV header); repeated spec options
(``db=a&db=b``) were silently dropped; a dataset with no usable question loaded anyway.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sqlenv_core.cli import main
from sqlenv_core.datasets import DatasetError, load, parse_spec
from sqlenv_core.datasets.importer import MAX_IMPORT_COLUMNS
from sqlenv_core.sandbox import Sandbox, SandboxError


def wal_snapshot(folder: Path) -> Path:
    """A WAL-mode database copied while its rows were still in the -wal file (as a backup tool might)."""
    live = folder / "live" / "w.sqlite"
    live.parent.mkdir(parents=True)
    conn = sqlite3.connect(live)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    conn.commit()
    snap = folder / "w" / "w.sqlite"
    snap.parent.mkdir(parents=True)
    shutil.copy(live, snap)
    shutil.copy(f"{live}-wal", f"{snap}-wal")
    conn.close()
    return snap


def test_a_wal_database_with_pending_data_is_refused_with_the_fix(tmp_path: Path) -> None:
    db = wal_snapshot(tmp_path)
    before = sorted(p.name for p in db.parent.iterdir())
    with pytest.raises(SandboxError) as err:
        Sandbox(db).execute("SELECT count(*) FROM t")
    assert err.value.code == "unavailable"
    assert "WAL mode" in err.value.message and "w.sqlite-wal" in err.value.message
    assert "wal_checkpoint(TRUNCATE)" in err.value.message
    assert sorted(p.name for p in db.parent.iterdir()) == before  # nothing written beside it
    # The fix the message gives works, and then every row is there.
    fix = sqlite3.connect(db)
    fix.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fix.execute("PRAGMA journal_mode=DELETE")
    fix.close()
    assert Sandbox(db).execute("SELECT count(*) FROM t").rows == [(100,)]


def test_a_dataset_on_a_wal_database_says_why_it_has_no_questions(tmp_path: Path) -> None:
    db = wal_snapshot(tmp_path / "data")
    (db.parent.parent / "questions.jsonl").write_text(
        json.dumps({"db_id": "w", "question": "How many?", "gold_sql": "SELECT count(*) FROM t"}) + "\n"
    )
    shutil.rmtree(tmp_path / "data" / "live")
    with pytest.raises(DatasetError) as err:
        load(f"dir:{tmp_path / 'data'}")
    message = str(err.value)
    assert "no usable questions" in message and "WAL mode" in message


def test_zero_usable_questions_is_a_dataset_error_naming_the_reasons(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    conn = sqlite3.connect(root / "s.sqlite")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.commit()
    conn.close()
    lines = [
        {"db_id": "s", "question": "empty", "gold_sql": "SELECT x FROM t"},
        {"db_id": "s", "question": "broken", "gold_sql": "SELECT nope FROM t"},
        {"db_id": "s", "question": "broken too", "gold_sql": "SELECT nope FROM t"},
    ]
    (root / "questions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(DatasetError) as err:
        load(f"dir:{root}")
    message = str(err.value)
    assert "no usable questions: all 3 were dropped" in message
    assert "2 x gold SQL failed" in message and "1 x gold result is empty" in message


def test_filters_that_select_nothing_are_an_error() -> None:
    with pytest.raises(DatasetError, match="selects no questions"):
        load("builtin?db=clinic&difficulty=extra")
    with pytest.raises(DatasetError, match="unknown db_id"):
        load("builtin?db=nowhere", compute_gold=False)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("builtin?db=transit&db=clinic", "option 'db' given 2 times"),
        ("builtin?db=transit&db=clinic", "db=transit,clinic"),
        ("builtin?difficulty=easy&difficulty=hard", "difficulty=easy,hard"),
        ("builtin?limit=1&limit=2", "option 'limit' given 2 times"),
        ("builtin?split=train&split=eval", "give it once"),
    ],
)
def test_repeated_spec_options_are_an_error_not_silently_dropped(spec: str, fragment: str) -> None:
    with pytest.raises(DatasetError) as err:
        parse_spec(spec)
    assert fragment in str(err.value)


def _import(tmp_path: Path, name: str, content: str | bytes) -> tuple[int, str, Path]:
    source = tmp_path / name
    if isinstance(content, bytes):
        source.write_bytes(content)
    else:
        source.write_text(content)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "sqlenv_core", "data", "import", str(source), "--db", "x", "--to", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stderr, out


WIDE_HEADER = ",".join(f"c{i}" for i in range(MAX_IMPORT_COLUMNS + 1))
IMPORT_ERRORS = [
    ("wide.csv", WIDE_HEADER + "\n" + ",".join("1" for _ in range(MAX_IMPORT_COLUMNS + 1)) + "\n", "1,000 columns"),
    ("wide.json", json.dumps([{f"c{i}": 1 for i in range(MAX_IMPORT_COLUMNS + 1)}]), "split the file"),
    ("dup.csv", "a,a,b\n1,2,3\n", "columns 1 and 2 are both named 'a'"),
    ("case.csv", "Name,name\n1,2\n", "ignoring case"),
    ("case.json", json.dumps([{"Name": 1, "name": 2}]), "the objects' keys"),
    ("blank.csv", ",x\n1,2\n", "column 1 has no name"),
    ("deep.json", '[{"a": ' + "[" * 100_000 + "]" * 100_000 + "}]", "nested too deeply"),
    ("deep.jsonl", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "deep.jsonl:1: JSON nested too deeply"),
    ("huge_field.csv", "a\n" + "x" * 200_000 + "\n", "field larger than field limit"),
    ("latin1.csv", b"a\n\xe9t\xe9\n", "not UTF-8"),
]


@pytest.mark.parametrize(("name", "content", "fragment"), IMPORT_ERRORS, ids=[c[0] for c in IMPORT_ERRORS])
def test_import_errors_name_the_file_and_what_to_do(
    tmp_path: Path, name: str, content: str | bytes, fragment: str
) -> None:
    code, err, out = _import(tmp_path, name, content)
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith(f"sqlenv: error: {tmp_path / name}") and fragment in err, err
    assert not out.exists() or list(out.iterdir()) == []  # nothing half-written


def test_a_file_named_like_sqlites_own_tables_gets_a_usable_table_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sqlite_master.csv").write_text("a\n1\n")
    assert main(["data", "import", str(tmp_path / "sqlite_master.csv"), "--db", "x", "--to", str(tmp_path / "o")]) == 0
    assert "t_sqlite_master: 1 rows" in capsys.readouterr().out
    assert Sandbox(tmp_path / "o" / "x.sqlite").execute("SELECT a FROM t_sqlite_master").rows == [(1,)]
