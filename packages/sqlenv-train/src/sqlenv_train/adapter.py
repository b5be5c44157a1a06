"""TRL's ``environment_factory`` for SQLEnv: one environment per rollout, four tools.

``GRPOTrainer(..., environment_factory=SQLEnvFactory("builtin:train"))`` gives every rollout its own
:class:`SQLEnvToolEnvironment`, whose public methods ``describe``, ``sample``, ``query`` and
``answer`` are the tools the model calls. Their names, descriptions and argument schemas come from
:mod:`sqlenv_core.tools`, the same definition the OpenAI-style policy and the server's MCP route use.

This module needs neither torch nor trl: the environment is plain Python, so it can be tested and
used (e.g. by another trainer) without the training stack.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, cast

from sqlenv_core.datasets import Dataset, Question, load
from sqlenv_core.environment import RevealRewards, SQLEnvironment
from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.tools import (
    DEFAULT_MAX_CHARS,
    SYSTEM_PROMPT,
    TOOLS,
    ToolCallError,
    get_tool,
    render_observation,
    render_start,
    tool_call_to_action,
)

__all__ = [
    "ENV_REWARDS",
    "EnvReward",
    "EpisodeBackend",
    "QuestionDraw",
    "RolloutRecord",
    "SQLEnvFactory",
    "SQLEnvToolEnvironment",
    "ServerCapacityError",
    "ToolTurn",
    "mixed_prompt_rows",
    "prompt_rows",
    "settle_rollout",
    "trl_tool_schemas",
]

#: What ``get_reward()`` returns when the environment owns the reward (``SQLEnvFactory(env_reward=...)``).
ENV_REWARDS = ("return", "correctness")
EnvReward = Literal["return", "correctness"]

_ARG_LOG_CHARS = 500


class ServerCapacityError(RuntimeError):
    """A remote server refused a session: it serves fewer sessions than the generation batch needs."""


class EpisodeBackend(Protocol):
    """What a rollout environment plays on: an in-process environment or a server session."""

    def reset(self, *, question_id: str | None = None, seed: int | None = None) -> SQLObservation:
        """Start an episode."""
        ...

    def step(self, action: SQLAction) -> SQLObservation:
        """Apply one action."""
        ...

    def abandon(self) -> SQLObservation:
        """End the episode without an answer (it pays what a wrong answer pays)."""
        ...

    def episode_state(self) -> SQLState:
        """The episode's bookkeeping."""
        ...

    def close(self) -> None:
        """Release what the backend holds."""
        ...


class _LocalBackend:
    """An in-process :class:`SQLEnvironment`; every instance shares the dataset's gold and result caches."""

    def __init__(self, dataset: Dataset, *, step_budget: int, reward: str, reveal_rewards: RevealRewards) -> None:
        self.env = SQLEnvironment(dataset, step_budget=step_budget, reward=reward, reveal_rewards=reveal_rewards)

    def reset(self, *, question_id: str | None = None, seed: int | None = None) -> SQLObservation:
        return self.env.reset(question_id=question_id, seed=seed)

    def step(self, action: SQLAction) -> SQLObservation:
        return self.env.step(action)

    def abandon(self) -> SQLObservation:
        return self.env.abandon()

    def episode_state(self) -> SQLState:
        return self.env.state

    def close(self) -> None:
        self.env.close()


class _RemoteBackend:
    """One session on a SQLEnv server (one WebSocket per rollout environment)."""

    def __init__(self, base_url: str, *, index: int, headers: Mapping[str, str] | None = None) -> None:
        from sqlenv_client import SQLEnvClient

        self.base_url = base_url
        self.index = index
        self.client = SQLEnvClient(base_url, headers=headers)

    def reset(self, *, question_id: str | None = None, seed: int | None = None) -> SQLObservation:
        from sqlenv_client import CapacityError

        try:
            return self.client.reset(seed=seed, question_id=question_id)
        except CapacityError as exc:
            # The server caps sessions in all and per client (a trainer is one client); say which.
            per_client = exc.details.get("max_sessions_per_client")
            if per_client is not None:
                limit, setting = f"max_sessions_per_client={per_client}", "SQLENV_MAX_SESSIONS_PER_CLIENT"
            else:
                limit, setting = f"max_sessions={exc.details.get('max_sessions', '?')}", "SQLENV_MAX_SESSIONS"
            raise ServerCapacityError(
                f"the server at {self.base_url} refused rollout environment #{self.index + 1} a session "
                f"({limit}): GRPO keeps one session per rollout of a generation batch "
                f"(per_device_train_batch_size x gradient_accumulation_steps, at least {self.index + 1} here). "
                f"Start the server with {setting} at least that large, or make the batch smaller."
            ) from exc

    def step(self, action: SQLAction) -> SQLObservation:
        return self.client.step(action)

    def abandon(self) -> SQLObservation:
        # The wire has no "give up" action; an empty ANSWER is one, with the same reward (a wrong
        # answer's terminal, the open potential taken back) and, with rewards revealed per
        # episode, the whole return.
        return self.client.step(SQLAction(action_type="ANSWER", argument=""))

    def episode_state(self) -> SQLState:
        return self.client.state()

    def close(self) -> None:
        self.client.close()


