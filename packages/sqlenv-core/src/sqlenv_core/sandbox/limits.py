"""What the sandbox accepts and returns: its limits, its results and its one error type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlenv_core.protocol import Cell

__all__ = ["QueryResult", "SandboxError", "SandboxLimits"]


@dataclass(frozen=True)
class SandboxLimits:
    """Resource caps for one sandboxed call. The defaults suit agents on laptop-sized data."""

    timeout_s: float = 5.0
    """Wall-clock deadline for executing a statement and fetching its rows."""
    max_rows: int = 1_000
    """Rows fetched at most; more rows mark the result as truncated."""
    max_cell_chars: int = 2_000
    """Longer text cells are cut and end with an ellipsis."""
    max_result_bytes: int = 2_000_000
    """Approximate size of the fetched result; fetching stops past it (truncated)."""
    max_sql_chars: int = 20_000
    """Longest SQL text accepted."""
    max_value_bytes: int = 100_000
    """``SQLITE_LIMIT_LENGTH``: the largest string, blob or row SQLite may build or read.

    It also bounds the worst single ``LIKE``/``GLOB`` call (about value length x pattern length
    steps with no deadline check in between); raise it only for data with larger cells.
    """
    max_expr_depth: int = 200
    max_compound_select: int = 64
    max_like_pattern: int = 100
    """``SQLITE_LIMIT_LIKE_PATTERN_LENGTH`` in bytes."""
    max_pattern_matches: int = 32
    """``LIKE``/``GLOB`` operators allowed in one statement."""
    max_columns: int = 500
    temp_store: Literal["memory", "file"] = "memory"
    """Where sorts and temporary b-trees live. ``memory`` (default): never on disk, bounded by the
    heap cap, but SQLite then allocates each sorted record separately behind its global allocator
    mutex, so sort-heavy queries are slower and do not run in parallel across threads. ``file``:
    SQLite's own default, in memory up to the cache size and spilled to unlinked temporary files
    beyond it (a deliberately huge sort can write hundreds of MB before its deadline)."""

    def __post_init__(self) -> None:
        if self.temp_store not in ("memory", "file"):
            raise ValueError(f"temp_store must be 'memory' or 'file', not {self.temp_store!r}")


@dataclass(frozen=True)
class QueryResult:
    """Rows produced by :meth:`Sandbox.execute`."""

    columns: list[str]
    rows: list[tuple[Cell, ...]]
    truncated: bool = False
    elapsed_s: float = 0.0
    nbytes: int = 0
    """Approximate size of ``rows`` in memory terms (text length, 8 bytes a number)."""
    deterministic: bool = False
    """True when the same SQL on the same (immutable) database is known to give the same result:
    the statement was compiled in this call and calls no time- or randomness-dependent function."""


class SandboxError(Exception):
    """A SQL string was refused or failed. ``str(error)`` is short and meant for the agent.

    Attributes:
        code: a stable machine-readable kind: ``empty``, ``too_long``, ``multiple_statements``,
            ``forbidden``, ``timeout``, ``too_large``, ``out_of_memory``, ``sql_error``,
            ``unknown_table``, ``unavailable``, ``cancelled``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
