"""BIRD in its own layout: ``dev.json``, ``dev_databases/<db_id>/<db_id>.sqlite``, ``dev_tables.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlenv_core.datasets.base import Dataset, DatasetError, Question, SkippedQuestion
from sqlenv_core.datasets.gold_cache import GoldCache

__all__ = ["BIRD_DIFFICULTY", "BIRD_SPLITS", "load_bird"]

BIRD_SPLITS = ("dev", "train")

#: BIRD's three classes, mapped onto the difficulty names every SQLEnv dataset uses.
BIRD_DIFFICULTY = {"simple": "easy", "moderate": "medium", "challenging": "hard"}


def _split_root(base: Path, split: str) -> Path:
    """The folder holding ``<split>.json``: ``base`` itself, or one extracted folder below it.

    BIRD's archives unpack to ``dev/`` or a dated ``dev_20240627/``; accepting the parent saves
    users from guessing which one they have.
    """
    if (base / f"{split}.json").is_file():
        return base
    candidates = sorted(p for p in base.glob(f"{split}*") if p.is_dir() and (p / f"{split}.json").is_file())
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(sorted(p.name for p in base.iterdir())[:10]) if base.is_dir() else "nothing"
    raise DatasetError(
        f"BIRD split {split!r}: {split}.json not found in {base} "
        f"(expected {split}.json and {split}_databases/ inside; found: {found})"
    )


def load_bird(
    root: str | Path,
    split: str = "dev",
    *,
    compute_gold: bool = True,
    progress: Callable[[int, int], None] | None = None,
    gold_cache: GoldCache | None = None,
) -> Dataset:
    """Load BIRD from ``root`` (the folder holding ``dev.json`` and ``dev_databases/``).

    Each record's ``evidence`` becomes :attr:`Question.evidence` (the agent sees it with the
    question), and BIRD's ``simple`` / ``moderate`` / ``challenging`` become ``easy`` / ``medium``
    / ``hard``. The train split (``train.json`` + ``train_databases/``) has no difficulty labels;
    its questions are ``medium``.

    Args:
        root: the extracted BIRD folder (or its parent, when it holds exactly one ``dev*`` folder).
        split: ``dev`` or ``train``.
        compute_gold: run every gold query now, dropping (and counting in ``skipped``) those
            whose result is empty, all NULL, or that fail.
        progress: ``progress(done, total)`` while gold answers are computed.
        gold_cache: where gold answers persist between runs (default: the user's cache folder).

    Raises:
        DatasetError: a file is missing or malformed; the message names it.
    """
    base = Path(root).expanduser()
    if split not in BIRD_SPLITS:
        raise DatasetError(f"unknown BIRD split {split!r}; use one of {', '.join(BIRD_SPLITS)}")
    if not base.is_dir():
        raise DatasetError(f"BIRD folder not found: {base} (expected {split}.json and {split}_databases/ inside)")
    folder = _split_root(base, split)
    questions_file = folder / f"{split}.json"
    db_root = folder / f"{split}_databases"
    if not db_root.is_dir():
        zipped = folder / f"{split}_databases.zip"
        hint = f"; unzip {zipped.name} there first" if zipped.is_file() else ""
        raise DatasetError(
            f"BIRD databases not found: {db_root} (expected {split}_databases/<db_id>/<db_id>.sqlite){hint}"
        )
    try:
        records: Any = json.loads(questions_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {questions_file}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{questions_file}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    except RecursionError:
        raise DatasetError(f"{questions_file}: JSON nested too deeply to read") from None
    if not isinstance(records, list):
        raise DatasetError(f"{questions_file}: expected a JSON list of questions, got {type(records).__name__}")

    questions: list[Question] = []
    skipped: list[SkippedQuestion] = []
    databases: dict[str, Path] = {}
    for index, record in enumerate(records):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if not isinstance(record, dict):
            raise DatasetError(f"{questions_file}: item {index} is not an object")
        item: dict[str, Any] = record  # pyright: ignore[reportUnknownVariableType]
        missing = [key for key in ("db_id", "question", "SQL") if key not in item]
        if missing:
            raise DatasetError(f"{questions_file}: item {index} lacks {', '.join(missing)}")
        number = item.get("question_id", index)
        qid = f"bird-{split}-{int(number):05d}" if isinstance(number, int) else f"bird-{split}-{number}"
        db_id = str(item["db_id"])
        db_file = db_root / db_id / f"{db_id}.sqlite"
        if not db_file.is_file():
            skipped.append(SkippedQuestion(qid, db_id, f"database file missing: {db_file}"))
            continue
        databases[db_id] = db_file
        raw_difficulty = str(item.get("difficulty", "")).strip().lower()
        questions.append(
            Question(
                id=qid,
                db_id=db_id,
                question=str(item["question"]).strip(),
                gold_sql=str(item["SQL"]),
                difficulty=BIRD_DIFFICULTY.get(raw_difficulty, "medium"),
                split=split,
                evidence=str(item.get("evidence") or "").strip(),
                metadata={"source": "bird", "bird_difficulty": raw_difficulty or None},
            )
        )
    dataset = Dataset(f"bird:{split}", questions, databases, skipped=skipped, gold_cache=gold_cache)
    if compute_gold:
        dataset.compute_gold(progress=progress)
    return dataset
