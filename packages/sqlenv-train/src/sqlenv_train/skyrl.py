"""SQLEnv for SkyRL: a ``skyrl_gym`` text environment registered as ``"sqlenv"``, and SkyRL-SQL's data.

``import sqlenv_train.skyrl`` registers :class:`SQLEnvTextEnv` under :data:`ENV_ID`, so a SkyRL run
selects it with ``environment.env_class=sqlenv`` and SkyRL's generator makes one per trajectory
(``skyrl_gym.make("sqlenv", env_config=..., extras=row)``). Each model turn is a string; the
environment reads one action from it, plays it on a SQLEnv episode and returns SQLEnv's reward
for that step as the turn's reward (SkyRL keeps per-turn rewards; TRL cannot). Actions a model
may write, the first one found counts:

* ``<tool_call>{"name": "query", "arguments": {"sql": "..."}}</tool_call>``: any of SQLEnv's four
  tools (``describe``, ``sample``, ``query``, ``answer``), as chat templates such as Qwen's write them;
* ``<sql>...</sql>``: run a query (SkyRL-SQL's exploration tag);
* ``<solution>...</solution>``: SkyRL-SQL's final answer, a SQL query: it runs in SQLEnv's
  read-only sandbox and its full result is SQLEnv's ANSWER (so SQLEnv's verifier judges it,
  order and duplicates kept where they matter, instead of SkyRL-SQL's ``frozenset`` of rows);
* ``<answer>...</answer>``: answer with a value.

A turn with none of these (or a malformed tool call) is answered with an error observation that
shows the formats and pays 0: the episode does not move. The trajectory ends when the episode
does (an answer, the step budget spent) or after ``max_turns`` turns (SkyRL's generator sets it);
a trajectory cut there is abandoned as SQLEnv ends one (a wrong answer's terminal reward, the open
shaping potential paid back), which the last turn's reward includes.

Rows come in two shapes. SQLEnv rows (:func:`skyrl_rows`) name a question of a dataset spec
(``question_id``); SkyRL-SQL rows (the SkyRL-SQL-653 format: ``db_id``, ``data`` and
``reward_spec.ground_truth``, the gold SQL) play on the database files under the config's
``db_path``, laid out as SkyRL's own SQL environment expects, so a SkyRL user can compare the two
environments on the same data. :func:`load_skyrl_sql` turns such a file into a SQLEnv
:class:`~sqlenv_core.datasets.Dataset` (for evaluation, baselines or TRL).

Needs the ``skyrl`` extra (``pip install "sqlenv-train[skyrl]"``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlenv_core.datasets import Dataset, DatasetError, Question, load
from sqlenv_core.tools import DEFAULT_MAX_CHARS, SYSTEM_PROMPT, ToolCallError, tool_call_to_action
from sqlenv_train._deps import require
from sqlenv_train.adapter import SQLEnvFactory, SQLEnvToolEnvironment, settle_rollout
from sqlenv_train.sft import answer_text

skyrl_gym = require("skyrl_gym")
from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput  # noqa: E402

__all__ = [
    "ACTION_FORMATS",
    "ENV_ID",
    "SKYRL_SQL_DB_FOLDERS",
    "SQLEnvTextEnv",
    "load_skyrl_sql",
    "parse_action",
    "register",
    "skyrl_rows",
]

#: The id SQLEnv registers under in ``skyrl_gym`` (``environment.env_class=sqlenv``).
ENV_ID = "sqlenv"
#: Where SkyRL's SQL environment finds each ``data`` source's databases under ``db_path``.
SKYRL_SQL_DB_FOLDERS = {
    "synsql": "SynSQL-2.5M/databases",
    "spider": "spider/database",
    "bird": "bird/train/train_databases",
}
#: Told to the model with every malformed turn.
ACTION_FORMATS = (
    "Write exactly one action per turn: "
    '<tool_call>{"name": "query", "arguments": {"sql": "SELECT ..."}}</tool_call> '
    "(tools: describe, sample, query, answer), <sql>SELECT ...</sql>, "
    "<solution>SELECT ...</solution> (final: its result is your answer) or <answer>value</answer>."
)
#: Longest model turn read (characters); the rest is ignored. Parsing is linear in this.
_MAX_TURN_CHARS = 64_000
_TAGS = ("tool_call", "sql", "solution", "answer")


@dataclass(frozen=True)
class ParsedAction:
    """One action read from a model turn: a tool call, or SkyRL-SQL's ``<solution>`` SQL."""

    tool: str
    argument: str
    solution_sql: bool = False


