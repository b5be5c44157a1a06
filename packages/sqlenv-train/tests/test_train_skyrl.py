"""SQLEnv under SkyRL-Gym 0.4: made by ``skyrl_gym.make``, driven with scripted model strings.

Per-turn rewards are checked against what SQLEnv pays for the same actions played directly, and
the SkyRL-SQL data format against SkyRL's own ``text2sql`` environment on the same database.
Run by ``uv run nox -s skyrl`` (the ``skyrl`` extra); elsewhere the module skips.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("skyrl_gym", reason="needs skyrl-gym (the skyrl extra): run `uv run nox -s skyrl`")

import skyrl_gym
from omegaconf import OmegaConf

from sqlenv_core import SQLEnvironment, load
from sqlenv_core.datasets import Dataset, DatasetError
from sqlenv_core.protocol import SQLAction
from sqlenv_train.sft import answer_text
from sqlenv_train.skyrl import ENV_ID, SQLEnvTextEnv, load_skyrl_sql, parse_action, skyrl_rows

SPEC = "builtin:train?difficulty=easy&limit=4"


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load(SPEC)


def make(question_id: str, max_turns: int = 5, **config: object) -> SQLEnvTextEnv:
    env = skyrl_gym.make(ENV_ID, env_config={"dataset": SPEC, **config}, extras={"question_id": question_id,
                                                                                  "max_turns": max_turns})  # fmt: skip
    assert isinstance(env, SQLEnvTextEnv)
    return env


def call(name: str, **arguments: str) -> str:
    return f"<think>plan</think>\n<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def direct_rewards(data: Dataset, question_id: str, actions: list[SQLAction]) -> list[float]:
    env = SQLEnvironment(data, step_budget=10, reward="dense")
    env.reset(question_id=question_id)
    rewards = [float(env.step(action).reward or 0.0) for action in actions]
    env.close()
    return rewards


def test_an_oracle_trajectory_gets_sqlenv_step_rewards_turn_by_turn(data: Dataset) -> None:
    question = data.questions[0]
    gold = answer_text(data.gold(question.id).rows)
    env = make(question.id)
    (row,) = [r for r in skyrl_rows(data) if r["question_id"] == question.id]
    assert question.gold_sql not in json.dumps(row), "no gold in a training row"
    messages, info = env.init(row["prompt"])
    assert messages[-1]["content"].startswith(f"Question: {question.question}")
    assert info["question_id"] == question.id

    turns = [call("describe", table=data.table_names(question.db_id)[0]), f"<sql>{question.gold_sql}</sql>",
             call("answer", answer=gold)]  # fmt: skip
    outputs = [env.step(turn) for turn in turns]
    expected = direct_rewards(data, question.id, [
        SQLAction(action_type="DESCRIBE", argument=data.table_names(question.db_id)[0]),
        SQLAction(action_type="QUERY", argument=question.gold_sql),
        SQLAction(action_type="ANSWER", argument=gold),
    ])  # fmt: skip
    assert [o["reward"] for o in outputs] == pytest.approx(expected)
    assert [o["done"] for o in outputs] == [False, False, True]
    assert gold.strip('"') in outputs[1]["observations"][0]["content"], "the query reached the database"
    assert outputs[2]["observations"] == []
    metrics = env.get_metrics()
    assert metrics["correct"] == 1.0 and metrics["tool_calls"] == 3.0
    assert metrics["total_reward"] == pytest.approx(sum(expected))
    env.close()


def test_malformed_turns_pay_nothing_move_nothing_and_max_turns_ends_the_trajectory(data: Dataset) -> None:
    env = make(data.questions[1].id, max_turns=6)
    env.init([])
    bad = [
        "I think the answer is 42.",
        "<tool_call>{not json</tool_call>",
        "<sql>SELECT 1",
        call("drop_table", table="x"),
        "<tool_call>" + "[" * 100_000 + "</tool_call>",
    ]
    for turn in bad:
        output = env.step(turn)
        assert output["reward"] == 0.0 and not output["done"]
        assert output["metadata"]["valid"] is False
        assert output["observations"][0]["content"].startswith("<observation>Error:")
    assert env.episode.rollout.tool_calls == 0, "no malformed turn reached the environment"
    last = env.step("still nothing")
    assert last["done"] and last["reward"] == 0.0 and not last["metadata"]["correct"]


def test_trajectories_do_not_share_episodes(data: Dataset) -> None:
    first, second = make(data.questions[0].id), make(data.questions[0].id)
    first.init([]), second.init([])
    first.step(f"<sql>{data.questions[0].gold_sql}</sql>")
    out = second.step(f"<answer>{answer_text(data.gold(data.questions[0].id).rows)}</answer>")
    assert out["done"] and out["metadata"]["correct"]
    assert first.episode.rollout.tool_calls == 1 and not first.episode.rollout.done


def test_parse_action_takes_the_first_action_and_rejects_what_is_not_one() -> None:
    assert parse_action("<sql>SELECT 1</sql> then <answer>1</answer>").tool == "query"
    assert (
        parse_action('<tool_call>{"name": "sample", "arguments": "{\\"table\\": \\"t\\"}"}</tool_call>').argument == "t"
    )
    solution = parse_action("<think>x</think><solution>SELECT 2</solution>")
    assert solution.solution_sql and solution.argument == "SELECT 2"
    with pytest.raises(ValueError, match="no action found"):
        parse_action("<" * 200_000)


# -- SkyRL-SQL's data format, like for like ---------------------------------------------------------


@pytest.fixture
def skyrl_sql_root(tmp_path: Path, data: Dataset) -> Path:
    """SkyRL-SQL's database layout (``<db_path>/spider/database/<db_id>/<db_id>.sqlite``) with a builtin database."""
    db_id = data.questions[0].db_id
    target = tmp_path / "spider" / "database" / db_id / f"{db_id}.sqlite"
    target.parent.mkdir(parents=True)
    shutil.copy(data.db_path(db_id), target)
    return tmp_path


