"""The episode engine: one question, a hidden schema, four actions, a shaped reward."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import ValidationError

from sqlenv_core.datasets.base import Dataset, Question
from sqlenv_core.protocol import Cell, SQLAction, SQLObservation, SQLState
from sqlenv_core.render import format_table, resolve_table_name, shown_rows
from sqlenv_core.rewards import EpisodeRewards, ExploreKind, ExploreOutcome, RewardProfile, get_profile
from sqlenv_core.sandbox import (
    SHARED_POOL,
    CancelToken,
    InlineBudget,
    QueryResult,
    Sandbox,
    SandboxError,
    SandboxLimits,
    quote_identifier,
)
from sqlenv_core.verifier import DEFAULT_FLOAT_TOLERANCE, verify

__all__ = ["DEFAULT_INLINE_BUDGET", "DISPLAY_ROWS", "SAMPLE_ROWS", "RevealRewards", "SQLEnvironment"]

#: What :meth:`SQLEnvironment.step_bounded` allows by default: about a millisecond of SQLite.
DEFAULT_INLINE_BUDGET = InlineBudget()

RevealRewards = Literal["step", "episode"]
"""When rewards are shown: after every step, or only as the whole return on the episode's last step."""

#: Rows of a result shown to the agent (text and structured).
DISPLAY_ROWS = 20
#: Rows returned by SAMPLE.
SAMPLE_ROWS = 5
_HISTORY_ARG_CHARS = 200


@dataclass(frozen=True, slots=True)
class _Shown:
    """What an exploring step shows the agent: the text and the same rows, structured."""

    text: str
    columns: list[str] = field(default_factory=list[str])
    rows: list[list[Cell]] = field(default_factory=list[list[Cell]])
    truncated: bool = False


class _NeedsSQL(Exception):
    """A step asked to run from the cache alone needs to run SQL (raised before any state changes)."""


