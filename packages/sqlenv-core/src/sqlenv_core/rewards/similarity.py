"""Partial credit for the dense reward: how close a QUERY's result is to the gold result, in [0, 1].

It is 1.0 exactly when :func:`sqlenv_core.verifier.results_match` holds (with the gold's ordering),
and a smooth score below that otherwise; see :func:`result_similarity`.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from types import NoneType
from typing import TypeVar, cast

from sqlenv_core.protocol import Cell
from sqlenv_core.verifier.cells import (
    DEFAULT_FLOAT_TOLERANCE,
    Canon,
    canonical_cell,
    canonical_column,
    canonical_columns,
    common_width,
    similarity_columns,
    similarity_key,
)
from sqlenv_core.verifier.compare import (
    DEFAULT_COMPARISON_BUDGET,
    Budget,
    assign_columns,
    compare_canonical,
    f1,
    multiset_overlap,
)
from sqlenv_core.verifier.gold import GoldResult, GoldView

__all__ = ["SIMILARITY_MAX_CELLS", "result_similarity", "scaled_overlap"]

_K = TypeVar("_K")

#: Cells of a predicted result that :func:`result_similarity` reads at most (it runs on every
#: QUERY). A larger result that cannot match the gold (a different row count or width) is read
#: through an evenly spaced sample of its rows, and its overlaps with the gold are scaled up.
SIMILARITY_MAX_CELLS = 10_000
# ... and at most this many rows, however narrow.
_SIMILARITY_MAX_ROWS = 5_000
# A wrong result never gets full credit, so that the progress term still rewards the last fix.
_SIMILARITY_CEILING = 0.99
# Integral floats below this keep every digit when printed with seven significant digits, so the
# C-level folding of a float column (see _keyed_column) keeps them exact, as similarity_key does.
_EXACT_FOLD_BELOW = 1e7
_FOLD = "{:.7g}".format
_INT_OR_NULL = frozenset({int, type(None)})
_NUMBER_OR_NULL = frozenset({int, float, type(None)})
# The keys of numbers seen in float columns (and NULL's), so that a column of known values is
# keyed in one C-level pass of lookups: a database's floats come back query after query. Emptied
# when it holds this many.
_MAX_NUMBER_KEYS = 65_536
_NUMBER_KEYS: dict[Cell, Canon] = {None: None}


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
    ``GoldResult`` object.

    The work is bounded by design: a result of the gold's size and width (the only kind that can
    match) is read whole, since its size is the gold's; any other is read through at most
    :data:`SIMILARITY_MAX_CELLS` cells (an evenly spaced sample of its rows, every k-th row
    from the first), and the overlaps found in the sample are scaled to the whole result.

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
    first_width = len(predicted_rows[0])
    if total_pred == len(view.rows) and first_width == view.width:
        return _same_shape(predicted_rows, gold, view, float_tolerance, max_comparisons)
    most_rows = max(1, min(_SIMILARITY_MAX_ROWS, SIMILARITY_MAX_CELLS // max(first_width, 1)))
    stride = -(-total_pred // most_rows)
    sample = predicted_rows[::stride] if stride > 1 else predicted_rows
    try:
        columns = list(zip(*sample, strict=True))
    except ValueError:  # rows of different lengths (a result never has them)
        return 0.0
    if not columns:
        return 0.0
    keyed = [_keyed_column(column) for column in columns]
    # Only values the gold holds can count towards an overlap: the rest are not counted at all.
    in_gold = view.key_set.__contains__
    counts = [Counter(filter(in_gold, column)) for column in keyed]
    if not any(counts):
        return 0.0  # no value in common: no column overlaps, no row matches
    return _partial_credit(keyed, counts, stride, total_pred, view, ordered=gold.ordered)


def _same_shape(
    predicted_rows: Sequence[Sequence[Cell]], gold: GoldResult, view: GoldView, tolerance: float, max_comparisons: int
) -> float:
    """The similarity of a result with the gold's row count and width: the one case that may match."""
    width = common_width(predicted_rows)
    if width is None or width == 0:
        return 0.0
    columns = canonical_columns(predicted_rows)
    exact = not view.has_float and not any(float in set(map(type, column)) for column in columns)
    if exact and view.cell_counts.keys().isdisjoint(itertools.chain.from_iterable(columns)):
        return 0.0  # no value in common: no column overlaps, no row matches
    keyed = similarity_columns(columns) if not exact else columns
    counts = [Counter(column) for column in keyed]
    if not exact or _could_match(columns, counts, view):
        pred = list(zip(*columns, strict=True))
        comparison = compare_canonical(
            pred, view.rows, ordered=gold.ordered, tolerance=tolerance, budget=Budget(max_comparisons)
        )
        if comparison.match:
            return 1.0
    return _partial_credit(keyed, counts, 1, len(predicted_rows), view, ordered=gold.ordered)


