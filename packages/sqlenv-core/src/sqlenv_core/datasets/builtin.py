"""The built-in pack: original databases and questions shipped inside sqlenv-core.

The package holds what the pack needs at run time (``builtin/pack.json``, ``databases/<db_id>.sqlite``,
``questions/<db_id>.jsonl``); their sources and the script that builds them live in the
repository's ``data/builtin/``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, cast

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
    try:
        pack: Any = json.loads((root / "pack.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pack = None
    entries: Any = cast(dict[str, Any], pack).get("databases") if isinstance(pack, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise DatasetError(f"built-in pack not found under {root}; reinstall sqlenv-core")
    questions: list[Question] = []
    databases: dict[str, Path] = {}
    for db_id, raw in sorted(cast(dict[str, Any], entries).items()):
        info: dict[str, Any] = cast(dict[str, Any], raw) if isinstance(raw, dict) else {}
        db_split = str(info.get("split", ""))
        if split is not None and db_split != split:
            continue
        databases[db_id] = root / "databases" / f"{db_id}.sqlite"
        qfile = root / "questions" / f"{db_id}.jsonl"
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