class SQLEnvironment:
    """An OpenEnv-style environment over a :class:`~sqlenv_core.datasets.Dataset`.

    Each episode picks a question; the agent sees the question and the table names only, and
    explores with DESCRIBE / SAMPLE / QUERY until it ANSWERs or runs out of budget.

    Args:
        dataset: the questions and databases (see :func:`sqlenv_core.datasets.load`), or a spec
            string such as ``"builtin"``.
        step_budget: exploring actions allowed per episode; ANSWER costs nothing.
        reward: a profile name (``"dense"``, ``"sparse"``) or a :class:`RewardProfile`.
        limits: sandbox limits for agent SQL (default: the dataset's).
        float_tolerance: relative tolerance when comparing floats in answers.
        cache_results: share results of deterministic SQL between all environments on the same
            dataset (the databases are immutable, so a result never goes stale).
        reveal_rewards: ``"step"`` reports each step's reward and its breakdown in
            ``info["reward"]``; ``"episode"`` reports 0 and no breakdown until the last step,
            which carries the whole return (the episode's sum is the same). Per-step rewards are
            a signal about the gold result (a query sharing no value with it earns no progress),
            so serve untrusted agents and evaluations with ``"episode"``; see docs/rewards.md.
        reveal_gold: put the gold SQL in the final observation's ``info["gold_sql"]`` (for
            demos and human play). Off by default: an agent that can read it, reset to the same
            question and replay it scores 100%.

    Example:
        >>> env = SQLEnvironment("builtin")  # doctest: +SKIP
        >>> obs = env.reset(seed=0)
        >>> obs = env.step(SQLAction(action_type="DESCRIBE", argument=obs.schema_info.split()[1]))
    """

    def __init__(
        self,
        dataset: Dataset | str,
        *,
        step_budget: int = 15,
        reward: str | RewardProfile = "dense",
        limits: SandboxLimits | None = None,
        float_tolerance: float = DEFAULT_FLOAT_TOLERANCE,
        cache_results: bool = True,
        reveal_rewards: RevealRewards = "step",
        reveal_gold: bool = False,
    ) -> None:
        if isinstance(dataset, str):
            from sqlenv_core.datasets import load

            dataset = load(dataset)
        if len(dataset) == 0:
            raise ValueError(f"dataset {dataset.name!r} has no questions")
        if step_budget < 1:
            raise ValueError(f"step_budget must be at least 1, got {step_budget}")
        if reveal_rewards not in get_args(RevealRewards):
            raise ValueError(f"reveal_rewards must be 'step' or 'episode', got {reveal_rewards!r}")
        self.reveal_rewards: RevealRewards = reveal_rewards
        self.reveal_gold = reveal_gold
        self.dataset = dataset
        self.step_budget = step_budget
        self.reward_profile = get_profile(reward)
        self.limits = limits or dataset.limits
        self.float_tolerance = float_tolerance
        self._cache = dataset.result_cache if cache_results and dataset.result_cache.max_bytes else None
        self._db_path = ""
        self._rng = random.Random()
        self._sandbox: Sandbox | None = None
        # The step in progress can be cancelled from another thread (interrupt()).
        self._step_lock = threading.Lock()
        self._cancel: CancelToken | None = None
        self._cached_only = False
        self._budget: InlineBudget | None = None
        self._question: Question | None = None
        self._rewards: EpisodeRewards | None = None
        # Episode bookkeeping in plain attributes (set on every step); ``state`` builds the model.
        self._episode_id: str | None = None
        self._steps = 0
        self._done = False
        self._history: list[str] = []
        self._described: dict[str, str] = {}
        self._tables: list[str] = []
        self._schema_cache: tuple[int, str] = (-1, "")
        self._last: SQLObservation | None = None

    # -- gym-style API -------------------------------------------------------------------------

    @property
    def state(self) -> SQLState:
        """Episode id, step count, question and database ids, done flag and return so far."""
        question = self._question
        return SQLState(
            episode_id=self._episode_id,
            step_count=self._steps,
            question_id=question.id if question is not None else None,
            db_id=question.db_id if question is not None else None,
            done=self._done,
            total_reward=self._shown_total(),
        )

    def _shown_total(self) -> float:
        if self._rewards is None or (self.reveal_rewards == "episode" and not self._done):
            return 0.0
        return round(self._rewards.total, 10)

    @property
    def question(self) -> Question | None:
        """The current question (with its gold SQL): for harnesses and oracles, not for agents."""
        return self._question

    def reset(self, *, seed: int | None = None, question_id: str | None = None) -> SQLObservation:
        """Start an episode on ``question_id``, or on a question drawn with ``seed``.

        A seed reseeds the environment's generator (as in Gymnasium), so ``reset(seed=s)``
        always gives the same question and the unseeded resets after it follow a fixed sequence.

        Raises:
            KeyError: ``question_id`` is not in the dataset.
        """
        if seed is not None:
            self._rng = random.Random(seed)
        if question_id is not None:
            question = self.dataset.question(question_id)
        else:
            question = self.dataset.questions[self._rng.randrange(len(self.dataset))]
        db_path = str(self.dataset.db_path(question.db_id))
        if db_path != self._db_path:
            # Sandboxes borrow connections per call from the shared pool: moving to another
            # database closes nothing, and that database's idle connection is reused.
            self._sandbox = None
        self._question = question
        self._db_path = db_path
        self._rewards = EpisodeRewards(self.reward_profile, self.dataset.gold(question.id))
        self._history = []
        self._described = {}
        self._schema_cache = (-1, "")
        self._tables = self.dataset.table_names(question.db_id)
        self._episode_id = uuid.uuid4().hex
        self._steps = 0
        self._done = False
        self._last = self._observe(result=f"Database {question.db_id!r} with {len(self._tables)} tables.")
        return self._last

    def step(self, action: SQLAction | Mapping[str, Any] | Any) -> SQLObservation:
        """Apply one action. Never raises for anything an agent can send.

        Invalid actions (unknown type, empty argument, wrong shape) cost a step and come back with
        ``error`` set. After the episode is over, the final observation comes back again with an
        error saying so.
        """
        if self._question is None or self._rewards is None:
            return SQLObservation(error="no episode in progress: call reset() first")
        if self._done:
            assert self._last is not None
            return self._last.model_copy(
                update={"error": "the episode is over: call reset() to start a new one", "reward": 0.0}
            )
        with self._step_lock:
            self._cancel = CancelToken()
        try:
            return self._step(action)
        finally:
            with self._step_lock:
                self._cancel = None

    def _step(self, action: object) -> SQLObservation:
        parsed, problem = _parse_action(action)
        if parsed is None:
            return self._explore_step(ExploreOutcome("INVALID", ok=False), _describe_raw(action), problem)
        kind, arg = parsed.action_type, parsed.argument
        if kind == "ANSWER":
            return self._answer(arg)
        if not arg.strip():
            what = "a table name" if kind in ("DESCRIBE", "SAMPLE") else "an SQL query"
            return self._explore_step(ExploreOutcome(kind, ok=False), kind, f"{kind} needs {what} as its argument")
        if kind == "QUERY":
            return self._query(arg)
        return self._table_action(kind, arg)

    def step_cached(self, action: SQLAction) -> SQLObservation | None:
        """Take the step only if it runs no SQL: every statement it needs is in the result cache.

        A server may run such a step on its event loop (it costs microseconds and cannot block);
        ``None`` means the step needs the database, and nothing was changed: send it to
        :meth:`step`.
        """
        self._cached_only = True
        try:
            return self.step(action)
        except _NeedsSQL:
            return None
        finally:
            self._cached_only = False

    def step_bounded(self, action: SQLAction, budget: InlineBudget | None = None) -> SQLObservation | None:
        """Take the step only if it fits a small budget: SQL not in the result cache runs under it.

        A server may try a step it has never seen this way on its event loop: the time it can
        take is bounded by ``budget`` (:class:`~sqlenv_core.sandbox.InlineBudget`: about a
        millisecond, whatever the SQL), an ANSWER's text is held to ``budget.max_chars``, and
        ``None`` means the step needs more, with nothing changed: send it to :meth:`step`, which
        runs it again without the budget.
        """
        budget = budget or DEFAULT_INLINE_BUDGET
        if action.action_type == "ANSWER" and len(action.argument) > budget.max_chars:
            return None
        self._budget = budget
        try:
            return self.step(action)
        except _NeedsSQL:
            return None
        finally:
            self._budget = None

    def interrupt(self) -> bool:
        """Cancel the query this environment is running, from any thread (e.g. its client left).

        The step running it returns with an error instead of waiting for the query's deadline.

        Returns:
            Whether a step was running (its query, running or about to run, is cancelled).
        """
        with self._step_lock:
            token = self._cancel
            if token is None:
                return False
            token.cancel()
        box = self._sandbox
        if box is not None:
            box.interrupt()
        return True

    def abandon(self) -> SQLObservation:
        """End the episode without an answer, as a harness does when a rollout stops early.

        It pays what a wrong answer pays, and takes back the open shaping potential, so that
        stopping after a near miss never earns more than answering wrong (docs/rewards.md). The
        returned observation is final (``done``), with the verdict ``no answer``. On a finished
        episode it changes nothing and returns the final observation again.
        """
        if self._question is None or self._rewards is None:
            return SQLObservation(error="no episode in progress: call reset() first")
        if self._done:
            assert self._last is not None
            return self._last
        terms = self._rewards.on_abandon()
        info = {"reward": terms, **self._final_info(correct=False, reason="no answer: the episode was abandoned")}
        return self._finish(
            self._observe(result="Episode ended without an answer.", reward=terms["total"], done=True, info=info)
        )

    def close(self) -> None:
        """End the episode's use of the database. The environment can be reset again afterwards.

        Connections are borrowed per call from a pool shared by every environment in the
        process (:data:`sqlenv_core.sandbox.SHARED_POOL`), so an environment holds none between
        calls and there is nothing of its own to close.
        """
        self._sandbox = None

    def __enter__(self) -> SQLEnvironment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- actions -------------------------------------------------------------------------------

    def _box(self) -> Sandbox:
        assert self._question is not None
        if self._sandbox is None:
            self._sandbox = Sandbox(self._db_path, self.limits, pool=SHARED_POOL)
        return self._sandbox

    def _execute(self, sql: str) -> QueryResult:
        # Databases are immutable: a deterministic statement's result can be shared by every
        # session on the dataset (GRPO groups send many identical actions).
        cache = self._cache
        hit = cache.get(self._db_path, sql, self.limits) if cache is not None else None
        if hit is not None:
            return hit
        if self._cached_only:
            raise _NeedsSQL  # before the step has changed anything: see step_cached()
        if self._budget is not None:
            try:
                result = self._box().execute(sql, budget=self._budget)
            except SandboxError as exc:
                if exc.code == "over_budget":
                    raise _NeedsSQL from None  # nothing changed yet: see step_bounded()
                raise
        else:
            result = self._box().execute(sql, cancel=self._cancel)
        if cache is not None:
            cache.put(self._db_path, sql, self.limits, result)
        return result

    def _table_action(self, kind: ExploreKind, arg: str) -> SQLObservation:
        label = f"{kind} {_clip(arg)}"
        try:
            table = resolve_table_name(arg, self._tables)
            quoted = quote_identifier(table)
            if kind == "DESCRIBE":
                info = self._execute(f"PRAGMA table_info({quoted})")
                columns = [(str(r[1]), str(r[2] or "")) for r in info.rows]
                count = self._execute(f"SELECT count(*) FROM {quoted}").rows[0][0]
                self._described[table] = ", ".join(f"{name} {typ}".strip() for name, typ in columns)
                text = f"Table {table} ({count} rows)\n" + format_table(
                    ["column", "type"], columns, max_rows=len(columns)
                )
                shown = _Shown(text, ["column", "type"], [list(c) for c in columns])
            else:
                result = self._execute(f"SELECT * FROM {quoted} LIMIT {SAMPLE_ROWS}")
                shown = _Shown(format_table(result.columns, result.rows), result.columns, shown_rows(result.rows))
        except SandboxError as exc:
            return self._explore_step(ExploreOutcome(kind, ok=False), label, str(exc))
        return self._explore_step(ExploreOutcome(kind, ok=True, table=table), label, "", shown)

    def _query(self, sql: str) -> SQLObservation:
        label = f"QUERY {_clip(sql)}"
        try:
            result = self._execute(sql)
        except SandboxError as exc:
            return self._explore_step(ExploreOutcome("QUERY", ok=False, sql=sql), label, str(exc))
        text = format_table(result.columns, result.rows, max_rows=DISPLAY_ROWS)
        if result.truncated:
            text += f"\n(result cut at {len(result.rows)} rows)"
        shown = _Shown(
            text,
            result.columns,
            shown_rows(result.rows[:DISPLAY_ROWS]),
            truncated=result.truncated or len(result.rows) > DISPLAY_ROWS,
        )
        outcome = ExploreOutcome("QUERY", ok=True, sql=sql, rows=result.rows, columns=result.columns)
        return self._explore_step(outcome, label, "", shown)

    def _explore_step(
        self, outcome: ExploreOutcome, label: str, error: str, shown: _Shown | None = None
    ) -> SQLObservation:
        assert self._rewards is not None
        self._steps += 1
        self._history.append(label if not error else f"{label} -> error")
        terms = self._rewards.on_explore(outcome)
        info: dict[str, Any] = {"reward": terms}
        done = self._budget_left() <= 0
        if done:
            terms = self._rewards.on_budget_exhausted(terms)
            info = {"reward": terms, **self._final_info(correct=False, reason="step budget exhausted")}
        shown = shown or _Shown("")
        return self._finish(
            self._observe(
                result=shown.text,
                columns=shown.columns,
                rows=shown.rows,
                truncated=shown.truncated,
                error=error,
                reward=terms["total"],
                done=done,
                info=info,
            )
        )

    def _answer(self, text: str) -> SQLObservation:
        assert self._rewards is not None and self._question is not None
        verdict = verify(text, self.dataset.gold(self._question.id), float_tolerance=self.float_tolerance)
        self._history.append(f"ANSWER {_clip(text)}")
        terms = self._rewards.on_answer(verdict.correct)
        info = {"reward": terms, **self._final_info(correct=verdict.correct, reason=verdict.reason)}
        return self._finish(
            self._observe(
                result="Answer correct." if verdict.correct else f"Answer incorrect: {verdict.reason}.",
                reward=terms["total"],
                done=True,
                info=info,
            )
        )

    def _final_info(self, *, correct: bool, reason: str) -> dict[str, Any]:
        assert self._question is not None
        info: dict[str, Any] = {"verdict": {"correct": correct, "reason": reason}}
        if self.reveal_gold:
            info["gold_sql"] = self._question.gold_sql
        return info

    def _finish(self, obs: SQLObservation) -> SQLObservation:
        assert self._rewards is not None
        self._done = obs.done
        if self.reveal_rewards == "episode":
            # Nothing about the reward before the end; then the whole return and its breakdown.
            info = {k: v for k, v in obs.info.items() if k != "reward"}
            if obs.done:
                info["reward"] = {k: round(v, 10) for k, v in self._rewards.sums.items()}
            obs = _construct_observation(
                **{**vars(obs), "reward": round(self._rewards.total, 10) if obs.done else 0.0, "info": info}
            )
        self._last = obs
        return obs

    def _observe(
        self,
        *,
        result: str = "",
        columns: list[str] | None = None,
        rows: list[list[Cell]] | None = None,
        truncated: bool = False,
        error: str = "",
        reward: float | None = None,
        done: bool = False,
        info: dict[str, Any] | None = None,
    ) -> SQLObservation:
        assert self._question is not None
        # Every field is built here from trusted values; validation would only cost time on the
        # hot path (see _construct_observation).
        return _construct_observation(
            question=self._question.prompt,
            schema_info=self._schema_text(),
            result=result,
            columns=columns or [],
            rows=rows or [],
            truncated=truncated,
            error=error,
            step_count=self._steps,
            budget_remaining=self._budget_left(),
            action_history=list(self._history),
            done=done,
            reward=reward,
            info=info or {},
            metadata={},
        )

    def _budget_left(self) -> int:
        # Only exploring steps are counted in step_count (ANSWER is free), so the budget follows.
        return max(self.step_budget - self._steps, 0)

    def _schema_text(self) -> str:
        # Rebuilt only when a DESCRIBE adds a table, not on every step.
        key = len(self._described)
        if self._schema_cache[0] != key:
            lines = ["Tables: " + ", ".join(self._tables)]
            lines.extend(f"{table}: {cols}" for table, cols in self._described.items())
            self._schema_cache = (key, "\n".join(lines))
        return self._schema_cache[1]


