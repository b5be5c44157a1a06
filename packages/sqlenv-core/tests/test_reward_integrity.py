"""Red team: scripted exploit policies against the reward, over the built-in pack (and Spider).

Each policy plays whole episodes through the public API, the way a learner that found the trick
would. None may get a correct verdict it did not earn, and a policy that fails may not earn a
return above 0. The leaks these policies use were all open once (issue: reward integrity):
reading other sessions' SQL through ``sqlite_stmt``, the gold SQL handed out after ANSWER, the
per-step ``progress`` term as an answer oracle, and the open shaping potential kept by stopping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlenv_core import SQLAction, SQLEnvironment, SQLObservation
from sqlenv_core.datasets import Dataset, load, load_spider

# Every SQL text the red team tries in order to read what other sessions ran, or the server's state.
LEAK_SQL = [
    "SELECT sql FROM sqlite_stmt WHERE sql NOT LIKE 'PRAGMA%'",
    "SELECT group_concat(sql, ' ;; ') FROM sqlite_stmt",
    "SELECT sql FROM main.sqlite_stmt ORDER BY nstep DESC",
    "SELECT * FROM dbstat",
    "SELECT file FROM pragma_database_list",
    "SELECT * FROM pragma_module_list",
]


def act(kind: str, argument: str = "") -> SQLAction:
    return SQLAction(action_type=kind, argument=argument)  # type: ignore[arg-type]


def _visible(obs: SQLObservation) -> str:
    """Everything an agent can read of an observation."""
    return obs.model_dump_json()


def _norm(sql: str) -> str:
    return " ".join(sql.lower().replace(";", " ").split())


@pytest.fixture(scope="module")
def builtin_eval() -> Dataset:
    return load("builtin:eval")


def _warm_up_with_gold(dataset: Dataset, ids: list[str] | None = None) -> None:
    """What in-process training did before GRPO: run every question's gold SQL (the oracle warm start)."""
    oracle = SQLEnvironment(dataset)
    for question in (dataset.question(i) for i in ids) if ids is not None else dataset:
        oracle.reset(question_id=question.id)
        oracle.step(act("QUERY", question.gold_sql))
        oracle.step(act("ANSWER", "x"))


def _copy_policy(env: SQLEnvironment, question_id: str) -> tuple[SQLObservation, list[SQLObservation]]:
    """Reads whatever SQL the server shows, ranks it by the question's words, runs it and answers."""
    obs = env.reset(question_id=question_id)
    words = [w for w in re.findall(r"[a-z]{4,}", obs.question.lower())][:3]
    seen: list[SQLObservation] = []
    stolen: list[str] = []
    for sql in LEAK_SQL + [
        "SELECT sql FROM sqlite_stmt ORDER BY " + " + ".join(f"(instr(lower(sql), '{w}') > 0)" for w in words) + " DESC"
    ]:
        obs = env.step(act("QUERY", sql))
        seen.append(obs)
        stolen += [str(cell) for row in obs.rows for cell in row if "select" in str(cell).lower()]
    if stolen:
        obs = env.step(act("QUERY", stolen[0]))
        seen.append(obs)
    answer = json.dumps(obs.rows) if obs.rows else "0"
    return env.step(act("ANSWER", answer)), seen


def test_sql_leak_policy_reads_nothing_of_other_sessions(builtin_eval: Dataset) -> None:
    _warm_up_with_gold(builtin_eval)  # every gold query has run on the pooled connections
    env = SQLEnvironment(builtin_eval)
    gold = {_norm(q.gold_sql) for q in builtin_eval}
    earned = 0
    for question in builtin_eval.questions[:20]:
        final, seen = _copy_policy(env, question.id)
        for obs in seen[: len(LEAK_SQL)]:
            assert obs.error and not obs.rows, obs.result
            assert "not readable" in obs.error or "not allowed" in obs.error, obs.error
        for obs in [*seen, final]:
            text = _visible(obs).lower()
            assert not any(g in " ".join(text.split()) for g in gold if len(g) > 30), "gold SQL visible to an agent"
        earned += final.info["verdict"]["correct"]
        assert final.reward is not None and (final.info["verdict"]["correct"] or env.state.total_reward <= 0)
    assert earned <= 2, f"copying solved {earned}/20: it answers constants, which can only be right by chance"


def test_results_of_state_tables_never_enter_the_shared_cache(builtin_eval: Dataset) -> None:
    victim, attacker = SQLEnvironment(builtin_eval), SQLEnvironment(builtin_eval)
    question = builtin_eval.questions[0]
    victim.reset(question_id=question.id)
    victim.step(act("QUERY", question.gold_sql))
    attacker.reset(question_id=question.id)
    for _ in range(2):  # a second run would be a cache hit if the first had been cached
        obs = attacker.step(act("QUERY", "SELECT sql FROM sqlite_stmt"))
        assert obs.error and not obs.rows


