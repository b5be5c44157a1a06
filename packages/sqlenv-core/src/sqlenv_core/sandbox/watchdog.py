"""The deadline and the temporary-storage budget: one watchdog thread interrupts calls that pass them."""

from __future__ import annotations

import heapq
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Callable

__all__ = [
    "PROBE_EVERY_S",
    "REPEAT_S",
    "WATCHDOG",
    "TempBudget",
    "Watchdog",
    "temp_files_bytes",
    "thread_bytes_written",
]

#: Seconds between two interrupts of a call that is past its deadline and still running.
REPEAT_S = 0.05
#: Seconds between two measurements of SQLite's temporary files while calls with a budget have
#: been running at least this long (shorter calls are never measured).
PROBE_EVERY_S = 0.05


def thread_bytes_written(native_id: int) -> int | None:
    """Bytes the thread ``native_id`` of this process has passed to ``write`` so far (Linux), or None.

    SQLite writes its temporary files from the thread that runs the statement, so what a
    sandboxed call's thread writes while it runs tells which call is filling them.
    """
    try:
        with open(f"/proc/self/task/{native_id}/io", "rb") as handle:
            for line in handle:
                if line.startswith(b"wchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def temp_files_bytes() -> int | None:
    """Bytes held now by SQLite's temporary files in this process (Linux), or None.

    SQLite names them ``etilqs_*`` and unlinks them as it creates them, so they are found through
    the process's open file descriptors, and their size is what they occupy until closed.
    """
    total = 0
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        try:
            if "/etilqs_" in os.readlink(f"/proc/self/fd/{name}"):
                total += os.fstat(int(name)).st_size
        except (OSError, ValueError):
            continue  # closed meanwhile
    return total


TempBudget = tuple[int, int, Callable[[], None]]
"""A call's temporary-storage budget: (its thread's ``native_id``, max bytes, called when exceeded)."""

_DEADLINE, _SWEEP = 0, 1
_NO_TOKEN = -1


class Watchdog:
    """One daemon thread that interrupts connections whose deadline (or temporary-storage budget) has passed.

    A progress handler would enforce deadlines too, but it calls back into Python every few
    hundred VM instructions, taking the GIL each time: with several sessions querying at once,
    threads then queue for the GIL instead of running SQLite in parallel. The watchdog costs one
    heap push and pop per call and wakes only when a deadline is due (or an earlier one arrives),
    and every :data:`PROBE_EVERY_S` while calls with a temporary-storage budget have run that
    long, to measure SQLite's temporary files (shorter calls cost nothing more).

    SQLite ignores an interrupt that arrives while no statement is running, so one that lands
    just before a statement starts would be lost: an expired call is therefore interrupted again
    every :data:`REPEAT_S` until it is disarmed.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, int]] = []
        # token -> (connection, on_expiry, temporary-storage budget or None, start time)
        self._armed: dict[int, tuple[sqlite3.Connection, Callable[[], None], TempBudget | None, float]] = {}
        self._last_written: dict[int, int] = {}
        self._sweep_at: float | None = None
        self._unsupported = False
        self._tokens = itertools.count()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def arm(
        self,
        conn: sqlite3.Connection,
        deadline: float,
        on_expiry: Callable[[], None],
        temp_budget: TempBudget | None = None,
    ) -> int:
        """Interrupt ``conn`` at ``deadline`` (monotonic), calling ``on_expiry`` first; returns a token.

        With a ``temp_budget``, the call is also interrupted once its share of SQLite's temporary
        files passes the budget (measured every :data:`PROBE_EVERY_S` once the call has run that
        long; see :meth:`_sweep`).
        """
        token = next(self._tokens)
        now = time.monotonic()
        with self._cond:
            self._armed[token] = (conn, on_expiry, temp_budget, now)
            heapq.heappush(self._heap, (deadline, token, _DEADLINE))
            first = deadline
            if temp_budget is not None and self._sweep_at is None and not self._unsupported:
                self._sweep_at = now + PROBE_EVERY_S
                heapq.heappush(self._heap, (self._sweep_at, _NO_TOKEN, _SWEEP))
                first = min(first, self._sweep_at)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlenv-sandbox-watchdog", daemon=True)
                self._thread.start()
            elif first < self._wake_at:
                self._cond.notify()
        return token

    def expire_now(self, token: int) -> None:
        """Interrupt the call armed with ``token`` at once (cancellation), if it is still armed."""
        with self._cond:
            if token in self._armed:
                heapq.heappush(self._heap, (time.monotonic(), token, _DEADLINE))
                self._cond.notify()

    def disarm(self, token: int) -> None:
        """Cancel the interrupt for ``token`` (the call finished in time)."""
        # Under the lock, so an interrupt is never delivered once the call has returned.
        with self._cond:
            if self._armed.pop(token, None) is not None:
                self._last_written.pop(token, None)

    def _run(self) -> None:
        heap = self._heap
        with self._cond:
            while True:
                while heap and heap[0][2] == _DEADLINE and heap[0][1] not in self._armed:
                    heapq.heappop(heap)
                if not heap:
                    self._wake_at = float("inf")
                    self._cond.wait()
                    continue
                when, token, kind = heap[0]
                now = time.monotonic()
                if now < when:
                    self._wake_at = when
                    self._cond.wait(when - now)
                    continue
                heapq.heappop(heap)
                if kind == _SWEEP:
                    self._sweep(now)
                    continue
                conn, on_expiry, _, _ = self._armed[token]
                on_expiry()
                conn.interrupt()
                heapq.heappush(heap, (now + REPEAT_S, token, _DEADLINE))  # until disarmed: see the docstring

    def _sweep(self, now: float) -> None:
        """Measure the temporary files; interrupt a budgeted call whose share of them is over its budget.

        Files are per process, not per call: when one long-running call has a budget, they are
        all its own (short calls cannot have written much); when several run, the total is shared
        in proportion to what each call's thread wrote since the last sweep (the writers now).
        """
        due = [
            (token, budget)
            for token, (_, _, budget, started) in self._armed.items()
            if budget is not None and now - started >= PROBE_EVERY_S
        ]
        if due:
            # Reading /proc takes a while: the lock is released, so other calls still arm and disarm.
            self._cond.release()
            try:
                footprint = temp_files_bytes()
                readings = [(token, budget, thread_bytes_written(budget[0])) for token, budget in due]
            finally:
                self._cond.acquire()
            if footprint is None:
                self._unsupported = True  # no /proc here: only the deadline bounds temporary files
            else:
                self._enforce(footprint, readings)
        self._sweep_at = None
        if not self._unsupported and any(budget is not None for _, _, budget, _ in self._armed.values()):
            self._sweep_at = time.monotonic() + PROBE_EVERY_S
            heapq.heappush(self._heap, (self._sweep_at, _NO_TOKEN, _SWEEP))

    def _enforce(self, footprint: int, readings: list[tuple[int, TempBudget, int | None]]) -> None:
        live = [(token, budget, written) for token, budget, written in readings if token in self._armed]
        recent: dict[int, int] = {}
        for token, _, written in live:
            if written is not None:
                recent[token] = written - self._last_written.get(token, written)
                self._last_written[token] = written
        total = sum(recent.values())
        for token, budget, _ in live:
            share = 1.0 if len(live) == 1 else (recent.get(token, 0) / total if total else 1.0 / len(live))
            if footprint * share > budget[1]:
                budget[2]()
                heapq.heappush(self._heap, (time.monotonic(), token, _DEADLINE))


#: The process's one watchdog (its thread starts on first use).
WATCHDOG = Watchdog()
