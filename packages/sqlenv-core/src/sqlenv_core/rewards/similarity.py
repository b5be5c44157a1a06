"""Partial credit for the dense reward: how close a QUERY's result is to the gold result, in [0, 1].

It is 1.0 exactly when :func:`sqlenv_core.verifier.results_match` holds (with the gold's ordering),
and a smooth score below that otherwise; see :func:`result_similarity`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from sqlenv_core.protocol import Cell
from sqlenv_core.verifier.cells import DEFAULT_FLOAT_TOLERANCE, CanonRow, canonical_rows, common_width
from sqlenv_core.verifier.compare import (
    DEFAULT_COMPARISON_BUDGET,
    Budget,
    assign_columns,
    column_overlaps,
    compare_canonical,
    f1,
)
from sqlenv_core.verifier.gold import GoldResult, GoldView, keyed

__all__ = ["result_similarity"]

# result_similarity looks at this many predicted rows at most (it runs on every QUERY).
_SIMILARITY_MAX_ROWS = 5_000
# A wrong result never gets full credit, so that the progress term still rewards the last fix.
_SIMILARITY_CEILING = 0.99


def result_similarity(
    predicted_rows: Sequence[Sequence[Cell]],
    gold: GoldResult,
    *,
    float_tolerance: float = DEFAULT_FLOAT_TOLERANCE,
    max_comparisons: int = DEFAULT_COMPARISON_BUDGET,
) -> float:
    """How close a query result is to the gold result, in [0, 1].

    1.0 exactly when :func:`results_match` holds (with the gold's ordering); otherwise a smooth
    partial credit below 1: half for the values of each gold column found in some predicted
    column, half for whole gold rows found (projected on those columns), scaled down for extra
    columns and, when the gold is ordered, for rows out of place. Gold is normalised once per
    ``GoldResult`` object; at most a few thousand predicted rows are read.

    Args:
        predicted_rows: the rows a query returned.
        gold: the gold result.
        float_tolerance: relative tolerance for the exact-match test.
        max_comparisons: cells the exact-match test's column-order search may visit (the same
            bound as :func:`results_match`'s, so that 1.0 still means exactly a match).
    """
    if predicted_rows == gold.rows:  # the gold query itself, typically: nothing to normalise
        return 1.0
    view = gold.view
    total_pred = len(predicted_rows)
    if total_pred == 0 or not view.rows:
        return 1.0 if total_pred == 0 and not view.rows else 0.0
    head = predicted_rows[:_SIMILARITY_MAX_ROWS]
    width = common_width(head)
    if width is None or width == 0:
        return 0.0
    pred = canonical_rows(head)
    if total_pred == len(view.rows) and width == view.width:
        comparison = compare_canonical(
            pred, view.rows, ordered=gold.ordered, tolerance=float_tolerance, budget=Budget(max_comparisons)
        )
        if comparison.match:
            return 1.0
    return _partial_credit(pred, total_pred, view, ordered=gold.ordered)


def _partial_credit(pred: list[CanonRow], total_pred: int, view: GoldView, *, ordered: bool) -> float:
    width = len(pred[0])
    keyed_pred = keyed(pred)
    scores = column_overlaps(keyed_pred, view, width)
    # Overlaps were computed on the rows read; the rest of the result only dilutes precision.
    dilution = len(pred) / total_pred
    assignment = assign_columns(scores, view.width, width)
    pairs = [(j, i) for j, i in enumerate(assignment) if i >= 0]
    if not pairs:
        return 0.0
    column_credit = sum(scores[j][i] for j, i in pairs) / view.width * dilution
    gold_sequence = [tuple([row[j] for j, _ in pairs]) for row in view.keyed_rows]
    gold_projected = Counter(gold_sequence)
    pred_projected = [tuple([row[i] for _, i in pairs]) for row in keyed_pred]
    overlap = sum((gold_projected & Counter(pred_projected)).values())
    coverage = len(pairs) / view.width
    row_credit = f1(overlap, total_pred, len(view.rows)) * coverage
    score = 0.5 * column_credit + 0.5 * row_credit
    if width > view.width:
        score *= math.sqrt(view.width / width)
    if ordered and len(view.rows) > 1:
        in_place = sum(1 for p, g in zip(pred_projected, gold_sequence, strict=False) if p == g)
        score *= 0.75 + 0.25 * in_place / len(view.rows)
    return max(0.0, min(score, _SIMILARITY_CEILING))