def parse_action(text: str) -> ParsedAction:
    """The first action in a model turn (see the module docstring for the formats).

    Linear in the input: one ``str.find`` per tag over a bounded prefix of the turn.

    Raises:
        ToolCallError: no action, an unclosed tag, or a ``<tool_call>`` whose JSON is not a call.
    """
    text = text[:_MAX_TURN_CHARS]
    found = [(text.find(f"<{tag}>"), tag) for tag in _TAGS]
    opened = [(at, tag) for at, tag in found if at >= 0]
    if not opened:
        raise ToolCallError(f"no action found. {ACTION_FORMATS}")
    at, tag = min(opened)
    start = at + len(tag) + 2
    end = text.find(f"</{tag}>", start)
    if end < 0:
        raise ToolCallError(f"<{tag}> is not closed with </{tag}>. {ACTION_FORMATS}")
    body = text[start:end].strip()
    if tag == "sql":
        return ParsedAction("query", body)
    if tag == "solution":
        return ParsedAction("answer", body, solution_sql=True)
    if tag == "answer":
        return ParsedAction("answer", body)
    try:
        call: object = json.loads(body)
    except ValueError as exc:
        raise ToolCallError(f"the tool call is not valid JSON ({exc}). {ACTION_FORMATS}") from None
    if not isinstance(call, dict):
        raise ToolCallError(f'a tool call is an object like {{"name": ..., "arguments": {{...}}}}. {ACTION_FORMATS}')
    mapping = cast("dict[str, Any]", call)
    name: object = mapping.get("name")
    arguments: object = mapping.get("arguments", {})
    if not isinstance(name, str):
        raise ToolCallError(f'the tool call has no "name". {ACTION_FORMATS}')
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise ToolCallError(f"{name}: the arguments are not valid JSON. {ACTION_FORMATS}") from None
    if not isinstance(arguments, dict):
        raise ToolCallError(f'{name}: "arguments" must be an object. {ACTION_FORMATS}')
    action = tool_call_to_action(name, cast("dict[str, object]", arguments))
    return ParsedAction(name, action.argument)


def _config_value(config: object, key: str, default: Any) -> Any:
    if isinstance(config, Mapping):
        return cast("Mapping[str, Any]", config).get(key, default)
    return getattr(config, key, default)


