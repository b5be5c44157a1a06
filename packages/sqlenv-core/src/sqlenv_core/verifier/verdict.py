"""The verdict on an ANSWER: right or wrong, with a short reason a person or an agent can act on."""

from __future__ import annotations

from dataclasses import dataclass

from sqlenv_core.protocol import MAX_ARGUMENT_CHARS
from sqlenv_core.verifier.answers import Rows, answer_readings, strip_wrappers
from sqlenv_core.verifier.cells import DEFAULT_FLOAT_TOLERANCE, canonical_rows, common_width
from sqlenv_core.verifier.compare import (
    DEFAULT_COMPARISON_BUDGET,
    Budget,
    best_alignment,
    compare_canonical,
    count_unmatched,
    first_mismatch,
)
from sqlenv_core.verifier.gold import GoldResult, GoldView

__all__ = ["MAX_ANSWER_CHARS", "MAX_ANSWER_VALUES", "Verdict", "verify"]

#: Longest answer text :func:`verify` reads; longer answers are judged wrong without being parsed.
#: The same as an action's argument limit (:data:`~sqlenv_core.protocol.MAX_ARGUMENT_CHARS`):
#: about 25,000 tokens, more than any model writes as an answer (the largest Spider dev gold is
#: 28,000 characters of JSON). A question whose gold result is larger allows proportionally more
#: (see :attr:`GoldView.answer_room`).
MAX_ANSWER_CHARS = MAX_ARGUMENT_CHARS
#: Most values an answer may hold, counted before parsing as its separators plus one (commas,
#: line breaks, tabs and pipes: an overcount for tables, never an undercount); ten times the
#: largest Spider dev gold (1,860 cells), and more for a question whose gold result is larger.
#: More are judged wrong without being parsed.
MAX_ANSWER_VALUES = 20_000
_SEPARATORS = (",", "\n", "\t", "|")


@dataclass(frozen=True)
class Verdict:
    """Whether an answer is right, and a short reason a person (or an agent) can read."""

    correct: bool
    reason: str


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(frozen=True)
class _Judgement:
    verdict: Verdict
    closeness: int  # how far the reading got: 0 wrong size, 1 wrong width, 2 same shape


def _judge(rows: Rows, view: GoldView, ordered: bool, tolerance: float, budget: Budget) -> _Judgement:
    expected_rows, got_rows = len(view.rows), len(rows)
    if got_rows != expected_rows:
        return _Judgement(Verdict(False, f"expected {_plural(expected_rows, 'row')}, got {got_rows}"), 0)
    width = common_width(rows)
    if width is None:
        return _Judgement(Verdict(False, "the rows of the answer have different numbers of values"), 1)
    if width != view.width:
        return _Judgement(Verdict(False, f"expected {_plural(view.width, 'column')}, got {width}"), 1)
    pred = canonical_rows(rows)
    comparison = compare_canonical(pred, view.rows, ordered=ordered, tolerance=tolerance, budget=budget)
    if comparison.match:
        return _Judgement(Verdict(True, "correct"), 3)
    if comparison.order_only:
        return _Judgement(Verdict(False, "right rows, but the order differs from the gold's ORDER BY"), 2)
    best = best_alignment(pred, view)
    projected = [tuple(row[i] for i in best) for row in pred]
    index = first_mismatch(projected, view.rows, ordered, tolerance)
    wrong = count_unmatched(projected, view.rows)
    where = f"row {index}" if index else "the rows"
    detail = f" ({wrong} of {_plural(expected_rows, 'row')} differ)" if expected_rows > 1 and wrong else ""
    if comparison.exhausted:
        detail += "; the comparison stopped at its work limit"
    return _Judgement(Verdict(False, f"value mismatch in {where}{detail}"), 2)


def verify(
    answer_text: str,
    gold: GoldResult,
    *,
    float_tolerance: float = DEFAULT_FLOAT_TOLERANCE,
    max_answer_chars: int = MAX_ANSWER_CHARS,
    max_answer_values: int = MAX_ANSWER_VALUES,
    max_comparisons: int = DEFAULT_COMPARISON_BUDGET,
) -> Verdict:
    """Judge ``answer_text`` against ``gold``.

    The answer may be a scalar (``42``, ``Paris``), a list (``["a", "b"]`` or ``a, b``, or one
    value per line), or a table (``[["a", 1], ["b", 2]]``, a JSON list of objects, or a pipe
    table as the observations show it). Code fences, an ``Answer:`` prefix and quotes around
    the whole answer are ignored. Where the text can be read in several ways (``Smith, John`` is
    one name or two), the gold's shape decides which reading is tried first and any reading that
    matches is accepted. Rows and cells are then compared as in :func:`results_match`.

    Args:
        answer_text: what the agent wrote.
        gold: the gold result.
        float_tolerance: relative tolerance for non-integral numbers.
        max_answer_chars: answers longer than this are judged wrong without being read.
        max_answer_values: answers holding more values than this (counted as their separators
            plus one, before parsing) are judged wrong without being parsed.
        max_comparisons: cells the column-order searches of all readings together may visit
            (see :func:`results_match`); it bounds the time of any verdict.

    Returns:
        The verdict and a short reason (``"expected 3 rows, got 2"``, ``"value mismatch in row
        1"``, ...). Never raises, whatever the text.
    """
    try:
        limits = (max_answer_chars, max_answer_values)
        return _verify(answer_text, gold, float_tolerance, limits, Budget(max_comparisons))
    except Exception as exc:  # a verdict must come back for any input, even after a bug
        return Verdict(False, f"the answer could not be judged ({type(exc).__name__})")


def _verify(answer_text: str, gold: GoldResult, tolerance: float, limits: tuple[int, int], budget: Budget) -> Verdict:
    text = answer_text if isinstance(answer_text, str) else str(answer_text)  # pyright: ignore[reportUnnecessaryIsInstance]
    # A correct answer to a large gold must fit: the limits grow with the gold (its size is the
    # dataset's, not the agent's). The reason is the same text whatever the gold's size: it must
    # not tell an agent that probes with an oversized answer whether the expected result is large.
    room_chars, room_values = gold.view.answer_room
    max_chars, max_values = limits
    more = ", or more where the expected result is larger"
    if len(text) > max(max_chars, room_chars):
        return Verdict(False, f"answer too long ({len(text):,} characters; the limit is {max_chars:,}{more})")
    values = sum(map(text.count, _SEPARATORS)) + 1  # C-level passes: bounded before any parsing
    if values > max(max_values, room_values):
        counted = f"{values:,} values, counting its commas, line breaks, tabs and pipes"
        return Verdict(False, f"answer too long ({counted}; the limit is {max_values:,}{more})")
    text = strip_wrappers(text)
    if not text:
        return Verdict(False, "empty answer: write the value(s), e.g. 42, Paris, or a JSON list of rows")
    view = gold.view
    best: _Judgement | None = None
    for rows in answer_readings(text, view):
        judgement = _judge(rows, view, gold.ordered, tolerance, budget)
        if judgement.verdict.correct:
            return judgement.verdict
        if best is None or judgement.closeness > best.closeness:
            best = judgement
    assert best is not None  # every reader yields at least one reading
    return best.verdict
