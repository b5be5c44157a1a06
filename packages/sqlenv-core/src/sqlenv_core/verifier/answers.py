"""Reading an ANSWER's text as rows: a scalar, a list or a table, as JSON, a literal or plain text.

Where the text can be read in several ways (``Smith, John`` is one name or two), every reading is
returned, the most likely first given the gold's shape; the verdict accepts any that matches.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import re
from collections.abc import Sequence
from typing import cast

from sqlenv_core.verifier.gold import CommaTrie, GoldView

__all__ = ["Rows", "answer_readings", "strip_wrappers"]

# Python-literal parsing compiles the text, which costs far more than JSON; it is a courtesy for
# answers copied from a Python REPL, so it only runs on answers of a reasonable size.
_MAX_LITERAL_CHARS = 100_000
# Trie steps one re-joining of comma-split items may take (a step per item tried at a position).
_MAX_MERGE_STEPS = 200_000
_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)
_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is\s*)?[:=\-]\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
# Separator lines of pasted tables (``---|---``, ``+----+``) are recognised without a regex: one
# with nested repetitions backtracked for seconds on a long line of dashes.
_SEPARATOR_CHARS = frozenset(" \t|:+=-")


def _is_separator_line(line: str) -> bool:
    return "---" in line and set(line) <= _SEPARATOR_CHARS


Rows = list[tuple[object, ...]]


def strip_wrappers(text: str) -> str:
    """Remove code fences, an ``Answer:`` prefix and quotes around the whole answer."""
    for _ in range(8):
        before = text
        text = text.strip()
        fence = _FENCE.match(text)
        if fence:
            text = fence.group(1)
        text = _PREFIX.sub("", text, count=1)
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`" and text[0] not in text[1:-1]:
            text = text[1:-1]
        if text == before:
            break
    return text.strip()


def _parse_constant(name: str) -> object:
    # JSON's NaN is not a number any SQL result holds; Infinity is (1e999 in SQLite).
    return {"Infinity": math.inf, "-Infinity": -math.inf}.get(name, name)


def _parse_structured(text: str) -> tuple[bool, object]:
    """(True, value) when ``text`` is JSON, or a Python literal of reasonable size."""
    if not text or text[0] not in "[{(\"'-+.0123456789tfnNITF":
        return False, None
    try:
        return True, json.loads(text, parse_constant=_parse_constant)
    except (ValueError, RecursionError):
        pass
    if text[0] in "[({" and len(text) <= _MAX_LITERAL_CHARS:
        try:
            return True, ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    return False, None


_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


def _elements(value: object) -> list[object] | None:
    """The items of a parsed list or tuple (None for anything else)."""
    if isinstance(value, list | tuple):
        return list(cast("Sequence[object]", value))
    return None


def _cell_of(value: object) -> object:
    """A structured cell: ``[x]`` as ``x``; anything else as it is (nested data is compared as JSON)."""
    items = _elements(value)
    while items is not None and len(items) == 1:
        value = items[0]
        items = _elements(value)
    return value


def _row_of(value: object) -> tuple[object, ...]:
    if isinstance(value, dict):
        return tuple(_cell_of(v) for v in cast("dict[object, object]", value).values())
    items = _elements(value)
    if items is not None:
        return tuple(_cell_of(v) for v in items)
    return (value,)


def _structured_candidates(value: object, view: GoldView, depth: int = 0) -> list[Rows]:
    """Readings of a parsed JSON / literal answer as rows, most likely first."""
    if isinstance(value, str):
        return _text_candidates(value, view)
    if isinstance(value, dict):
        mapping = cast("dict[object, object]", value)
        members = list(mapping.values())
        readings: list[Rows] = [[_row_of(mapping)]]
        if len(members) == 1 and isinstance(members[0], list | tuple | dict) and depth < 2:
            # {"answer": [...]} or {"rows": [...]}: the wrapper carries no value of its own.
            wrapped = cast(object, members[0])
            readings = _structured_candidates(wrapped, view, depth + 1) + readings
        return readings
    elements = _elements(value)
    if elements is None:
        return [[(value,)]]
    if not elements:
        return [[]]
    if set(map(type, elements)) <= _SCALAR_TYPES:  # one C-level pass (JSON and literals make exact types)
        as_column: Rows = [(e,) for e in elements]
        as_row: Rows = [tuple(elements)]
        return [as_row, as_column] if len(view.rows) == 1 and view.width > 1 else [as_column, as_row]
    if all(isinstance(e, dict) for e in elements):
        return [_rows_of_objects(cast("list[dict[object, object]]", elements))]
    table: Rows = [_row_of(e) for e in elements]
    readings = [table]
    inner = _elements(elements[0]) if len(elements) == 1 else None
    if inner is not None and view.width == 1:
        # [["a", "b"]] for a one-column gold: a list wrapped once too often.
        readings.append([(_cell_of(e),) for e in inner])
    return readings


def _rows_of_objects(objects: list[dict[object, object]]) -> Rows:
    keys: dict[object, None] = {}
    for obj in objects:
        keys.update(dict.fromkeys(obj))
    return [tuple(_cell_of(obj.get(k)) for k in keys) for obj in objects]


def _merge_comma_values(items: list[str], view: GoldView) -> list[str]:
    """Re-join items split at commas that belong inside a gold value ("Smith, John").

    At each item, the longest run of items that spells a gold value (spacing after its commas
    aside) is joined. Runs are followed
    in a trie of the gold values' parts, and the steps of one call are capped, so the work is
    linear in the answer whatever the gold holds (past the cap, the remaining items stay apart).
    """
    trie = view.comma_trie
    if not trie.children or len(items) < 2:
        return items
    keys = [" ".join(s.split()).casefold() for s in items]
    merged: list[str] = []
    steps = _MAX_MERGE_STEPS
    i = 0
    while i < len(items):
        node: CommaTrie | None = trie
        size = best = 0
        value = ""
        while node is not None and i + size < len(items) and steps > 0:
            node = node.children.get(keys[i + size])
            steps -= 1
            size += 1
            if node is not None and node.value is not None and size >= 2:
                best, value = size, node.value
        if best:
            # The gold's own spelling of the value: the items differ from it at most in the
            # spacing around its commas (and in case, which the comparison ignores).
            merged.append(value)
            i += best
        else:
            merged.append(items[i])
            i += 1
    return merged


def _split_cells(line: str, separator: str, view: GoldView) -> list[str]:
    if separator == "\n":
        cells = [line.strip()]
    elif separator == "|":
        cells = [c.strip() for c in line.strip().split("|")]
        if len(cells) > 1 and cells[0] == "":
            cells = cells[1:]
        if len(cells) > 1 and cells[-1] == "":
            cells = cells[:-1]
    elif separator == "\t":
        cells = [c.strip() for c in line.split("\t")]
    else:
        try:
            cells = [c.strip() for c in next(csv.reader([line], skipinitialspace=True))]
        except (csv.Error, StopIteration):
            cells = [c.strip() for c in line.split(",")]
        cells = _merge_comma_values(cells, view)
    return [_strip_cell_quotes(c) for c in cells]


def _strip_cell_quotes(cell: str) -> str:
    if len(cell) >= 2 and cell[0] == cell[-1] and cell[0] in "\"'`":
        return cell[1:-1].strip()
    return cell


def _separator_of(line: str) -> str | None:
    for separator in ("|", "\t", ","):
        if separator in line:
            return separator
    return None


def _text_candidates(text: str, view: GoldView) -> list[Rows]:
    """Readings of a plain-text answer as rows, most likely first."""
    text = text.strip()
    lines = [_BULLET.sub("", line).strip() for line in text.splitlines()]
    has_separator_line = any(_is_separator_line(line) for line in lines if line)
    lines = [line for line in lines if line and not _is_separator_line(line)]
    if not lines:
        return [[]]
    if len(lines) == 1:
        line = lines[0]
        separator = _separator_of(line)
        readings: list[Rows] = [[(_strip_cell_quotes(line),)]]
        if separator is not None:
            cells = _split_cells(line, separator, view)
            as_row: Rows = [tuple(cells)]
            as_column: Rows = [(c,) for c in cells]
            one_row_gold = len(view.rows) == 1 and view.width > 1
            readings = [as_row, *readings, as_column] if one_row_gold else [as_column, *readings, as_row]
        return readings
    readings = _line_readings(lines, view)
    header = _split_cells(lines[0], _separator_of(lines[0]) or "\n", view)
    body = lines[1:] if has_separator_line or _is_header(tuple(header), view) else lines
    if body is not lines:
        readings = _line_readings(body, view) + readings
    if len(view.rows) == 1 and body:
        # A one-row answer over several lines: a value itself held a line break.
        readings += _text_candidates(" ".join(body), view)
    return readings


def _line_readings(lines: list[str], view: GoldView) -> list[Rows]:
    """Each line a row (split at the separator every line has), or each line one value."""
    whole_lines: Rows = [(_strip_cell_quotes(line),) for line in lines]
    separator = next((s for s in ("|", "\t", ",") if all(s in line for line in lines)), None)
    if separator is None or not lines:
        return [whole_lines]
    table: Rows = [tuple(_split_cells(line, separator, view)) for line in lines]
    return [table, whole_lines]


def _is_header(row: tuple[object, ...], view: GoldView) -> bool:
    """Whether ``row`` spells the gold's column names (a pasted table header)."""
    names = tuple(" ".join(str(c).split()).casefold() for c in row)
    return bool(names) and sorted(names) == sorted(view.columns)


def answer_readings(text: str, view: GoldView) -> list[Rows]:
    """Every reading of an answer's text as rows, most likely first (JSON, a literal, then plain text)."""
    parsed, value = _parse_structured(text)
    if parsed:
        return _structured_candidates(value, view)
    readings = _text_candidates(text, view)
    if "," in text and text[0] in "[(\"'":
        # '"a", "b"' or '["a", 1], ["b", 2]': a JSON (or literal) list without its brackets.
        parsed, value = _parse_structured(f"[{text}]")
        if parsed:
            readings += _structured_candidates(value, view)
    return readings
