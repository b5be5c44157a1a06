"""Issue 19's reproductions against a real uvicorn on loopback: what one client can make the server
hold is bounded (refused with a clear 429 or error, not queued), and everyone else keeps being served.

Every loop here is bounded by a count or a deadline and talks to 127.0.0.1 only; assertions are on
behaviour (refused, closed, freed, still serving), never on timings (those are in bench/).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from live_helpers import run_uvicorn
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app
from sqlenv_server.protocol import head_deadline_protocol
from sqlenv_server.workers import uvicorn_options

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
            # Generous timeouts: on a loaded machine the close that frees the session can take seconds.
            async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as attacker:
                first = asyncio.create_task(attacker.post("/step", json={**_bomb(), "session_id": session_id}))
                await asyncio.sleep(0.5)  # the bomb runs
                body = {**_bomb(**junk), "session_id": session_id}
                queued = asyncio.create_task(_statuses([lambda: attacker.post("/step", json=body) for _ in range(20)]))
                await asyncio.sleep(2.0)
                # Free the session: the bomb and whatever waits behind it end now.
                await attacker.post("/close", json={"session_id": session_id})
                await asyncio.wait_for(first, 60)
                return await asyncio.wait_for(queued, 60)

        statuses = asyncio.run(attack())
        assert statuses.count(429) == 20 - 4, statuses
        # The 4 that waited found the session closed: none ran its own bomb (close used to wait for all of them).
        assert statuses.count(404) == 4, statuses
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


#: About 60 kB of reply: a client that does not read fills its socket buffers with a few of these.
BIG_REPLY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
    "SELECT x, replace(hex(zeroblob(700)), '0', 'y') FROM c"
)


def _ws_frame(text: str) -> bytes:
    """A masked client text frame (RFC 6455)."""
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    size = len(payload)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _raw_websocket(url: str) -> socket.socket:
    """A WebSocket opened by hand on a socket with a tiny receive buffer, so that it can stop reading."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _active_ws_sessions(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith('sqlenv_active_sessions{transport="ws"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_websocket_client_that_stops_reading_is_cut_off_and_its_session_freed(
    serve: Callable[..., AbstractContextManager[str]],
) -> None:
    with serve(max_sessions=4, ws_send_timeout=1.0, step_budget=1_000) as url:
        sock = _raw_websocket(url)
        try:
            sock.sendall(_ws_frame(json.dumps({"type": "reset", "data": {}})))
            step = _ws_frame(json.dumps({"type": "step", "data": {"action_type": "QUERY", "argument": BIG_REPLY}}))
            for _ in range(200):  # ~12 MB of replies, never read: past what the socket buffers hold
                time.sleep(0.05)
                try:
                    sock.sendall(step)
                except OSError:
                    break  # cut off (or, before the fix, the buffers are full)
            deadline = time.monotonic() + 30
            while _active_ws_sessions(url) > 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _active_ws_sessions(url) == 0, "the session of a client that stopped reading is still held"
        finally:
            sock.close()
        with connect(url.replace("http", "ws") + "/ws") as ws:  # the server still serves
            ws.send(json.dumps({"type": "reset", "data": {}}))
            assert json.loads(ws.recv(timeout=10))["type"] == "observation"


def test_a_websocket_frame_over_the_message_limit_is_refused_by_the_protocol(tiny_dataset: Dataset) -> None:
    """The ``sqlenv-server`` command's uvicorn refuses a frame over ``max_message_bytes`` (close 1009)
    before buffering it whole; it used to accept frames of 4x the limit."""
    settings = Settings(max_sessions=4, max_message_bytes=50_000)
    options = uvicorn_options(settings, "warning")
    assert options["ws_max_size"] == settings.max_message_bytes
    with run_uvicorn(create_app(settings, dataset=tiny_dataset), ws_max_size=options["ws_max_size"]) as url:
        with connect(url.replace("http", "ws") + "/ws") as ws:
            ws.send("x" * 60_000)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_a_cookie_of_backslashes_does_not_freeze_the_server(default_url: str) -> None:
    """``Cookie: sqlenv_session="\\\\\\\\..."`` was unquoted by ``http.cookies`` (quadratic before Python
    3.11.10, CVE-2024-7592) on the event loop: 20 such requests froze the worker for many seconds."""
    evil = 'sqlenv_session="' + "\\\\" * 7_000 + '"'

    async def attack() -> list[int | str]:
        async with httpx.AsyncClient(base_url=default_url, timeout=60.0) as attacker:
            sent = [asyncio.create_task(attacker.get("/state", headers={"Cookie": evil})) for _ in range(20)]
            await asyncio.sleep(0.2)
            other = httpx.AsyncHTTPTransport(local_address=OTHER_CLIENT)
            async with httpx.AsyncClient(base_url=default_url, timeout=5.0, transport=other) as victim:
                health = await _statuses([lambda: victim.get("/health")])
            return [*health, *await _statuses([lambda t=t: t for t in sent])]

    health, *statuses = asyncio.run(attack())
    assert health == 200  # served while the cookies are read (it timed out at 5 s before)
    assert set(statuses) == {200}, statuses  # no usable session id: the empty state


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sqlenv_session=abc", "abc"),
        ('a=1; sqlenv_session="w1-abc"; b=2', "w1-abc"),
        ("a=1;sqlenv_session=x ; other=y", "x"),
        ("xsqlenv_session=abc", None),
        ("sqlenv_session=", None),
        ("", None),
        ('sqlenv_session="' + "\\" * 200_000, '"' + "\\" * 254),
    ],
)
def test_the_session_cookie_is_read_by_splitting(header: str, expected: str | None) -> None:
    from sqlenv_core.wire import SESSION_ID_MAX_CHARS
    from sqlenv_server.cookies import session_cookie

    found = session_cookie(header)
    assert found == (expected[:SESSION_ID_MAX_CHARS] if expected else None)


