"""Several servers: a client whose server is down when it resets moves on to the next one.

Real servers on loopback (an HTTP server that answers ``/reset``, a scripted WebSocket peer) and
ports nothing listens on; no mocks. A refused connection fails at once, so these are quick.
"""

from __future__ import annotations

from typing import Any

import pytest
from client_helpers import LOOPBACK, StartPeer, closed_port, observation

from sqlenv_client import AsyncSQLEnvClient, ServerConnectionError, SQLEnvClient, TransportName

pytestmark = pytest.mark.timeout(30)

FAST: dict[str, Any] = {"connect_timeout": 2.0, "message_timeout": 2.0, "backoff": 0.01, "max_backoff": 0.02}


def dead_url() -> str:
    return f"http://{LOOPBACK}:{closed_port()}"


def live_url(transport: TransportName, reset_server: str, scripted_peer: StartPeer) -> str:
    if transport == "http":
        return reset_server
    return scripted_peer(lambda i, n, m: observation() if m["type"] == "reset" else None).url


@pytest.mark.parametrize("reconnect_attempts", [0, 2])
@pytest.mark.parametrize("transport", ["http", "ws"])
def test_a_reset_moves_on_from_a_dead_server_to_a_live_one(
    transport: TransportName, reconnect_attempts: int, reset_server: str, scripted_peer: StartPeer
) -> None:
    dead, live = dead_url(), live_url(transport, reset_server, scripted_peer)
    with SQLEnvClient([dead, live], transport=transport, reconnect_attempts=reconnect_attempts, **FAST) as env:
        assert env.settings.base_url == dead  # a new list of URLs: the first client starts on its first
        assert env.reset().question == "How many?"
        assert env.settings.base_url == live
        if transport == "http":
            assert env.session_id == "s1"


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_an_async_reset_moves_on_from_a_dead_server_to_a_live_one(
    transport: TransportName, reset_server: str, scripted_peer: StartPeer
) -> None:
    dead, live = dead_url(), live_url(transport, reset_server, scripted_peer)
    async with AsyncSQLEnvClient([dead, live], transport=transport, reconnect_attempts=0, **FAST) as env:
        assert env.settings.base_url == dead
        assert (await env.reset()).question == "How many?"
        assert env.settings.base_url == live
        if transport == "http":
            assert env.session_id == "s1"


@pytest.mark.parametrize("transport", ["http", "ws"])
def test_when_every_server_is_down_the_error_names_them_all(transport: TransportName) -> None:
    urls = [dead_url(), dead_url()]
    with SQLEnvClient(urls, transport=transport, reconnect_attempts=1, **FAST) as env:
        for _ in range(2):  # each reset tries every server again
            with pytest.raises(ServerConnectionError, match="tried every server") as info:
                env.reset()
            assert all(url in str(info.value) for url in urls)
            assert info.value.details["urls"] == urls
            assert "is the server running?" in str(info.value)


@pytest.mark.anyio
async def test_when_every_server_is_down_the_async_error_names_them_all() -> None:
    urls = [dead_url(), dead_url()]
    async with AsyncSQLEnvClient(urls, transport="http", reconnect_attempts=0, **FAST) as env:
        with pytest.raises(ServerConnectionError, match="tried every server") as info:
            await env.reset()
    assert all(url in str(info.value) for url in urls)


def test_one_dead_server_still_says_how_many_attempts_were_made() -> None:
    with SQLEnvClient(dead_url(), reconnect_attempts=2, **FAST) as env:
        with pytest.raises(ServerConnectionError, match="after 3 attempts") as info:
            env.reset()
    assert "tried every server" not in str(info.value)
