"""How query results and tables are shown to an agent: the environment's side of the sandbox."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from sqlenv_core.protocol import Cell
from sqlenv_core.sandbox import SandboxError
from sqlenv_core.wire import finite_or_word

__all__ = ["cell_text", "format_table", "resolve_table_name", "shown_rows"]


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def resolve_table_name(name: str, tables: Sequence[str]) -> str:
    """The real spelling of table ``name`` among ``tables`` (case-insensitive).

    Raises:
        SandboxError: ``unknown_table``, listing the real tables.
    """
    # A name is tried as written first: real names may contain quote characters themselves.
    raw = name.strip()
    for wanted in (raw, raw.strip("`\"[]'").strip()):
        for table in tables:
            if table == wanted:
                return table
        for table in tables:
            if table.lower() == wanted.lower():
                return table
    shown = ", ".join(tables) if tables else "(none)"
    raise SandboxError("unknown_table", _short(f"no table named {name.strip()!r}; tables: {shown}", 600))


def cell_text(value: Cell) -> str:
    """One cell as the text table shows it: ``NULL``, a non-finite number as ``Infinity``/``-Infinity``/``NaN``."""
    if value is None:
        return "NULL"
    if type(value) is float and not math.isfinite(value):
        return str(finite_or_word(value))
    return str(value)


def shown_rows(rows: Sequence[Sequence[Cell]]) -> list[list[Cell]]:
    """Rows as the structured observation carries them: lists, non-finite numbers as their words.

    ``Infinity``, ``-Infinity`` and ``NaN`` are what the text table shows too, and JSON has no
    such numbers, so every transport carries the same value (see ``sqlenv_core.wire``).
    """
    shown = [list(row) for row in rows]
    if float in set(map(type, itertools.chain.from_iterable(shown))):
        shown = [[finite_or_word(c) if type(c) is float else c for c in row] for row in shown]
    return shown


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Cell]], *, max_rows: int = 20) -> str:
    """Render rows as a compact pipe table for the agent (at most ``max_rows`` rows)."""
    if not columns:
        return "(no columns)"
    shown = rows[:max_rows]
    header = " | ".join(columns)
    lines = [header, "-" * min(len(header), 120)]
    lines.extend(" | ".join(map(cell_text, row)) for row in shown)
    if not rows:
        lines.append("(0 rows)")
    elif len(rows) > len(shown):
        lines.append(f"... ({len(rows) - len(shown)} more rows not shown)")
    return "\n".join(lines)
