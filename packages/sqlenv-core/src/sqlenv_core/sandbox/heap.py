"""SQLite's heap cap: one setting for the whole process, set by one explicit call.

``sqlite3_hard_heap_limit64`` (``PRAGMA hard_heap_limit``) bounds every connection of the process
together, so it cannot be a per-sandbox limit. A server or a training run calls
:func:`set_heap_limit` once at start-up; if nothing has called it by the time the first sandbox
opens a database, :data:`DEFAULT_HEAP_LIMIT_BYTES` is applied then.
"""

from __future__ import annotations

import sqlite3
import threading

__all__ = ["DEFAULT_HEAP_LIMIT_BYTES", "ensure_heap_limit", "heap_limit", "set_heap_limit"]

#: The cap applied when nobody set one: all SQLite connections of the process together.
DEFAULT_HEAP_LIMIT_BYTES = 512 * 1024 * 1024

_lock = threading.RLock()  # ensure_heap_limit holds it across set_heap_limit
_current: int | None = None


def set_heap_limit(nbytes: int) -> None:
    """Cap SQLite's heap for the whole process at ``nbytes`` (and its soft limit at three quarters).

    Near the soft limit SQLite recycles cache pages instead of allocating new ones, so idle
    connections' caches do not starve a live query of the shared heap. Takes effect at once, for
    every connection, sandboxed or not.

    Raises:
        ValueError: ``nbytes`` is not positive.
    """
    global _current
    if nbytes <= 0:
        raise ValueError(f"the heap limit must be a positive number of bytes, got {nbytes}")
    with _lock:
        conn = sqlite3.connect(":memory:")
        try:
            conn.execute(f"PRAGMA hard_heap_limit={int(nbytes)}")
            conn.execute(f"PRAGMA soft_heap_limit={int(nbytes) * 3 // 4}")
        finally:
            conn.close()
        _current = int(nbytes)


def heap_limit() -> int | None:
    """The cap set through this module, or ``None`` before any was."""
    return _current


def ensure_heap_limit() -> None:
    """Apply :data:`DEFAULT_HEAP_LIMIT_BYTES` unless a cap was already set (sandboxes call it)."""
    if _current is None:
        with _lock:  # a cap another thread sets meanwhile is kept, not overwritten
            if _current is None:
                set_heap_limit(DEFAULT_HEAP_LIMIT_BYTES)