class SQLEnvTextEnv(BaseTextEnv):
    """One SQLEnv episode as a SkyRL ``BaseTextEnv`` (see the module docstring).

    Args:
        env_config: SkyRL's ``environment.skyrl_gym.sqlenv`` section (a mapping or an object):
            ``dataset`` (a spec, for SQLEnv rows; default ``builtin:train``), ``db_path`` (the
            root of SkyRL-SQL's database files, for SkyRL-SQL rows), ``base_url`` (play on a
            SQLEnv server), ``step_budget`` (10), ``reward_profile`` (``dense``), ``max_chars``.
        extras: the dataset row without its prompt (SkyRL adds ``max_turns``).
    """

    _datasets: dict[str, Dataset] = {}

    def __init__(self, env_config: Any = None, extras: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        extras = dict(extras or {})
        config: object = env_config if env_config is not None else {}
        self.max_turns = int(extras.get("max_turns") or _config_value(config, "max_turns", 8))
        self.step_budget = int(_config_value(config, "step_budget", 10))
        self.max_chars = int(_config_value(config, "max_chars", DEFAULT_MAX_CHARS))
        self.reward_profile = str(_config_value(config, "reward_profile", "dense"))
        self.base_url = _config_value(config, "base_url", None)
        self._config = config
        self._extras = extras
        if "question_id" in extras:
            self.dataset: Dataset | None = self._dataset(str(_config_value(config, "dataset", "builtin:train")))
            self.question_id = str(extras["question_id"])
        else:
            # A SkyRL-SQL row: its question is in the prompt, which SkyRL gives to init(), not here.
            if _config_value(config, "db_path", None) is None:
                raise ValueError("a SkyRL-SQL row needs env_config.db_path (the root of SkyRL-SQL's database files)")
            self.dataset = None
            self.question_id = ""
        self._factory: SQLEnvFactory | None = None
        self._episode: SQLEnvToolEnvironment | None = None
        self.start_text = ""

    @property
    def episode(self) -> SQLEnvToolEnvironment:
        """The SQLEnv episode (after :meth:`init`)."""
        if self._episode is None:
            raise RuntimeError("init() starts the episode; call it before step()")
        return self._episode

    @classmethod
    def _dataset(cls, spec: str) -> Dataset:
        # One loaded dataset per spec and process: gold answers and results are computed once.
        if spec not in cls._datasets:
            cls._datasets[spec] = load(spec)
        return cls._datasets[spec]

    def init(self, prompt: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """Start the episode; an empty last user message is filled with SQLEnv's start text."""
        if self.dataset is None:
            row = {**self._extras, "prompt": prompt}
            self.dataset = load_skyrl_sql([row], _config_value(self._config, "db_path", None), name="skyrl-sql")
            self.question_id = self.dataset.questions[0].id
        self._factory = SQLEnvFactory(
            self.dataset,
            base_url=self.base_url,
            step_budget=self.step_budget,
            reward=self.reward_profile,
            max_chars=self.max_chars,
        )
        self._episode = self._factory()
        self.start_text = self.episode.reset(question_id=self.question_id)
        messages = [dict(m) for m in prompt]
        if not messages:
            messages = [{"role": "system", "content": f"{SYSTEM_PROMPT}\n\n{ACTION_FORMATS}"}]
        if messages[-1].get("role") != "user" or not str(messages[-1].get("content") or "").strip():
            if messages[-1].get("role") == "user":
                messages[-1]["content"] = self.start_text
            else:
                messages.append({"role": "user", "content": self.start_text})
        return messages, {"question_id": self.question_id, "db_id": self.episode.rollout.db_id}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        """Play the turn's action; SQLEnv's reward for it is the turn's reward."""
        self.turns += 1
        record = self.episode.rollout
        reward = 0.0
        metadata: dict[str, Any] = {"turn": self.turns}
        try:
            parsed = parse_action(action)
        except ToolCallError as exc:
            observation = f"Error: {exc}"
            metadata.update(valid=False, error=str(exc))
        else:
            argument = self._solution_answer(parsed.argument) if parsed.solution_sql else parsed.argument
            before = len(record.turns)
            observation = getattr(self.episode, parsed.tool)(argument)
            turns = record.turns[before:]
            reward = sum(t.reward for t in turns)  # what the environment paid for this step
            metadata.update(valid=all(t.valid for t in turns), tool=parsed.tool, error=turns[-1].error if turns else "")
        if not record.done and self.turns >= self.max_turns:
            # The trajectory stops without an answer: the episode is abandoned as SQLEnv ends it (a
            # wrong answer's terminal, the open shaping potential paid back), on this last turn.
            before_total = record.total_reward
            settle_rollout(self.episode)
            reward += record.total_reward - before_total
            metadata.update(abandoned=True)
        done = record.done
        metadata.update(episode_done=record.done, correct=record.correct, total_reward=record.total_reward)
        observations = [] if done else [{"role": "user", "content": f"<observation>{observation}</observation>"}]
        return BaseTextEnvStepOutput(
            observations=observations, reward=reward, done=done, metadata=metadata, postprocessed_action=None
        )

    def _solution_answer(self, sql: str) -> str:
        """SkyRL-SQL's final SQL, run in SQLEnv's sandbox; its full result becomes the answer."""
        from sqlenv_core.sandbox import SandboxError

        assert self.dataset is not None
        try:
            result = self.dataset.sandbox(self.episode.rollout.db_id).execute(sql)
        except (SandboxError, ValueError):
            return ""  # a solution that does not run answers nothing (wrong)
        return answer_text(result.rows)

    def get_metrics(self) -> dict[str, Any]:
        """The episode's verdict and counts (SkyRL averages them over a batch)."""
        if self._episode is None:
            return {}
        record = self._episode.rollout
        return {
            "correct": float(record.correct),
            "answered": float(record.answered),
            "total_reward": record.total_reward,
            "tool_calls": float(record.tool_calls),
            "invalid_calls": float(record.invalid_calls),
            "turns": float(cast(int, self.turns)),
        }

    def close(self) -> None:
        """Release the episode (a server session, in remote mode)."""
        if self._factory is not None:
            self._factory.close()


def register(env_id: str = ENV_ID) -> None:
    """Register :class:`SQLEnvTextEnv` with ``skyrl_gym`` under ``env_id`` (done on import for ``"sqlenv"``)."""
    if env_id not in skyrl_gym.registry:
        skyrl_gym.register(id=env_id, entry_point="sqlenv_train.skyrl:SQLEnvTextEnv")


register()


def skyrl_rows(dataset: Dataset, *, data_source: str | None = None, env_class: str = ENV_ID) -> list[dict[str, Any]]:
    """SkyRL training rows for a SQLEnv dataset (write them with ``pandas.DataFrame(rows).to_parquet``).

    The prompt holds SQLEnv's instructions and an empty user message that the environment fills
    with the question, the tables and the budget when the trajectory starts. No gold in a row.
    """
    system = f"{SYSTEM_PROMPT}\n\n{ACTION_FORMATS}"
    return [
        {
            "data_source": data_source or dataset.name,
            "prompt": [{"role": "system", "content": system}, {"role": "user", "content": ""}],
            "env_class": env_class,
            "question_id": q.id,
            "db_id": q.db_id,
            "difficulty": q.difficulty,
        }
        for q in dataset.questions
    ]


def _question_text(row: Mapping[str, Any]) -> str:
    for key in ("question", "nl"):
        if isinstance(row.get(key), str) and row[key].strip():
            return str(row[key]).strip()
    extra = row.get("extra_info")
    if isinstance(extra, Mapping):
        value = cast("Mapping[str, Any]", extra).get("question")
        if isinstance(value, str) and value.strip():
            return value.strip()
    prompt = row.get("prompt")
    messages: Sequence[Any] = cast("Sequence[Any]", prompt) if isinstance(prompt, list | tuple) else ()
    text = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, Mapping))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    # SkyRL-SQL's prompt: "...\nQuestion:\n<question>\n\nInstructions:..." (found with str.find: linear).
    at = text.find("Question:")
    if at >= 0:
        rest = text[at + len("Question:") :]
        end = rest.find("\n\nInstructions:")
        question = (rest if end < 0 else rest[:end]).strip()
        if question:
            return question
    return ""