def skyrl_sql_row(question: str, gold_sql: str, db_id: str) -> dict[str, object]:
    prompt = f"You are a data science expert.\n\nDatabase Schema:\n...\n\nQuestion:\n{question}\n\nInstructions:\n..."
    return {
        "data_source": "synsql", "prompt": [{"role": "user", "content": prompt}], "env_class": "text2sql",
        "reward_spec": {"method": "rule", "ground_truth": gold_sql}, "db_id": db_id, "data": "spider",
        "extra_info": {"index": 7},
    }  # fmt: skip


def test_skyrl_sql_rows_load_and_play_with_their_solution_sql_judged_by_sqlenv(
    data: Dataset, skyrl_sql_root: Path, tmp_path: Path
) -> None:
    question = data.questions[0]
    row = skyrl_sql_row(question.question, question.gold_sql, question.db_id)
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    loaded = load_skyrl_sql(tmp_path / "rows.jsonl", skyrl_sql_root)
    assert [(q.question, q.gold_sql) for q in loaded] == [(question.question, question.gold_sql)]
    assert loaded.gold(loaded.questions[0].id).rows == data.gold(question.id).rows

    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")} | {"max_turns": 4}
    env = skyrl_gym.make(ENV_ID, env_config=OmegaConf.create({"db_path": str(skyrl_sql_root)}), extras=extras)
    messages, _ = env.init(row["prompt"])  # type: ignore[arg-type]
    assert messages == row["prompt"], "SkyRL-SQL's own prompt (with its schema) is kept"
    explored = env.step(f"<think>look</think><sql>{question.gold_sql}</sql>")
    final = env.step(f"<think>done</think><solution>{question.gold_sql}</solution>")
    assert not explored["done"] and final["done"] and final["metadata"]["correct"]
    expected = direct_rewards(loaded, loaded.questions[0].id, [
        SQLAction(action_type="QUERY", argument=question.gold_sql),
        SQLAction(action_type="ANSWER", argument=answer_text(data.gold(question.id).rows)),
    ])  # fmt: skip
    assert [explored["reward"], final["reward"]] == pytest.approx(expected)
    assert env.get_metrics()["total_reward"] == pytest.approx(sum(expected))

    with pytest.raises(DatasetError, match="no database file"):
        load_skyrl_sql([row | {"db_id": "nowhere"}], skyrl_sql_root)
    with pytest.raises(DatasetError, match="data='mystery'"):
        load_skyrl_sql([row | {"data": "mystery"}], skyrl_sql_root)