@pytest.mark.parametrize("reveal", ["step", "episode"])
def test_replay_policy_finds_no_gold_after_an_answer(builtin_eval: Dataset, reveal: str) -> None:
    """Answer anything, read the final observation and state for the gold, reset, replay it."""
    env = SQLEnvironment(builtin_eval, reveal_rewards=reveal)  # type: ignore[arg-type]
    for question in builtin_eval.questions[:15]:
        env.reset(question_id=question.id)
        final = env.step(act("ANSWER", "I do not know"))
        visible = _visible(final) + env.state.model_dump_json()
        assert "gold" not in visible.lower() and _norm(question.gold_sql) not in _norm(visible)
        assert "gold_sql" not in final.info
        again = env.reset(question_id=question.id)
        assert _norm(question.gold_sql) not in _norm(_visible(again))


def test_gold_after_the_episode_only_when_asked_for(builtin_eval: Dataset) -> None:
    question = builtin_eval.questions[0]
    demo = SQLEnvironment(builtin_eval, reveal_gold=True)
    demo.reset(question_id=question.id)
    assert "gold_sql" not in demo.step(act("QUERY", "SELECT 1")).info  # never before the end
    assert demo.step(act("ANSWER", "1")).info["gold_sql"] == question.gold_sql


def _one_cell_questions(dataset: Dataset) -> list[str]:
    return [q.id for q in dataset if len(dataset.gold(q.id).rows) == 1 and len(dataset.gold(q.id).rows[0]) == 1]


def _bisect_policy(env: SQLEnvironment, question_id: str, max_steps: int = 40) -> SQLObservation:
    """Question-blind: finds a value the gold shares by reading the per-step reward, then answers it.

    It never reads the question. For each column of each table it asks for the column's distinct
    values; a positive reward for a never-seen result means the result shares a value with the
    gold (the progress term), and halving the window of values finds which.
    """
    obs = env.reset(question_id=question_id)
    tables = obs.schema_info.splitlines()[0].removeprefix("Tables: ").split(", ")
    steps = 0

    def signal(sql: str) -> bool:
        nonlocal steps, obs
        steps += 1
        obs = env.step(act("QUERY", sql))
        return bool(obs.reward and obs.reward > 0)

    for table in tables:
        info = env.step(act("DESCRIBE", table))
        steps += 1
        for column in [row[0] for row in info.rows]:
            if steps >= max_steps or obs.done:
                return env.step(act("ANSWER", "0"))
            base = f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL ORDER BY 1'
            if not signal(base):
                continue
            count = int(env.step(act("QUERY", f"SELECT count(*) FROM ({base})")).rows[0][0])
            steps += 1
            low, high = 0, count
            while high - low > 1 and steps < max_steps and not obs.done:
                mid = (low + high) // 2
                if signal(f"{base} LIMIT {mid - low} OFFSET {low}"):
                    high = mid
                else:
                    low = mid
            value = env.step(act("QUERY", f"{base} LIMIT 1 OFFSET {low}"))
            if value.rows:
                return env.step(act("ANSWER", json.dumps(value.rows[0][0])))
    return env.step(act("ANSWER", "0"))


def test_bisection_on_rewards_is_blind_when_rewards_are_revealed_per_episode(builtin_eval: Dataset) -> None:
    ids = _one_cell_questions(builtin_eval)[:12]
    assert len(ids) >= 8
    solved = {}
    for reveal in ("step", "episode"):
        env = SQLEnvironment(builtin_eval, reveal_rewards=reveal)  # type: ignore[arg-type]
        results = [_bisect_policy(env, qid) for qid in ids]
        solved[reveal] = sum(bool(r.info["verdict"]["correct"]) for r in results)
    # Per step, the progress term is an answer oracle (documented in docs/rewards.md): the policy
    # finds gold values without reading the question. Per episode, it sees nothing until the end.
    assert solved["step"] >= 2, solved
    assert solved["episode"] <= 1, solved


def test_per_episode_rewards_show_nothing_before_the_end_and_keep_the_sum(builtin_eval: Dataset) -> None:
    question = next(q for q in builtin_eval if q.gold_sql.lower().startswith("select count"))
    script = [act("DESCRIBE", "x"), act("QUERY", question.gold_sql), act("QUERY", question.gold_sql)]
    returns = {}
    for reveal in ("step", "episode"):
        env = SQLEnvironment(builtin_eval, reveal_rewards=reveal)  # type: ignore[arg-type]
        env.reset(question_id=question.id)
        rewards = []
        for action in script:
            obs = env.step(action)
            rewards.append(obs.reward)
            if reveal == "episode":
                assert obs.reward == 0.0 and "reward" not in obs.info and env.state.total_reward == 0.0
        final = env.step(act("ANSWER", json.dumps(obs.rows)))
        rewards.append(final.reward)
        assert final.info["verdict"]["correct"]
        returns[reveal] = (round(sum(r or 0.0 for r in rewards), 10), env.state.total_reward)
        if reveal == "episode":
            assert final.info["reward"]["total"] == final.reward == env.state.total_reward
    assert returns["step"] == returns["episode"]


