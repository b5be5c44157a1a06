"""Users' own data: a folder of SQLite files and one questions file.

Layout::

    my_data/
      shop.sqlite                  # db_id "shop" (the file stem)
      hr/hr.sqlite                 # or one folder per database, Spider style
      questions.jsonl              # or questions.json (a list) or questions.csv

Each question has ``db_id``, ``question`` and ``gold_sql``; ``id``, ``difficulty``, ``split`` and
``evidence`` are optional.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from sqlenv_core.datasets.base import DIFFICULTIES, LEVEL_DIFFICULTIES, Dataset, DatasetError, Question
from sqlenv_core.datasets.gold_cache import GoldCache

__all__ = ["DB_SUFFIXES", "QUESTION_FILES", "find_databases", "jsonl_records", "load_dir"]

QUESTION_FILES = ("questions.jsonl", "questions.json", "questions.csv")
DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")
REQUIRED_FIELDS = ("db_id", "question", "gold_sql")
OPTIONAL_FIELDS = ("id", "difficulty", "split", "evidence")

#: Other benchmarks' difficulty words, so questions copied from them load unchanged.
DIFFICULTY_ALIASES = {
    "simple": "easy",
    "moderate": "medium",
    "challenging": "hard",
    "extra hard": "extra",
    "extra-hard": "extra",
}


def find_databases(folder: Path) -> dict[str, Path]:
    """``db_id`` → file for every SQLite file directly in ``folder`` or in ``folder/<db_id>/``.

    Raises:
        DatasetError: two files claim the same ``db_id``.
    """
    found: dict[str, Path] = {}
    candidates = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in DB_SUFFIXES]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        candidates.extend(
            sub / f"{sub.name}{suffix}" for suffix in DB_SUFFIXES if (sub / f"{sub.name}{suffix}").is_file()
        )
    for path in candidates:
        db_id = path.stem
        if db_id in found:
            raise DatasetError(f"two databases named {db_id!r}: {found[db_id]} and {path}; rename one")
        found[db_id] = path
    return found


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (``file:line`` or ``file item N`` location, record) from a questions file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return jsonl_records(path, text)
    if suffix == ".json":
        return _json_records(path, text)
    return _csv_records(path, text)


def jsonl_records(path: Path, text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("file:line", object)`` for each non-blank line of a JSON-lines ``text``.

    Raises:
        DatasetError: a line is not JSON or not an object; the message names the file and line.
    """
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{line_no}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
        except RecursionError:
            raise DatasetError(f"{path}:{line_no}: JSON nested too deeply to read; flatten it") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
        yield f"{path}:{line_no}", record  # pyright: ignore[reportUnknownArgumentType]


def _json_records(path: Path, text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
    except RecursionError:
        raise DatasetError(f"{path}: JSON nested too deeply to read; flatten it") from None
    # A {"questions": [...]} wrapper is accepted too: it is what many exports look like.
    items = cast(Any, data.get("questions") if isinstance(data, dict) else data)  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected a JSON list of question objects")
    for index, record in enumerate(items, 1):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if not isinstance(record, dict):
            raise DatasetError(f"{path}: item {index} is not a JSON object")
        yield f"{path} item {index}", record  # pyright: ignore[reportUnknownArgumentType]


def _csv_records(path: Path, text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise DatasetError(f"{path}:1: unreadable CSV header ({exc})") from exc
    missing = [name for name in REQUIRED_FIELDS if name not in header]
    if missing:
        raise DatasetError(
            f"{path}:1: CSV header lacks {', '.join(missing)} "
            f"(found: {', '.join(header) or 'no header'}; required: {', '.join(REQUIRED_FIELDS)})"
        )
    try:
        for row in reader:
            yield f"{path}:{reader.line_num}", {k: v for k, v in row.items() if k is not None}
    except csv.Error as exc:
        raise DatasetError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from exc


def _question(where: str, record: dict[str, Any], index: int, databases: dict[str, Path]) -> Question:
    missing = [name for name in REQUIRED_FIELDS if not str(record.get(name) or "").strip()]
    if missing:
        raise DatasetError(f"{where}: missing {', '.join(missing)} (every question needs {', '.join(REQUIRED_FIELDS)})")
    db_id = str(record["db_id"]).strip()
    if db_id not in databases:
        known = ", ".join(sorted(databases)) or "none"
        raise DatasetError(f"{where}: unknown db_id {db_id!r}; databases in this folder: {known}")
    raw_difficulty = str(record.get("difficulty") or "medium").strip().lower()
    difficulty = DIFFICULTY_ALIASES.get(raw_difficulty, raw_difficulty)
    if difficulty not in DIFFICULTIES and difficulty not in LEVEL_DIFFICULTIES:
        raise DatasetError(
            f"{where}: unknown difficulty {raw_difficulty!r}; use {', '.join(DIFFICULTIES)} "
            f"(or a procgen level, {LEVEL_DIFFICULTIES[0]} to {LEVEL_DIFFICULTIES[-1]})"
        )
    extra = {k: v for k, v in record.items() if k not in REQUIRED_FIELDS + OPTIONAL_FIELDS}
    return Question(
        id=str(record.get("id") or "").strip() or f"q{index:05d}",
        db_id=db_id,
        question=str(record["question"]).strip(),
        gold_sql=str(record["gold_sql"]).strip(),
        difficulty=difficulty,
        split=str(record.get("split") or "train").strip(),
        evidence=str(record.get("evidence") or "").strip(),
        metadata={"source": "dir", "where": where, **extra},
    )


def load_dir(
    path: str | Path,
    *,
    compute_gold: bool = True,
    progress: Callable[[int, int], None] | None = None,
    gold_cache: GoldCache | None = None,
) -> Dataset:
    """Load a folder of SQLite files plus ``questions.jsonl`` / ``questions.json`` / ``questions.csv``.

    Args:
        path: the folder.
        compute_gold: run every gold query now, dropping (and counting in ``skipped``) those
            whose result is empty, all NULL, or that fail.
        progress: ``progress(done, total)`` while gold answers are computed.
        gold_cache: where gold answers persist between runs (default: the user's cache folder).

    Raises:
        DatasetError: the folder, a database or the questions file is missing or malformed; the
            message names the file (and line) and says what was expected.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"dataset folder not found: {folder} (expected .sqlite files and {QUESTION_FILES[0]})")
    databases = find_databases(folder)
    if not databases:
        raise DatasetError(
            f"no SQLite databases in {folder} (expected <db_id>.sqlite or <db_id>/<db_id>.sqlite; "
            "build one with `sqlenv data import`)"
        )
    present = [folder / name for name in QUESTION_FILES if (folder / name).is_file()]
    if not present:
        raise DatasetError(f"no questions file in {folder} (expected one of {', '.join(QUESTION_FILES)})")
    if len(present) > 1:
        raise DatasetError(f"more than one questions file in {folder}: {', '.join(p.name for p in present)}; keep one")
    questions: list[Question] = []
    seen: dict[str, str] = {}
    for index, (where, record) in enumerate(_records(present[0]), 1):
        question = _question(where, record, index, databases)
        if question.id in seen:
            raise DatasetError(f"{where}: duplicate id {question.id!r} (first used at {seen[question.id]})")
        seen[question.id] = where
        questions.append(question)
    if not questions:
        raise DatasetError(f"{present[0]} holds no questions")
    dataset = Dataset(f"dir:{folder.name}", questions, databases, gold_cache=gold_cache)
    if compute_gold:
        dataset.compute_gold(progress=progress)
    return dataset
