"""Errors mean the same thing on every transport: a failing reset, invalid input, an unreachable worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError, create_model
from server_helpers import TestClient, build_dataset

from sqlenv_core.datasets import Dataset, GoldCache
from sqlenv_core.datasets.base import Question
from sqlenv_core.wire import validation_details
from sqlenv_server import Settings, create_app
from sqlenv_server.routing import WorkerRouter

SETTINGS = Settings(dataset="unused: a Dataset is passed in", max_sessions=8)


def open_sessions(client: TestClient) -> int:
    return client.app.state.sessions.count()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def broken_client(tmp_path: Path) -> Iterator[TestClient]:
    """The tiny dataset plus a question whose gold SQL fails, so its reset fails in the sandbox.

    Loaded without computing gold answers (as a dataset given to ``create_app`` may be), the
    question is served, and only a reset on it finds out.
    """
    tiny = build_dataset(tmp_path)
    broken = Question("q-broken", "shop", "Which gizmos?", "SELECT name FROM gizmos", "easy", "train")
    dataset = Dataset(
        "tiny-broken", [*tiny.questions, broken], tiny.databases, limits=tiny.limits, gold_cache=GoldCache(None)
    )
    with TestClient(create_app(SETTINGS, dataset=dataset)) as client:
        yield client


def test_a_reset_that_fails_in_the_sandbox_is_the_same_typed_error_on_every_transport(
    broken_client: TestClient,
) -> None:
    # HTTP: a typed EXECUTION_ERROR with the sandbox's reason, not a plain-text 500; no session kept.
    response: Any = broken_client.post("/reset", json={"question_id": "q-broken"})
    assert response.status_code == 500
    detail: dict[str, Any] = response.json()["detail"]
    assert detail["code"] == "EXECUTION_ERROR"
    message: str = detail["message"]
    # The kind of failure, never what the gold SQL reads (its table's name would be a hint).
    assert message.startswith("reset failed: ") and "(unknown_table)" in message and "gizmos" not in message
    assert open_sessions(broken_client) == 0

    # MCP: the JSON-RPC error carries the same code and message; the session it opened is closed.
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    params = {"name": "reset", "arguments": {"question_id": "q-broken"}}
    response = broken_client.post("/mcp", json={**call, "params": params})
    assert response.status_code == 200
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == -32000
    assert (error["data"]["code"], error["message"]) == ("EXECUTION_ERROR", message)
    assert "mcp-session-id" not in response.headers
    assert open_sessions(broken_client) == 0

    # WebSocket: the same error frame, and the connection goes on serving.
    with broken_client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "reset", "data": {"question_id": "q-broken"}}))
        frame = ws.receive_json()
        assert frame == {"type": "error", "data": {"code": "EXECUTION_ERROR", "message": message}}
        ws.send_text(json.dumps({"type": "reset", "data": {"question_id": "q-count"}}))
        assert ws.receive_json()["type"] == "observation"
    assert open_sessions(broken_client) == 0

    # The other questions still play over HTTP.
    assert broken_client.post("/reset", json={"question_id": "q-count"}).status_code == 200


def test_an_invalid_action_gets_the_same_problem_list_over_http_and_websocket(client: TestClient) -> None:
    action = {"action_type": "DROP", "argument": "x" * 500}
    over_http: dict[str, Any] = client.post("/step", json={"action": action}).json()["detail"]
    with client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"type": "step", "data": action}))
        over_ws = ws.receive_json()["data"]
    assert over_http["code"] == over_ws["code"] == "VALIDATION_ERROR"
    assert over_http["errors"] == over_ws["errors"]
    problem: dict[str, Any] = over_http["errors"][0]
    assert problem["loc"] == ["action_type"] and "ctx" in problem  # the allowed values are kept
    assert "url" not in problem


def test_validation_details_are_few_and_short() -> None:
    many = create_model("Many", **{f"f{i}": (int, ...) for i in range(25)})  # type: ignore[call-overload]
    with pytest.raises(ValidationError) as raised:
        many.model_validate({})  # pyright: ignore[reportUnknownMemberType]
    details = validation_details(raised.value)
    assert len(details) == 21
    assert details[-1] == {"type": "truncated", "loc": [], "msg": "5 more problems"}
    entry: dict[str, Any] = {"type": "extra_forbidden", "loc": ["body", "k" * 1000], "msg": "no", "input": "v" * 1000}
    (cut,) = validation_details([entry])
    assert len(cut["loc"][1]) == 201 and len(cut["input"]) == 201  # 200 characters and an ellipsis


def test_a_worker_that_does_not_answer_gets_a_consistent_error_that_says_what_to_do(
    dataset: Dataset, tmp_path: Path
) -> None:
    sockets = [str(tmp_path / "w0.sock"), str(tmp_path / "nobody-listens.sock")]
    app = create_app(SETTINGS, dataset=dataset, worker_index=0, worker_sockets=sockets)
    with TestClient(app) as client:
        step = {"action": {"action_type": "QUERY", "argument": "SELECT 1"}}
        response: Any = client.post("/step", json=step, headers={"X-Session-Id": "w1-0123456789abcdef"})
        assert response.status_code == 500  # the status that carries EXECUTION_ERROR everywhere
        detail: dict[str, Any] = response.json()["detail"]
        assert detail["code"] == "EXECUTION_ERROR"
        assert "not answering" in detail["message"] and "retry shortly" in detail["message"]
        router: Any = app.middleware_stack
        while not isinstance(router, WorkerRouter):
            router = router.app
        forwarder = router._clients[1]  # pyright: ignore[reportPrivateUsage]
        assert not forwarder.is_closed
    assert forwarder.is_closed  # closed at shutdown
