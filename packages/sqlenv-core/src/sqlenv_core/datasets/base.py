"""Questions, datasets and their gold answers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlenv_core.cache import ResultCache
from sqlenv_core.datasets.gold_cache import GoldCache, GoldEntry, entry_key
from sqlenv_core.sandbox import Sandbox, SandboxError, SandboxLimits
from sqlenv_core.sqlinfo import is_ordered
from sqlenv_core.verifier import GoldResult

__all__ = ["Dataset", "DatasetError", "Difficulty", "Question", "SkippedQuestion", "GOLD_LIMITS"]

Difficulty = Literal["easy", "medium", "hard", "extra"]
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard", "extra")
#: The difficulties of generated (``procgen``) questions: the rungs of its ladder.
LEVEL_DIFFICULTIES: tuple[str, ...] = tuple(f"level-{level}" for level in range(1, 6))

#: Gold queries are ours (or the benchmark's), not an agent's: they get more room than agents do.
GOLD_LIMITS = SandboxLimits(
    timeout_s=30.0, max_rows=100_000, max_result_bytes=200_000_000, max_cell_chars=1_000_000, max_temp_bytes=4 << 30
)


class DatasetError(ValueError):
    """A dataset could not be loaded or is inconsistent. The message says what was expected."""


@dataclass(frozen=True)
class Question:
    """One task: a natural-language question about one database, and the SQL that answers it.

    Attributes:
        id: unique within its dataset.
        db_id: the database the question is about.
        question: the text shown to the agent.
        gold_sql: the reference query; never shown to the agent during an episode.
        difficulty: ``easy``, ``medium``, ``hard`` or ``extra`` (Spider's "extra hard"); for
            generated (``procgen``) questions their level, ``level-1`` ... ``level-5``.
        split: ``train``, ``eval``, ``dev``, ...
        evidence: extra knowledge shown with the question (BIRD's "evidence"); often empty.
        metadata: anything else the source carried.
    """

    id: str
    db_id: str
    question: str
    gold_sql: str
    difficulty: str = "medium"
    split: str = "train"
    evidence: str = ""
    metadata: dict[str, Any] = field(default_factory=dict[str, Any], compare=False, hash=False)

    @property
    def prompt(self) -> str:
        """The question as the agent sees it, with the evidence when there is some."""
        if self.evidence:
            return f"{self.question}\nEvidence: {self.evidence}"
        return self.question


@dataclass(frozen=True)
class SkippedQuestion:
    """A question a loader left out, and why."""

    id: str
    db_id: str
    reason: str


class Dataset:
    """Questions plus where each database lives, with gold answers computed once and cached.

    Args:
        name: a label for listings and reports (``builtin``, ``spider:dev``, ...).
        questions: the questions, in a stable order.
        databases: ``db_id`` → path of its ``.sqlite`` file.
        skipped: questions left out at load time, with reasons.
        limits: sandbox limits for agent SQL on this dataset.
        gold_cache: where gold answers are kept between runs (default: :meth:`GoldCache.default`,
            the user's cache folder or ``$SQLENV_CACHE_DIR``; ``GoldCache(None)`` keeps nothing).
    """

    def __init__(
        self,
        name: str,
        questions: Iterable[Question],
        databases: dict[str, Path],
        *,
        skipped: Iterable[SkippedQuestion] = (),
        limits: SandboxLimits | None = None,
        gold_cache: GoldCache | None = None,
    ) -> None:
        self.name = name
        self.questions = list(questions)
        self.databases = {k: Path(v) for k, v in databases.items()}
        self.skipped = list(skipped)
        self.limits = limits or SandboxLimits()
        self._by_id: dict[str, Question] = {}
        for q in self.questions:
            if q.id in self._by_id:
                raise DatasetError(f"{name}: duplicate question id {q.id!r}")
            if q.db_id not in self.databases:
                raise DatasetError(f"{name}: question {q.id!r} refers to unknown database {q.db_id!r}")
            self._by_id[q.id] = q
        self._gold: dict[str, GoldResult] = {}
        self._tables: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._gold_cache = gold_cache
        self._on_disk: dict[str, dict[str, GoldEntry]] = {}
        #: Results of deterministic agent SQL, shared by every environment on this dataset.
        self.result_cache = ResultCache()

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, questions={len(self.questions)}, databases={len(self.databases)})"

    def question(self, question_id: str) -> Question:
        """The question with this id; ``KeyError`` with a hint when there is none."""
        try:
            return self._by_id[question_id]
        except KeyError:
            raise KeyError(f"no question {question_id!r} in dataset {self.name!r}") from None

    def db_path(self, db_id: str) -> Path:
        """Where database ``db_id`` lives."""
        return self.databases[db_id]

    def sandbox(self, db_id: str) -> Sandbox:
        """A new sandbox on database ``db_id`` with this dataset's limits (the caller closes it)."""
        return Sandbox(self.databases[db_id], self.limits)

    def table_names(self, db_id: str) -> list[str]:
        """The tables of ``db_id`` (cached: reading them once per database is enough)."""
        tables = self._tables.get(db_id)
        if tables is None:
            with Sandbox(self.databases[db_id], self.limits) as box:
                tables = box.table_names()
            self._tables[db_id] = tables
        return list(tables)

    @property
    def gold_cache(self) -> GoldCache:
        """The on-disk gold cache (resolved from the environment on first use)."""
        if self._gold_cache is None:
            self._gold_cache = GoldCache.default()
        return self._gold_cache

    def gold(self, question_id: str) -> GoldResult:
        """The gold result of a question: from memory, the disk cache, or the sandbox, then kept.

        Raises:
            SandboxError: the gold SQL itself failed.
        """
        cached = self._gold.get(question_id)
        if cached is not None:
            return cached
        run = _GoldRun(self.databases, self.gold_cache, self._on_disk)
        try:
            entry = run.entry(self.question(question_id))
        finally:
            run.close()
        gold = GoldResult(entry.columns, entry.rows, ordered=entry.ordered)
        with self._lock:
            self._gold.setdefault(question_id, gold)
        return self._gold[question_id]

    def compute_gold(
        self, *, drop_unusable: bool = True, progress: Callable[[int, int], None] | None = None
    ) -> list[SkippedQuestion]:
        """Compute (and cache, in memory and on disk) every gold answer, one sandbox per database.

        Answers already in the disk cache (:attr:`gold_cache`) are read instead of run; a gold
        query that fails is never cached, so it is retried next time.

        Args:
            drop_unusable: remove questions whose gold SQL fails or whose result is empty or
                all NULL (they cannot be verified meaningfully) and record them in ``skipped``.
            progress: called as ``progress(done, total)`` after each question.

        Returns:
            The questions skipped by this call.
        """
        skipped: list[SkippedQuestion] = []
        run = _GoldRun(self.databases, self.gold_cache, self._on_disk)
        total = len(self.questions)
        try:
            for i, q in enumerate(self.questions):
                if q.id not in self._gold:
                    try:
                        entry = run.entry(q)
                    except SandboxError as exc:
                        skipped.append(SkippedQuestion(q.id, q.db_id, f"gold SQL failed: {exc}"))
                    else:
                        gold = GoldResult(entry.columns, entry.rows, ordered=entry.ordered)
                        reason = unusable_reason(gold, truncated=entry.truncated)
                        if reason:
                            skipped.append(SkippedQuestion(q.id, q.db_id, reason))
                        else:
                            self._gold[q.id] = gold
                if progress is not None:
                    progress(i + 1, total)
        finally:
            run.close()
        if drop_unusable and skipped:
            gone = {s.id for s in skipped}
            self.questions = [q for q in self.questions if q.id not in gone]
            for qid in gone:
                self._by_id.pop(qid, None)
            self.skipped.extend(skipped)
        return skipped

    def filter(
        self,
        *,
        db_ids: Iterable[str] | None = None,
        difficulties: Iterable[str] | None = None,
        splits: Iterable[str] | None = None,
    ) -> Dataset:
        """A dataset with only the matching questions (sharing this one's gold cache)."""
        dbs = set(db_ids) if db_ids is not None else None
        diffs = set(difficulties) if difficulties is not None else None
        spl = set(splits) if splits is not None else None
        if dbs is not None:
            unknown = dbs - set(self.databases)
            if unknown:
                raise DatasetError(
                    f"unknown db_id {', '.join(sorted(unknown))}; known: {', '.join(sorted(self.databases))}"
                )
        if diffs is not None:
            bad = diffs - set(DIFFICULTIES) - set(LEVEL_DIFFICULTIES)
            if bad:
                raise DatasetError(
                    f"unknown difficulty {', '.join(sorted(bad))}; use {', '.join(DIFFICULTIES)} "
                    f"(or, for procgen, {', '.join(LEVEL_DIFFICULTIES)})"
                )
        kept = [
            q
            for q in self.questions
            if (dbs is None or q.db_id in dbs)
            and (diffs is None or q.difficulty in diffs)
            and (spl is None or q.split in spl)
        ]
        sub = Dataset(
            self.name,
            kept,
            {d: p for d, p in self.databases.items() if dbs is None or d in dbs},
            skipped=[s for s in self.skipped if dbs is None or s.db_id in dbs],
            limits=self.limits,
            gold_cache=self._gold_cache,
        )
        # Same questions, same gold: share the caches.
        sub._gold = self._gold
        sub._on_disk = self._on_disk
        sub._tables = self._tables
        sub.result_cache = self.result_cache
        return sub

    def counts(self) -> dict[str, Counter[str]]:
        """Question counts per database, split and difficulty (for listings)."""
        return {
            "db_id": Counter(q.db_id for q in self.questions),
            "split": Counter(q.split for q in self.questions),
            "difficulty": Counter(q.difficulty for q in self.questions),
        }


class _GoldRun:
    """One pass over questions: a sandbox per database, its disk entries read once.

    ``on_disk`` is the dataset's own map of what each database's cache file held, so a file read by
    one pass (or by :meth:`Dataset.gold`) is not read again by the next.
    """

    def __init__(self, databases: dict[str, Path], cache: GoldCache, on_disk: dict[str, dict[str, GoldEntry]]) -> None:
        self.databases = databases
        self.cache = cache
        self.boxes: dict[str, Sandbox] = {}
        self.on_disk = on_disk
        self.fresh: dict[str, dict[str, GoldEntry]] = {}

    def entry(self, q: Question) -> GoldEntry:
        """The gold entry of ``q``: from the disk cache, else run (``SandboxError`` when it fails)."""
        if q.db_id not in self.on_disk:
            self.on_disk[q.db_id] = self.cache.load(self.databases[q.db_id])
        key = entry_key(q.gold_sql, GOLD_LIMITS)
        entry = self.on_disk[q.db_id].get(key)
        if entry is None:
            box = self.boxes.get(q.db_id)
            if box is None:
                box = self.boxes[q.db_id] = Sandbox(self.databases[q.db_id], GOLD_LIMITS)
            entry = _run_gold(box, q.gold_sql)
            self.fresh.setdefault(q.db_id, {})[key] = entry
        return entry

    def close(self) -> None:
        """Close the sandboxes and write what was computed to the disk cache."""
        for box in self.boxes.values():
            box.close()
        for db_id, entries in self.fresh.items():
            self.cache.store(self.databases[db_id], entries)


def _run_gold(box: Sandbox, gold_sql: str) -> GoldEntry:
    """Run a gold query in the gold sandbox (``SandboxError`` when it fails)."""
    result = box.execute(gold_sql)
    return GoldEntry(result.columns, result.rows, ordered=is_ordered(gold_sql), truncated=result.truncated)


def unusable_reason(gold: GoldResult, *, truncated: bool = False) -> str:
    """Why a gold result cannot be used to verify answers ('' when it can)."""
    if truncated:
        return "gold result too large to verify"
    if not gold.rows:
        return "gold result is empty"
    if all(v is None for row in gold.rows for v in row):
        return "gold result is all NULL"
    return ""
