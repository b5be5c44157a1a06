"""Reward profiles: what each step pays, and why.

Two named profiles ship, and a :class:`RewardProfile` is a plain frozen dataclass, so a custom
profile is one constructor call away (``RewardProfile("mine", step_cost=-0.02, ...)``).

``sparse``
    1 for a correct ANSWER, 0 for anything else.

``dense`` (default)
    The terminal 1/0 plus small shaping terms, all reported per step in
    ``observation.info["reward"]``:

    * ``step_cost`` on every exploring action (DESCRIBE, SAMPLE, QUERY), valid or not;
    * ``success`` when the action executed, ``error`` when it did not (bad SQL, unknown table,
      an invalid action);
    * ``new_info`` when the action revealed something not seen before in the episode (a table
      described or sampled for the first time, a query result never seen);
    * ``repeat`` when the action repeats an earlier one (queries compared in normal form, so
      spelling, case and whitespace do not hide a repeat);
    * ``progress``: potential-based shaping ``F = Φ(s') − Φ(s)`` with
      ``Φ(s) = progress_weight × similarity(last QUERY result, gold result)`` and ``Φ = 0`` once
      the episode ends. Moving away from the gold result and back nets exactly zero, and the
      progress terms of a whole episode sum to zero, so shaping speeds learning without changing
      which policy is optimal (Ng, Harada & Russell, 1999).

See docs/rewards.md for the formula, the default weights and a calibration on Spider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from sqlenv_core.protocol import Cell
from sqlenv_core.rewards.similarity import result_similarity
from sqlenv_core.sqlinfo import normalize_sql
from sqlenv_core.verifier import GoldResult

__all__ = [
    "PROFILES",
    "EpisodeRewards",
    "ExploreKind",
    "ExploreOutcome",
    "RewardProfile",
    "get_profile",
    "result_similarity",
]


@dataclass(frozen=True)
class RewardProfile:
    """Weights of each reward term. All zero except ``correct`` gives the sparse profile."""

    name: str
    correct: float = 1.0
    wrong: float = 0.0
    step_cost: float = 0.0
    success: float = 0.0
    error: float = 0.0
    new_info: float = 0.0
    repeat: float = 0.0
    progress_weight: float = 0.0

    @cached_property
    def shaped(self) -> bool:
        """Whether any per-step term is non-zero (sparse profiles skip all bookkeeping)."""
        return any((self.step_cost, self.success, self.error, self.new_info, self.repeat, self.progress_weight))


PROFILES: dict[str, RewardProfile] = {
    "sparse": RewardProfile("sparse"),
    "dense": RewardProfile(
        "dense",
        # A novel, successful exploring step nets -0.005: exploring is never worth it for its own
        # sake (no farming the budget), but informative steps cost far less than errors or repeats.
        step_cost=-0.02,
        success=0.005,
        error=-0.02,
        new_info=0.01,
        repeat=-0.03,
        progress_weight=0.1,
    ),
}


def get_profile(profile: str | RewardProfile) -> RewardProfile:
    """Resolve a profile name (``"sparse"``, ``"dense"``) or pass a profile through.

    Raises:
        ValueError: the name is unknown; the message lists the known ones.
    """
    if isinstance(profile, RewardProfile):
        return profile
    try:
        return PROFILES[profile.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown reward profile {profile!r}; use one of {', '.join(PROFILES)}") from None


ExploreKind = Literal["DESCRIBE", "SAMPLE", "QUERY", "INVALID"]
"""An exploring step's kind; ``INVALID`` is an action that could not be read at all."""


@dataclass(frozen=True, slots=True)
class ExploreOutcome:
    """What an exploring step did, as the rewards need to know it.

    Attributes:
        kind: the action type (``INVALID`` for an unreadable action).
        ok: the action executed.
        table: for DESCRIBE/SAMPLE, the resolved table name (identifies a repeat).
        sql: for QUERY, the SQL text (repeat detection, in normal form).
        rows: for a successful QUERY, every fetched row (the progress term compares them to the gold).
        columns: the result's column names, with ``rows``.
    """

    kind: ExploreKind
    ok: bool
    table: str | None = None
    sql: str | None = None
    rows: Sequence[Sequence[Cell]] | None = None
    columns: Sequence[str] = ()


# Results of at most this many cells have their similarity remembered within an episode.
_MEMO_MAX_CELLS = 400
# A QUERY's result as the rewards key it: its column names and its rows.
_Result = tuple[tuple[str, ...], tuple[tuple[Cell, ...], ...]]


@dataclass(slots=True)
class _SeenQuery:
    """A query whose result the episode has seen, and its normal form once needed."""

    sql: str
    _normal: str | None = None

    def normal(self) -> str:
        if self._normal is None:
            self._normal = normalize_sql(self.sql)
        return self._normal


