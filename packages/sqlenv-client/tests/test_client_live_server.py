"""Against a running SQLEnv server named by $SQLENV_TEST_SERVER_URL (any dataset).

The ``client_alone`` nox session starts a server from the workspace environment and runs these in
an environment that has only sqlenv-client installed.
"""

from __future__ import annotations

import os

import pytest

from sqlenv_client import AsyncSQLEnvClient, InvalidRequestError, SQLEnvClient, SQLObservation, TransportName

URL = os.environ.get("SQLENV_TEST_SERVER_URL", "")
pytestmark = pytest.mark.skipif(
    not URL, reason="set SQLENV_TEST_SERVER_URL to a running sqlenv-server (the client_alone nox session does)"
)
TRANSPORTS: list[TransportName] = ["ws", "http"]


def first_table(obs: SQLObservation) -> str:
    listed = obs.schema_info.split("Tables:", 1)[-1].splitlines()[0]
    return listed.split(",")[0].strip()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_whole_episode(transport: TransportName) -> None:
    with SQLEnvClient(URL, transport=transport) as env:
        obs = env.reset(seed=3)
        assert obs.question and not obs.done and obs.step_count == 0
        budget = obs.budget_remaining
        table = first_table(obs)
        obs = env.describe(table)
        assert obs.error == "" and obs.step_count == 1 and obs.budget_remaining == budget - 1
        obs = env.sample(table)
        assert obs.error == "" and obs.columns
        obs = env.query(f'SELECT count(*) FROM "{table}"')
        assert obs.error == "" and isinstance(obs.rows[0][0], int)
        bad = env.query("SELECT FROM WHERE")
        assert bad.error and not bad.done
        final = env.answer(obs.rows[0][0])
        assert final.done and isinstance(final.reward, float)
        assert "verdict" in final.info
        state = env.state()
        assert state.done and state.step_count == 4 and state.question_id


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_same_seed_gives_the_same_question(transport: TransportName) -> None:
    with SQLEnvClient(URL, transport=transport) as a, SQLEnvClient(URL, transport=transport) as b:
        assert a.reset(seed=11).question == b.reset(seed=11).question


def test_malformed_requests_raise_typed_errors_and_the_session_survives() -> None:
    with SQLEnvClient(URL) as env:
        env.reset(seed=0)
        with pytest.raises(InvalidRequestError):
            env.step({"action_type": "EXPLODE"})
        with pytest.raises(InvalidRequestError) as info:
            env.reset(question_id="no-such-question-anywhere")
        assert info.value.code == "VALIDATION_ERROR"
        assert env.reset(seed=0).question


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_async_episode(transport: TransportName) -> None:
    async with AsyncSQLEnvClient(URL, transport=transport) as env:
        obs = await env.reset(seed=5)
        obs = await env.describe(first_table(obs))
        assert obs.error == ""
        final = await env.answer("no idea")
        assert final.done
