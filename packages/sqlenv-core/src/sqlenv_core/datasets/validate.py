"""Check that every question of a dataset can be answered and verified fairly.

For each question: the database file exists and opens; the gold SQL runs in the sandbox; its
result is non-empty and not all NULL; the result does not depend on an arbitrary row order (a
``LIMIT`` without ``ORDER BY`` that drops rows, ties at a ``LIMIT`` boundary, an ``ORDER BY`` the
question never asks for); and an oracle that answers with the gold result is judged correct
within the default step budget (the oracle episode runs in :mod:`sqlenv_core.validate`, above the
environment; this module checks what needs no environment).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from sqlenv_core.datasets.base import GOLD_LIMITS, Dataset, Question, SkippedQuestion, unusable_reason
from sqlenv_core.protocol import Cell
from sqlenv_core.sandbox import Sandbox, SandboxError
from sqlenv_core.verifier import GoldResult

__all__ = ["DatasetChecker", "Problem", "Severity", "ValidationReport", "check_dataset", "strip_limit"]

Severity = Literal["error", "warning"]

#: Words that mean the question itself asks for its answer in some order.
_ORDER_WORDS = re.compile(
    r"\b(order(ed)?|sort(ed)?|ascending|descending|alphabetic(al|ally)?|rank(ed|ing)?|"
    r"increasing|decreasing|from (the )?(highest|lowest|largest|smallest|most|least|oldest|youngest|"
    r"newest|latest|earliest|first|last)|(highest|lowest|largest|smallest|oldest|newest) to|"
    r"top \d+|first \d+|chronological(ly)?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (``error``) or doubtful (``warning``) with one question.

    Attributes:
        question_id: the question ('' for a problem with a whole database).
        db_id: its database.
        severity: ``error`` (the question cannot be verified fairly) or ``warning``.
        code: a stable kind: ``db_missing``, ``db_unreadable``, ``gold_failed``, ``gold_empty``,
            ``gold_all_null``, ``gold_too_large``, ``limit_without_order``, ``limit_tie``,
            ``order_not_asked``, ``tie_check_failed``, ``oracle_failed``.
        message: what is wrong and what to do about it.
    """

    question_id: str
    db_id: str
    severity: Severity
    code: str
    message: str


