"""Where environment work runs: in worker threads, fairly, and cancelled when nobody waits for it.

A step can take from microseconds (a cached DESCRIBE) to the sandbox deadline (a query bomb).
The event loop must never wait for one, and one client's slow steps must not hold up anybody
else's quick ones. So :class:`StepRunner` gives each step a worker thread and

* lets at most ``fresh_slots`` steps run Python at once, but a step still running after
  ``slow_after_s`` *inside SQLite* gives its slot back (one sweep every ``slow_after_s / 2``
  looks, so after 1 to 1.5 times ``slow_after_s``): 32 sessions each running a query bomb
  leave the slots free for a cheap query elsewhere, which starts at once instead of waiting for
  a bomb to reach its deadline. A step that is slow in Python (a reward over a wide result, the
  verdict on a long answer) keeps its slot until it is done: such work holds the GIL, and every
  thread doing it at once delays the event loop (``/health``, every other session) a little
  more, so their number stays bounded by ``fresh_slots``;
* when the awaiting task is cancelled (a WebSocket closed, an HTTP client went away, a session was
  closed), calls the step's ``cancel`` hook (``SQLEnvironment.interrupt``), then waits, shielded,
  for the thread to come back: the environment is idle again when the cancellation goes on.

Threads are bounded by ``max_threads``; a session runs one step at a time, so ``max_sessions``
threads are always enough.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

import anyio

__all__ = ["StepRunner"]

T = TypeVar("T")


#: Where a thread waits on SQLite with the GIL released: inside the sandbox's own code
#: (``sqlenv_core/sandbox/``, whose Python is a thin loop around ``execute`` and ``fetchmany``).
_SANDBOX_DIR = os.path.join("sqlenv_core", "sandbox", "")


def in_sqlite(frame: FrameType | None) -> bool:
    """Whether a thread whose innermost Python frame is ``frame`` is running SQLite (GIL released).

    Judged by where that frame's code lives: the sandbox. Anything else (the reward, the verifier,
    rendering) is Python that holds the GIL.
    """
    return frame is not None and _SANDBOX_DIR in frame.f_code.co_filename


class _Step:
    """A step handed to a worker thread (see :meth:`StepRunner._sweep` and :meth:`StepRunner.busy_for`)."""

    __slots__ = ("began", "done", "ident", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.ident = 0  # the worker thread's, once it runs
        self.began = 0.0  # time.monotonic() when the worker thread took it up (written there)
        self.done = False  # set by the worker thread as it returns


class StepRunner:
    """Runs blocking environment calls in threads without letting slow ones starve quick ones.

    Args:
        fresh_slots: steps that may start at once; a step gives its slot back after ``slow_after_s``.
        max_threads: worker threads at most (created on demand).
        slow_after_s: seconds after which a running step no longer holds a slot.
    """

    def __init__(self, *, fresh_slots: int, max_threads: int, slow_after_s: float) -> None:
        self.fresh_slots = fresh_slots
        self.slow_after_s = slow_after_s
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(max_threads, fresh_slots), thread_name_prefix="sqlenv-step"
        )
        # Since Python 3.10 an asyncio primitive binds to the loop where it is first awaited, not
        # where it is made: creating it here, outside any loop, is safe.
        self._slots = asyncio.Semaphore(fresh_slots)
        # Steps holding a slot, checked by one sweep every slow_after_s / 2 while there are any
        # (one timer for all of them, not one per step: a step costs a dict entry, no timer).
        self._holding: dict[asyncio.Future[None], _Step] = {}
        self._sweeping: asyncio.AbstractEventLoop | None = None  # the loop a sweep is scheduled on
        # Every step in a worker thread, in the order they were handed to the pool (see busy_for).
        self._started: dict[_Step, None] = {}

    @property
    def running(self) -> int:
        """Steps in a worker thread now (slow ones included)."""
        return len(self._started)

    async def run(self, call: Callable[[], T], cancel: Callable[[], object] | None = None) -> T:
        """Run ``call`` in a worker thread and return its result (or raise its exception).

        Args:
            call: the blocking work.
            cancel: called (on the loop) when the awaiting task is cancelled while ``call`` runs;
                it should make ``call`` return soon (``SQLEnvironment.interrupt``).
        """
        loop = asyncio.get_running_loop()
        await self._slots.acquire()
        finished: asyncio.Future[None] = loop.create_future()
        step = _Step(loop.time())
        self._holding[finished] = step
        if self._sweeping is not loop:
            self._sweeping = loop
            loop.call_later(self.slow_after_s / 2, self._sweep, loop)

        def wake(_: object) -> None:  # in the worker thread
            loop.call_soon_threadsafe(_settle, finished)

        def tracked() -> T:
            step.ident = threading.get_ident()
            step.began = time.monotonic()
            try:
                return call()
            finally:
                step.done = True

        self._started[step] = None
        try:
            future = self._executor.submit(tracked)
            future.add_done_callback(wake)
            try:
                await finished
            except BaseException:  # cancelled: stop the work, and wait until the thread is done with it
                if cancel is not None:
                    cancel()
                if not future.done():
                    back: asyncio.Future[None] = loop.create_future()
                    future.add_done_callback(lambda _: loop.call_soon_threadsafe(_settle, back))
                    with anyio.CancelScope(shield=True):
                        await asyncio.shield(back)
                raise
            return future.result()
        finally:
            del self._started[step]
            if self._holding.pop(finished, None) is not None:
                self._slots.release()

    def busy_for(self, seconds: float) -> bool:
        """Whether some worker thread has been running one step for more than ``seconds``.

        A step that long is doing real work: Python that holds the GIL (a reward over a wide result,
        a long answer's verdict) or SQLite that takes the GIL back at every row. Work on the event
        loop that releases the GIL (SQL: SQLite lets go between rows) then waits for such a thread
        each time it wants the GIL back. Steps that just started, or that are done and wait for the
        loop to collect them, do not count. Event loop only.
        """
        # The pool starts steps in the order they were handed to it, so the first one not yet done
        # has been running the longest: only it is looked at (steps that finished are skipped).
        for step in self._started:
            if step.done:
                continue
            return bool(step.began) and step.began < time.monotonic() - seconds
        return False

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give back the slots of steps running for ``slow_after_s`` inside SQLite (on the loop).

        Slow in SQLite: the slot goes to others. Slow in Python: kept, looked at again next sweep.
        """
        holding = self._holding
        if not holding or self._sweeping is not loop:
            if self._sweeping is loop:
                self._sweeping = None
            return
        oldest = loop.time() - self.slow_after_s
        slow = [(finished, step) for finished, step in holding.items() if step.started <= oldest and step.ident]
        if slow:
            frames = sys._current_frames()  # pyright: ignore[reportPrivateUsage]
            for finished, step in slow:
                if in_sqlite(frames.get(step.ident)):
                    del holding[finished]
                    self._slots.release()
        loop.call_later(self.slow_after_s / 2, self._sweep, loop)

    def shutdown(self) -> None:
        """Stop accepting work; threads finish what they run."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(finished: asyncio.Future[None]) -> None:
    if not finished.done():
        finished.set_result(None)
