"""The gold result, and what is derived from it once for every comparison against it."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from sqlenv_core.protocol import Cell
from sqlenv_core.verifier.cells import Canon, CanonRow, canonical_rows, similarity_columns

__all__ = ["CommaTrie", "GoldResult", "GoldView"]

# Projections of one gold kept for reuse (each QUERY's partial credit projects on its aligned columns).
_MAX_PROJECTIONS = 16
# Canonical text has its whitespace collapsed to single spaces, so this never backtracks far.
_COMMA_SPACING = re.compile(r"\s*,\s*")


@dataclass(frozen=True)
class GoldResult:
    """The gold query's full result, and whether its row order is significant."""

    columns: list[str]
    rows: list[tuple[Cell, ...]]
    ordered: bool = False

    @cached_property
    def view(self) -> GoldView:
        """The result normalised for comparison, computed on first use and kept with the result.

        Every ANSWER and every QUERY's progress term compares against the same gold, so its
        normalisation is paid once per ``GoldResult`` (datasets keep one per question).
        """
        rows = canonical_rows(self.rows)
        width = len(self.columns) if self.columns else (len(rows[0]) if rows else 0)
        columns = tuple(" ".join(str(c).split()).casefold() for c in self.columns)
        return GoldView(columns, rows, width)

    def prepare(self) -> GoldView:
        """Compute now what verdicts and the dense reward compute on first use, and return the view.

        A server does this for every question as it starts, so that no episode's first QUERY or
        ANSWER pays for it (and the collector's freeze after warming covers it).
        """
        view = self.view
        for name in ("column_keys", "key_set", "cell_counts", "has_float", "answer_room", "comma_trie"):
            getattr(view, name)
        return view


class CommaTrie:
    """A node of :attr:`GoldView.comma_trie`: the parts that may follow, and the gold value ending here."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[str, CommaTrie] = {}
        self.value: str | None = None


@dataclass(frozen=True)
class GoldView:
    """A gold result in canonical form (see :func:`~sqlenv_core.verifier.canonical_cell`).

    Attributes:
        columns: column names, case-folded with whitespace collapsed.
        rows: the canonical rows.
        width: the number of columns.
    """

    columns: tuple[str, ...]
    rows: list[CanonRow]
    width: int

    @cached_property
    def answer_room(self) -> tuple[int, int]:
        """(characters, values) that a correct answer may need at most, written generously.

        Every value quoted and spaced out over lines (pretty-printed JSON, a pipe table with a
        header): four times the cells' text plus eight characters a cell, and four separators a
        cell. :func:`~sqlenv_core.verifier.verify` allows at least this much, whatever its limits.
        """
        cells = len(self.rows) * (self.width + 1) + self.width
        chars = sum(len(str(cell)) for row in self.rows for cell in row)
        return 4 * (chars + 8 * cells), 4 * cells

    @cached_property
    def comma_trie(self) -> CommaTrie:
        """Text values holding a comma, split at their commas (spacing around them dropped), as a trie.

        An answer written as a comma list may cut such a value apart; the trie finds the runs of
        items to join again.
        """
        root = CommaTrie()
        for value in {c for row in self.rows for c in row if isinstance(c, str) and "," in c}:
            node = root
            for part in _COMMA_SPACING.sub(",", value).split(","):
                node = node.children.setdefault(part, CommaTrie())
            node.value = value
        return root

    @cached_property
    def columns_canonical(self) -> list[Sequence[Canon]]:
        """The canonical cells column by column."""
        columns: list[Sequence[Canon]] = []
        if len(set(map(len, self.rows))) > 1:  # a hand-made ragged gold: missing cells read as NULL
            columns.extend([row[j] if j < len(row) else None for row in self.rows] for j in range(self.width))
        elif self.rows:
            columns.extend(list(zip(*self.rows, strict=True))[: self.width])
        return columns + [() for _ in range(self.width - len(columns))]

    @cached_property
    def keyed_columns(self) -> list[Sequence[Canon]]:
        """Columns with floats folded to about seven digits (hashable stand-ins for overlap counts)."""
        return similarity_columns(self.columns_canonical)

    @cached_property
    def column_keys(self) -> list[Counter[Canon]]:
        """The multiset of keyed values in each column."""
        return [Counter(column) for column in self.keyed_columns]

    @cached_property
    def key_set(self) -> frozenset[Canon]:
        """Every keyed value of the gold, whatever its column: a value outside it overlaps no gold column."""
        return frozenset(itertools.chain.from_iterable(self.column_keys))

    def projection(self, columns: tuple[int, ...]) -> tuple[list[tuple[Canon, ...]], Counter[tuple[Canon, ...]]]:
        """The keyed rows projected on ``columns``, in order and as a multiset (kept for reuse)."""
        found = self._projections.get(columns)
        if found is None:
            rows = list(zip(*[self.keyed_columns[j] for j in columns], strict=True))
            found = (rows, Counter(rows))
            if len(self._projections) < _MAX_PROJECTIONS:
                self._projections[columns] = found
        return found

    @cached_property
    def _projections(self) -> dict[tuple[int, ...], tuple[list[tuple[Canon, ...]], Counter[tuple[Canon, ...]]]]:
        return {}

    @cached_property
    def has_float(self) -> bool:
        """Whether any cell is a non-integral number (then equality needs the tolerance)."""
        return any(float in set(map(type, column)) for column in self.columns_canonical)

    @cached_property
    def cell_counts(self) -> Counter[Canon]:
        """The multiset of every cell: a result can match only if it holds the same (without floats)."""
        return Counter(itertools.chain.from_iterable(self.columns_canonical))
