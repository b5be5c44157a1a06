"""Comparing results: rows as a multiset (or a sequence), columns in any order, cells with tolerance.

These are test-suite-sql-eval's semantics. :func:`results_match` is the public entry point; the
rest is shared with the verdicts (which also explain a mismatch) and the reward's partial credit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlenv_core.protocol import Cell
from sqlenv_core.verifier.cells import (
    DEFAULT_FLOAT_TOLERANCE,
    Canon,
    CanonRow,
    canonical_rows,
    cells_equal,
    common_width,
    is_float,
    row_sort_key,
    rows_equal,
    similarity_columns,
    similarity_key,
)
from sqlenv_core.verifier.gold import GoldView

__all__ = [
    "DEFAULT_COMPARISON_BUDGET",
    "Budget",
    "Comparison",
    "assign_columns",
    "best_alignment",
    "column_overlaps",
    "compare_canonical",
    "count_unmatched",
    "f1",
    "first_mismatch",
    "multiset_overlap",
    "multisets_equal",
    "results_match",
    "sequences_equal",
]

#: Cells one comparison (a ``results_match`` call, a ``verify`` call, a ``result_similarity`` call)
#: may visit looking for a column order or a tolerant row matching. The most any Spider dev
#: comparison needs is ~53,000; only adversarial, highly symmetric results (ten 0/1 columns holding
#: every pattern of one parity against the other) reach the bound, in about 0.2 s.
DEFAULT_COMPARISON_BUDGET = 400_000
_K = TypeVar("_K")

# Rows in one group of the exact tolerant matching (quadratic); larger groups fall back to the
# sorted comparison, which only differs on floats that are themselves within tolerance of each other.
_MAX_MATCHING_GROUP = 400
# Stands for "some number" in a row signature; no canonical text starts with a NUL byte and a tab.
_NUMBER_SLOT = "\x00\t#"


class Budget:
    """Cell visits left to one comparison, shared by every step of it so that their sum is bounded.

    Args:
        cells: the cells that may be visited in all (see :data:`DEFAULT_COMPARISON_BUDGET`).

    Attributes:
        left: cells still to spend.
        exhausted: some step was refused for lack of budget (its answer was "no match").
    """

    __slots__ = ("exhausted", "left")

    def __init__(self, cells: int = DEFAULT_COMPARISON_BUDGET) -> None:
        self.left = cells
        self.exhausted = False

    def spend(self, cells: int) -> bool:
        """Take ``cells`` from the budget; False (and ``exhausted`` set) when too few are left."""
        if cells > self.left:
            self.left = 0
            self.exhausted = True
            return False
        self.left -= cells
        return True


def sequences_equal(pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float) -> bool:
    """Whether two row lists are equal in order."""
    return len(pred) == len(gold) and all(rows_equal(p, g, tolerance) for p, g in zip(pred, gold, strict=True))


def multisets_equal(
    pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float, budget: Budget | None = None
) -> bool:
    """Whether two row lists are equal as multisets (floats within ``tolerance``).

    With a ``budget``, the quadratic matching that floats within tolerance of each other may need
    is charged to it, and refused (False) when it does not fit.
    """
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
    if len(gold[0]) == 1 and not any(type(row[0]) is int for row in gold):
        # One float per row: each gold value's tolerance interval moves up with the value, so if
        # the sorted pairing fails, no pairing succeeds. (An integer gold's interval is the point
        # itself, which breaks that order: those go to the matching below.)
        return False
    return _tolerant_multisets_equal(pred, gold, tolerance, budget)


def _numeric_signature(row: CanonRow) -> tuple[Canon, ...]:
    # Rows whose numbers may be within tolerance of each other share a signature; equality
    # inside a group is still decided cell by cell.
    return tuple([_NUMBER_SLOT if isinstance(c, int | float) else c for c in row])


def _row_shape(row: CanonRow) -> tuple[int, int, tuple[str, ...]]:
    """What a row keeps under any column order and tolerance: its text, its NULLs, its numbers' count."""
    texts = sorted([c for c in row if isinstance(c, str)])
    nulls = sum(1 for c in row if c is None)
    return (len(row) - len(texts) - nulls, nulls, tuple(texts))


