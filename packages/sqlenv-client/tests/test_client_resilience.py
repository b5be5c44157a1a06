"""What the client does when the connection misbehaves: scripted WebSocket peers on loopback."""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from client_helpers import LOOPBACK, ResetOnlyHandler, StartPeer, closed_port, observation
from websockets.sync.server import ServerConnection, serve

from sqlenv_client import (
    AsyncSQLEnvClient,
    CapacityError,
    EpisodeLostError,
    ProtocolError,
    RequestTimeoutError,
    ServerConnectionError,
    SessionExpiredError,
    SQLEnvClient,
)
from sqlenv_client.transports import AsyncWebSocketTransport

FAST: dict[str, Any] = {"connect_timeout": 2.0, "message_timeout": 0.5, "backoff": 0.01, "max_backoff": 0.02}


def echo_script(index: int, count: int, message: dict[str, Any]) -> Any:
    """A well-behaved peer: observations for reset/step, a state for state."""
    if message["type"] == "state":
        return {"type": "state", "data": {"episode_id": f"e{index}", "step_count": count}}
    if message["type"] == "close":
        return None
    return observation(step=0 if message["type"] == "reset" else count)


def test_a_silent_server_times_out_instead_of_hanging(scripted_peer: StartPeer) -> None:
    peer = scripted_peer(lambda i, n, m: None)
    with SQLEnvClient(peer.url, **FAST) as env, pytest.raises(RequestTimeoutError) as info:
        env.reset()
    assert isinstance(info.value, TimeoutError)
    assert "0.5s" in str(info.value)


def test_timeout_mid_episode_loses_the_episode_and_replays_nothing(scripted_peer: StartPeer) -> None:
    # Connection 0 answers the reset, then goes silent; later connections behave.
    peer = scripted_peer(lambda i, n, m: None if (i == 0 and n >= 1) else echo_script(i, n, m))
    with SQLEnvClient(peer.url, **FAST) as env:
        env.reset()
        with pytest.raises(EpisodeLostError, match="timed out during step") as info:
            env.query("SELECT 1")
        assert info.value.code == "EPISODE_LOST"
        assert isinstance(info.value.__cause__, RequestTimeoutError)
        with pytest.raises(EpisodeLostError, match="call reset"):
            env.query("SELECT 2")  # refused locally: no new connection, nothing sent
        assert [m["type"] for _, m in peer.received] == ["reset", "step"]
        obs = env.reset()
        assert obs.question == "How many?"
        assert env.query("SELECT 3").step_count == 1
    steps = [(i, m["data"]["argument"]) for i, m in peer.received if m["type"] == "step"]
    assert steps == [(0, "SELECT 1"), (1, "SELECT 3")], "an action was replayed on the new connection"


def test_a_dropped_connection_raises_episode_lost_then_reset_reconnects(scripted_peer: StartPeer) -> None:
    peer = scripted_peer(lambda i, n, m: "drop" if (i == 0 and n == 2) else echo_script(i, n, m))
    with SQLEnvClient(peer.url, **FAST) as env:
        env.reset()
        env.describe("t")
        with pytest.raises(EpisodeLostError, match="dropped during step") as info:
            env.sample("t")
        assert isinstance(info.value, ConnectionError)
        assert not env.episode_active
        env.reset()
        assert env.episode_active
    assert peer.connections == 2


def test_a_connection_that_died_between_episodes_is_replaced_on_reset(scripted_peer: StartPeer) -> None:
    # The first connection dies after its episode ended (as after a server restart); reset() finds out.
    def script(i: int, n: int, m: dict[str, Any]) -> Any:
        if i == 0 and n == 1:
            ended: dict[str, Any] = {"data": {"observation": {}, "reward": 1.0, "done": True}}
            return observation(step=1, **{"error": ""}) | ended
        if i == 0 and n == 2:
            return "drop"
        return echo_script(i, n, m)

    peer = scripted_peer(script)
    with SQLEnvClient(peer.url, **FAST) as env:
        env.reset()
        final = env.answer(3)
        assert final.done and final.reward == 1.0
        obs = env.reset()  # the stale socket fails; a reset carries no episode, so it is resent
        assert obs.question == "How many?"
    sent = [(i, m["type"]) for i, m in peer.received]
    assert sent[:4] == [(0, "reset"), (0, "step"), (0, "reset"), (1, "reset")]


def test_garbage_from_the_server_is_a_protocol_error(scripted_peer: StartPeer) -> None:
    peer = scripted_peer(lambda i, n, m: "this is not json")
    with SQLEnvClient(peer.url, **FAST) as env, pytest.raises(ProtocolError, match="invalid JSON"):
        env.reset()
    peer2 = scripted_peer(lambda i, n, m: {"type": "observation", "data": {"observation": {"step_count": "many"}}})
    with SQLEnvClient(peer2.url, **FAST) as env, pytest.raises(ProtocolError, match="cannot read"):
        env.reset()


def test_unknown_observation_fields_from_a_newer_server_are_ignored(scripted_peer: StartPeer) -> None:
    peer = scripted_peer(lambda i, n, m: observation(hint="new in v2") | {"extra_top_level": 1})
    with SQLEnvClient(peer.url, **FAST) as env:
        assert env.reset().question == "How many?"


def test_capacity_refusal_is_a_capacity_error_and_the_next_try_reconnects(scripted_peer: StartPeer) -> None:
    refusal = {"type": "error", "data": {"code": "CAPACITY_REACHED", "message": "16 sessions open", "max_sessions": 16}}
    peer = scripted_peer(lambda i, n, m: refusal if i == 0 else echo_script(i, n, m))
    with SQLEnvClient(peer.url, **FAST) as env:
        with pytest.raises(CapacityError) as info:
            env.reset()
        assert info.value.code == "CAPACITY_REACHED"
        assert info.value.details["max_sessions"] == 16
        assert "retry later" in str(info.value)
        assert env.reset().question == "How many?"
    assert peer.connections == 2


