"""Comparing results: rows as a multiset (or a sequence), columns in any order, cells with tolerance.

These are test-suite-sql-eval's semantics. :func:`results_match` is the public entry point; the
rest is shared with the verdicts (which also explain a mismatch) and the reward's partial credit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlenv_core.protocol import Cell
from sqlenv_core.verifier.cells import (
    DEFAULT_FLOAT_TOLERANCE,
    Canon,
    CanonRow,
    canonical_rows,
    common_width,
    is_float,
    row_sort_key,
    rows_equal,
    similarity_key,
)
from sqlenv_core.verifier.gold import GoldView, keyed

__all__ = [
    "Comparison",
    "assign_columns",
    "best_alignment",
    "column_overlaps",
    "compare_canonical",
    "count_unmatched",
    "f1",
    "first_mismatch",
    "multisets_equal",
    "results_match",
    "sequences_equal",
]

# Partial column assignments visited before giving up; pruning by column and row multisets means
# real results need a few, so the cap only bites on adversarial, highly symmetric input.
_MAX_PERMUTATIONS = 5_000
# Rows in one group of the exact tolerant matching (quadratic); larger groups fall back to the
# sorted comparison, which only differs on floats that are themselves within tolerance of each other.
_MAX_MATCHING_GROUP = 400
# Stands for "some number" in a row signature; no canonical text starts with a NUL byte and a tab.
_NUMBER_SLOT = "\x00\t#"


def sequences_equal(pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float) -> bool:
    """Whether two row lists are equal in order."""
    return len(pred) == len(gold) and all(rows_equal(p, g, tolerance) for p, g in zip(pred, gold, strict=True))


def multisets_equal(pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float) -> bool:
    """Whether two row lists are equal as multisets (floats within ``tolerance``)."""
    if len(pred) != len(gold):
        return False
    if Counter(pred) == Counter(gold):
        return True
    if not any(is_float(c) for rows in (pred, gold) for row in rows for c in row):
        # Without non-integral floats every comparison is exact, so the counts decided it.
        return False
    if Counter(map(_numeric_signature, pred)) != Counter(map(_numeric_signature, gold)):
        return False  # some text or NULL differs, which no tolerance can mend
    sorted_pred = sorted(pred, key=row_sort_key)
    sorted_gold = sorted(gold, key=row_sort_key)
    if sequences_equal(sorted_pred, sorted_gold, tolerance):
        return True
    return _tolerant_multisets_equal(pred, gold, tolerance)


def _numeric_signature(row: CanonRow) -> tuple[Canon, ...]:
    # Rows whose numbers may be within tolerance of each other share a signature; equality
    # inside a group is still decided cell by cell.
    return tuple([_NUMBER_SLOT if isinstance(c, int | float) else c for c in row])


def _row_shape(row: CanonRow) -> tuple[int, int, tuple[str, ...]]:
    """What a row keeps under any column order and tolerance: its text, its NULLs, its numbers' count."""
    texts = sorted([c for c in row if isinstance(c, str)])
    nulls = sum(1 for c in row if c is None)
    return (len(row) - len(texts) - nulls, nulls, tuple(texts))


def _tolerant_multisets_equal(pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float) -> bool:
    """Exact multiset equality under tolerance: a perfect bipartite matching, group by group."""
    groups_pred: dict[tuple[Canon, ...], list[CanonRow]] = {}
    groups_gold: dict[tuple[Canon, ...], list[CanonRow]] = {}
    for row in pred:
        groups_pred.setdefault(_numeric_signature(row), []).append(row)
    for row in gold:
        groups_gold.setdefault(_numeric_signature(row), []).append(row)
    if groups_pred.keys() != groups_gold.keys():
        return False
    for key, pred_rows in groups_pred.items():
        gold_rows = groups_gold[key]
        if len(pred_rows) != len(gold_rows):
            return False
        if len(pred_rows) > _MAX_MATCHING_GROUP:
            return False
        if not _perfect_matching(pred_rows, gold_rows, tolerance):
            return False
    return True


def _perfect_matching(pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float) -> bool:
    edges = [[j for j, g in enumerate(gold) if rows_equal(p, g, tolerance)] for p in pred]
    match_of_gold: list[int] = [-1] * len(gold)

    def augment(i: int, seen: list[bool]) -> bool:
        for j in edges[i]:
            if not seen[j]:
                seen[j] = True
                if match_of_gold[j] == -1 or augment(match_of_gold[j], seen):
                    match_of_gold[j] = i
                    return True
        return False

    return all(augment(i, [False] * len(gold)) for i in range(len(pred)))


