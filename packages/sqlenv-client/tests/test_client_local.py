"""Local mode: the client interface over an in-process environment, no server."""

from __future__ import annotations

import pytest

from sqlenv_client import AsyncSQLEnvClient, InvalidRequestError, SQLEnvClient
from sqlenv_client.transports import AsyncLocalTransport, LocalTransport
from sqlenv_core.datasets import Dataset


def test_local_episode_gets_the_right_answer_rewarded(shop: Dataset) -> None:
    with SQLEnvClient.local(shop) as env:
        obs = env.reset(question_id="q-count")
        assert obs.question == "How many items are there?"
        assert "items" in obs.schema_info and "price" not in obs.schema_info
        obs = env.describe("items")
        assert "price" in obs.schema_info
        obs = env.query("SELECT count(*) FROM items")
        assert obs.rows == [[30]] and obs.error == ""
        final = env.answer(obs.rows[0][0])
        assert final.done and final.reward is not None and final.reward > 0
        assert final.info["verdict"]["correct"] is True
        state = env.state()
        assert state.done and state.question_id == "q-count" and state.step_count == 2


def test_local_wrong_answer_and_list_answers(shop: Dataset) -> None:
    with SQLEnvClient.local(shop, reward="sparse") as env:
        env.reset(question_id="q-count")
        assert env.answer(29).info["verdict"]["correct"] is False
        env.reset(question_id="q-books")
        names = [f"item {i}" for i in range(1, 31) if 1 + i % 3 == 1]
        final = env.answer(names)  # a list is sent as JSON and read as a column of values
        assert final.info["verdict"]["correct"] is True and final.reward == 1.0


def test_local_agent_mistakes_are_observations_not_exceptions(shop: Dataset) -> None:
    with SQLEnvClient.local(shop) as env:
        env.reset(question_id="q-max")
        obs = env.query("SELECT nope FROM items")
        assert "nope" in obs.error and obs.step_count == 1
        obs = env.query("DELETE FROM items")
        assert obs.error and obs.step_count == 2
    # The database was only ever read.
    with SQLEnvClient.local(shop) as env:
        env.reset(question_id="q-count")
        assert env.query("SELECT count(*) FROM items").rows == [[30]]


def test_local_malformed_requests_raise_and_cost_nothing(shop: Dataset) -> None:
    with SQLEnvClient.local(shop) as env:
        env.reset(question_id="q-max")
        with pytest.raises(InvalidRequestError, match="action_type") as info:
            env.step({"action_type": "DROP", "argument": "items"})
        assert info.value.code == "VALIDATION_ERROR"
        with pytest.raises(InvalidRequestError):
            env.step("QUERY SELECT 1")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError, match="JSON"):
            env.answer({1, 2})
        with pytest.raises(InvalidRequestError, match="no question 'missing'"):
            env.reset(question_id="missing")
        with pytest.raises(InvalidRequestError, match="seed"):
            env.reset(seed=-1)
        assert env.state().step_count == 0
        assert env.step({"action_type": "query", "argument": "SELECT 1"}).rows == [[1]]


def test_same_seed_same_question(shop: Dataset) -> None:
    with SQLEnvClient.local(shop) as a, SQLEnvClient.local(shop) as b:
        assert [a.reset(seed=7).question for _ in range(3)] == [b.reset(seed=7).question for _ in range(3)]


@pytest.mark.anyio
async def test_async_local_twin(shop: Dataset) -> None:
    async with AsyncSQLEnvClient.local(shop) as env:
        await env.reset(question_id="q-max")
        obs = await env.query("SELECT max(price) FROM items")
        assert obs.rows == [[45.0]]
        final = await env.answer(obs.rows[0][0])
        assert final.done and final.info["verdict"]["correct"] is True
        assert (await env.state()).done


@pytest.mark.anyio
async def test_a_transport_for_the_other_twin_is_refused_at_once(shop: Dataset) -> None:
    local = LocalTransport(shop)
    async_local = AsyncLocalTransport(local)
    with pytest.raises(TypeError, match="AsyncLocalTransport is for AsyncSQLEnvClient; use LocalTransport"):
        SQLEnvClient(transport=async_local)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="LocalTransport is for SQLEnvClient; use AsyncLocalTransport"):
        AsyncSQLEnvClient(transport=local)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a transport"):
        SQLEnvClient(transport=object())  # type: ignore[arg-type]
    # Each still works with its own client.
    with SQLEnvClient(transport=local) as env:
        assert env.reset(question_id="q-max").question
    async with AsyncSQLEnvClient(transport=AsyncLocalTransport(shop)) as aenv:
        assert (await aenv.reset(question_id="q-max")).question
    await async_local.aclose()