def _tolerant_multisets_equal(
    pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float, budget: Budget | None
) -> bool:
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
        if budget is not None and not budget.spend(len(pred_rows) ** 2 * len(key)):
            return False
        if not _perfect_matching(pred_rows, gold_rows, tolerance):
            return False
    return True


def _perfect_matching(pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float) -> bool:
    edges = [[j for j, g in enumerate(gold) if rows_equal(p, g, tolerance)] for p in pred]
    return _match(edges, len(gold)) is not None


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two canonical results of the same shape.

    Attributes:
        match: some column order of the prediction gives the gold rows.
        order_only: the rows match as a multiset but not in the gold's order.
        permutation: for each gold column, the predicted column that stands for it.
        exhausted: the column-order search ran out of budget before it could rule every order out.
    """

    match: bool
    order_only: bool = False
    permutation: tuple[int, ...] = ()
    exhausted: bool = False


def _has_float(rows: Sequence[CanonRow]) -> bool:
    return any(type(c) is float for row in rows for c in row)


class _Search:
    """The column-order search of one comparison: which predicted column stands for each gold column.

    Gold columns are assigned most constrained first, and a partial assignment is extended only
    while the predicted rows, projected on the columns assigned so far, equal the gold rows
    projected likewise (a necessary condition). Among identical predicted columns only the first
    unused one is tried, since swapping them yields the same rows. Every projection check is
    charged to the budget, so the search ends in bounded time whatever the input.

    Without non-integral floats, equality is exact and the projections are kept as row classes:
    extending an assignment by one column costs one pass over the rows (not one per assigned
    column), and candidate columns are grouped by their value multisets in one pass.
    """

    def __init__(self, pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float, budget: Budget) -> None:
        self.pred, self.gold, self.tolerance, self.budget = pred, gold, tolerance, budget
        self.width = len(gold[0])
        self.exact = not (_has_float(pred) or _has_float(gold))
        self.pred_columns = [tuple([row[i] for row in pred]) for i in range(self.width)]
        self.gold_columns = [tuple([row[j] for row in gold]) for j in range(self.width)]

    def candidates(self) -> list[list[int]] | None:
        """For each gold column, the predicted columns holding the same multiset of values."""
        width, n = self.width, len(self.gold)
        if self.exact:
            if not self.budget.spend(2 * width * n):
                return None
            by_values: dict[frozenset[tuple[Canon, int]], list[int]] = {}
            for i, column in enumerate(self.pred_columns):
                by_values.setdefault(frozenset(Counter(column).items()), []).append(i)
            return [by_values.get(frozenset(Counter(column).items()), []) for column in self.gold_columns]
        pred_cols = [[(c,) for c in column] for column in self.pred_columns]
        found: list[list[int]] = []
        for column in self.gold_columns:
            gold_col = [(c,) for c in column]
            row: list[int] = []
            for i in range(width):
                if not self.budget.spend(2 * n):
                    return None
                if multisets_equal(pred_cols[i], gold_col, self.tolerance, self.budget):
                    row.append(i)
            found.append(row)
        return found

    def orders(self, candidates: list[list[int]]) -> Iterator[tuple[int, ...]]:
        """Assignments gold column -> distinct predicted column under which the rows agree as multisets."""
        width = self.width
        first_of: dict[tuple[Canon, ...], int] = {}
        twins = [first_of.setdefault(col, i) for i, col in enumerate(self.pred_columns)]
        order = sorted(range(width), key=lambda j: len(candidates[j]))
        chosen: list[int] = [-1] * width
        used = [False] * width
        n = len(self.gold)
        start: list[int] = [0] * n
        budget = self.budget

        def extend(depth: int, pred_class: list[int], gold_class: list[int]) -> Iterator[tuple[int, ...]]:
            if depth == width:
                yield tuple(chosen)
                return
            j = order[depth]
            tried_twins: set[int] = set()
            for i in candidates[j]:
                if used[i] or twins[i] in tried_twins:
                    continue
                tried_twins.add(twins[i])
                used[i] = True
                chosen[j] = i
                classes = self._classes(depth, pred_class, gold_class, i, j, order, chosen)
                if classes is not None:
                    yield from extend(depth + 1, *classes)
                used[i] = False
                chosen[j] = -1
                if budget.exhausted:
                    return

        yield from extend(0, start, start)

    def _classes(
        self,
        depth: int,
        pred_class: list[int],
        gold_class: list[int],
        i: int,
        j: int,
        order: list[int],
        chosen: list[int],
    ) -> tuple[list[int], list[int]] | None:
        """The row classes after assigning gold column ``j`` to predicted ``i``; None when they disagree."""
        n = len(self.gold)
        if self.exact:
            if not self.budget.spend(2 * n):
                return None
            ids: dict[tuple[int, Canon], int] = {}
            pred_next = [ids.setdefault(key, len(ids)) for key in zip(pred_class, self.pred_columns[i], strict=True)]
            gold_next = [ids.get(key, -1) for key in zip(gold_class, self.gold_columns[j], strict=True)]
            if Counter(pred_next) != Counter(gold_next):
                return None
            return pred_next, gold_next
        if depth == 0:
            return pred_class, gold_class  # one column alone was checked by the candidate filter
        gold_cols = order[: depth + 1]
        if not self.budget.spend(2 * n * len(gold_cols)):
            return None
        projected_pred = [tuple([row[chosen[g]] for g in gold_cols]) for row in self.pred]
        projected_gold = [tuple([row[g] for g in gold_cols]) for row in self.gold]
        if not multisets_equal(projected_pred, projected_gold, self.tolerance, self.budget):
            return None
        return pred_class, gold_class


def _positional_order(
    pred: Sequence[CanonRow], gold: Sequence[CanonRow], tolerance: float, budget: Budget
) -> tuple[int, ...] | None:
    """A column order under which the rows are equal in order (ordered golds), or None.

    In order, a gold column can only stand for a predicted column equal to it position by
    position: a bipartite matching over those pairs (identical columns are found by hashing,
    columns of floats compared cell by cell, each comparison charged to the budget).
    """
    width, n = len(gold[0]), len(gold)
    pred_columns = [tuple([row[i] for row in pred]) for i in range(width)]
    gold_columns = [tuple([row[j] for row in gold]) for j in range(width)]
    exact = not (_has_float(pred) or _has_float(gold))
    edges: list[list[int]] = []
    if exact:
        by_column: dict[tuple[Canon, ...], list[int]] = {}
        for i, column in enumerate(pred_columns):
            by_column.setdefault(column, []).append(i)
        edges = [by_column.get(column, []) for column in gold_columns]
    else:
        for gold_column in gold_columns:
            if not budget.spend(width * n):
                return None
            edges.append(
                [
                    i
                    for i, column in enumerate(pred_columns)
                    if all(cells_equal(a, b, tolerance) for a, b in zip(column, gold_column, strict=True))
                ]
            )
    if any(not e for e in edges):
        return None
    matched = _match(edges, width)
    return None if matched is None else tuple(matched)


def _match(edges: list[list[int]], width: int) -> list[int] | None:
    """A perfect matching of ``edges``' left side (gold) into ``width`` right-side items (Kuhn's augmenting paths).

    Returns, for each left item, its right item; None when no matching covers every left item.
    """
    owner: list[int] = [-1] * width  # right item -> left item

    def augment(j: int, seen: list[bool]) -> bool:
        for i in edges[j]:
            if not seen[i]:
                seen[i] = True
                if owner[i] == -1 or augment(owner[i], seen):
                    owner[i] = j
                    return True
        return False

    for j in range(len(edges)):
        if not augment(j, [False] * width):
            return None
    order = [-1] * len(edges)
    for i, j in enumerate(owner):
        if j >= 0:
            order[j] = i
    return order


def compare_canonical(
    pred: Sequence[CanonRow],
    gold: Sequence[CanonRow],
    *,
    ordered: bool,
    tolerance: float,
    budget: Budget | None = None,
) -> Comparison:
    """Compare two rectangular canonical results of equal size and width.

    Args:
        pred: the predicted rows, canonical.
        gold: the gold rows, canonical.
        ordered: whether the gold's row order counts.
        tolerance: relative tolerance for non-integral numbers.
        budget: cells the column-order search may visit (default :data:`DEFAULT_COMPARISON_BUDGET`);
            pass one :class:`Budget` to several comparisons to bound their sum.
    """
    if budget is None:
        budget = Budget()
    if not gold:
        return Comparison(match=not pred)
    width = len(gold[0])
    identity = tuple(range(width))
    if ordered and sequences_equal(pred, gold, tolerance):
        return Comparison(match=True, permutation=identity)
    if not ordered and multisets_equal(pred, gold, tolerance, budget):
        return Comparison(match=True, permutation=identity)
    if Counter(map(_row_shape, pred)) != Counter(map(_row_shape, gold)):
        return Comparison(match=False)  # no column order can mend differing text or NULLs
    if ordered and width > 1:
        positional = _positional_order(pred, gold, tolerance, budget)
        if positional is not None:
            return Comparison(match=True, permutation=positional)
    search = _Search(pred, gold, tolerance, budget)
    candidates = search.candidates()
    if candidates is None or any(not c for c in candidates):
        return Comparison(match=False, exhausted=budget.exhausted)
    for perm in search.orders(candidates):
        # Every order yielded makes the rows equal as multisets; for an ordered gold, no order
        # makes them equal in sequence (the positional search above would have found it).
        return Comparison(match=not ordered, order_only=ordered, permutation=perm)
    return Comparison(match=False, exhausted=budget.exhausted)


def results_match(
    predicted_rows: Sequence[Sequence[Cell]],
    gold_rows: Sequence[Sequence[Cell]],
    *,
    ordered: bool = False,
    float_tolerance: float = DEFAULT_FLOAT_TOLERANCE,
    max_comparisons: int = DEFAULT_COMPARISON_BUDGET,
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
        max_comparisons: cells the column-order search may visit; past it the results count as
            different (only adversarial, highly symmetric results get there).

    Returns:
        True when some column order of the prediction gives the gold rows.
    """
    if len(predicted_rows) != len(gold_rows):
        return False
    pred_width, gold_width = common_width(predicted_rows), common_width(gold_rows)
    if pred_width is None or gold_width is None or (gold_rows and pred_width != gold_width):
        return False
    comparison = compare_canonical(
        canonical_rows(predicted_rows),
        canonical_rows(gold_rows),
        ordered=ordered,
        tolerance=float_tolerance,
        budget=Budget(max_comparisons),
    )
    return comparison.match