def _column(rows: Sequence[CanonRow], index: int) -> list[CanonRow]:
    return [(row[index],) for row in rows]


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two canonical results of the same shape."""

    match: bool
    order_only: bool = False  # the rows match as a multiset but not in the gold's order
    permutation: tuple[int, ...] = ()


def _column_candidates(
    pred: Sequence[CanonRow], gold: Sequence[CanonRow], width: int, tolerance: float
) -> list[list[int]]:
    """For each gold column, the predicted columns holding the same multiset of values."""
    pred_columns = [_column(pred, i) for i in range(width)]
    gold_columns = [_column(gold, j) for j in range(width)]
    return [
        [i for i in range(width) if multisets_equal(pred_columns[i], gold_column, tolerance)]
        for gold_column in gold_columns
    ]


def _permutations(
    pred: Sequence[CanonRow], gold: Sequence[CanonRow], candidates: list[list[int]], tolerance: float
) -> Iterator[tuple[int, ...]]:
    """Assignments gold column -> distinct predicted column under which the rows agree as multisets.

    Gold columns are assigned most constrained first, and a partial assignment is extended only
    while the predicted rows, projected on the columns assigned so far, equal the gold rows
    projected likewise (a necessary condition), so even ten columns holding the same values are
    resolved after a handful of steps. Among identical predicted columns only the first unused
    one is tried, since swapping them yields the same rows. At most ``_MAX_PERMUTATIONS`` partial
    assignments are visited.
    """
    width = len(candidates)
    pred_columns = [tuple(row[i] for row in pred) for i in range(width)]
    first_of: dict[tuple[Canon, ...], int] = {}
    twins = [first_of.setdefault(col, i) for i, col in enumerate(pred_columns)]
    order = sorted(range(width), key=lambda j: len(candidates[j]))
    chosen: list[int] = [-1] * width
    used = [False] * width
    visits = 0

    def consistent(depth: int) -> bool:
        if depth < 2:
            return True  # one column was already checked by the candidate filter
        gold_cols = order[:depth]
        projected_pred = [tuple(row[chosen[j]] for j in gold_cols) for row in pred]
        projected_gold = [tuple(row[j] for j in gold_cols) for row in gold]
        return multisets_equal(projected_pred, projected_gold, tolerance)

    def extend(depth: int) -> Iterator[tuple[int, ...]]:
        nonlocal visits
        if depth == width:
            yield tuple(chosen)
            return
        j = order[depth]
        tried_twins: set[int] = set()
        for i in candidates[j]:
            if used[i] or twins[i] in tried_twins:
                continue
            visits += 1
            if visits > _MAX_PERMUTATIONS:
                return
            tried_twins.add(twins[i])
            used[i] = True
            chosen[j] = i
            if consistent(depth + 1):
                yield from extend(depth + 1)
            used[i] = False
            chosen[j] = -1

    yield from extend(0)


def compare_canonical(
    pred: Sequence[CanonRow], gold: Sequence[CanonRow], *, ordered: bool, tolerance: float
) -> Comparison:
    """Compare two rectangular canonical results of equal size and width."""
    if not gold:
        return Comparison(match=not pred)
    width = len(gold[0])
    if ordered and sequences_equal(pred, gold, tolerance):
        return Comparison(match=True, permutation=tuple(range(width)))
    if not ordered and multisets_equal(pred, gold, tolerance):
        return Comparison(match=True, permutation=tuple(range(width)))
    if Counter(map(_row_shape, pred)) != Counter(map(_row_shape, gold)):
        return Comparison(match=False)  # no column order can mend differing text or NULLs
    candidates = _column_candidates(pred, gold, width, tolerance)
    if any(not c for c in candidates):
        return Comparison(match=False)
    order_only: tuple[int, ...] | None = None
    for perm in _permutations(pred, gold, candidates, tolerance):
        # Every permutation yielded already makes the rows equal as multisets.
        if not ordered:
            return Comparison(match=True, permutation=perm)
        projected = [tuple(row[i] for i in perm) for row in pred]
        if sequences_equal(projected, gold, tolerance):
            return Comparison(match=True, permutation=perm)
        if order_only is None:
            order_only = perm
    if order_only is not None:
        return Comparison(match=False, order_only=True, permutation=order_only)
    return Comparison(match=False)


def results_match(
    predicted_rows: Sequence[Sequence[Cell]],
    gold_rows: Sequence[Sequence[Cell]],
    *,
    ordered: bool = False,
    float_tolerance: float = DEFAULT_FLOAT_TOLERANCE,
) -> bool:
    """Compare two result sets the way test-suite-sql-eval does.

    Rows are a multiset (order counts only when ``ordered``), columns may appear in any order,
    and cells are compared after normalisation (see :func:`canonical_cell`): integers exactly,
    floats within ``float_tolerance`` (relative), text case- and whitespace-insensitively.

    Args:
        predicted_rows: the rows to judge.
        gold_rows: the reference rows.
        ordered: whether the gold's row order is significant (its SQL has an outer ``ORDER BY``).
        float_tolerance: relative tolerance for non-integral numbers.

    Returns:
        True when some column order of the prediction gives the gold rows.
    """
    if len(predicted_rows) != len(gold_rows):
        return False
    pred_width, gold_width = common_width(predicted_rows), common_width(gold_rows)
    if pred_width is None or gold_width is None or (gold_rows and pred_width != gold_width):
        return False
    comparison = compare_canonical(
        canonical_rows(predicted_rows), canonical_rows(gold_rows), ordered=ordered, tolerance=float_tolerance
    )
    return comparison.match


# -- explaining a mismatch, and partial credit: which predicted column stands for which gold one --


def f1(overlap: int, predicted: int, expected: int) -> float:
    """The F1 score of ``overlap`` shared items between ``predicted`` and ``expected`` items."""
    total = predicted + expected
    return 2.0 * overlap / total if total else 0.0


def best_alignment(pred: Sequence[CanonRow], view: GoldView) -> tuple[int, ...]:
    """For each gold column, the predicted column whose values overlap it most (greedy, distinct)."""
    width = len(pred[0]) if pred else 0
    scores = column_overlaps(keyed(pred), view, width)
    assignment = assign_columns(scores, view.width, width)
    return tuple(i if i >= 0 else j % max(width, 1) for j, i in enumerate(assignment))


def column_overlaps(keyed_pred: Sequence[tuple[Canon, ...]], view: GoldView, width: int) -> list[list[float]]:
    """For each gold column and each predicted column, the F1 overlap of their values."""
    pred_keys = [Counter([row[i] for row in keyed_pred]) for i in range(width)]
    pred = keyed_pred
    total_pred = len(pred)
    total_gold = len(view.rows)
    return [
        [f1(sum((gold_keys & keys).values()), total_pred, total_gold) for keys in pred_keys]
        for gold_keys in view.column_keys
    ]


def assign_columns(scores: list[list[float]], gold_width: int, pred_width: int) -> list[int]:
    """Greedy one-to-one assignment gold column -> predicted column (-1 when none overlaps)."""
    pairs = sorted(
        ((scores[j][i], -abs(i - j), j, i) for j in range(gold_width) for i in range(pred_width)),
        reverse=True,
    )
    assignment = [-1] * gold_width
    taken: set[int] = set()
    for score, _, j, i in pairs:
        if score <= 0.0:
            break
        if assignment[j] == -1 and i not in taken:
            assignment[j] = i
            taken.add(i)
    return assignment


def first_mismatch(pred: Sequence[CanonRow], gold: Sequence[CanonRow], ordered: bool, tolerance: float) -> int:
    """1-based index of the first predicted row that has no partner in the gold (0 if none)."""
    if ordered:
        for index, (p, g) in enumerate(zip(pred, gold, strict=False), start=1):
            if not rows_equal(p, g, tolerance):
                return index
        return 0
    remaining = Counter(tuple(similarity_key(c) for c in row) for row in gold)
    for index, row in enumerate(pred, start=1):
        key = tuple(similarity_key(c) for c in row)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            return index
    return 0


def count_unmatched(pred: Sequence[CanonRow], gold: Sequence[CanonRow]) -> int:
    """How many gold rows have no partner among the predicted rows."""
    remaining = Counter(tuple(similarity_key(c) for c in row) for row in gold)
    remaining.subtract(Counter(tuple(similarity_key(c) for c in row) for row in pred))
    return sum(count for count in remaining.values() if count > 0)