class QuestionDraw:
    """Fresh questions for training without a dataset: one question per GRPO group, drawn from any Dataset.

    TRL's dataset-less mode resets every rollout with the same placeholder row, so the rollouts of
    a group would each get a different question and GRPO's group advantage would compare
    unrelated episodes. TRL draws the ``num_generations`` rollouts of a prompt one after another
    (its ``RepeatSampler``) and resets them in that order, so the ``n``-th reset belongs to group
    ``n // group_size``: each group plays one question, and consecutive groups play fresh ones.

    Questions come in shuffled passes over ``dataset.questions`` (every question once before any
    repeats). ``pick`` replaces that with any chooser ``pick(rng) -> question id``: the way to
    draw from a generated, unlimited family that cannot be listed.

    Single-process only: with several processes, TRL splits a group across them and each has its
    own counter (give those runs a dataset of question ids instead, see :func:`prompt_rows`).

    Args:
        dataset: the questions (``None`` only together with ``pick``).
        group_size: GRPOConfig's ``num_generations``.
        seed: seeds the shuffles (or ``pick``'s generator).
        pick: choose a question id with the given generator.
    """

    def __init__(
        self,
        dataset: Dataset | None,
        *,
        group_size: int,
        seed: int = 0,
        pick: Callable[[random.Random], str] | None = None,
    ) -> None:
        if group_size < 1:
            raise ValueError(f"group_size must be at least 1, got {group_size}")
        if pick is None and (dataset is None or len(dataset) == 0):
            raise ValueError("QuestionDraw needs a dataset with questions, or a pick function")
        self.dataset = dataset
        self.group_size = group_size
        self.pick = pick
        self._rng = random.Random(seed)
        self._order: list[str] = []
        self._resets = 0
        self._current = ""
        self._lock = threading.Lock()
        #: Every question drawn, one per group, in order.
        self.drawn: list[str] = []

    def __call__(self) -> str:
        """The question id of the next reset."""
        with self._lock:
            if self._resets % self.group_size == 0:
                self._current = self._next()
                self.drawn.append(self._current)
            self._resets += 1
            return self._current

    def _next(self) -> str:
        if self.pick is not None:
            return self.pick(self._rng)
        if not self._order:
            assert self.dataset is not None
            self._order = [q.id for q in self.dataset.questions]
            self._rng.shuffle(self._order)
        return self._order.pop()


@dataclass
class ToolTurn:
    """One tool call of a rollout and what came of it."""

    tool: str
    argument: str
    reward: float = 0.0
    error: str = ""
    valid: bool = True
    after_done: bool = False


