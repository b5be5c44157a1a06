"""Issue 9's reproductions against a real uvicorn on loopback: every input gets a typed answer in
bounded time and memory, abandoned work is cancelled, and nothing a client sends makes a 500.

Every loop here is bounded by a count or a deadline and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app

pytestmark = pytest.mark.integration

#: Runs until the tiny dataset's 30 s deadline unless something interrupts it.
BOMB = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
LIMIT = 64_000


def _strict_json(text: str) -> Any:
    """Parse as a browser's JSON.parse would: no Infinity, no NaN."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def base_url(tiny_dataset: Dataset, serve_app: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    settings = Settings(max_sessions=16, max_sessions_per_client=16, max_message_bytes=LIMIT, max_batch=8)
    with serve_app(create_app(settings, dataset=tiny_dataset)) as url:
        yield url


def _metric(base_url: str, name: str) -> float:
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def _wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _raw_request(base_url: str, head: str, chunks: Iterator[bytes]) -> tuple[int, bytes]:
    """Send a request head and body chunks on a raw socket; return the status and body of the reply."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed while we were still sending: that is the point
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply) < reply.index(b"\r\n\r\n") + 4 + _length(reply):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    status = int(reply.split(b" ", 2)[1])
    return status, reply.split(b"\r\n\r\n", 1)[1]


def _length(reply: bytes) -> int:
    found = re.search(rb"content-length: (\d+)", reply.split(b"\r\n\r\n", 1)[0], re.IGNORECASE)
    return int(found.group(1)) if found else 0


def _chunked(total: int, size: int = 16_384) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"%x\r\n%s\r\n" % (size, b"x" * size)
        sent += size
    yield b"0\r\n\r\n"


@pytest.mark.parametrize("extra_header", ["", "Content-Length: 10\r\n"], ids=["no-length", "wrong-length"])
def test_a_chunked_body_is_cut_off_at_the_limit(base_url: str, extra_header: str) -> None:
    head = (
        "POST /step HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\n{extra_header}\r\n"
    )
    status, body = _raw_request(base_url, head, _chunked(20 * LIMIT))
    assert status in (400, 413)  # 413 from the server; 400 where the HTTP parser refuses the framing first
    if status == 413:
        assert json.loads(body)["detail"]["code"] == "VALIDATION_ERROR"
    assert httpx.get(f"{base_url}/health").json() == {"status": "healthy"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/reset", '{"seed": 1e999}'),
        ("/reset", '{"seed": NaN}'),
        ("/reset", '{"seed": -Infinity}'),
        ("/step", '{"seed": 1e999}'),
        ("/step", '{"action": {"action_type": "QUERY", "argument": 1e999}}'),
    ],
)
def test_non_finite_numbers_in_a_body_get_a_typed_422(base_url: str, path: str, body: str) -> None:
    response = httpx.post(f"{base_url}{path}", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    _strict_json(response.text)


def test_a_lone_surrogate_in_an_argument_gets_valid_json(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        client.post("/reset", json={"question_id": "q-count"})
        body = '{"action": {"action_type": "QUERY", "argument": "SELECT \'\\ud800\'"}}'
        response = client.post("/step", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422  # not valid Unicode: a typed refusal, not a crash
        assert _strict_json(response.text)["detail"]["code"] == "VALIDATION_ERROR"
        describe = '{"action": {"action_type": "DESCRIBE", "argument": "\\udfff"}}'
        response = client.post("/step", content=describe, headers={"content-type": "application/json"})
        assert response.status_code == 422
        _strict_json(response.text)
        assert client.get("/state").json()["step_count"] == 0  # a refused action costs no step


def test_deeply_nested_brackets_are_a_parse_error(
    tiny_dataset: Dataset, serve_app: Callable[..., AbstractContextManager[str]]
) -> None:
    nested = "[" * 100_000 + "]" * 100_000  # 200 KB: under the default body limit
    with serve_app(create_app(Settings(), dataset=tiny_dataset)) as url:
        response = httpx.post(f"{url}/mcp", content=nested)
        assert response.status_code == 200
        assert response.json()["error"]["code"] == -32700
        for path in ("/reset", "/step"):
            response = httpx.post(f"{url}{path}", content=nested, headers={"content-type": "application/json"})
            assert 400 <= response.status_code < 500
            _strict_json(response.text)
        with connect(f"{url.replace('http', 'ws')}/ws") as ws:
            ws.send(nested)
            assert json.loads(ws.recv(timeout=10))["data"]["code"] == "INVALID_JSON"


def test_infinity_never_leaves_the_server(base_url: str) -> None:
    # MCP's query tool: the step is answered (not a 500) and its reply is strict JSON.
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "reset", "arguments": {}}}
    reset = httpx.post(f"{base_url}/mcp", json=call).json()
    session_id = reset["result"]["structuredContent"]["session_id"]
    query = {"name": "query", "arguments": {"session_id": session_id, "sql": "SELECT 1e999 AS big, -1e999, 1"}}
    response = httpx.post(f"{base_url}/mcp", json={**call, "id": 2, "params": query})
    assert response.status_code == 200
    result = _strict_json(response.text)["result"]
    assert "inf" in result["content"][0]["text"].lower()
    # The WebSocket reply to the same query is strict JSON too (the playground's JSON.parse reads it).
    with connect(f"{base_url.replace('http', 'ws')}/ws") as ws:
        ws.send(json.dumps({"type": "reset", "data": {}}))
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "step", "data": {"action_type": "QUERY", "argument": "SELECT 1e999, 0.0/0"}}))
        reply = _strict_json(str(ws.recv(timeout=10)))
        assert reply["type"] == "observation"


def test_an_oversized_mcp_batch_is_refused_whole(base_url: str) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "openenv/session/create"} for i in range(300)]
    response = httpx.post(f"{base_url}/mcp", json=batch)
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["code"] == -32600 and "limit is 8" in error["message"]
    assert _metric(base_url, 'sqlenv_active_sessions{transport="mcp"}') == 0


def test_validation_errors_do_not_echo_a_huge_input(base_url: str) -> None:
    huge = {"actionx": "a" * (LIMIT // 2), **{f"k{i}" * 500: i for i in range(5)}}
    response = httpx.post(f"{base_url}/step", json=huge)
    assert response.status_code in (413, 422)
    assert len(response.content) < 8_000


def test_a_client_that_leaves_mid_step_gets_its_query_interrupted(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        session_id = client.post("/reset", json={"question_id": "q-count"}).json()["session_id"]
    body = json.dumps({"session_id": session_id, "action": {"action_type": "QUERY", "argument": BOMB}}).encode()
    head = (
        "POST /step HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(0.5)  # the bomb is running
    # Left alone the bomb runs to its 30 s deadline; interrupted, the step ends at once.
    assert _wait_for(lambda: _metric(base_url, 'sqlenv_errors_total{code="CLIENT_GONE"}') == 1)
    state = httpx.get(f"{base_url}/state", headers={"X-Session-Id": session_id}, timeout=10).json()
    assert state["step_count"] == 1


def test_a_websocket_that_leaves_mid_query_frees_its_session(base_url: str) -> None:
    with connect(f"{base_url.replace('http', 'ws')}/ws") as ws:
        ws.send(json.dumps({"type": "reset", "data": {}}))
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "step", "data": {"action_type": "QUERY", "argument": BOMB}}))
        time.sleep(0.5)
    assert _wait_for(lambda: _metric(base_url, 'sqlenv_active_sessions{transport="ws"}') == 0)


def test_a_session_closed_over_http_stops_its_running_query(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=40) as client:
        session_id = client.post("/reset", json={"question_id": "q-count"}).json()["session_id"]

        def close_soon() -> None:
            time.sleep(0.5)
            httpx.post(f"{base_url}/close", json={"session_id": session_id})

        import threading

        closer = threading.Thread(target=close_soon)
        closer.start()
        response = client.post(
            "/step", json={"session_id": session_id, "action": {"action_type": "QUERY", "argument": BOMB}}
        )
        closer.join()
        assert "cancelled" in response.json()["observation"]["error"]


def test_session_ids_stay_out_of_the_access_log(
    tiny_dataset: Dataset, serve_app: Callable[..., AbstractContextManager[str]], capfd: pytest.CaptureFixture[str]
) -> None:
    with serve_app(create_app(Settings(), dataset=tiny_dataset), log_level="info", access_log=True) as url:
        session_id = httpx.post(f"{url}/reset").json()["session_id"]
        assert httpx.get(f"{url}/state", params={"session_id": session_id}).status_code == 200
    logged = capfd.readouterr()
    assert "/state?session_id=<redacted>" in logged.out + logged.err
    assert session_id not in logged.out + logged.err


def test_a_websocket_flooding_queries_is_cut_off_and_its_work_dropped(base_url: str) -> None:
    from websockets.exceptions import ConnectionClosed

    with connect(f"{base_url.replace('http', 'ws')}/ws") as ws:
        ws.send(json.dumps({"type": "reset", "data": {}}))
        ws.recv(timeout=10)
        bomb = json.dumps({"type": "step", "data": {"action_type": "QUERY", "argument": BOMB}})
        for _ in range(40):  # far more than may be in flight: the server hangs up instead of queueing them
            try:
                ws.send(bomb)
            except ConnectionClosed:
                break
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(50):
                ws.recv(timeout=20)
        # Close code 1008, unless the close frame was lost to the reset of a socket still being written to.
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1008
    # The running bomb was interrupted and the queued ones dropped: the session is gone long
    # before one bomb's 30 s deadline, let alone forty.
    assert _wait_for(lambda: _metric(base_url, 'sqlenv_active_sessions{transport="ws"}') == 0)
