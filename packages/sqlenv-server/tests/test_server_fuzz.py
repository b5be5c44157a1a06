"""Whatever a client sends, the server answers with a typed reply: never a 500, never invalid JSON.

Hypothesis builds adversarial JSON (non-finite numbers, lone surrogates, deep nesting, wrong
types where the wire expects objects) and raw bytes, and sends them to every decoder the server
has: the HTTP routes' bodies, MCP's JSON-RPC (single and batch) and WebSocket frames. Each
example has a deadline, so a parser that backtracks or recurses without bound fails it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import TestClient

from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app

FUZZ = settings(
    max_examples=60,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\ud800", "x\udfffy", "SELECT 1e999", "SELECT '\ud800'", "q-count", "a\n" + "-" * 300 + "x"]),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
)
_json = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=20
)
_keys = st.sampled_from(["type", "data", "action", "action_type", "argument", "seed", "question_id", "session_id"])
_shaped = st.dictionaries(_keys, _json, max_size=5)  # objects with the wire's own field names
_rpc = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
        "id": _json,
        "method": _text
        | st.sampled_from(
            ["tools/call", "initialize", "openenv/session/create", "openenv/session/close", "tools/list"]
        ),
    },
    optional={"params": st.one_of(_json, st.fixed_dictionaries({"name": _text, "arguments": _shaped}))},
)


def _encode(value: Any) -> str:
    """JSON text as a careless (or hostile) client writes it: NaN/Infinity tokens, escaped surrogates."""
    return json.dumps(value, allow_nan=True)


def _strict(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"reply is not strict JSON: it contains {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from server_helpers import build_dataset

    dataset: Dataset = build_dataset(tmp_path_factory.mktemp("fuzz"))
    app = create_app(Settings(max_sessions=64, max_sessions_per_client=64, max_batch=4), dataset=dataset)
    with TestClient(app) as client:
        yield client


def _check(response: Any) -> None:
    assert response.status_code < 500, response.text[:300]
    if response.content:
        _strict(response.text)


@FUZZ
@given(body=st.one_of(_json.map(_encode), _shaped.map(_encode), st.binary(max_size=64).map(repr)))
def test_http_routes_answer_anything_with_a_typed_reply(fuzz_client: TestClient, body: str) -> None:
    for path in ("/reset", "/step", "/close"):
        _check(fuzz_client.post(path, content=body, headers={"content-type": "application/json"}))
    fuzz_client.cookies.clear()


@FUZZ
@given(message=st.one_of(_rpc, st.lists(_rpc, min_size=1, max_size=6), _json))
def test_mcp_answers_anything_with_json_rpc(fuzz_client: TestClient, message: Any) -> None:
    response = fuzz_client.post("/mcp", content=_encode(message))
    assert response.status_code in (200, 202), response.text[:300]
    if response.status_code == 200:
        reply = _strict(response.text)
        assert isinstance(reply, dict | list)


def _is_close(frame: str) -> bool:
    try:
        message = json.loads(frame)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") == "close"  # pyright: ignore[reportUnknownMemberType]


_sendable = st.text(max_size=40).filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t))


@FUZZ
@given(frames=st.lists(st.one_of(_shaped.map(_encode), _json.map(_encode), _sendable), min_size=1, max_size=4))
def test_websocket_answers_every_frame(fuzz_client: TestClient, frames: list[str]) -> None:
    with fuzz_client.websocket_connect("/ws") as ws:
        for frame in frames:
            ws.send_text(frame)
            if _is_close(frame):
                break
            reply = _strict(ws.receive_text())
            assert reply["type"] in ("observation", "state", "error")
            if reply["type"] == "error":
                assert reply["data"]["code"] in ("INVALID_JSON", "UNKNOWN_TYPE", "VALIDATION_ERROR")