# -- explaining a mismatch, and partial credit: which predicted column stands for which gold one --


def f1(overlap: float, predicted: int, expected: int) -> float:
    """The F1 score of ``overlap`` shared items between ``predicted`` and ``expected`` items."""
    total = predicted + expected
    return 2.0 * overlap / total if total else 0.0


def best_alignment(pred: Sequence[CanonRow], view: GoldView) -> tuple[int, ...]:
    """For each gold column, the predicted column whose values overlap it most (greedy, distinct)."""
    width = len(pred[0]) if pred else 0
    columns: list[Sequence[Canon]] = list(zip(*pred, strict=True)) if pred else []
    scores = column_overlaps(similarity_columns(columns), len(pred), view)
    assignment = assign_columns(scores, view.width, width)
    return tuple(i if i >= 0 else j % max(width, 1) for j, i in enumerate(assignment))


def column_overlaps(
    pred_columns: Sequence[Sequence[Canon]] | Sequence[Counter[Canon]], total_pred: int, view: GoldView
) -> list[list[float]]:
    """For each gold column and each predicted column (keyed, see :func:`similarity_columns`), their F1 overlap.

    ``pred_columns`` may also be given as their value counts, when the caller has them already.
    """
    pred_keys = [column if isinstance(column, Counter) else Counter(column) for column in pred_columns]
    total_gold = len(view.rows)
    return [
        [f1(multiset_overlap(gold_keys, keys), total_pred, total_gold) for keys in pred_keys]
        for gold_keys in view.column_keys
    ]


def multiset_overlap(a: Counter[_K], b: Counter[_K]) -> int:
    """The size of the multiset intersection of ``a`` and ``b`` (``(a & b).total()``, without building it)."""
    if len(a) > len(b):
        a, b = b, a
    return sum([min(count, b[key]) for key, count in a.items() if key in b])


def assign_columns(scores: list[list[float]], gold_width: int, pred_width: int) -> list[int]:
    """Greedy one-to-one assignment gold column -> predicted column (-1 when none overlaps)."""
    if gold_width == 1:  # the commonest gold: its best column, the leftmost among equals
        best = max(scores[0], default=0.0)
        return [scores[0].index(best) if best > 0.0 else -1]
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