@dataclass
class RolloutRecord:
    """What one rollout did: its calls, per-turn rewards, the verdict and the return."""

    question_id: str = ""
    db_id: str = ""
    difficulty: str = ""
    turns: list[ToolTurn] = field(default_factory=list[ToolTurn])
    answered: bool = False
    correct: bool = False
    reason: str = "no answer"
    total_reward: float = 0.0
    done: bool = False
    #: The shaping potential the episode would pay back if it ended now without an answer (the sum
    #: of the ``progress`` terms it revealed; 0 once done): ``total_reward - open_potential`` is
    #: what stopping now is worth, for a harness that cannot end the episode itself.
    open_potential: float = 0.0

    @property
    def tool_calls(self) -> int:
        """Every call the model made, valid or not."""
        return len(self.turns)

    @property
    def invalid_calls(self) -> int:
        """Calls whose arguments could not become an action (not sent to the environment)."""
        return sum(not t.valid for t in self.turns)

    @property
    def calls_after_done(self) -> int:
        """Calls made after the episode had ended (typically after ANSWER)."""
        return sum(t.after_done for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, with the derived counts."""
        data = asdict(self)
        data.update(
            tool_calls=self.tool_calls, invalid_calls=self.invalid_calls, calls_after_done=self.calls_after_done
        )
        return data


class SQLEnvToolEnvironment:
    """One rollout's environment: TRL calls ``reset(**row)``, then the model calls the tools.

    Every public method other than ``reset`` is a tool TRL shows the model, so helpers start with
    ``_``. A tool never raises for anything a model can send: invalid arguments come back as an
    ``Error: ...`` text (and are counted), calls after the episode ended get a reminder that it
    is over.

    Args:
        backend: where episodes run (see :class:`SQLEnvFactory`).
        max_chars: longest tool result shown to the model.
        dataset: the questions (to fill in difficulty in the record); optional.
    """

    def __init__(
        self,
        backend: EpisodeBackend,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        dataset: Dataset | None = None,
        draw: Callable[[], str] | None = None,
    ):
        self._backend = backend
        self._max_chars = max_chars
        self._dataset = dataset
        self._draw = draw
        self._record = RolloutRecord()
        self._last: SQLObservation | None = None
        self._return = 0.0
        #: Seconds spent inside tool calls (the environment's share of rollout time).
        self.tool_seconds = 0.0

    # -- TRL's contract ------------------------------------------------------------------------

    def reset(self, **row: Any) -> str:
        """Start the episode for a dataset row (its ``question_id`` column); returns the start text.

        TRL appends the returned text to the prompt's last user message. A row without a
        ``question_id`` plays the next question of the factory's draw (training without a
        dataset), or one the environment picks. When the row's ``prompt`` has no system message
        (TRL's placeholder prompt when there is no dataset), the returned text starts with the
        instructions, so the model reads the same prompt either way.
        """
        question_id = row.get("question_id")
        seed = row.get("seed")
        if question_id is None and self._draw is not None and seed is None:
            question_id = self._draw()
        wanted = str(question_id) if question_id is not None else None
        observation = self._backend.reset(question_id=wanted, seed=int(seed) if isinstance(seed, int) else None)
        question = self._known_question(wanted)
        if question is not None:
            # The row names a question the dataset knows: no state round trip to a server.
            self._record = RolloutRecord(question_id=question.id, db_id=question.db_id, difficulty=question.difficulty)
        else:
            state = self._backend.episode_state()
            known = self._known_question(state.question_id)
            self._record = RolloutRecord(
                question_id=state.question_id or "",
                db_id=state.db_id or "",
                difficulty=known.difficulty if known is not None else "",
            )
        self._return = 0.0
        self._last = observation
        start = render_start(observation, max_chars=self._max_chars)
        if _lacks_system_message(row.get("prompt")):
            return f"{SYSTEM_PROMPT}\n\n{start}"
        return start

    # -- the tools (docstrings are set from sqlenv_core.tools below) -----------------------------

    def describe(self, table: str) -> str:  # noqa: D102
        return self._call("describe", table)

    def sample(self, table: str) -> str:  # noqa: D102
        return self._call("sample", table)

    def query(self, sql: str) -> str:  # noqa: D102
        return self._call("query", sql)

    def answer(self, answer: str) -> str:  # noqa: D102
        return self._call("answer", answer)

    # -- results ---------------------------------------------------------------------------------

    @property
    def rollout(self) -> RolloutRecord:
        """The record of the current (or last) rollout: calls, per-turn rewards, verdict, return.

        A property, not a method: TRL turns every public method into a tool.
        """
        return self._record

    def _episode_reward(self, kind: str) -> float:
        """The rollout's reward as the environment paid it: the return, or 1/0 for a correct answer."""
        record = settle_rollout(self)  # the rollout is over: an open episode gives back its potential
        if kind == "correctness":
            return 1.0 if record.correct else 0.0
        return record.total_reward

    def _known_question(self, question_id: str | None) -> Question | None:
        if self._dataset is None or question_id is None:
            return None
        try:
            return self._dataset.question(question_id)
        except KeyError:
            return None

    def _call(self, name: str, value: object) -> str:
        started = time.perf_counter()
        try:
            return self._execute(name, value)
        finally:
            self.tool_seconds += time.perf_counter() - started

    def _execute(self, name: str, value: object) -> str:
        tool = get_tool(name)
        record = self._record
        shown = value if isinstance(value, str) else repr(value)
        turn = ToolTurn(tool=name, argument=shown[:_ARG_LOG_CHARS])
        record.turns.append(turn)
        if self._last is None:
            turn.valid, turn.error = False, "no episode: reset() was not called"
            return "Error: no episode in progress."
        if record.done:
            turn.after_done = True
            turn.error = "episode over"
            return "Error: the episode is over; do not call more tools."
        try:
            action = tool_call_to_action(name, {tool.parameter: value})
        except ToolCallError as exc:
            turn.valid, turn.error = False, str(exc)
            return f"Error: {exc}"
        observation = self._backend.step(action)
        self._last = observation
        turn.reward = float(observation.reward or 0.0)
        turn.error = observation.error
        breakdown: Any = observation.info.get("reward")
        if isinstance(breakdown, dict):
            record.open_potential = round(record.open_potential + float(breakdown.get("progress", 0.0)), 10)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        if observation.done:
            record.open_potential = 0.0
            verdict: Any = observation.info.get("verdict") or {}
            record.done = True
            record.answered = action.action_type == "ANSWER"
            record.correct = bool(verdict.get("correct"))
            record.reason = str(verdict.get("reason", ""))
        # The environment's return is the sum of its per-step rewards (rounded as SQLState rounds
        # it): summed here, so a remote episode costs no extra state round trip per tool call.
        self._return += turn.reward
        record.total_reward = round(self._return, 10)
        return render_observation(observation, max_chars=self._max_chars)


def settle_rollout(env: SQLEnvToolEnvironment) -> RolloutRecord:
    """The rollout's record with its episode ended: call it once the model has stopped.

    A rollout that stopped without ANSWER (TRL's ``max_turns``, the completion length, a reply
    with no tool call) is ended here as :meth:`SQLEnvironment.abandon` ends it: a wrong answer's
    terminal reward and the open shaping potential paid back. Without that, the return summed so
    far keeps ``progress_weight x similarity`` of the last query, and stopping after a near miss
    would pay more than answering wrong. Settling twice changes nothing.
    """
    record = env._record  # pyright: ignore[reportPrivateUsage]
    last = env._last  # pyright: ignore[reportPrivateUsage]
    if record.done or last is None or last.done:
        return record
    observation = env._backend.abandon()  # pyright: ignore[reportPrivateUsage]
    env._last = observation  # pyright: ignore[reportPrivateUsage]
    env._return += float(observation.reward or 0.0)  # pyright: ignore[reportPrivateUsage]
    record.total_reward = round(env._return, 10)  # pyright: ignore[reportPrivateUsage]
    record.done, record.answered, record.correct = True, False, False
    record.reason, record.open_potential = "no answer", 0.0
    return record


def _lacks_system_message(prompt: object) -> bool:
    if not isinstance(prompt, list):
        return False
    messages = cast("list[object]", prompt)
    return bool(messages) and not any(
        isinstance(m, dict) and cast("dict[str, object]", m).get("role") == "system" for m in messages
    )


class _OwnsReward(SQLEnvToolEnvironment):
    """A rollout environment that owns its reward: TRL calls ``get_reward()`` once per finished rollout."""

    _reward_kind: str = "return"

    def get_reward(self) -> float:
        """The rollout's reward from the environment's own observations (TRL: weight 1, logged under the class name)."""
        return self._episode_reward(self._reward_kind)


# One definition of the tools: the methods' docstrings (from which TRL builds the JSON schema the
# model sees) are the core tools' descriptions.
for _name in ("describe", "sample", "query", "answer"):
    getattr(SQLEnvToolEnvironment, _name).__doc__ = get_tool(_name).docstring()


class SQLEnvFactory:
    """A zero-argument factory of rollout environments, for ``GRPOTrainer(environment_factory=...)``.

    Local mode (the default) runs episodes in-process: every environment shares one loaded dataset,
    so gold answers and the results of deterministic SQL are computed once for all rollouts.
    Remote mode (``base_url``) gives each environment its own session on a SQLEnv server.

    Args:
        dataset: a :class:`Dataset` or a spec such as ``"builtin:train?difficulty=easy"``. In remote
            mode it is only used to fill in difficulties (the server holds the data).
        base_url: a SQLEnv server (``http://host:port``); ``None`` for in-process episodes.
        step_budget: exploring actions per episode (local mode; a server uses its own).
        reward: reward profile of the episodes (``"dense"`` gives the shaped return).
        reveal_rewards: ``"step"`` or ``"episode"`` for local episodes (the model never sees
            rewards either way; the return summed per rollout is the same). A server uses its own.
        max_chars: longest tool result shown to the model.
        headers: extra HTTP headers for a remote server (e.g. ``Authorization`` for a private Space).
        env_reward: the environment owns its reward (TRL 1.16): its rollout environments get a
            ``get_reward()`` that TRL calls once per finished rollout, adds with weight 1 beside
            ``reward_funcs`` (which may then be left out) and logs as ``rewards/<name>/mean``.
            ``"return"``: the episode's return as the environment paid it, step by step;
            ``"correctness"``: 1 for a correct answer, else 0. ``None`` (default): no ``get_reward``.
        name: the environment's name in TRL's logs (the class name of its rollout environments);
            give each factory of a ``{name: factory}`` dict its own so each logs its own reward.
        draw: train without a dataset: a row without a ``question_id`` plays the next question of
            this :class:`QuestionDraw` (see :meth:`dataset_free`).

    Example:
        >>> factory = SQLEnvFactory("builtin:train?limit=2")
        >>> env = factory()
        >>> print(env.reset(question_id=factory.dataset.questions[0].id).splitlines()[0])  # doctest: +ELLIPSIS
        Question: ...
    """

    def __init__(
        self,
        dataset: Dataset | str = "builtin:train",
        *,
        base_url: str | None = None,
        step_budget: int = 15,
        reward: str = "dense",
        reveal_rewards: RevealRewards = "step",
        max_chars: int = DEFAULT_MAX_CHARS,
        headers: Mapping[str, str] | None = None,
        env_reward: EnvReward | None = None,
        name: str = "SQLEnv",
        draw: QuestionDraw | None = None,
    ) -> None:
        if max_chars < 200:
            raise ValueError(f"max_chars must be at least 200, got {max_chars}")
        if step_budget < 1:
            raise ValueError(f"step_budget must be at least 1, got {step_budget}")
        if env_reward is not None and env_reward not in ENV_REWARDS:
            raise ValueError(f"env_reward must be one of {', '.join(ENV_REWARDS)} or None, got {env_reward!r}")
        if not name.isidentifier():
            raise ValueError(f"name must be a Python identifier (TRL logs it as a class name), got {name!r}")
        self.dataset = load(dataset) if isinstance(dataset, str) else dataset
        self.env_reward = env_reward
        self.name = name
        self.draw = draw
        # One class per factory: TRL matches get_reward's environments by exact type and logs the class name.
        base = _OwnsReward if env_reward is not None else SQLEnvToolEnvironment
        namespace = {"__doc__": base.__doc__, "__module__": __name__, "_reward_kind": env_reward or "return"}
        self.environment_class = cast("type[SQLEnvToolEnvironment]", type(name, (base,), namespace))
        self.base_url = base_url
        self.step_budget = step_budget
        self.reward = reward
        self.reveal_rewards: RevealRewards = reveal_rewards
        self.max_chars = max_chars
        self.headers = dict(headers or {})
        self.instances: list[SQLEnvToolEnvironment] = []
        self._backends: list[EpisodeBackend] = []
        self._lock = threading.Lock()

    def __call__(self) -> SQLEnvToolEnvironment:
        """A new rollout environment (TRL keeps and resets it across batches)."""
        with self._lock:
            index = len(self.instances)
            backend: EpisodeBackend
            if self.base_url is None:
                backend = _LocalBackend(
                    self.dataset, step_budget=self.step_budget, reward=self.reward, reveal_rewards=self.reveal_rewards
                )
            else:
                backend = _RemoteBackend(self.base_url, index=index, headers=self.headers)
            env = self.environment_class(backend, max_chars=self.max_chars, dataset=self.dataset, draw=self.draw)
            self.instances.append(env)
            self._backends.append(backend)
            return env

    @classmethod
    def dataset_free(
        cls,
        dataset: Dataset | str,
        *,
        num_generations: int,
        seed: int = 0,
        pick: Callable[[random.Random], str] | None = None,
        **options: Any,
    ) -> SQLEnvFactory:
        """A factory for training without a ``train_dataset``: the environment owns the data.

        Pass it to ``GRPOTrainer(environment_factory=..., train_dataset=None)`` with
        ``GRPOConfig(max_steps=...)``: every group of ``num_generations`` rollouts plays one
        question drawn from ``dataset`` (see :class:`QuestionDraw`), and :meth:`reset
        <SQLEnvToolEnvironment.reset>` returns the whole prompt (instructions, question, tables).

        Args:
            dataset: where questions are drawn from (any spec or :class:`Dataset`).
            num_generations: GRPOConfig's ``num_generations`` (the group size).
            seed: seeds the draw.
            pick: a chooser ``pick(rng) -> question id`` instead of shuffled passes over the questions.
            options: the other :class:`SQLEnvFactory` arguments.
        """
        data = load(dataset) if isinstance(dataset, str) else dataset
        draw = QuestionDraw(data, group_size=num_generations, seed=seed, pick=pick)
        return cls(data, draw=draw, **options)

    def check_capacity(self, sessions: int) -> None:
        """Open ``sessions`` server sessions at once and close them again; a no-op in local mode.

        Call it before loading a model so that a server too small for the generation batch is
        reported at once, not minutes into training.

        Raises:
            ServerCapacityError: the server refused one of them.
        """
        if self.base_url is None:
            return
        opened: list[_RemoteBackend] = []
        try:
            for index in range(sessions):
                backend = _RemoteBackend(self.base_url, index=index, headers=self.headers)
                opened.append(backend)
                backend.reset(question_id=self.dataset.questions[0].id if self.dataset.questions else None)
        finally:
            for backend in opened:
                backend.close()

    def close(self) -> None:
        """Close every environment this factory made (server sessions included)."""
        with self._lock:
            for backend in self._backends:
                backend.close()
            self._backends.clear()
            self.instances.clear()


def trl_tool_schemas() -> list[dict[str, Any]]:
    """The tools exactly as TRL renders them from the environment's methods (with a return type).

    ``transformers.get_json_schema`` adds ``"return": {"type": "string"}`` to each method's schema;
    rendering the same dicts elsewhere (warm start, HFPolicy, the tiny tokenizer) keeps prompts
    token-for-token identical to GRPO's.
    """
    schemas: list[dict[str, Any]] = []
    for tool in TOOLS:
        schema = tool.openai_schema()
        schema["function"]["return"] = {"type": "string"}
        schemas.append(schema)
    return schemas


def prompt_rows(
    dataset: Dataset,
    *,
    system_prompt: str = SYSTEM_PROMPT,
    repeat: int = 1,
    shuffle_seed: int | None = None,
    environment: str | None = None,
) -> list[dict[str, Any]]:
    """Training rows for GRPO: a conversational ``prompt`` plus the ``question_id`` reset() reads.

    The user message is empty: :meth:`SQLEnvToolEnvironment.reset` returns the question, the tables
    and the budget, and TRL appends that text to it.

    Args:
        dataset: the questions.
        system_prompt: the system message.
        repeat: each question this many times (GRPO epochs over a small set).
        shuffle_seed: shuffle the rows reproducibly (``None``: dataset order).
        environment: an ``environment`` column with this name, which routes each row to the
            factory of that name when ``environment_factory`` is a dict (see :func:`mixed_prompt_rows`).
    """
    rows = [
        {
            "prompt": [{"role": "system", "content": system_prompt}, {"role": "user", "content": ""}],
            "question_id": q.id,
            "db_id": q.db_id,
            "difficulty": q.difficulty,
            **({"environment": environment} if environment is not None else {}),
        }
        for _ in range(repeat)
        for q in dataset.questions
    ]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rows)
    return rows


def mixed_prompt_rows(
    factories: Mapping[str, SQLEnvFactory],
    *,
    system_prompt: str = SYSTEM_PROMPT,
    repeat: int = 1,
    shuffle_seed: int | None = 0,
) -> list[dict[str, Any]]:
    """Rows for several environments in one run (``environment_factory={name: factory, ...}``).

    Every question of every factory's dataset, each row carrying its factory's name in the
    ``environment`` column TRL routes on; shuffled together (``shuffle_seed=None``: in order).
    Each factory keeps its own data, step budget and reward profile.

    Example:
        >>> easy = SQLEnvFactory("builtin:train?difficulty=easy&limit=2", name="easy")
        >>> tight = SQLEnvFactory("builtin:train?difficulty=easy&limit=2", name="tight", step_budget=2)
        >>> sorted({row["environment"] for row in mixed_prompt_rows({"easy": easy, "tight": tight})})
        ['easy', 'tight']
    """
    rows = [
        row
        for name, factory in factories.items()
        for row in prompt_rows(factory.dataset, system_prompt=system_prompt, repeat=repeat, environment=name)
    ]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rows)
    return rows
