"""A bounded, thread-safe cache of query results over immutable databases.

SQLEnv's databases never change, so the same deterministic SQL always gives the same result.
RL training leans on that: the G rollouts of one GRPO group ask the same question and send many
identical DESCRIBEs, SAMPLEs and QUERYs. The cache keeps results by (database, SQL, limits), only
for statements the sandbox marked deterministic, within a byte budget (least recently used out)
and for a limited idle time.

What it holds is counted, not estimated from the result: each entry is one ``bytes`` object (the
columns, rows and flags, marshalled) under a 16-byte keyed digest of its SQL, so an agent's 20 KB
comment costs 16 bytes, not 20 KB twice (the SQL and SQLite's echo of it as a column name would
otherwise both be kept). Byte strings hold no references, so a full cache adds nothing for the
garbage collector to scan.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from sqlenv_core.sandbox import QueryResult

__all__ = ["DEFAULT_CACHE_BYTES", "DEFAULT_CACHE_TTL_S", "ENTRY_OVERHEAD_BYTES", "ResultCache"]

#: Default budget: results are small (at most ``SandboxLimits.max_result_bytes`` each).
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
#: Default idle time after which an entry is dropped (its result would still be right: the
#: databases are immutable; this only gives memory back when a workload moves on).
DEFAULT_CACHE_TTL_S = 600.0
#: What an entry costs besides its marshalled result: the dictionary slot and ordering node, the
#: key (a tuple of the shared database path, a scope number and a 16-byte digest) and the value
#: tuple, measured with tracemalloc on CPython 3.11 (see tests/test_result_cache.py).
ENTRY_OVERHEAD_BYTES = 400

_Key = tuple[str, int, bytes]


class ResultCache:
    """Least-recently-used results within ``max_bytes``, each dropped after ``ttl_s`` unused.

    Args:
        max_bytes: the budget, in bytes really held (marshalled results plus a fixed overhead
            per entry); 0 disables the cache. May be changed later (takes effect on the next
            ``put``).
        ttl_s: seconds an entry may stay unused before it is dropped (``None``: no limit).
        clock: the time source (seconds, monotonic); tests pass their own.
    """

    def __init__(
        self,
        max_bytes: int = DEFAULT_CACHE_BYTES,
        *,
        ttl_s: float | None = DEFAULT_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive (or None for no limit), got {ttl_s}")
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        # key -> (marshalled result, bytes counted, monotonic time of last use)
        self._entries: OrderedDict[_Key, tuple[bytes, int, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._scopes: dict[Hashable, int] = {}
        # Keyed, so nobody outside this process can build two SQL texts with one digest.
        self._secret = os.urandom(16)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held now: every marshalled result plus :data:`ENTRY_OVERHEAD_BYTES` per entry."""
        return self._bytes

    def _key(self, db: str, sql: str, scope: Hashable) -> _Key:
        number = self._scopes.get(scope)
        if number is None:
            with self._lock:
                number = self._scopes.setdefault(scope, len(self._scopes))
        digest = hashlib.blake2b(sql.encode("utf-8", "surrogatepass"), digest_size=16, key=self._secret).digest()
        return (db, number, digest)

    def get(self, db: str, sql: str, scope: Hashable = None) -> QueryResult | None:
        """The cached result of ``sql`` on database ``db`` under ``scope`` (the limits), or ``None``."""
        key = self._key(db, sql, scope)
        now = self._clock()
        with self._lock:
            self._expire_locked(now)
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self._entries[key] = (entry[0], entry[1], now)
            self.hits += 1
        columns, rows, truncated, nbytes = marshal.loads(entry[0])
        return QueryResult(columns, rows, truncated, 0.0, nbytes=nbytes, deterministic=True)

    def put(self, db: str, sql: str, scope: Hashable, result: QueryResult) -> None:
        """Keep ``result`` if it is deterministic and fits (an entry may take an eighth of the budget)."""
        if not result.deterministic or self.max_bytes <= 0:
            return
        if result.nbytes > self.max_bytes // 8:
            return  # too large to keep; the estimate is enough to skip marshalling it
        blob = marshal.dumps((result.columns, result.rows, result.truncated, result.nbytes))
        size = len(blob) + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes // 8:
            return
        key = self._key(db, sql, scope)
        now = self._clock()
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (blob, size, now)
            self._bytes += size
            self._expire_locked(now)
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped, _) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def prune(self) -> int:
        """Drop the entries unused for longer than ``ttl_s``; returns how many were dropped."""
        with self._lock:
            before = len(self._entries)
            self._expire_locked(self._clock())
            return before - len(self._entries)

    def _expire_locked(self, now: float) -> None:
        # The dictionary is in order of last use, so expired entries are at its front.
        if self.ttl_s is None:
            return
        oldest = now - self.ttl_s
        entries = self._entries
        while entries:
            key, (_, size, used) = next(iter(entries.items()))
            if used >= oldest:
                break
            del entries[key]
            self._bytes -= size

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
