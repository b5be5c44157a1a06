"""Which steps may run on the event loop: small ones, tried under a budget, and never a slow one again.

Handing a step to a worker thread and back costs about as much CPU as a cheap step itself
(a quarter to a third of a whole step, measured). But the event loop may only run work that is
known to be quick: one slow query there would stall every session. So a step runs there only
under an inline budget (:class:`sqlenv_core.sandbox.InlineBudget`, through
``SQLEnvironment.step_bounded``), which stops a statement that needs more than about a
millisecond of SQLite at once, with nothing changed, to run again in a worker thread.

SQLEnvironment's databases are immutable, so the same action on the same database costs about
the same every time; the server remembers what each action has cost (:class:`StepCosts`):

* an action never seen is tried on the loop under the budget;
* a cost is the CPU time of the thread that ran the step (waiting for the GIL or for a core is
  not work of the step's: on a busy machine one such wait would mark a cheap action slow);
* the cost kept is the most it ever took (a slow run is never forgotten while its entry lives),
  and an action that ever took ``cheap_s`` or more goes straight to a thread from then on, so
  the loop does not pay for its try again;
* an action costs what it costs on its database (DESCRIBE, SAMPLE) or against its question's
  gold answer (QUERY's reward, ANSWER's verdict), so the key says which.

Entries are kept by a digest of the action, so the table's memory is bounded whatever the SQL's
length.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from sqlenv_core.protocol import SQLAction

__all__ = ["StepCosts"]

_PER_DATABASE = frozenset({"DESCRIBE", "SAMPLE"})


class StepCosts:
    """The most each action has cost, least recently used out past ``max_entries``.

    Event loop only: the session manager keys, reads and records costs on the loop (never in a
    worker thread), so no lock is taken.

    Args:
        cheap_s: an action whose every run took less than this may run inline; ``0`` turns the
            fast path off (:attr:`enabled` is false and callers skip keying and recording).
        max_entries: actions remembered (about 100 bytes each).
    """

    def __init__(self, cheap_s: float, max_entries: int = 100_000) -> None:
        self.cheap_s = cheap_s
        self.max_entries = max_entries
        self._costs: OrderedDict[bytes, float] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Whether any step may run inline at all (``cheap_s`` above 0)."""
        return self.cheap_s > 0

    @staticmethod
    def key(action: SQLAction, db_id: str | None, question_id: str | None) -> bytes | None:
        """What ``action`` costs the same for (``None``: nothing known to key it by)."""
        scope = db_id if action.action_type in _PER_DATABASE else question_id
        if scope is None:
            return None
        digest = hashlib.blake2b(digest_size=16)
        for part in (scope, action.action_type, action.argument):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        return digest.digest()

    def is_cheap(self, key: bytes) -> bool:
        """Whether every run of this action so far took less than ``cheap_s``."""
        if not self.enabled:
            return False
        cost = self._costs.get(key)
        if cost is None:
            return False
        self._costs.move_to_end(key)
        return cost < self.cheap_s

    def known(self, key: bytes) -> bool:
        """Whether this action has run before (while its entry lives)."""
        return key in self._costs

    def record(self, key: bytes, seconds: float) -> None:
        """Remember that this action took ``seconds`` (the most it ever took is kept)."""
        previous = self._costs.pop(key, 0.0)
        self._costs[key] = max(previous, seconds)
        while len(self._costs) > self.max_entries:
            self._costs.popitem(last=False)

    def __len__(self) -> int:
        return len(self._costs)