_OBSERVATION_FIELDS = frozenset(SQLObservation.model_fields)
_set = object.__setattr__


def _fast_observation(**values: Any) -> SQLObservation:
    """``SQLObservation.model_construct(**values)`` for a complete set of fields, in a sixth of its time.

    It sets what model_construct sets (pydantic v2's documented instance attributes);
    :func:`_pick_constructor` compares the two at import and keeps model_construct if they differ.
    """
    observation = SQLObservation.__new__(SQLObservation)
    _set(observation, "__dict__", values)
    _set(observation, "__pydantic_fields_set__", set(_OBSERVATION_FIELDS))
    _set(observation, "__pydantic_extra__", None)
    _set(observation, "__pydantic_private__", None)
    return observation


def _pick_constructor() -> Callable[..., SQLObservation]:
    fields = SQLObservation.model_fields
    sample: dict[str, Any] = {name: info.get_default(call_default_factory=True) for name, info in fields.items()}
    fast, slow = _fast_observation(**dict(sample)), SQLObservation.model_construct(**sample)
    if fast == slow and vars(fast) == vars(slow) and fast.model_fields_set == slow.model_fields_set:
        return _fast_observation
    return SQLObservation.model_construct  # pragma: no cover - a pydantic that builds models differently


_construct_observation = _pick_constructor()


def _parse_action(action: object) -> tuple[SQLAction | None, str]:
    if isinstance(action, SQLAction):
        return action, ""
    if isinstance(action, Mapping):
        try:
            return SQLAction.model_validate(action), ""
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "action"
            hint = " (use DESCRIBE, SAMPLE, QUERY or ANSWER)" if where == "action_type" else ""
            return None, f"invalid action: {where}: {first.get('msg', 'invalid')}{hint}"
    return None, (
        f"invalid action of type {type(action).__name__}: send "
        '{"action_type": "DESCRIBE|SAMPLE|QUERY|ANSWER", "argument": "..."}'
    )


def _describe_raw(action: object) -> str:
    try:
        text = json.dumps(action, default=str)
    except (TypeError, ValueError):
        text = repr(action)
    return f"INVALID {_clip(text)}"


def _clip(text: str) -> str:
    # Collapsing whitespace never lengthens text, so a bounded prefix is enough for the label.
    head = text[: _HISTORY_ARG_CHARS * 8]
    flat = " ".join(head.split())
    if len(flat) <= _HISTORY_ARG_CHARS and len(head) == len(text):
        return flat
    return flat[: _HISTORY_ARG_CHARS - 1] + "…"
