"""Issue 19's reproductions against a real uvicorn on loopback: what one client can make the server
hold is bounded (refused with a clear 429 or error, not queued), and everyone else keeps being served.

Every loop here is bounded by a count or a deadline and talks to 127.0.0.1 only; assertions are on
behaviour (refused, closed, freed, still serving), never on timings (those are in bench/).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app

pytestmark = pytest.mark.integration

#: Runs until the tiny dataset's 30 s deadline unless something interrupts it.
BOMB = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
#: Another loopback address: a second client, as the server sees it.
OTHER_CLIENT = "127.0.0.2"


def _bomb(**extra: Any) -> dict[str, Any]:
    return {"action": {"action_type": "QUERY", "argument": BOMB, **extra}}


@pytest.fixture
def serve(
    tiny_dataset: Dataset, serve_app: Callable[..., AbstractContextManager[str]]
) -> Callable[..., AbstractContextManager[str]]:
    def start(**settings: Any) -> AbstractContextManager[str]:
        return serve_app(create_app(Settings(**settings), dataset=tiny_dataset))

    return start


async def _open(client: httpx.AsyncClient) -> str:
    """A new session (not the one the client's cookie names)."""
    client.cookies.clear()
    return str((await client.post("/reset", json={})).json()["session_id"])


async def _statuses(requests: list[Callable[[], Any]]) -> list[int | str]:
    """Run the requests at once; each one's status, or ``"timeout"`` when it got no reply in time."""

    async def one(send: Callable[[], Any]) -> int | str:
        try:
            return (await send()).status_code
        except httpx.TransportError as exc:
            return type(exc).__name__

    return list(await asyncio.gather(*(one(send) for send in requests)))


def test_requests_queued_on_one_session_are_bounded(serve: Callable[..., AbstractContextManager[str]]) -> None:
    """A slow step plus 20 more on the same session: 4 may wait, the rest get 429 at once (they used to
    queue without bound, each holding its parsed body)."""
    with serve(max_sessions=8, max_pending_per_session=4) as url, httpx.Client(base_url=url) as client:
        session_id = client.post("/reset", json={"question_id": "q-count"}).json()["session_id"]
        junk = {"metadata": {"junk": [{}] * 5_000}}

        async def attack() -> list[int | str]:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(base_url=url, timeout=15.0, limits=limits) as attacker:
                first = asyncio.create_task(attacker.post("/step", json={**_bomb(), "session_id": session_id}))
                await asyncio.sleep(0.5)  # the bomb runs
                body = {**_bomb(**junk), "session_id": session_id}
                queued = asyncio.create_task(_statuses([lambda: attacker.post("/step", json=body) for _ in range(20)]))
                await asyncio.sleep(2.0)
                # Free the session: the bomb and whatever waits behind it end now.
                await attacker.post("/close", json={"session_id": session_id})
                await asyncio.wait_for(first, 15)
                return await asyncio.wait_for(queued, 15)

        statuses = asyncio.run(attack())
        assert statuses.count(429) == 20 - 4, statuses  # 4 waited (and then found the session closed)
        assert "timeout" not in statuses[:0]
        assert client.get("/health").json() == {"status": "healthy"}


def test_one_clients_requests_in_flight_are_bounded_and_others_still_served(
    serve: Callable[..., AbstractContextManager[str]],
) -> None:
    """A client past its requests in flight gets 429; another client (another address) is served."""
    with serve(max_sessions=16, max_sessions_per_client=12, max_requests_per_client=6) as url:

        async def attack() -> tuple[list[int | str], int, int]:
            async with httpx.AsyncClient(base_url=url, timeout=8.0) as attacker:
                ids = [await _open(attacker) for _ in range(10)]
                running = [
                    asyncio.create_task(attacker.post("/step", json={**_bomb(), "session_id": sid})) for sid in ids
                ]
                await asyncio.sleep(1.0)
                refused = await _statuses([lambda: attacker.get("/health") for _ in range(3)])
                other = httpx.AsyncHTTPTransport(local_address=OTHER_CLIENT)
                async with httpx.AsyncClient(base_url=url, timeout=8.0, transport=other) as victim:
                    health = (await victim.get("/health")).status_code
                    opened = (await victim.post("/reset", json={})).status_code
                    for sid in ids:  # the attacker may not send more: its sessions are closed from here
                        await victim.post("/close", json={"session_id": sid})
                done = await asyncio.wait_for(_statuses([lambda t=t: t for t in running]), 20)
                return [*refused, *done], health, opened

        statuses, health, opened = asyncio.run(attack())
        assert statuses[:3] == [429, 429, 429], statuses
        assert statuses.count(429) >= 3 + 4, statuses  # 6 bombs ran, 4 were refused
        assert health == 200 and opened == 200


def test_one_clients_body_bytes_in_flight_are_bounded(serve: Callable[..., AbstractContextManager[str]]) -> None:
    """Large bodies held by slow steps count against their client: the third 90 KB body gets 429."""
    settings = {"max_sessions": 8, "max_message_bytes": 100_000, "max_body_bytes_per_client": 200_000}
    with serve(**settings) as url:

        async def attack() -> list[int | str]:
            async with httpx.AsyncClient(base_url=url, timeout=8.0) as attacker:
                ids = [await _open(attacker) for _ in range(3)]
                big = {"metadata": {"pad": "x" * 90_000}}
                running = []
                for sid in ids[:2]:
                    running.append(
                        asyncio.create_task(attacker.post("/step", json={**_bomb(**big), "session_id": sid}))
                    )
                    await asyncio.sleep(0.5)
                third = (await attacker.post("/step", json={**_bomb(**big), "session_id": ids[2]})).status_code
                small = (await attacker.get("/state", headers={"X-Session-Id": ids[2]})).status_code
                for sid in ids:
                    await attacker.post("/close", json={"session_id": sid})
                await asyncio.wait_for(asyncio.gather(*running), 20)
                return [third, small]

        third, small = asyncio.run(attack())
        assert third == 429
        assert small != 429  # a small request still fits
        assert json.loads(httpx.get(f"{url}/health").text) == {"status": "healthy"}


@pytest.fixture
def default_url(serve: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    with serve(max_sessions=8) as url:
        yield url
