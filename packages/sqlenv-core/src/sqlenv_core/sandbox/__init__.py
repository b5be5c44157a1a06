"""The SQL sandbox: every SQL string an agent sends runs here and nowhere else.

Read-only is enforced by construction, never by inspecting the SQL text:

* the database is opened through a read-only, immutable URI, so SQLite itself refuses writes;
* an authorizer allows reading (``SELECT``, reads of columns, functions other than a small deny
  list, recursive CTEs, table-valued functions and a few schema-reading PRAGMAs) and denies
  everything else: DML, DDL, temp objects, ``ATTACH``/``DETACH``, transactions, ``VACUUM INTO``,
  PRAGMA writes;
* ``sqlite3`` runs one statement per call.

Resources are bounded per call: a wall-clock deadline enforced by one watchdog thread that calls
``Connection.interrupt()`` (and checked again while rows are fetched), caps on rows fetched, cell
length and result size, and SQLite's own limits (string/blob length, SQL length, expression
depth, compound selects, LIKE pattern length) plus a process-wide heap cap
(``sqlite3_hard_heap_limit64`` through ``PRAGMA hard_heap_limit``). Temporary storage is in
SQLite's own unlinked temporary files by default, so sorts run in small pieces an interrupt can
stop and a query's memory stays small; what a query may keep there is capped
(``SandboxLimits.max_temp_bytes``, measured by the watchdog). See docs/sandbox.md.

SQLite notices an interrupt only between VM instructions, so a single built-in function that does
a lot of work on one call could overrun the deadline. The built-ins whose cost grows faster than
their input (``instr``, ``replace``, two-argument ``trim``/``ltrim``/``rtrim``, ``printf``'s
``%c`` repetition) are replaced by linear-time equivalents; ``LIKE``/``GLOB`` stay native (and
fast) but are bounded by the pattern length, the value length and a per-statement count.
See ``docs/sandbox.md`` for the threat model and the measured bounds.

Modules: :mod:`.engine` (:class:`Sandbox`), :mod:`.pool` (opening connections, and idle ones
shared per database: :data:`SHARED_POOL`), :mod:`.authorizer`, :mod:`.functions` (the linear
built-ins), :mod:`.watchdog` (the deadline and the temporary-storage cap), :mod:`.heap` (the
process-wide heap cap, set once with :func:`set_heap_limit`), :mod:`.limits`. How results are
shown to an agent is the environment's business (:mod:`sqlenv_core.render`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlenv_core.sandbox.engine import Sandbox, quote_identifier
from sqlenv_core.sandbox.heap import DEFAULT_HEAP_LIMIT_BYTES, heap_limit, set_heap_limit
from sqlenv_core.sandbox.limits import CancelToken, InlineBudget, QueryResult, SandboxError, SandboxLimits
from sqlenv_core.sandbox.pool import SHARED_POOL, ConnectionPool

if TYPE_CHECKING:
    from sqlenv_core.render import format_table, resolve_table_name

__all__ = [
    "DEFAULT_HEAP_LIMIT_BYTES",
    "CancelToken",
    "SHARED_POOL",
    "ConnectionPool",
    "InlineBudget",
    "QueryResult",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "format_table",
    "heap_limit",
    "quote_identifier",
    "resolve_table_name",
    "set_heap_limit",
]


def __getattr__(name: str) -> Any:
    # Rendering moved to sqlenv_core.render (it is the environment's side); the old import path
    # keeps working without a cycle (render imports this package).
    if name in ("format_table", "resolve_table_name"):
        from sqlenv_core import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