def _rows_from_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        pandas = require("pandas")
        frame: Any = pandas.read_parquet(path)
        return [dict(r) for r in frame.to_dict(orient="records")]
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    loaded: Any = json.loads(text)
    if not isinstance(loaded, list):
        raise DatasetError(f"{path}: expected a JSON list of rows")
    return cast("list[dict[str, Any]]", loaded)


def load_skyrl_sql(
    rows: str | Path | Iterable[Mapping[str, Any]],
    db_path: str | Path,
    *,
    name: str = "skyrl-sql",
    split: str = "train",
) -> Dataset:
    """A SQLEnv dataset from SkyRL-SQL rows (the SkyRL-SQL-653 format) and their database files.

    Args:
        rows: a ``.parquet`` (needs pandas with pyarrow), ``.jsonl`` or ``.json`` file of rows, or the rows.
            Each row has ``db_id``, ``data`` (``synsql``, ``spider`` or ``bird``), the gold SQL in
            ``reward_spec.ground_truth`` and the question (a ``question`` column, or in the prompt
            after ``Question:`` as SkyRL-SQL writes it).
        db_path: the root of the database files: ``<db_path>/<folder of data>/<db_id>/<db_id>.sqlite``
            (:data:`SKYRL_SQL_DB_FOLDERS`), as SkyRL's ``text2sql`` environment reads them.
        name: the dataset's name.
        split: the questions' split.

    Raises:
        DatasetError: a row without the fields above, an unknown ``data`` source, or a missing database file.
    """
    raw = _rows_from_file(Path(rows)) if isinstance(rows, str | Path) else [dict(r) for r in rows]
    root = Path(db_path).expanduser()
    questions: list[Question] = []
    databases: dict[str, Path] = {}
    for index, row in enumerate(raw):
        spec: object = row.get("reward_spec")
        gold = cast("Mapping[str, object]", spec).get("ground_truth") if isinstance(spec, Mapping) else None
        db_id, source = row.get("db_id"), str(row.get("data", "")).lower()
        question = _question_text(row)
        if not isinstance(gold, str) or not gold.strip() or not isinstance(db_id, str) or not question:
            raise DatasetError(f"{name}: row {index} lacks db_id, reward_spec.ground_truth or a question")
        if source not in SKYRL_SQL_DB_FOLDERS:
            raise DatasetError(f"{name}: row {index} has data={source!r}; known: {', '.join(SKYRL_SQL_DB_FOLDERS)}")
        file = root / SKYRL_SQL_DB_FOLDERS[source] / db_id / f"{db_id}.sqlite"
        if not file.is_file():
            raise DatasetError(f"{name}: row {index}: no database file at {file}")
        key = f"{source}/{db_id}"
        databases[key] = file
        extra: object = row.get("extra_info")
        index_in_source = (
            cast("Mapping[str, object]", extra).get("index", index) if isinstance(extra, Mapping) else index
        )
        questions.append(Question(f"{source}-{db_id}-{index_in_source}", key, question, gold.strip(), "medium", split))
    return Dataset(name, questions, databases)
