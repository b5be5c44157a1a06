"""The built-in pack: original databases and questions shipped inside sqlenv-core."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from sqlenv_core.datasets.base import Dataset, DatasetError, Question
from sqlenv_core.datasets.directory import jsonl_records
from sqlenv_core.datasets.gold_cache import GoldCache

__all__ = ["BUILTIN_SPLITS", "builtin", "builtin_root"]

BUILTIN_SPLITS = ("train", "eval")


def builtin_root() -> Path:
    """The folder of the built-in pack inside the installed package."""
    return Path(str(resources.files("sqlenv_core") / "builtin"))


def builtin(split: str | None = None, *, gold_cache: GoldCache | None = None) -> Dataset:
    """The built-in dataset (no download). ``split`` is ``train``, ``eval`` or ``None`` for both.

    Splits are by database, so ``eval`` measures schemas never seen in ``train``. ``gold_cache``:
    where gold answers persist between runs (default: the user's cache folder).
    """
    if split is not None and split not in BUILTIN_SPLITS:
        raise DatasetError(f"unknown built-in split {split!r}; use one of {', '.join(BUILTIN_SPLITS)}")
    root = builtin_root()
    sources = sorted(p for p in (root / "sources").glob("*/meta.json")) if (root / "sources").is_dir() else []
    if not sources:
        raise DatasetError(f"built-in pack not found under {root}; reinstall sqlenv-core")
    questions: list[Question] = []
    databases: dict[str, Path] = {}
    for meta_path in sources:
        db_id = meta_path.parent.name
        info: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        db_split = str(info["split"])
        if split is not None and db_split != split:
            continue
        databases[db_id] = root / "databases" / f"{db_id}.sqlite"
        qfile = meta_path.parent / "questions.jsonl"
        for _, record in jsonl_records(qfile, qfile.read_text(encoding="utf-8")):
            questions.append(
                Question(
                    id=str(record["id"]),
                    db_id=db_id,
                    question=str(record["question"]),
                    gold_sql=str(record["gold_sql"]),
                    difficulty=str(record.get("difficulty", "medium")),
                    split=db_split,
                    metadata={"source": "builtin", "domain": info.get("domain", "")},
                )
            )
    name = "builtin" if split is None else f"builtin:{split}"
    return Dataset(name, questions, databases, gold_cache=gold_cache)