@dataclass
class ValidationReport:
    """What :func:`validate_dataset` found.

    Attributes:
        dataset: the dataset's name.
        checked: questions checked.
        problems: every problem found, in question order.
        skipped: questions the loader had already left out, with reasons.
        oracle_solved: questions the oracle answered correctly (``None`` when not run).
    """

    dataset: str
    checked: int = 0
    problems: list[Problem] = field(default_factory=list[Problem])
    skipped: list[SkippedQuestion] = field(default_factory=list[SkippedQuestion])
    oracle_solved: int | None = None

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems of severity ``warning``."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def counts(self) -> dict[str, int]:
        """Problems per ``severity:code``, for summaries."""
        return dict(sorted(Counter(f"{p.severity}:{p.code}" for p in self.problems).items()))

    def questions_with_errors(self) -> int:
        """How many distinct questions have at least one error."""
        return len({p.question_id for p in self.errors})

    def summary(self) -> str:
        """A few lines a person can read, whose counts add up.

        Example::

            spider:dev: 623 questions = 579 checked + 44 skipped at load time
              skipped: 40 gold result is empty, 4 gold result is all NULL
              checked: 555 without errors + 24 with errors; 0 warnings
              errors: 24 limit_tie
            oracle solved 579/579 checked questions
        """
        with_errors = len({p.question_id for p in self.errors if p.question_id})
        total = self.checked + len(self.skipped)
        lines = [
            f"{self.dataset}: {total} questions = {self.checked} checked + {len(self.skipped)} skipped at load time"
        ]
        if self.skipped:
            reasons = Counter(s.reason.split(":")[0] for s in self.skipped)
            lines.append("  skipped: " + ", ".join(f"{n} {reason}" for reason, n in reasons.most_common()))
        lines.append(
            f"  checked: {self.checked - with_errors} without errors + {with_errors} with errors; "
            f"{len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}"
        )
        for severity, problems in (("errors", self.errors), ("warnings", self.warnings)):
            kinds = Counter(p.code for p in problems)
            if kinds:
                lines.append(f"  {severity}: " + ", ".join(f"{n} {code}" for code, n in kinds.most_common()))
        databases = sum(1 for p in self.errors if not p.question_id)
        if databases:
            lines.append(f"  ({databases} of the errors concern a whole database, not one question)")
        if self.oracle_solved is not None:
            note = ""
            if with_errors and self.oracle_solved > self.checked - with_errors:
                note = " (it answers with the gold result itself, so a question with an error can still be solved)"
            lines.append(f"oracle solved {self.oracle_solved}/{self.checked} checked questions{note}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form of the report."""
        return {
            "dataset": self.dataset,
            "checked": self.checked,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "oracle_solved": self.oracle_solved,
            "counts": self.counts(),
            "problems": [p.__dict__ for p in self.problems],
            "skipped": [s.__dict__ for s in self.skipped],
        }


def _parse(sql: str) -> Any:
    # Any: sqlglot renamed its node base class across versions (Expression → Expr).
    try:
        return sqlglot.parse_one(sql, read="sqlite")
    except (SqlglotError, ValueError, RecursionError):
        return None


def strip_limit(sql: str) -> str | None:
    """``sql`` without its outermost ``LIMIT``/``OFFSET`` (``None`` when it has none or will not parse)."""
    tree = _parse(sql)
    if not isinstance(tree, exp.Query) or tree.args.get("limit") is None:
        return None
    tree = tree.copy()
    tree.set("limit", None)
    tree.set("offset", None)
    return tree.sql(dialect="sqlite")


def _limit_offset(tree: exp.Query) -> tuple[int | None, int]:
    def number(node: Any) -> int | None:
        value = node.args.get("expression") if isinstance(node, exp.Limit | exp.Offset) else node
        if isinstance(value, exp.Literal) and value.is_int:
            return int(value.this)
        return None

    limit = number(tree.args.get("limit"))
    offset_node = tree.args.get("offset")
    offset = number(offset_node) if offset_node is not None else 0
    return limit, offset or 0


def _order_key_query(tree: exp.Query) -> tuple[str, int] | None:
    """The query without LIMIT, with its ORDER BY keys appended as the last columns.

    Keys that name a select alias or a position are replaced by the aliased expression, since
    SQLite does not let a select list refer to its own aliases.
    """
    if not isinstance(tree, exp.Select):
        return None
    order = tree.args.get("order")
    if order is None:
        return None
    projections = list(tree.expressions)
    aliases = {p.alias.lower(): p.this for p in projections if isinstance(p, exp.Alias) and p.alias}
    keys: list[Any] = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int and 1 <= int(key.this) <= len(projections):
            picked = projections[int(key.this) - 1]
            key = picked.this if isinstance(picked, exp.Alias) else picked
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in aliases:
            key = aliases[key.name.lower()]
        keys.append(exp.alias_(key.copy(), f"__sqlenv_key{len(keys)}"))
    rewritten = tree.copy()
    rewritten.set("limit", None)
    rewritten.set("offset", None)
    # The original columns stay: GROUP BY / HAVING may refer to their aliases.
    rewritten.set("expressions", [p.copy() for p in projections] + keys)
    return rewritten.sql(dialect="sqlite"), len(keys)


def _tie_at_boundary(keys: Sequence[Sequence[Cell]], kept_end: int) -> bool:
    return 0 < kept_end < len(keys) and tuple(keys[kept_end - 1]) == tuple(keys[kept_end])


class DatasetChecker:
    """The checks of one validation run, question by question, with the problems they found.

    Args:
        dataset: the dataset being checked.
        report: where problems are recorded.
    """

    def __init__(self, dataset: Dataset, report: ValidationReport) -> None:
        self.dataset = dataset
        self.report = report
        self.boxes: dict[str, Sandbox] = {}

    def add(self, q: Question, severity: Severity, code: str, message: str) -> None:
        """Record one problem with question ``q``."""
        self.report.problems.append(Problem(q.id, q.db_id, severity, code, message))

    def close(self) -> None:
        """Close the sandboxes opened for the checks."""
        for box in self.boxes.values():
            box.close()

    def usable_databases(self) -> dict[str, str]:
        """``db_id`` → why it cannot be used, for every database that is missing or unreadable."""
        broken: dict[str, str] = {}
        for db_id, path in self.dataset.databases.items():
            if not path.is_file():
                broken[db_id] = f"database file not found: {path}"
                continue
            box = Sandbox(path, GOLD_LIMITS)
            try:
                box.table_names()
            except (SandboxError, sqlite3.Error) as exc:
                broken[db_id] = f"database {path} does not open: {exc}"
                box.close()
                continue
            self.boxes[db_id] = box
        return broken

    def check_gold(self, q: Question) -> list[tuple[Cell, ...]] | None:
        """Run the gold SQL; its rows, or ``None`` (and a problem) when it fails or is unusable."""
        box = self.boxes[q.db_id]
        try:
            result = box.execute(q.gold_sql)
        except SandboxError as exc:
            self.add(q, "error", "gold_failed", f"gold SQL fails: {exc}")
            return None
        reason = unusable_reason(GoldResult(result.columns, result.rows), truncated=result.truncated)
        if reason:
            code = {"gold result is empty": "gold_empty", "gold result is all NULL": "gold_all_null"}.get(
                reason, "gold_too_large"
            )
            self.add(q, "error", code, f"{reason}; fix the gold SQL or drop the question")
            return None
        return result.rows

    def check_order(self, q: Question, rows: Sequence[tuple[Cell, ...]]) -> None:
        """Flag results that depend on an arbitrary row order (LIMIT without ORDER BY, ties, unasked order)."""
        tree = _parse(q.gold_sql)
        if not isinstance(tree, exp.Query):
            return
        has_order = tree.args.get("order") is not None
        has_limit = tree.args.get("limit") is not None
        if not has_limit:
            if has_order and len(rows) > 1 and not _ORDER_WORDS.search(q.question):
                self.add(
                    q,
                    "warning",
                    "order_not_asked",
                    "gold SQL orders its result but the question does not ask for an order; "
                    "answers in another order will be judged wrong",
                )
            return
        box = self.boxes[q.db_id]
        _, offset = _limit_offset(tree)
        kept_end = offset + len(rows)
        if not has_order:
            unlimited = strip_limit(q.gold_sql)
            try:
                full = box.execute(unlimited, max_rows=kept_end + 1) if unlimited else None
            except SandboxError:
                full = None
            if full is not None and len(full.rows) > kept_end:
                self.add(
                    q,
                    "error",
                    "limit_without_order",
                    "LIMIT without ORDER BY keeps an arbitrary subset of rows; add an ORDER BY that makes it unique",
                )
            else:
                self.add(q, "warning", "limit_without_order", "LIMIT without ORDER BY (drops no rows here)")
            return
        key_sql = _order_key_query(tree)
        try:
            if key_sql is None:
                raise SandboxError("sql_error", "ORDER BY keys of a compound query cannot be isolated")
            sql, n_keys = key_sql
            keys = [row[-n_keys:] for row in box.execute(sql, max_rows=kept_end + 1).rows]
        except SandboxError as exc:
            self.add(q, "warning", "tie_check_failed", f"could not check ties at the LIMIT: {exc}")
            return
        if _tie_at_boundary(keys, kept_end):
            self.add(
                q,
                "error",
                "limit_tie",
                f"rows {kept_end} and {kept_end + 1} tie on the ORDER BY keys {list(keys[kept_end])!r}, so "
                "the LIMIT picks arbitrarily among equals; add a tie-breaker or rephrase the question",
            )


def check_dataset(
    dataset: Dataset,
    *,
    after_gold: Callable[[DatasetChecker, Question], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Run the checks that need no environment on every question of ``dataset``.

    Args:
        dataset: the dataset.
        after_gold: called for each question whose gold SQL passed (the oracle episode hooks in here).
        progress: ``progress(done, total)`` after each question.

    Returns:
        The report; ``report.ok`` is false when any question has an error.
    """
    report = ValidationReport(dataset=dataset.name, skipped=list(dataset.skipped))
    checker = DatasetChecker(dataset, report)
    try:
        broken = checker.usable_databases()
        for db_id, reason in broken.items():
            report.problems.append(
                Problem("", db_id, "error", "db_missing" if "not found" in reason else "db_unreadable", reason)
            )
        total = len(dataset.questions)
        for done, q in enumerate(dataset.questions, 1):
            report.checked += 1
            if q.db_id in broken:
                checker.add(q, "error", "db_missing", broken[q.db_id])
            else:
                rows = checker.check_gold(q)
                if rows is not None:
                    checker.check_order(q, rows)
                    if after_gold is not None:
                        after_gold(checker, q)
            if progress is not None:
                progress(done, total)
    finally:
        checker.close()
    return report
