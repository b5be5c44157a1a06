"""The deadline: one watchdog thread interrupts every connection whose deadline has passed."""

from __future__ import annotations

import heapq
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable

__all__ = ["REPEAT_S", "WATCHDOG", "Watchdog"]

#: Seconds between two interrupts of a call that is past its deadline and still running.
REPEAT_S = 0.05


class Watchdog:
    """One daemon thread that interrupts connections whose deadline has passed.

    A progress handler would enforce deadlines too, but it calls back into Python every few
    hundred VM instructions, taking the GIL each time: with several sessions querying at once,
    threads then queue for the GIL instead of running SQLite in parallel. The watchdog costs one
    heap push and pop per call and wakes only when a deadline is due (or an earlier one arrives).

    SQLite ignores an interrupt that arrives while no statement is running, so one that lands
    just before a statement starts would be lost: an expired call is therefore interrupted again
    every :data:`REPEAT_S` until it is disarmed.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, tuple[sqlite3.Connection, Callable[[], None]]] = {}
        self._tokens = itertools.count()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def arm(self, conn: sqlite3.Connection, deadline: float, on_expiry: Callable[[], None]) -> int:
        """Interrupt ``conn`` at ``deadline`` (monotonic), calling ``on_expiry`` first; returns a token."""
        token = next(self._tokens)
        with self._cond:
            self._armed[token] = (conn, on_expiry)
            heapq.heappush(self._heap, (deadline, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlenv-sandbox-watchdog", daemon=True)
                self._thread.start()
            elif deadline < self._wake_at:
                self._cond.notify()
        return token

    def expire_now(self, token: int) -> None:
        """Interrupt the call armed with ``token`` at once (cancellation), if it is still armed."""
        with self._cond:
            if token in self._armed:
                heapq.heappush(self._heap, (time.monotonic(), token))
                self._cond.notify()

    def disarm(self, token: int) -> None:
        """Cancel the interrupt for ``token`` (the call finished in time)."""
        # Under the lock, so an interrupt is never delivered once the call has returned.
        with self._cond:
            self._armed.pop(token, None)

    def _run(self) -> None:
        heap = self._heap
        with self._cond:
            while True:
                while heap and heap[0][1] not in self._armed:
                    heapq.heappop(heap)
                if not heap:
                    self._wake_at = float("inf")
                    self._cond.wait()
                    continue
                deadline, token = heap[0]
                now = time.monotonic()
                if now < deadline:
                    self._wake_at = deadline
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(heap)
                conn, on_expiry = self._armed[token]
                on_expiry()
                conn.interrupt()
                heapq.heappush(heap, (now + REPEAT_S, token))  # until disarmed: see the class docstring


#: The process's one watchdog (its thread starts on first use).
WATCHDOG = Watchdog()