@dataclass
class EpisodeRewards:
    """Per-episode reward bookkeeping: call one ``on_*`` method per step, get its breakdown."""

    profile: RewardProfile
    gold: GoldResult
    total: float = 0.0
    potential: float = 0.0
    #: Each term summed over the episode so far (``total`` included): the whole return's breakdown.
    sums: dict[str, float] = field(default_factory=dict[str, float])
    _seen_actions: set[tuple[str, str]] = field(default_factory=set[tuple[str, str]])
    _queries_by_result: dict[int, list[_SeenQuery]] = field(default_factory=dict[int, list["_SeenQuery"]])
    _similarity_by_result: dict[int, tuple[_Result, float]] = field(default_factory=dict[int, tuple["_Result", float]])

    def on_explore(self, outcome: ExploreOutcome) -> dict[str, float]:
        """Breakdown for an exploring step (DESCRIBE, SAMPLE, QUERY or an invalid action)."""
        p = self.profile
        if not p.shaped:
            return self._record({})
        ok = outcome.ok
        terms: dict[str, float] = {"step_cost": p.step_cost}
        terms["success" if ok else "error"] = p.success if ok else p.error
        result: _Result | None = None
        if outcome.sql is not None and outcome.rows is not None:
            result = (tuple(outcome.columns), tuple(map(tuple, outcome.rows)))
            repeat, novel = self._query_seen(outcome.sql, result)
        else:
            # A failed query's identity is its normal form; a table action's, its table.
            key = normalize_sql(outcome.sql) if outcome.sql is not None else outcome.table
            action_key = (outcome.kind, key) if key is not None else None
            repeat = action_key is not None and action_key in self._seen_actions
            novel = ok and not repeat
            if action_key is not None:
                self._seen_actions.add(action_key)
        if repeat:
            terms["repeat"] = p.repeat
        elif novel:
            terms["new_info"] = p.new_info
        if outcome.kind == "QUERY" and ok and outcome.rows is not None and p.progress_weight:
            new_potential = p.progress_weight * self._similarity(outcome.rows, result)
            terms["progress"] = new_potential - self.potential
            self.potential = new_potential
        return self._record(terms)

    def _similarity(self, rows: Sequence[Sequence[Cell]], result: _Result | None) -> float:
        # The same result scores the same against the same gold: computed once per episode. Only
        # small results are kept to check against (an idle session keeps its last episode).
        if result is None or len(rows) * len(result[0]) > _MEMO_MAX_CELLS:
            return result_similarity(rows, self.gold)
        key = hash(result)
        known = self._similarity_by_result.get(key)
        if known is not None and known[0] == result:
            return known[1]
        score = result_similarity(rows, self.gold)
        self._similarity_by_result[key] = (result, score)
        return score

    def _query_seen(self, sql: str, result: _Result) -> tuple[bool, bool]:
        """(is a repeat, is new information) for a query that returned ``result``.

        The database is read-only, so the same query always returns the same result: a result
        never seen before proves the query is new, and the normal form of a query's SQL is only
        computed when its result comes back a second time (and then once).
        """
        fingerprint = hash(result)
        earlier = self._queries_by_result.get(fingerprint)
        if earlier is None:
            self._queries_by_result[fingerprint] = [_SeenQuery(sql)]
            return False, True
        normal = normalize_sql(sql)
        repeat = any(seen.normal() == normal for seen in earlier)
        earlier.append(_SeenQuery(sql, normal))
        return repeat, False

    def on_answer(self, correct: bool) -> dict[str, float]:
        """Breakdown for ANSWER: the terminal reward, and the potential returned to zero."""
        terms = {"terminal": self.profile.correct if correct else self.profile.wrong}
        return self._record(self._close_potential(terms))

    def on_budget_exhausted(self, terms: dict[str, float]) -> dict[str, float]:
        """Fold the end of the episode (no answer: terminal 0) into the last step's ``terms``."""
        self.total -= terms.get("total", 0.0)
        for name, value in terms.items():
            self.sums[name] -= value
        merged = {k: v for k, v in terms.items() if k != "total"}
        merged["terminal"] = 0.0
        return self._record(self._close_potential(merged))

    def on_abandon(self) -> dict[str, float]:
        """Breakdown for an episode ended without an ANSWER: a wrong answer's terminal, potential returned.

        Shaping pays ``Φ(s)`` while the episode is open; a rollout cut off before it answers
        must give it back, or stopping after a near miss would pay more than answering wrong.
        """
        return self._record(self._close_potential({"terminal": self.profile.wrong}))

    def _close_potential(self, terms: dict[str, float]) -> dict[str, float]:
        if self.potential:
            terms["progress"] = terms.get("progress", 0.0) - self.potential
            self.potential = 0.0
        return terms

    def _record(self, terms: dict[str, float]) -> dict[str, float]:
        # Rounded to 10 decimals, so sums of the weights print as written (-0.005, not -0.00499...).
        step_total = round(sum(terms.values()) * 1e10) / 1e10
        terms["total"] = step_total
        self.total += step_total
        sums = self.sums
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + value
        return terms