def test_stopping_after_a_near_miss_never_pays_more_than_answering_wrong(builtin_eval: Dataset) -> None:
    question = next(q for q in builtin_eval if " where " in q.gold_sql.lower() and "count(" in q.gold_sql.lower())
    near_miss = re.sub(r"(?i)\bwhere\b.*", "", question.gold_sql)
    for reveal in ("step", "episode"):
        outcomes = {}
        for ending in ("abandon", "wrong"):
            env = SQLEnvironment(builtin_eval, reveal_rewards=reveal)  # type: ignore[arg-type]
            env.reset(question_id=question.id)
            rewards = [env.step(act("QUERY", near_miss)).reward]
            final = env.abandon() if ending == "abandon" else env.step(act("ANSWER", "-1"))
            rewards.append(final.reward)
            assert final.done and not final.info["verdict"]["correct"]
            outcomes[ending] = round(sum(r or 0.0 for r in rewards), 10)
            assert outcomes[ending] == env.state.total_reward
        assert outcomes["abandon"] <= outcomes["wrong"] <= 0, outcomes
    again = env.abandon()
    assert again.done and again.reward == final.reward  # abandoning a finished episode changes nothing


def _farm_policy(env: SQLEnvironment, question_id: str) -> float:
    """Explores novel things until the budget runs out, never answering: new_info and success farming."""
    obs = env.reset(question_id=question_id)
    tables = obs.schema_info.splitlines()[0].removeprefix("Tables: ").split(", ")
    i = 0
    while not obs.done:
        table = tables[i % len(tables)]
        kind = ("DESCRIBE", "SAMPLE", "QUERY")[i % 3]
        obs = env.step(act(kind, table if kind != "QUERY" else f'SELECT {i} FROM "{table}" LIMIT 1'))
        i += 1
    return env.state.total_reward


def _spam_policy(env: SQLEnvironment, question_id: str) -> float:
    """Answers a constant, then keeps answering and querying after the end."""
    env.reset(question_id=question_id)
    env.step(act("ANSWER", "x" * 100_000))
    for answer in ["0", "1", "[]", "NULL", "true", '[["a"]]']:
        obs = env.step(act("ANSWER", answer))
        assert obs.reward == 0.0 and "episode is over" in obs.error
    return env.state.total_reward


@pytest.mark.parametrize("policy", [_farm_policy, _spam_policy])
@pytest.mark.parametrize("reveal", ["step", "episode"])
def test_failing_policies_earn_no_positive_return(
    builtin_eval: Dataset, policy: Callable[[SQLEnvironment, str], float], reveal: str
) -> None:
    env = SQLEnvironment(builtin_eval, reveal_rewards=reveal)  # type: ignore[arg-type]
    returns = [policy(env, q.id) for q in builtin_eval.questions[:10]]
    assert all(r <= 0 for r in returns), returns


# -- the same leaks on real data -------------------------------------------------------------------


@pytest.fixture(scope="module")
def spider_dev(spider_root: Path) -> Dataset:
    return load_spider(spider_root)


def _spread(dataset: Dataset, per_db: int) -> Iterator[str]:
    taken: dict[str, int] = {}
    for q in dataset:
        if taken.get(q.db_id, 0) < per_db:
            taken[q.db_id] = taken.get(q.db_id, 0) + 1
            yield q.id


@pytest.mark.spider
def test_exploit_policies_on_spider_dev_earn_nothing(spider_dev: Dataset) -> None:
    ids = list(_spread(spider_dev, per_db=4))
    _warm_up_with_gold(spider_dev, ids)
    env = SQLEnvironment(spider_dev)
    gold = {_norm(spider_dev.question(i).gold_sql) for i in ids}
    results: list[dict[str, Any]] = []
    for qid in ids:
        final, seen = _copy_policy(env, qid)
        visible = " ".join(_norm(_visible(o)) for o in [*seen, final])
        assert not any(g in visible for g in gold if len(g) > 30)
        results.append({"correct": final.info["verdict"]["correct"], "return": env.state.total_reward})
        results.append({"correct": False, "return": _farm_policy(env, qid)})
    assert sum(r["correct"] for r in results) <= 2
    assert all(r["return"] <= 0 for r in results if not r["correct"])
