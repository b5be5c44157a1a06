"""Spider 1.0 in its own layout: ``tables.json``, ``dev.json`` / ``train_spider.json``, ``database/``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlenv_core.datasets.base import Dataset, DatasetError, Question, SkippedQuestion
from sqlenv_core.datasets.gold_cache import GoldCache

__all__ = ["load_spider", "spider_hardness"]

_SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "dev": ("dev.json",),
    "train": ("train_spider.json", "train_others.json"),
    "test": ("test.json",),
}


def load_spider(
    root: str | Path,
    split: str = "dev",
    *,
    compute_gold: bool = True,
    progress: Callable[[int, int], None] | None = None,
    gold_cache: GoldCache | None = None,
) -> Dataset:
    """Load Spider from ``root`` (the folder holding ``dev.json`` and ``database/``).

    Args:
        root: the extracted Spider folder.
        split: ``dev``, ``train`` (train_spider + train_others) or ``test``.
        compute_gold: run every gold query now, dropping (and counting in ``skipped``) those
            whose result is empty, all NULL, or that fail.
        progress: ``progress(done, total)`` while gold answers are computed.
        gold_cache: where gold answers persist between runs (default: the user's cache folder).

    Raises:
        DatasetError: a file is missing or malformed; the message names it.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DatasetError(f"Spider folder not found: {base} (expected dev.json and database/ inside)")
    if split not in _SPLIT_FILES:
        raise DatasetError(f"unknown Spider split {split!r}; use one of {', '.join(_SPLIT_FILES)}")
    files = [base / name for name in _SPLIT_FILES[split] if (base / name).is_file()]
    if not files:
        expected = " or ".join(_SPLIT_FILES[split])
        raise DatasetError(f"Spider split {split!r}: {expected} not found in {base}")
    db_root = base / "database"
    if split == "test" and (base / "test_database").is_dir():
        db_root = base / "test_database"
    if not db_root.is_dir():
        raise DatasetError(f"Spider databases not found: {db_root} (expected database/<db_id>/<db_id>.sqlite)")

    questions: list[Question] = []
    skipped: list[SkippedQuestion] = []
    databases: dict[str, Path] = {}
    index = 0
    for path in files:
        try:
            records: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DatasetError(f"cannot read {path}: {exc}") from exc
        except RecursionError:
            raise DatasetError(f"cannot read {path}: JSON nested too deeply") from None
        for record in records:
            qid = f"spider-{split}-{index:05d}"
            index += 1
            db_id = str(record.get("db_id", ""))
            sql = str(record.get("query", ""))
            db_file = db_root / db_id / f"{db_id}.sqlite"
            if not db_file.is_file():
                skipped.append(SkippedQuestion(qid, db_id, f"database file missing: {db_file}"))
                continue
            databases[db_id] = db_file
            parsed: Any = record.get("sql")
            questions.append(
                Question(
                    id=qid,
                    db_id=db_id,
                    question=str(record.get("question", "")),
                    gold_sql=sql,
                    difficulty=spider_hardness(cast(dict[str, Any], parsed)) if isinstance(parsed, dict) else "medium",
                    split=split,
                    metadata={"source": "spider", "file": path.name},
                )
            )
    dataset = Dataset(f"spider:{split}", questions, databases, skipped=skipped, gold_cache=gold_cache)
    if compute_gold:
        dataset.compute_gold(progress=progress)
    return dataset


# -- Spider's own hardness classes (from the official evaluation script) ---------------------------

_WHERE_LIKE = 9  # index of 'like' in Spider's WHERE_OPS


def _has_agg(unit: Any) -> bool:
    return bool(unit) and unit[0] != 0


def _count_agg(units: list[Any]) -> int:
    return sum(1 for unit in units if _has_agg(unit))


def _nested(sql: dict[str, Any]) -> list[dict[str, Any]]:
    nested: list[dict[str, Any]] = []
    for cond in sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]:
        nested.extend(cast(dict[str, Any], part) for part in (cond[3], cond[4]) if isinstance(part, dict))
    nested.extend(sql[key] for key in ("intersect", "except", "union") if sql.get(key) is not None)
    return nested


def _component1(sql: dict[str, Any]) -> int:
    count = sum(1 for key in ("where", "groupBy", "orderBy") if sql[key])
    count += sql["limit"] is not None
    if sql["from"]["table_units"]:
        count += len(sql["from"]["table_units"]) - 1
    connectors = sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]
    count += sum(1 for token in connectors if token == "or")
    conds = sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]
    count += sum(1 for cond in conds if cond[1] == _WHERE_LIKE)
    return count


def _others(sql: dict[str, Any]) -> int:
    agg = _count_agg(sql["select"][1]) + _count_agg(sql["where"][::2]) + _count_agg(sql["groupBy"])
    if sql["orderBy"]:
        agg += _count_agg([u[1] for u in sql["orderBy"][1] if u[1]] + [u[2] for u in sql["orderBy"][1] if u[2]])
    agg += _count_agg(sql["having"])
    count = int(agg > 1)
    count += len(sql["select"][1]) > 1
    count += len(sql["where"]) > 1
    count += len(sql["groupBy"]) > 1
    return count


def spider_hardness(sql: dict[str, Any]) -> str:
    """Spider's difficulty class (easy / medium / hard / extra) of a parsed ``sql`` record."""
    try:
        c1, c2, others = _component1(sql), len(_nested(sql)), _others(sql)
    except (KeyError, IndexError, TypeError):
        return "medium"
    if c1 <= 1 and others == 0 and c2 == 0:
        return "easy"
    if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
        return "medium"
    if (
        (others > 2 and c1 <= 2 and c2 == 0)
        or (2 < c1 <= 3 and others <= 2 and c2 == 0)
        or (c1 <= 1 and others == 0 and c2 <= 1)
    ):
        return "hard"
    return "extra"
