"""What the sandbox accepts and returns: its limits, its results and its one error type."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

from sqlenv_core.protocol import Cell

__all__ = ["CancelToken", "InlineBudget", "QueryResult", "SandboxError", "SandboxLimits"]


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
    temp_store: Literal["memory", "file"] = "file"
    """Where sorts, GROUP BY/DISTINCT b-trees and materialised subqueries live.

    ``file`` (default): in memory up to a small cache, then in temporary files that SQLite
    unlinks as it creates them. SQLite then sorts in runs of about 1 MiB, so the deadline
    interrupts a sort within milliseconds, a query's memory stays a few MiB whatever it sorts,
    and sorts run in parallel across threads. What it may write is capped by
    ``max_temp_bytes``. ``memory``: nothing on disk, everything against the process-wide heap
    cap, but SQLite sorts all of a statement's rows in one pass that no interrupt can stop (an
    ORDER BY over three million rows overran a 5 s deadline by up to 5 s) and one query can
    take the whole heap."""
    max_temp_bytes: int = 256 * 1024 * 1024
    """Temporary-file bytes one call may hold (``temp_store="file"``); past it the call fails with
    ``too_large``. Measured every 50 ms once a call has run 50 ms (Linux: SQLite's temporary
    files among the process's open files); when several such calls run at once, the total is
    shared in proportion to what each wrote in the last 50 ms. Where ``/proc`` is missing only
    the deadline bounds it."""
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __hash__(self) -> int:
        # Limits key the connection pool and the result cache on every call: hash once.
        return self._hash

    def __reduce__(self) -> tuple[type[SandboxLimits], tuple[object, ...]]:
        # Rebuilt from its settings: a pickled hash would be stale in another process.
        return type(self), self.settings()

    def settings(self) -> tuple[object, ...]:
        """The values of the settings, in field order (what a cache that outlives the process keys on)."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.init)

    def __post_init__(self) -> None:
        if self.temp_store not in ("memory", "file"):
            raise ValueError(f"temp_store must be 'memory' or 'file', not {self.temp_store!r}")
        if self.max_temp_bytes < 0:
            raise ValueError(f"max_temp_bytes must not be negative, got {self.max_temp_bytes}")
        object.__setattr__(self, "_hash", hash(self.settings()))


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
            ``unknown_table``, ``unavailable``, ``cancelled``, ``over_budget`` (only with an
            :class:`InlineBudget`: the statement needs more than the budget allows, which says
            nothing about the SQL; run it again without one).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CancelToken:
    """Says, from any thread, that the calls made on behalf of one request should stop.

    A call checks it once it is registered as running, and :meth:`Sandbox.interrupt` stops a call
    already running; together no cancellation is lost, however the two threads interleave.
    """

    __slots__ = ("_cancelled",)

    def __init__(self) -> None:
        self._cancelled = False

    def cancel(self) -> None:
        """Ask the calls of this request to stop."""
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled


@dataclass(frozen=True)
class InlineBudget:
    """A much smaller allowance for a statement run where a slow one would hold up others.

    A server's event loop answers every session; it may try a statement it has never seen under
    this budget and hand it to a worker thread when it does not fit (``SandboxError`` with code
    ``over_budget``). Every bound is checked by SQLite itself, between VM instructions, so the
    time one attempt can take is bounded whatever the SQL:

    * ``max_s`` of wall-clock time and ``max_ops`` VM instructions, both checked by a progress
      handler every ``check_every`` instructions (no watchdog thread is woken);
    * values of at most ``max_value_bytes`` and LIKE/GLOB patterns of at most ``max_like_pattern``
      characters, so that no single instruction can be slow (SQLite notices nothing inside one);
    * statements of at most ``max_chars`` characters (compiling is not interruptible; an
      environment's bounded step holds an ANSWER's text to it too) on databases of at most
      ``max_db_bytes`` (a ``count(*)`` is one instruction that reads the whole table);
    * results of at most ``max_cells`` cells (rows times columns), so what comes after the
      statement (rendering, the reward's similarity) stays as small as the statement.
    """

    max_s: float = 0.001
    max_ops: int = 50_000
    check_every: int = 256
    max_value_bytes: int = 4_096
    max_like_pattern: int = 32
    max_cells: int = 2_000
    max_chars: int = 2_000
    max_db_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_s <= 0 or self.max_ops < 1 or self.check_every < 1:
            raise ValueError("an inline budget needs positive max_s, max_ops and check_every")
