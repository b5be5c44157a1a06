"""One per-client session limit for all the workers of ``sqlenv-server --workers N``.

Each worker holds its own sessions, but a client's connections land on any worker: limits kept
per worker refused a client while it held few sessions in all, or let it hold N times its share.
:class:`SharedClientSlots` counts every worker's sessions per client in memory shared with the
parent (one row of counters per worker, clients hashed into buckets), so the limit is checked
against the client's sessions on every worker. A restarted worker's row is zeroed by the parent
(its sessions died with it). Two clients whose addresses share a bucket share its count: with
65,536 buckets that is rare, and errs on the side of refusing.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableSequence
from typing import Protocol

__all__ = ["BUCKETS", "ClientSlots", "SharedClientSlots", "bucket_of"]

#: Buckets clients are hashed into (4 bytes per bucket per worker of shared memory).
BUCKETS = 65_536
#: Seconds to wait for the shared lock; past it (a worker died holding it) the worker's own
#: counts decide, so a stuck lock never stops sessions from opening.
_LOCK_TIMEOUT_S = 1.0


class _Lock(Protocol):
    def acquire(self, block: bool = ..., timeout: float | None = ...) -> bool: ...
    def release(self) -> None: ...


class ClientSlots(Protocol):
    """Where the session manager checks and records a client's sessions across workers."""

    limit: int

    def acquire(self, client: str) -> int | None:
        """Take a slot for ``client``; ``None`` when taken, else the sessions it holds (refused)."""
        ...

    def release(self, client: str) -> None:
        """Give one of ``client``'s slots back."""
        ...

    def held(self, client: str) -> int:
        """Sessions ``client`` holds on every worker."""
        ...


def bucket_of(client: str) -> int:
    """The bucket of a client address (stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b(client.encode("utf-8", "surrogatepass"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class SharedClientSlots:
    """Per-client session counts of every worker, in shared memory.

    Args:
        counts: ``workers * BUCKETS`` shared integers (``multiprocessing.RawArray("i", ...)``).
        lock: a lock shared by the workers (``multiprocessing.Lock()``).
        index: this worker's row.
        workers: how many rows.
        limit: sessions one client may hold on all workers together.
    """

    def __init__(self, counts: MutableSequence[int], lock: _Lock, *, index: int, workers: int, limit: int) -> None:
        self.counts = counts
        self.lock = lock
        self.index = index
        self.workers = workers
        self.limit = limit

    def held(self, client: str) -> int:
        """Sessions ``client`` holds on every worker (read without the lock)."""
        column = bucket_of(client)
        return sum(self.counts[row * BUCKETS + column] for row in range(self.workers))

    def acquire(self, client: str) -> int | None:
        """Take a slot for ``client`` unless it holds ``limit`` sessions on all workers together."""
        column = bucket_of(client)
        own = self.index * BUCKETS + column
        locked = self.lock.acquire(True, _LOCK_TIMEOUT_S)
        try:
            total = sum(self.counts[row * BUCKETS + column] for row in range(self.workers))
            if total >= self.limit:
                return total
            self.counts[own] += 1
            return None
        finally:
            if locked:
                self.lock.release()

    def release(self, client: str) -> None:
        """Give a slot of ``client`` back (this worker's count only: no lock is needed)."""
        own = self.index * BUCKETS + bucket_of(client)
        if self.counts[own] > 0:
            self.counts[own] -= 1