def test_session_ids_stay_out_of_the_access_log_however_encoded(
    tiny_dataset: Dataset, serve_app: Callable[..., AbstractContextManager[str]], capfd: pytest.CaptureFixture[str]
) -> None:
    with serve_app(create_app(Settings(), dataset=tiny_dataset), log_level="info", access_log=True) as url:
        session_id = httpx.post(f"{url}/reset").json()["session_id"]
        for name in ("session%5Fid", "session%5fid", "%73ession_id"):  # FastAPI decodes each to session_id
            reply = httpx.get(f"{url}/state?{name}={session_id}")
            assert reply.status_code == 200 and reply.json()["question_id"], reply.text
    logged = capfd.readouterr()
    assert session_id not in logged.out + logged.err
    assert "session%5Fid=<redacted>" in logged.out + logged.err


def test_a_forwarded_request_is_logged_with_the_real_client_address(
    tiny_dataset: Dataset, tmp_path: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """A request another worker forwards arrives over a Unix socket (no peer address): the owner
    logs and limits the address the first worker saw."""
    import threading

    import uvicorn

    path = str(tmp_path / "worker.sock")
    app = create_app(Settings(), dataset=tiny_dataset)
    server = uvicorn.Server(uvicorn.Config(app, uds=path, log_level="info", access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        transport = httpx.HTTPTransport(uds=path)
        with httpx.Client(transport=transport, base_url="http://worker", timeout=10) as worker:
            deadline = time.monotonic() + 20
            while True:
                try:
                    worker.get("/health")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            headers = {"x-sqlenv-forwarded": "1", "x-sqlenv-client": "203.0.113.9"}
            assert worker.post("/reset", headers=headers).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    logged = capfd.readouterr()
    assert '203.0.113.9:0 - "POST /reset' in logged.out + logged.err


def test_pages_from_other_origins_cannot_drive_the_server(default_url: str) -> None:
    """A page on another site used to open /ws, and its ``text/plain`` POSTs to /mcp and /reset ran."""
    evil = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    mcp = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "reset", "arguments": {}}}'
    with httpx.Client(base_url=default_url, timeout=10) as client:
        assert client.post("/reset", content="{}", headers=evil).status_code == 403
        assert client.post("/mcp", content=mcp, headers=evil).status_code == 403
        assert client.post("/mcp", content=mcp, headers={**evil, "Origin": "null"}).status_code == 403
        opened = [
            line for line in client.get("/metrics").text.splitlines() if line.startswith("sqlenv_sessions_opened")
        ]
        assert all(line.endswith(" 0.0") for line in opened), opened  # nothing ran
        # Reading is no state change: a cross-origin GET is answered (the browser hides the reply).
        assert client.get("/health", headers=evil).status_code == 200
        # The server's own pages, and loopback ones, may.
        own = {"Origin": default_url, "Content-Type": "application/json"}
        assert client.post("/reset", content="{}", headers=own).status_code == 200
        local = {"Origin": "http://localhost:3000", "Content-Type": "application/json"}
        assert client.post("/reset", content="{}", headers=local).status_code == 200
    ws_url = default_url.replace("http", "ws") + "/ws"
    with pytest.raises(InvalidStatus):
        with connect(ws_url, origin=Origin("https://evil.example")) as ws:
            ws.recv(timeout=5)
    with connect(ws_url, origin=Origin(default_url)) as ws:
        ws.send(json.dumps({"type": "reset", "data": {}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "observation"


def test_a_server_on_loopback_refuses_foreign_host_names(default_url: str) -> None:
    """DNS rebinding: a page under evil.example resolved to 127.0.0.1 reaches the server with its own
    ``Host``; a server on loopback answers only to loopback names and IP addresses."""
    with httpx.Client(base_url=default_url, timeout=10) as client:
        assert client.get("/health", headers={"Host": "evil.example"}).status_code == 421
        assert client.post("/reset", headers={"Host": "evil.example:8000"}).status_code == 421
        assert client.get("/health", headers={"Host": "localhost:8000"}).status_code == 200
    with pytest.raises(InvalidStatus):
        with connect(default_url.replace("http", "ws") + "/ws", additional_headers={"Host": "evil.example"}) as ws:
            ws.recv(timeout=5)


def test_names_and_origins_are_settings(
    serve: Callable[..., AbstractContextManager[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPACE_HOST", "someone-sqlenv.hf.space")
    settings = {"max_sessions": 4, "allowed_hosts": "sqlenv.example", "allowed_origins": "https://app.example"}
    with serve(**settings) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/health", headers={"Host": "sqlenv.example"}).status_code == 200
        assert client.get("/health", headers={"Host": "someone-sqlenv.hf.space"}).status_code == 200
        assert client.get("/health", headers={"Host": "other.example"}).status_code == 421
        for origin in ("https://app.example", "https://someone-sqlenv.hf.space"):
            assert client.post("/reset", headers={"Origin": origin}).status_code == 200
        assert client.post("/reset", headers={"Origin": "https://evil.example"}).status_code == 403
    # Bound to every interface (a container), any name is served unless names are set.
    with serve(max_sessions=4, host="0.0.0.0") as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/health", headers={"Host": "sqlenv.internal:8000"}).status_code == 200
        assert client.post("/reset", headers={"Origin": "https://evil.example"}).status_code == 403


def _until_closed(sock: socket.socket, deadline: float) -> bytes | None:
    """What the server sends until it closes the connection; ``None`` if still open at ``deadline``."""
    received = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def _closed_connections(url: str, reason: str) -> float:
    """``sqlenv_connections_closed_total{reason=...}`` on ``/metrics`` (counts of this process)."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(f'sqlenv_connections_closed_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no sqlenv_connections_closed_total for {reason}")


def _head_deadline_options(settings: Settings, impl: str) -> dict[str, Any]:
    """What ``sqlenv-server`` runs uvicorn with, on ``impl``'s protocol (``auto``: what uvicorn picks)."""
    options = uvicorn_options(settings, "warning")
    if impl == "httptools":
        pytest.importorskip("httptools", reason="httptools is not installed (uvicorn[standard] installs it)")
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base: type[asyncio.Protocol] = HttpToolsProtocol
    elif impl == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    else:
        return options
    per_client = options["http"].max_per_client
    options["http"] = head_deadline_protocol(
        settings.header_timeout, base, max_per_client=per_client, body_timeout_s=settings.body_timeout
    )
    return options


@pytest.mark.parametrize("impl", ["h11", "httptools"])
def test_a_request_whose_body_trickles_is_closed(tiny_dataset: Dataset, impl: str) -> None:
    """A head on time, then a body a byte now and then: uvicorn waits for a body for ever, so such
    requests from many addresses held ``max_connections`` as slow heads did. Now the body has
    ``body_timeout`` from its head; past it the connection gets 408 and is closed, and the route
    that waited for the body lets go of it. A body sent on time is served as before."""
    settings = Settings(max_sessions=4, header_timeout=30.0, body_timeout=1.0)
    options = _head_deadline_options(settings, impl)
    with run_uvicorn(create_app(settings, dataset=tiny_dataset), **options) as url:
        host, port = url.removeprefix("http://").split(":")
        closed_before = _closed_connections(url, "body_timeout")
        body = b'{"action_type": "QUERY", "argument": "SELECT 1"}'
        head = b"POST /step HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n" % (
            host.encode(),
            port.encode(),
        )
        slow = socket.create_connection((host, int(port)), timeout=10)
        try:
            started = time.monotonic()
            slow.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
            reply = None
            for byte in body[5:15]:  # a byte every 0.3 s: the whole body would take 13 s
                time.sleep(0.3)
                try:
                    slow.sendall(bytes([byte]))
                except OSError:  # closed under it
                    break
            reply = _until_closed(slow, time.monotonic() + 10)
            waited = time.monotonic() - started
        finally:
            slow.close()
        assert reply is not None and reply.startswith(b"HTTP/1.1 408 "), reply
        assert b"request body not received in time" in reply
        assert waited < 8, waited  # closed about body_timeout after the head, not after header_timeout
        assert _closed_connections(url, "body_timeout") >= closed_before + 1  # operators see it
        on_time = httpx.post(f"{url}/reset", json={}, timeout=10)
        assert on_time.status_code == 200, on_time.text
        assert httpx.get(f"{url}/health", timeout=10).json() == {"status": "healthy"}


@pytest.mark.parametrize("impl", ["auto", "h11", "httptools"])
def test_connections_that_do_not_finish_their_request_head_are_closed(tiny_dataset: Dataset, impl: str) -> None:
    """Slowloris: 20 connections that send nothing, or half a request line, used to be held for ever
    (uvicorn times nothing before a request head), so that past ``max_connections`` every other
    client got 503. Now each is closed after ``header_timeout`` (408 when a request was begun)."""
    settings = Settings(max_sessions=4, max_connections=16, header_timeout=1.0)
    options = _head_deadline_options(settings, impl)
    with run_uvicorn(create_app(settings, dataset=tiny_dataset), **options) as url:
        host, port = url.removeprefix("http://").split(":")
        closed_before = _closed_connections(url, "header_timeout")
        attackers: list[socket.socket] = []
        try:
            for i in range(20):
                sock = socket.create_connection((host, int(port)), timeout=10)
                attackers.append(sock)
                if i % 2:
                    sock.sendall(b"GET /hea")  # half a request line, then nothing
            deadline = time.monotonic() + 20
            replies = [_until_closed(sock, deadline) for sock in attackers]
        finally:
            for sock in attackers:
                sock.close()
        assert None not in replies, f"{replies.count(None)} of 20 connections still open after 20 s"
        assert all(reply == b"" for reply in replies[0::2]), replies  # nothing sent: closed, nothing said
        assert all(reply.startswith(b"HTTP/1.1 408 ") for reply in replies[1::2] if reply), replies
        assert httpx.get(f"{url}/health", timeout=10).json() == {"status": "healthy"}
        assert _closed_connections(url, "header_timeout") >= closed_before + 20  # operators see it


@pytest.mark.parametrize("impl", ["h11", "httptools"])
def test_a_keep_alive_connection_that_trickles_its_next_request_head_is_closed(
    tiny_dataset: Dataset, impl: str
) -> None:
    """A byte now and then stops uvicorn's keep-alive timer for good; the head deadline still runs.
    It bounds the head only: a request whose reply takes longer than the deadline is answered."""
    settings = Settings(max_sessions=4, header_timeout=1.0)
    options = _head_deadline_options(settings, impl)
    with run_uvicorn(create_app(settings, dataset=tiny_dataset), **options) as url:

        async def slow_reply() -> int:
            async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
                session_id = await _open(client)
                step = asyncio.create_task(client.post("/step", json={**_bomb(), "session_id": session_id}))
                await asyncio.sleep(2.0)  # twice the deadline, the request's connection idle meanwhile
                await client.post("/close", json={"session_id": session_id})
                return (await step).status_code

        assert asyncio.run(slow_reply()) in (200, 404)  # answered (closed under it), not cut off
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = b""
            while b"healthy" not in first:
                chunk = sock.recv(4096)
                assert chunk, first
                first += chunk
            assert first.startswith(b"HTTP/1.1 200 ")
            sock.sendall(b"GET /health HTTP/1.1\r\n")
            closed = None
            for i in range(40):  # a header byte every 0.1 s for at most 4 s
                try:
                    sock.sendall(b"X-Slow: 1\r\n"[i % 11 : i % 11 + 1])
                except OSError:
                    closed = b""
                    break
                time.sleep(0.1)
            if closed is None:
                closed = _until_closed(sock, time.monotonic() + 1)
        assert closed is not None, "the connection trickling its head was still open after 4 s"
        assert closed == b"" or closed.startswith(b"HTTP/1.1 408 "), closed


def test_one_client_holds_at_most_max_ws_per_client_websockets(
    serve: Callable[..., AbstractContextManager[str]],
) -> None:
    """One WebSocket too many gets CAPACITY_REACHED and close 1013; another client is not affected,
    and a connection closed gives its place back."""
    reset = json.dumps({"type": "reset", "data": {}})
    with serve(max_sessions=16, max_ws_per_client=3) as url:
        ws_url = url.replace("http", "ws") + "/ws"
        with contextlib.ExitStack() as stack:
            held = [stack.enter_context(connect(ws_url)) for _ in range(3)]
            for ws in held:
                ws.send(reset)
                assert json.loads(ws.recv(timeout=10))["type"] == "observation"
            with connect(ws_url) as extra:
                refusal = json.loads(extra.recv(timeout=10))
                with pytest.raises(ConnectionClosed) as closed:
                    extra.recv(timeout=10)
            assert refusal["type"] == "error" and refusal["data"]["code"] == "CAPACITY_REACHED", refusal
            assert "SQLENV_MAX_WS_PER_CLIENT" in refusal["data"]["message"]
            assert refusal["data"]["max_ws_per_client"] == 3
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            with connect(ws_url, source_address=(OTHER_CLIENT, 0)) as other:  # another address is served
                other.send(reset)
                assert json.loads(other.recv(timeout=10))["type"] == "observation"
            held[-1].close()  # (closing it again on exit does nothing)
            deadline = time.monotonic() + 20
            while True:  # the closed connection's place comes back once the server has seen the close
                with connect(ws_url) as again:
                    again.send(reset)
                    reply = json.loads(again.recv(timeout=10))
                if reply["type"] == "observation" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert reply["type"] == "observation", reply


def test_websockets_per_client_count_the_forwarded_address(serve: Callable[..., AbstractContextManager[str]]) -> None:
    """Behind a proxy uvicorn trusts (loopback by default), each forwarded client has its own count."""
    reset = json.dumps({"type": "reset", "data": {}})

    def first_reply(ws: Any) -> dict[str, Any]:
        ws.send(reset)
        return dict(json.loads(ws.recv(timeout=10)))

    with serve(max_sessions=16, max_ws_per_client=1) as url:
        ws_url = url.replace("http", "ws") + "/ws"
        alice = {"X-Forwarded-For": "203.0.113.1"}
        with connect(ws_url, additional_headers=alice) as first:
            assert first_reply(first)["type"] == "observation"
            with connect(ws_url, additional_headers=alice) as second:
                refused = json.loads(second.recv(timeout=10))
            assert refused["data"]["code"] == "CAPACITY_REACHED" and "203.0.113.1" in refused["data"]["message"]
            with connect(ws_url, additional_headers={"X-Forwarded-For": "203.0.113.2"}) as bob:
                assert first_reply(bob)["type"] == "observation"


def _get_health(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    reply = b""
    while b"healthy" not in reply:
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply


@pytest.mark.parametrize("impl", ["h11", "httptools"])
def test_one_address_holds_at_most_max_connections_per_client(tiny_dataset: Dataset, impl: str) -> None:
    """Idle connections from one address used to be held until ``max_connections`` (then everyone got
    503); one past its share is now answered 429 at once and closed. Other addresses are served, and
    a proxy uvicorn trusts (loopback by default) is not counted: its clients are behind it."""
    settings = Settings(max_sessions=4, max_connections=64, max_connections_per_client=4, header_timeout=30.0)
    options = _head_deadline_options(settings, impl)
    with run_uvicorn(create_app(settings, dataset=tiny_dataset), **options) as url:
        host, port = url.removeprefix("http://").split(":")
        address = (host, int(port))
        attacker = ("127.0.0.3", 0)
        with contextlib.ExitStack() as stack:
            held = [
                stack.enter_context(socket.create_connection(address, timeout=10, source_address=attacker))
                for _ in range(4)
            ]
            with socket.create_connection(address, timeout=10, source_address=attacker) as extra:
                refused = _until_closed(extra, time.monotonic() + 10)
            assert refused is not None and refused.startswith(b"HTTP/1.1 429 "), refused
            assert b"SQLENV_MAX_CONNECTIONS_PER_CLIENT" in refused
            assert _closed_connections(url, "too_many_per_client") >= 1
            assert _get_health(held[0]).startswith(b"HTTP/1.1 200 ")  # its own connections still work
            other = httpx.HTTPTransport(local_address=OTHER_CLIENT)
            with httpx.Client(base_url=url, transport=other, timeout=10) as client:
                assert client.get("/health").status_code == 200
            # Loopback is a trusted proxy by default (FORWARDED_ALLOW_IPS): not counted.
            local = [stack.enter_context(socket.create_connection(address, timeout=10)) for _ in range(6)]
            assert _get_health(local[-1]).startswith(b"HTTP/1.1 200 ")
            held[1].close()  # its place comes back once the server has seen the close
            deadline = time.monotonic() + 20
            while True:
                with socket.create_connection(address, timeout=10, source_address=attacker) as again:
                    reply = _get_health(again)
                if reply.startswith(b"HTTP/1.1 200 ") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert reply.startswith(b"HTTP/1.1 200 "), reply
