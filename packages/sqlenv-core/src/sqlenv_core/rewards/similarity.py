"""Partial credit for the dense reward: how close a QUERY's result is to the gold result, in [0, 1].

It is 1.0 exactly when :func:`sqlenv_core.verifier.results_match` holds (with the gold's ordering),
and a smooth score below that otherwise; see :func:`result_similarity`.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

from sqlenv_core.protocol import Cell
from sqlenv_core.verifier.cells import (
    DEFAULT_FLOAT_TOLERANCE,
    Canon,
    canonical_columns,
    common_width,
    similarity_columns,
)
from sqlenv_core.verifier.compare import (
    DEFAULT_COMPARISON_BUDGET,
    Budget,
    assign_columns,
    column_overlaps,
    compare_canonical,
    f1,
    multiset_overlap,
)
from sqlenv_core.verifier.gold import GoldResult, GoldView

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
    columns = canonical_columns(head)
    exact = not view.has_float and not any(float in set(map(type, column)) for column in columns)
    if exact and view.cell_counts.keys().isdisjoint(itertools.chain.from_iterable(columns)):
        return 0.0  # no value in common: no column overlaps, no row matches
    keyed = similarity_columns(columns) if not exact else columns
    counts = [Counter(column) for column in keyed]
    if total_pred == len(view.rows) and width == view.width and (not exact or _could_match(columns, counts, view)):
        pred = list(zip(*columns, strict=True))
        comparison = compare_canonical(
            pred, view.rows, ordered=gold.ordered, tolerance=float_tolerance, budget=Budget(max_comparisons)
        )
        if comparison.match:
            return 1.0
    return _partial_credit(keyed, counts, len(head), total_pred, view, ordered=gold.ordered)


def _could_match(columns: list[Sequence[Canon]], counts: list[Counter[Canon]], view: GoldView) -> bool:
    """A cheap necessary condition for a match without floats, so most results skip the search.

    Equality is then exact: a match needs every cell of the gold once, and each gold column's
    values in some predicted column.
    """
    if Counter(itertools.chain.from_iterable(columns)) != view.cell_counts:
        return False
    return Counter(frozenset(c.items()) for c in counts) == Counter(frozenset(c.items()) for c in view.column_keys)


def _partial_credit(
    keyed: list[Sequence[Canon]],
    counts: list[Counter[Canon]],
    rows_read: int,
    total_pred: int,
    view: GoldView,
    *,
    ordered: bool,
) -> float:
    width = len(keyed)
    scores = column_overlaps(counts, rows_read, view)
    # Overlaps were computed on the rows read; the rest of the result only dilutes precision.
    dilution = rows_read / total_pred
    assignment = assign_columns(scores, view.width, width)
    pairs = [(j, i) for j, i in enumerate(assignment) if i >= 0]
    if not pairs:
        return 0.0
    column_credit = sum(scores[j][i] for j, i in pairs) / view.width * dilution
    gold_sequence, gold_counts = view.projection(tuple(j for j, _ in pairs))
    pred_projected = list(zip(*[keyed[i] for _, i in pairs], strict=True))
    overlap = multiset_overlap(gold_counts, Counter(pred_projected))
    coverage = len(pairs) / view.width
    row_credit = f1(overlap, total_pred, len(view.rows)) * coverage
    score = 0.5 * column_credit + 0.5 * row_credit
    if width > view.width:
        score *= math.sqrt(view.width / width)
    if ordered and len(view.rows) > 1:
        in_place = sum(1 for p, g in zip(pred_projected, gold_sequence, strict=False) if p == g)
        score *= 0.75 + 0.25 * in_place / len(view.rows)
    return max(0.0, min(score, _SIMILARITY_CEILING))