def test_sqlenv_keeps_duplicates_where_skyrl_sqls_frozenset_loses_them(skyrl_sql_root: Path, data: Dataset) -> None:
    # The same row and database in both environments: a solution that drops the duplicate rows
    # the question counts is right for SkyRL's text2sql (it compares frozenset(fetchall())) and
    # wrong for SQLEnv's verifier.
    db_id = data.questions[0].db_id
    table = data.table_names(db_id)[0]
    box = data.sandbox(db_id)
    columns = box.execute(f"SELECT * FROM {table} LIMIT 0").columns
    dup_column = next(
        c for c in columns
        if box.execute(f"SELECT count(*) - count(DISTINCT {c}) FROM {table}").rows[0][0] not in (0, None)
    )  # fmt: skip
    gold = f"SELECT {dup_column} FROM {table} ORDER BY {dup_column}"
    dropped = f"SELECT DISTINCT {dup_column} FROM {table} ORDER BY {dup_column}"
    row = skyrl_sql_row(f"List the {dup_column} of every row of {table}, in order.", gold, db_id)
    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")} | {"max_turns": 3}
    answer = f"<think>a</think>\n<solution>{dropped}</solution>"

    theirs = skyrl_gym.make(
        "text2sql", env_config=OmegaConf.create({"db_path": str(skyrl_sql_root)}), extras=dict(extras)
    )
    theirs.init(row["prompt"])
    assert theirs.step(answer)["reward"] == 1.0

    ours = skyrl_gym.make(ENV_ID, env_config=OmegaConf.create({"db_path": str(skyrl_sql_root)}), extras=dict(extras))
    ours.init(row["prompt"])
    output = ours.step(answer)
    assert output["done"] and not output["metadata"]["correct"] and output["reward"] < 0.5


def test_trajectories_play_on_a_sqlenv_server(data: Dataset) -> None:
    pytest.importorskip("sqlenv_server", reason="needs sqlenv-server (installed by `uv run nox -s skyrl`)")
    import threading

    import httpx
    import uvicorn

    from sqlenv_server import Settings, create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(Settings(max_sessions=4, step_budget=10), dataset=data), host="127.0.0.1", port=0,
                       log_level="warning", lifespan="on")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            threading.Event().wait(0.05)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "healthy"
        question = data.questions[2]
        env = make(question.id, base_url=url)
        env.init([])
        first = env.step(f"<sql>{question.gold_sql}</sql>")
        final = env.step(call("answer", answer=answer_text(data.gold(question.id).rows)))
        expected = direct_rewards(data, question.id, [
            SQLAction(action_type="QUERY", argument=question.gold_sql),
            SQLAction(action_type="ANSWER", argument=answer_text(data.gold(question.id).rows)),
        ])  # fmt: skip
        assert [first["reward"], final["reward"]] == pytest.approx(expected)
        assert final["done"] and final["metadata"]["correct"]
        env.close()
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_a_trajectory_cut_at_max_turns_pays_back_its_open_potential_on_the_last_turn(data: Dataset) -> None:
    question = data.questions[3]
    env = make(question.id, max_turns=2)
    env.init([])
    explored = env.step(f"<sql>{question.gold_sql}</sql>")
    cut = env.step("I am not sure.")
    direct = SQLEnvironment(data, step_budget=10, reward="dense")
    direct.reset(question_id=question.id)
    queried = direct.step(SQLAction(action_type="QUERY", argument=question.gold_sql))
    abandoned = direct.abandon()
    assert explored["reward"] == pytest.approx(float(queried.reward or 0.0))
    assert cut["done"] and cut["metadata"]["abandoned"] and not cut["metadata"]["correct"]
    assert cut["reward"] == pytest.approx(float(abandoned.reward or 0.0))
    assert env.get_metrics()["total_reward"] == pytest.approx(direct.state.total_reward)
