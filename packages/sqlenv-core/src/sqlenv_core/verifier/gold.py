"""The gold result, and what is derived from it once for every comparison against it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from sqlenv_core.protocol import Cell
from sqlenv_core.verifier.cells import Canon, CanonRow, canonical_rows, similarity_key

__all__ = ["GoldResult", "GoldView", "keyed"]

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
    def comma_values(self) -> frozenset[str]:
        """Text values holding a comma (spacing after commas removed), to re-join split answers."""
        return frozenset(
            _COMMA_SPACING.sub(",", c) for row in self.rows for c in row if isinstance(c, str) and "," in c
        )

    @cached_property
    def keyed_rows(self) -> list[tuple[Canon, ...]]:
        """Rows with floats folded to about seven digits (hashable stand-ins for overlap counts)."""
        return keyed(self.rows)

    @cached_property
    def column_keys(self) -> list[Counter[Canon]]:
        """The multiset of keyed values in each column."""
        return [Counter(row[j] for row in self.keyed_rows if j < len(row)) for j in range(self.width)]


def keyed(rows: Sequence[CanonRow]) -> list[tuple[Canon, ...]]:
    """Rows with floats folded to about seven digits (see :func:`~.cells.similarity_key`)."""
    return [tuple([similarity_key(c) for c in row]) for row in rows]
