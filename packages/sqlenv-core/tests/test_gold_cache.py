"""Gold answers cached on disk by database hash: reused across runs and paths, never stale."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from sqlenv_core.datasets import load, load_dir
from sqlenv_core.datasets.gold_cache import CACHE_ENV, GoldCache, default_cache_dir


def make_folder(root: Path, price: float = 20.0) -> Path:
    """A dir: dataset with one database and three questions (one whose gold SQL fails)."""
    root.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(root / "shop.sqlite")
    with conn:
        conn.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT, price REAL)")
        conn.executemany(
            "INSERT INTO products VALUES (?, ?, ?)", [(1, "Pen", 1.5), (2, "Café crème", None), (3, "Lamp", price)]
        )
    conn.close()
    questions = [
        {"id": "max", "db_id": "shop", "question": "Highest price?", "gold_sql": "SELECT max(price) FROM products"},
        {
            "id": "odd",
            "db_id": "shop",
            "question": "Odd values?",
            "gold_sql": "SELECT 0.1 + 0.2, NULL, 'é', 9007199254740993, 1e308 * 10, title FROM products WHERE id = 2",
        },
        {"id": "broken", "db_id": "shop", "question": "?", "gold_sql": "SELECT nope FROM products"},
    ]
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions), encoding="utf-8")
    return root


def cache_files(cache_root: Path) -> list[Path]:
    return sorted(p for p in (cache_root / "gold").glob("*.json") if p.name != "file-hashes.json")


def tamper(cache_root: Path, new_value: float) -> None:
    """Rewrite the cached answer of SELECT max(price) so that a read from disk is visible."""
    (path,) = cache_files(cache_root)
    data = json.loads(path.read_text(encoding="utf-8"))
    for entry in data["entries"].values():
        if entry["columns"] == ["max(price)"]:
            entry["rows"] = [[new_value]]
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_second_load_reads_the_answers_from_disk(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "data")
    cache = GoldCache(tmp_path / "cache")
    first = load_dir(folder, gold_cache=cache)
    assert first.gold("max").rows == [(20.0,)]
    assert [s.id for s in first.skipped] == ["broken"]
    assert len(cache_files(tmp_path / "cache")) == 1

    tamper(tmp_path / "cache", 999.0)
    second = load_dir(folder, gold_cache=GoldCache(tmp_path / "cache"))
    assert second.gold("max").rows == [(999.0,)]  # read back, not recomputed
    # A failed gold query is never cached: it is retried, and skipped again with its reason.
    assert [(s.id, s.reason.split(":")[0]) for s in second.skipped] == [("broken", "gold SQL failed")]


def test_a_changed_database_is_never_answered_from_the_old_entries(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "data")
    load_dir(folder, gold_cache=GoldCache(tmp_path / "cache"))
    tamper(tmp_path / "cache", 999.0)
    conn = sqlite3.connect(folder / "shop.sqlite")
    with conn:
        conn.execute("UPDATE products SET price = 42.5 WHERE id = 3")
    conn.close()
    again = load_dir(folder, gold_cache=GoldCache(tmp_path / "cache"))
    assert again.gold("max").rows == [(42.5,)]
    assert len(cache_files(tmp_path / "cache")) == 2  # one file per database content


def test_the_same_database_elsewhere_shares_the_entries(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "data")
    load_dir(folder, gold_cache=GoldCache(tmp_path / "cache"))
    tamper(tmp_path / "cache", 7.0)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert load_dir(copy, gold_cache=GoldCache(tmp_path / "cache")).gold("max").rows == [(7.0,)]


def test_every_cell_type_reads_back_exactly(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "data")
    fresh = load_dir(folder, gold_cache=GoldCache(None)).gold("odd")
    load_dir(folder, gold_cache=GoldCache(tmp_path / "cache"))
    cached = load_dir(folder, gold_cache=GoldCache(tmp_path / "cache")).gold("odd")
    assert cached.columns == fresh.columns
    assert cached.rows == fresh.rows
    row = cached.rows[0]
    assert row[0] == 0.1 + 0.2 and row[1] is None and row[2] == "é" and row[3] == 9007199254740993
    assert isinstance(row[4], float) and math.isinf(row[4]) and row[5] == "Café crème"


def test_a_corrupt_cache_file_is_ignored_and_rewritten(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "data")
    load_dir(folder, gold_cache=GoldCache(tmp_path / "cache"))
    (path,) = cache_files(tmp_path / "cache")
    path.write_text('{"format": 1, "entries": {"x": {"columns": ["a"], "rows": [[1, 2]]', encoding="utf-8")
    assert load_dir(folder, gold_cache=GoldCache(tmp_path / "cache")).gold("max").rows == [(20.0,)]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert any(e["rows"] == [[20.0]] for e in data["entries"].values())
    # An entry of the wrong shape (a row narrower than its columns) is skipped, not trusted.
    for entry in data["entries"].values():
        entry["rows"] = [[]]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_dir(folder, gold_cache=GoldCache(tmp_path / "cache")).gold("max").rows == [(20.0,)]


def test_the_environment_variable_chooses_the_folder_or_turns_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    load_dir(make_folder(tmp_path / "data"))
    assert len(cache_files(tmp_path / "mine")) == 1
    monkeypatch.setenv(CACHE_ENV, "off")
    assert default_cache_dir() is None and not GoldCache.default().enabled
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert default_cache_dir() == tmp_path / "xdg" / "sqlenv"


def test_an_unwritable_folder_falls_back_to_a_private_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    folder = make_folder(tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="sqlenv_core.gold_cache"):
        ds = load_dir(folder, gold_cache=GoldCache(blocker / "cache"))
    assert ds.gold("max").rows == [(20.0,)]
    fallback = tmp_path / "tmp" / f"sqlenv-cache-{os.getuid()}"
    assert len(cache_files(fallback)) == 1
    assert "cannot write the gold-answer cache" in caplog.text and str(fallback) in caplog.text
    # The next run with the same unwritable setting finds the answers in the fallback.
    tamper(fallback, 5.0)
    assert load_dir(folder, gold_cache=GoldCache(blocker / "cache")).gold("max").rows == [(5.0,)]


def test_with_nowhere_to_write_the_answers_are_still_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))
    with caplog.at_level(logging.WARNING, logger="sqlenv_core.gold_cache"):
        ds = load_dir(make_folder(tmp_path / "data"), gold_cache=GoldCache(blocker / "cache"))
    assert ds.gold("max").rows == [(20.0,)]
    assert "will not be cached on disk" in caplog.text


def test_the_builtin_pack_is_served_from_the_cache_on_the_next_load(tmp_path: Path) -> None:
    cold = load("builtin:eval?db=transit", gold_cache=GoldCache(tmp_path / "cache"))
    assert len(cache_files(tmp_path / "cache")) == 1
    warm = load("builtin:eval?db=transit", gold_cache=GoldCache(tmp_path / "cache"))
    assert [q.id for q in warm] == [q.id for q in cold] and len(warm) == 40
    assert all(warm.gold(q.id) == cold.gold(q.id) for q in cold)
