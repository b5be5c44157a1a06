"""Cells as the verifier compares them: normalised once, then equal, ordered and keyed.

Integers compare exactly, floats within a relative tolerance (with a tiny absolute floor), numeric
text as numbers, strings case- and whitespace-insensitively, and NULL equals NULL (the words
``None`` and ``null`` mean NULL).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ABS_TOLERANCE",
    "DEFAULT_FLOAT_TOLERANCE",
    "Canon",
    "CanonRow",
    "canonical_cell",
    "canonical_column",
    "canonical_columns",
    "canonical_rows",
    "cell_sort_key",
    "cells_equal",
    "common_width",
    "is_float",
    "row_sort_key",
    "rows_equal",
    "similarity_columns",
    "similarity_key",
]

DEFAULT_FLOAT_TOLERANCE = 1e-6
# Absolute floor for float equality, so a sum that should be 0 but is -1.1e-16 still equals 0.
ABS_TOLERANCE = 1e-12

_NUMBER = re.compile(r"[+-]?(?:(?:0|[1-9]\d*)(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?")

Canon = None | int | float | str
"""A normalised cell: NULL, a number (integral values as ``int``), or case-folded text."""
CanonRow = tuple[Canon, ...]


_CACHED_TEXT_CHARS = 256
# Short texts remembered at most: the cache is emptied when it holds this many. A plain dict, so
# that a column of known texts is looked up in one C-level pass (see canonical_column).
_MAX_CACHED_TEXTS = 65_536
_SHORT_TEXTS: dict[str, Canon] = {}
_MISSING: Any = object()


def _canon_text(text: str) -> Canon:
    # Database values repeat a lot, so short texts are memoised; long ones are not, so that an
    # agent's huge answers cannot fill the cache.
    if len(text) <= _CACHED_TEXT_CHARS:
        found = _SHORT_TEXTS.get(text, _MISSING)
        return _remember_text(text) if found is _MISSING else found
    return _fold_text(text)


def _remember_text(text: str) -> Canon:
    if len(_SHORT_TEXTS) >= _MAX_CACHED_TEXTS:
        _SHORT_TEXTS.clear()
    folded = _SHORT_TEXTS[text] = _fold_text(text)
    return folded


# Non-finite numbers as observations spell them (``Infinity``) and as Python prints them (``inf``).
_INFINITIES = {"infinity": math.inf, "+infinity": math.inf, "inf": math.inf, "+inf": math.inf}
_INFINITIES.update({"-infinity": -math.inf, "-inf": -math.inf})


def _fold_text(text: str) -> Canon:
    folded = " ".join(text.split()).casefold()
    if folded in ("none", "null"):
        return None
    if folded in _INFINITIES:
        return _INFINITIES[folded]
    if len(folded) < 400 and _NUMBER.fullmatch(folded):
        return _canon_number(int(folded) if folded.lstrip("+-").isdigit() else float(folded))
    return folded


def _canon_number(value: int | float) -> Canon:
    if isinstance(value, int):
        return value
    if math.isnan(value):
        return "nan"
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def canonical_cell(value: object) -> Canon:
    """The normalised form of one cell, as the verifier compares it.

    ``None`` and the words ``none``/``null`` become ``None``; booleans, integers, floats and
    numeric text become numbers (integral floats become ``int``); other text is case-folded with
    runs of whitespace collapsed; anything else is compared as its JSON (or ``str``) text.
    """
    kind = type(value)
    if kind is int:  # the common cases first: this runs for every cell of every QUERY result
        return value  # pyright: ignore[reportReturnType]
    if kind is str:
        return _canon_text(value)  # pyright: ignore[reportArgumentType]
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return _canon_number(value)
    if isinstance(value, str):
        return _canon_text(value)
    if isinstance(value, bytes):
        return _canon_text(value.decode("utf-8", "replace"))
    try:
        return _canon_text(json.dumps(value, ensure_ascii=False, default=str))
    except (TypeError, ValueError, RecursionError):
        return _canon_text(str(value))


def cells_equal(a: Canon, b: Canon, tolerance: float) -> bool:
    """Whether predicted cell ``a`` equals gold cell ``b``.

    Exact for text, NULL and an integer gold: ``1000000.5`` is not ``1000000`` and ``7.000001``
    is not ``7`` (only float round-off within the absolute floor, ``1e-17`` for ``0``, passes).
    Within ``tolerance`` for a float gold, which may itself carry round-off (``3`` equals
    ``2.9999999999``).
    """
    if a is None or b is None:
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(b, int):
        return a == b or (isinstance(a, float) and abs(a - b) <= ABS_TOLERANCE)
    if a == b:
        return True
    try:
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=ABS_TOLERANCE)
    except OverflowError:
        return False


def rows_equal(a: CanonRow, b: CanonRow, tolerance: float) -> bool:
    """Whether two canonical rows are equal cell by cell."""
    return len(a) == len(b) and all(cells_equal(x, y, tolerance) for x, y in zip(a, b, strict=True))


def cell_sort_key(cell: Canon) -> tuple[int, Any]:
    """A total order over canonical cells: NULL, then numbers, then text."""
    if cell is None:
        return (0, 0)
    if isinstance(cell, str):
        return (2, cell)
    return (1, cell)


def row_sort_key(row: CanonRow) -> tuple[tuple[int, Any], ...]:
    """A total order over canonical rows (see :func:`cell_sort_key`)."""
    return tuple([cell_sort_key(cell) for cell in row])


def is_float(cell: Canon) -> bool:
    """Whether the cell is a non-integral number (integral floats are canonical ``int``)."""
    return isinstance(cell, float)


def similarity_key(cell: Canon) -> Canon:
    """A hashable stand-in for ``cell`` that folds floats equal to about seven digits together."""
    if type(cell) is float and math.isfinite(cell):
        rounded = float(f"{cell:.7g}")
        return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
    return cell


_UNCHANGED_TYPES = frozenset({int, type(None)})


def canonical_column(values: Sequence[object]) -> Sequence[Canon]:
    """Every value of one column in canonical form (the column itself when nothing changes)."""
    if values and values[0].__class__ is str:
        try:  # texts seen before, the commonest case: one C-level lookup per cell
            return list(map(_SHORT_TEXTS.__getitem__, values))  # pyright: ignore[reportArgumentType]
        except (KeyError, TypeError):  # a text not seen yet, or a value of another kind
            pass
    kinds = set(map(type, values))
    if kinds <= _UNCHANGED_TYPES:
        return values  # pyright: ignore[reportReturnType]  (ints and NULLs are canonical)
    if len(kinds) == 1 and str in kinds:
        return list(map(_canon_text, values))  # pyright: ignore[reportArgumentType]
    return list(map(canonical_cell, values))


def canonical_columns(rows: Sequence[Sequence[object]]) -> list[Sequence[Canon]]:
    """The columns of rectangular ``rows``, each value in canonical form.

    Works column by column: a result's columns each hold one type, and a column of integers
    (the commonest) is canonical already, so most cells are never looked at one by one.

    Raises:
        ValueError: the rows differ in length.
    """
    return [canonical_column(column) for column in zip(*rows, strict=True)]


def canonical_rows(rows: Sequence[Sequence[object]]) -> list[CanonRow]:
    """Every cell of ``rows`` in canonical form (column by column when the rows are rectangular)."""
    if not rows:
        return []
    widths = set(map(len, rows))
    if len(widths) > 1:
        return [tuple([canonical_cell(cell) for cell in row]) for row in rows]
    if not widths.pop():
        return [() for _ in rows]
    return list(zip(*canonical_columns(rows), strict=True))


def similarity_columns(columns: Sequence[Sequence[Canon]]) -> list[Sequence[Canon]]:
    """Canonical ``columns`` with floats folded to about seven digits (see :func:`similarity_key`)."""
    folded = list(columns)
    for index, column in enumerate(folded):
        if float in set(map(type, column)):
            folded[index] = list(map(similarity_key, column))
    return folded


def common_width(rows: Sequence[Sequence[object]]) -> int | None:
    """The common row length, or None when rows differ in length."""
    widths = set(map(len, rows))
    if len(widths) > 1:
        return None
    return widths.pop() if widths else 0