def test_session_error_mid_episode_is_session_expired_and_the_episode_is_lost(scripted_peer: StartPeer) -> None:
    expired = {"type": "error", "data": {"code": "SESSION_ERROR", "message": "session reaped after idling"}}
    peer = scripted_peer(lambda i, n, m: expired if (i == 0 and n == 1) else echo_script(i, n, m))
    with SQLEnvClient(peer.url, **FAST) as env:
        env.reset()
        with pytest.raises(SessionExpiredError, match="reaped"):
            env.query("SELECT 1")
        with pytest.raises(EpisodeLostError):
            env.query("SELECT 1")
        env.reset()


def test_connection_refused_retries_with_backoff_then_says_so() -> None:
    port = closed_port()
    with SQLEnvClient(f"http://{LOOPBACK}:{port}", reconnect_attempts=3, **FAST) as env:
        with pytest.raises(ServerConnectionError, match="after 4 attempts") as info:
            env.reset()
    assert "is the server running?" in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_a_server_that_comes_up_during_the_backoff_is_reached() -> None:
    port = closed_port()
    servers: list[Any] = []

    def answer_everything(ws: ServerConnection) -> None:
        for _ in ws:
            ws.send(json.dumps(observation()))

    def start_late() -> None:
        server = serve(answer_everything, LOOPBACK, port)
        servers.append(server)
        server.serve_forever()

    timer = threading.Timer(0.3, start_late)
    timer.start()
    try:
        with SQLEnvClient(f"http://{LOOPBACK}:{port}", reconnect_attempts=8, backoff=0.1, max_backoff=0.4) as env:
            assert env.reset().question == "How many?"
    finally:
        deadline = time.monotonic() + 10
        while not servers and time.monotonic() < deadline:
            time.sleep(0.05)
        for server in servers:
            server.shutdown()
        timer.join(timeout=10)


def test_a_404_handshake_is_not_retried_and_suggests_http() -> None:
    def refuse(connection: Any, request: Any) -> Any:
        return connection.respond(404, "no websocket here\n")

    with serve(lambda ws: None, LOOPBACK, 0, process_request=refuse) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]
        with SQLEnvClient(f"http://{LOOPBACK}:{port}", reconnect_attempts=5, **FAST) as env:
            with pytest.raises(ServerConnectionError, match="transport='http'") as info:
                env.reset()
        assert info.value.details["http_status"] == 404
        assert "attempts" not in str(info.value)
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.anyio
async def test_async_twin_loses_the_episode_on_a_drop_and_recovers(scripted_peer: StartPeer) -> None:
    peer = scripted_peer(lambda i, n, m: "drop" if (i == 0 and n == 1) else echo_script(i, n, m))
    async with AsyncSQLEnvClient(peer.url, **FAST) as env:
        await env.reset()
        with pytest.raises(EpisodeLostError):
            await env.query("SELECT 1")
        with pytest.raises(EpisodeLostError):
            await env.query("SELECT 1")
        await env.reset()
        assert (await env.state()).episode_id == "e1"
    # (the trailing "close" may still be in flight when the client returns)
    assert [m["type"] for _, m in peer.received][:4] == ["reset", "step", "reset", "state"]


@pytest.mark.anyio
async def test_an_async_websocket_transport_never_opened_says_how_to_open_it() -> None:
    transport = AsyncWebSocketTransport(f"ws://{LOOPBACK}:{closed_port()}/ws", message_timeout=1.0)
    with pytest.raises(ServerConnectionError, match=r"never opened.*await AsyncWebSocketTransport\.open"):
        await transport.exchange({"type": "reset", "data": {}})


@pytest.mark.anyio
async def test_async_timeout(scripted_peer: StartPeer) -> None:
    peer = scripted_peer(lambda i, n, m: None)
    async with AsyncSQLEnvClient(peer.url, **FAST) as env:
        with pytest.raises(RequestTimeoutError):
            await env.reset()


def test_close_tells_the_server_and_a_closed_client_refuses_work(scripted_peer: StartPeer) -> None:
    peer = scripted_peer(echo_script)
    env = SQLEnvClient(peer.url, **FAST)
    env.reset()
    env.close()
    env.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and peer.received[-1][1]["type"] != "close":
        time.sleep(0.02)
    assert peer.received[-1][1] == {"type": "close"}
    with pytest.raises(Exception, match="closed"):
        env.reset()


def test_http_requests_that_never_reached_the_server_are_retried_with_backoff() -> None:
    port = closed_port()
    servers: list[ThreadingHTTPServer] = []

    def start_late() -> None:
        server = ThreadingHTTPServer((LOOPBACK, port), ResetOnlyHandler)
        servers.append(server)
        server.serve_forever()

    timer = threading.Timer(0.3, start_late)
    timer.start()
    try:
        with SQLEnvClient(
            f"http://{LOOPBACK}:{port}", transport="http", reconnect_attempts=8, backoff=0.1, max_backoff=0.4
        ) as env:
            assert env.reset().question == "How many?"
            assert env.session_id == "s1"
    finally:
        deadline = time.monotonic() + 10
        while not servers and time.monotonic() < deadline:
            time.sleep(0.05)
        for server in servers:
            server.shutdown()
            server.server_close()
        timer.join(timeout=10)


def test_http_connection_refused_says_how_to_fix_it() -> None:
    with SQLEnvClient(f"http://{LOOPBACK}:{closed_port()}", transport="http", **FAST) as env:
        with pytest.raises(ServerConnectionError, match="is the server running"):
            env.reset()
