"""sqlenv-client against the real sqlenv-server under uvicorn on loopback, over both transports."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from live_helpers import free_port, run_uvicorn

from sqlenv_client import (
    AsyncSQLEnvClient,
    CapacityError,
    EpisodeLostError,
    InvalidRequestError,
    SessionExpiredError,
    SQLEnvClient,
    TransportName,
)
from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app

with warnings.catch_warnings():
    # Starlette 1.x suggests its httpx2 fork at import; plain httpx is what we depend on.
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.integration
TRANSPORTS: list[TransportName] = ["ws", "http"]
BOOKS = [f"item {i}" for i in range(1, 31) if 1 + i % 3 == 1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_whole_episode_on_the_server(server_url: str, transport: TransportName) -> None:
    with SQLEnvClient(server_url, transport=transport) as env:
        obs = env.reset(question_id="q-books")
        assert obs.question.startswith("List the names") and "categories" in obs.schema_info
        assert "gold" not in str(obs.info).lower()
        obs = env.describe("categories")
        assert "name" in obs.schema_info and obs.step_count == 1
        assert env.sample("items").columns == ["id", "name", "price", "category_id"]
        obs = env.query("SELECT i.name FROM items i JOIN categories c ON c.id = i.category_id WHERE c.name = 'books'")
        assert sorted(r[0] for r in obs.rows) == sorted(BOOKS)
        assert env.query("SELECT nope FROM items").error  # a mistake is an observation
        final = env.answer([r[0] for r in obs.rows])
        assert final.done and final.info["verdict"]["correct"] is True and final.reward and final.reward > 0
        state = env.state()
        assert state.done and state.question_id == "q-books" and state.step_count == 4
        assert state.total_reward > 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sessions_are_isolated(server_url: str, transport: TransportName) -> None:
    with SQLEnvClient(server_url, transport=transport) as a, SQLEnvClient(server_url, transport=transport) as b:
        a.reset(question_id="q-count")
        b.reset(question_id="q-max")
        if transport == "http":
            assert a.session_id and b.session_id and a.session_id != b.session_id
        a.query("SELECT 1")
        assert a.state().step_count == 1 and b.state().step_count == 0
        assert a.state().question_id == "q-count" and b.state().question_id == "q-max"
        assert b.answer(45.0).info["verdict"]["correct"] is True
        assert not a.state().done


def test_malformed_requests_raise_and_leave_the_episode_alone(server_url: str) -> None:
    with SQLEnvClient(server_url) as env:
        env.reset(question_id="q-count")
        with pytest.raises(InvalidRequestError):
            env.step({"action_type": "DROP TABLE", "argument": "items"})
        with pytest.raises(InvalidRequestError, match="no question") as info:
            env.reset(question_id="q-missing")
        assert info.value.code == "VALIDATION_ERROR"
        assert env.query("SELECT count(*) FROM items").rows == [[30]]


def test_raw_invalid_action_from_the_server_is_typed(server_url: str) -> None:
    # Bypass the client's own validation to see the server's verdict mapped to the same type.
    with SQLEnvClient(server_url) as env:
        env.reset(question_id="q-count")
        transport = env._transport  # white-box on purpose
        assert transport is not None
        frame = transport.exchange({"type": "step", "data": {"action_type": "EXPLODE", "argument": ""}})
        assert frame["type"] == "error" and frame["data"]["code"] == "VALIDATION_ERROR"
        assert env.state().step_count == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_capacity_is_reported_and_freed_slots_are_reusable(
    tiny_dataset: Dataset, serve_app: Callable[..., AbstractContextManager[str]], transport: TransportName
) -> None:
    app = create_app(Settings(max_sessions=1), dataset=tiny_dataset)
    with serve_app(app) as url:
        first = SQLEnvClient(url, transport=transport)
        first.reset(question_id="q-count")
        with SQLEnvClient(url, transport=transport) as second:
            with pytest.raises(CapacityError) as info:
                second.reset()
            assert info.value.code == "CAPACITY_REACHED"
            first.close()  # frees the slot at once (WS close / POST /close)
            assert second.reset(question_id="q-max").question.startswith("What is the highest")


def test_an_expired_http_session_raises_session_expired_then_reset_recovers(server_url: str) -> None:
    with SQLEnvClient(server_url, transport="http") as env:
        env.reset(question_id="q-count")
        session_id = env.session_id
        assert session_id
        httpx.post(f"{server_url}/close", json={"session_id": session_id}, timeout=5).raise_for_status()
        with pytest.raises(SessionExpiredError) as info:
            env.query("SELECT 1")
        assert info.value.code == "SESSION_ERROR"
        with pytest.raises(EpisodeLostError):
            env.query("SELECT 1")
        assert env.reset(question_id="q-count").step_count == 0
        assert env.query("SELECT 1").step_count == 1


def test_a_server_restart_loses_the_episode_and_the_next_reset_reconnects(tiny_dataset: Dataset) -> None:
    port = free_port()
    with run_uvicorn(create_app(Settings(), dataset=tiny_dataset), port=port) as url:
        env = SQLEnvClient(url, message_timeout=10, backoff=0.1)
        env.reset(question_id="q-count")
        env.query("SELECT 1")
    with pytest.raises(EpisodeLostError, match="call reset"):
        env.query("SELECT 2")
    with run_uvicorn(create_app(Settings(), dataset=tiny_dataset), port=port):
        with pytest.raises(EpisodeLostError):
            env.query("SELECT 2")  # still refused: the client never replays onto a new session
        obs = env.reset(question_id="q-max")
        assert obs.step_count == 0 and env.query("SELECT max(price) FROM items").rows == [[45.0]]
        assert env.state().step_count == 1
        env.close()


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_many_async_episodes_at_once(server_url: str, transport: TransportName) -> None:
    async def play(question_id: str, sql: str) -> bool:
        async with AsyncSQLEnvClient(server_url, transport=transport) as env:
            await env.reset(question_id=question_id)
            obs = await env.query(sql)
            final = await env.answer(obs.rows)
            return bool(final.info["verdict"]["correct"])

    jobs = [("q-count", "SELECT count(*) FROM items"), ("q-max", "SELECT max(price) FROM items")] * 6
    assert await asyncio.gather(*(play(q, s) for q, s in jobs)) == [True] * len(jobs)


class TestClientWebSocketTransport:
    """A WebSocket to an in-process app through Starlette's TestClient: a ``transport=`` of our own."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, test_client: TestClient) -> None:
        self._context = test_client.websocket_connect("/ws")
        self._ws = self._context.__enter__()

    def exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        self._ws.send_text(json.dumps(message))
        return json.loads(self._ws.receive_text())

    def close(self) -> None:
        self._ws.send_text(json.dumps({"type": "close"}))
        self._context.__exit__(None, None, None)


def test_in_process_app_through_starlette_testclient(tiny_dataset: Dataset) -> None:
    # The public ways to reach an app in this process: an injected transport or an httpx client.
    app = create_app(Settings(), dataset=tiny_dataset)
    with TestClient(app) as http:
        with SQLEnvClient(transport=TestClientWebSocketTransport(http)) as env:
            env.reset(question_id="q-count")
            assert env.answer(30).info["verdict"]["correct"] is True
        with SQLEnvClient("http://testserver", transport="http", http_client=http) as env:
            env.reset(question_id="q-count")
            assert env.answer(30).info["verdict"]["correct"] is True
        assert http.get("/health").json() == {"status": "healthy"}


@pytest.mark.anyio
async def test_async_http_through_an_injected_asgi_transport(server_url: str) -> None:
    # An injected httpx.AsyncClient is used as given (here pointing at the live server).
    async with httpx.AsyncClient(base_url=server_url) as http:
        async with AsyncSQLEnvClient(server_url, transport="http", http_client=http) as env:
            await env.reset(question_id="q-count")
            assert (await env.answer(30)).info["verdict"]["correct"] is True
        assert not http.is_closed