def _keyed_column(values: Sequence[Cell]) -> Sequence[Canon]:
    """One column's similarity keys (see :func:`similarity_key`).

    Columns of numbers and NULLs (the costly kind: two Python calls per cell otherwise) are keyed
    with C-level ``map`` calls or one small function per cell; their keys equal, and hash like,
    those of the canonical cells.
    """
    first = values[0].__class__ if values else None
    if first is str:
        return _text_keys(canonical_column(values))
    if first is float or first is NoneType:
        try:  # numbers seen before, the commonest case (a key equals its number when it is an int)
            return list(map(_NUMBER_KEYS.__getitem__, values))
        except (KeyError, TypeError):  # a number not seen yet, or a value of another kind
            pass
    kinds = set(map(type, values))
    if kinds <= _INT_OR_NULL:
        return values  # pyright: ignore[reportReturnType]  (canonical already)
    if float in kinds and kinds <= _NUMBER_OR_NULL:
        keys: list[Canon] | None = None
        if len(kinds) == 1:
            floats = cast("Sequence[float]", values)
            if not any(map(math.isnan, floats)) and max(map(abs, floats)) < _EXACT_FOLD_BELOW:
                keys = list(map(float, map(_FOLD, floats)))
        if keys is None:
            keys = list(map(_number_key, values))
            if "nan" in keys:  # NaN (canonical "nan") equals no other NaN: nothing to look up later
                return keys
        if len(_NUMBER_KEYS) + len(keys) > _MAX_NUMBER_KEYS:
            _NUMBER_KEYS.clear()
            _NUMBER_KEYS[None] = None
        _NUMBER_KEYS.update(zip(values, keys, strict=True))
        return keys
    return _text_keys(canonical_column(values))


def _text_keys(canonical: Sequence[Canon]) -> Sequence[Canon]:
    # Numeric text is a number once canonical: its floats are folded like any.
    if float in set(map(type, canonical)):
        return list(map(similarity_key, canonical))
    return canonical


def _number_key(value: Cell) -> Canon:
    """The similarity key of an int, float or NULL cell (that of its canonical cell)."""
    if value.__class__ is not float:
        return value  # an int or NULL: canonical already, and its own key
    number = cast("float", value)
    if -_EXACT_FOLD_BELOW < number < _EXACT_FOLD_BELOW:  # NaN fails both tests
        return float(_FOLD(number))
    return similarity_key(canonical_cell(number))


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
    stride: int,
    total_pred: int,
    view: GoldView,
    *,
    ordered: bool,
) -> float:
    """The partial credit of a result read through every ``stride``-th row (``keyed``, ``counts``).

    Each sampled row stands for ``total_pred / len(sample)`` rows of the whole result (see
    :func:`scaled_overlap`; exactly the counts when the sample is the whole result).
    """
    width = len(keyed)
    scale = total_pred / len(keyed[0])
    gold_rows = len(view.rows)
    most = min(total_pred, gold_rows)
    scores = [
        [f1(scaled_overlap(gold_keys, keys, scale, most), total_pred, gold_rows) for keys in counts]
        for gold_keys in view.column_keys
    ]
    assignment = assign_columns(scores, view.width, width)
    pairs = [(j, i) for j, i in enumerate(assignment) if i >= 0]
    if not pairs:
        return 0.0
    column_credit = sum(scores[j][i] for j, i in pairs) / view.width
    gold_sequence: Sequence[object]
    pred_projected: Sequence[object]
    if len(pairs) == 1:
        # Rows projected on one column are that column's values: the overlap is the column's.
        ((j, i),) = pairs
        gold_sequence, pred_projected = view.keyed_columns[j], keyed[i]
        overlap = scaled_overlap(view.column_keys[j], counts[i], scale, most)
    else:
        gold_projected, gold_counts = view.projection(tuple(j for j, _ in pairs))
        pred_rows = list(zip(*[keyed[i] for _, i in pairs], strict=True))
        overlap = scaled_overlap(gold_counts, Counter(pred_rows), scale, most)
        gold_sequence, pred_projected = gold_projected, pred_rows
    coverage = len(pairs) / view.width
    row_credit = f1(overlap, total_pred, gold_rows) * coverage
    score = 0.5 * column_credit + 0.5 * row_credit
    if width > view.width:
        score *= math.sqrt(view.width / width)
    if ordered and gold_rows > 1:
        # Sample row k is row k * stride of the result: compared with the gold row at that place.
        # (Tuples compare their items by identity first, then by ==: one column's values too.)
        in_place = sum(1 for p, g in zip(pred_projected, gold_sequence[::stride], strict=False) if p is g or p == g)
        score *= 0.75 + 0.25 * min(in_place * scale, gold_rows) / gold_rows
    return max(0.0, min(score, _SIMILARITY_CEILING))


def scaled_overlap(gold: Counter[_K], sample: Counter[_K], scale: float, most: int) -> float:
    """The multiset overlap of ``gold`` with a whole result estimated from a sample of its rows.

    Each sampled row stands for ``scale`` rows of the result (a Horvitz-Thompson estimate: right
    for the distinct values results mostly hold, high for values repeated in the result, hence
    the cap ``most``, the least of the two sizes). With ``scale == 1`` it is
    :func:`multiset_overlap`, exactly.
    """
    overlap = multiset_overlap(gold, sample)
    return overlap if scale == 1 else min(overlap * scale, most)
