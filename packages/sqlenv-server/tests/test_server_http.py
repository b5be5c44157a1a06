"""The OpenEnv HTTP routes, with real episodes over HTTP sessions."""

from __future__ import annotations

import pytest
from server_helpers import TestClient

from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app

QUERY = {"action_type": "QUERY", "argument": "SELECT count(*) FROM items"}


def test_health_metadata_and_schema_have_openenv_shapes(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "healthy"}
    metadata = client.get("/metadata").json()
    assert metadata["name"] == "sql_env"
    assert "tiny" in metadata["description"]
    schema = client.get("/schema").json()
    assert set(schema) == {"action", "observation", "state"}
    assert schema["action"]["properties"]["action_type"]["enum"] == ["DESCRIBE", "SAMPLE", "QUERY", "ANSWER"]
    assert "gold_sql" not in schema["observation"]["properties"]


def test_an_http_episode_keeps_its_state_between_requests(client: TestClient) -> None:
    reset = client.post("/reset", json={"question_id": "q-count"})
    assert reset.status_code == 200
    body = reset.json()
    session_id = body["session_id"]
    assert reset.headers["X-Session-Id"] == session_id
    assert body["observation"]["question"] == "How many items are there?"
    assert body["done"] is False and body["reward"] is None

    client.cookies.clear()  # the header alone must be enough
    step = client.post("/step", json={"action": QUERY}, headers={"X-Session-Id": session_id})
    assert step.status_code == 200
    assert step.json()["observation"]["rows"] == [[30]]
    assert step.json()["observation"]["step_count"] == 1

    step = client.post("/step", json={"action": {"action_type": "ANSWER", "argument": "30"}, "session_id": session_id})
    assert step.json()["done"] is True
    assert step.json()["observation"]["info"]["verdict"]["correct"] is True

    state = client.get("/state", params={"session_id": session_id}).json()
    assert state["question_id"] == "q-count"
    assert state["step_count"] == 1
    assert state["done"] is True


def test_the_session_cookie_alone_continues_an_episode(client: TestClient) -> None:
    client.post("/reset", json={"question_id": "q-max"})
    step = client.post("/step", json={"action": {"action_type": "ANSWER", "argument": "45.0"}})
    assert step.json()["observation"]["info"]["verdict"]["correct"] is True
    assert client.get("/state").json()["question_id"] == "q-max"


def test_two_http_sessions_are_isolated(client: TestClient) -> None:
    first = client.post("/reset", json={"question_id": "q-count"}).json()["session_id"]
    client.cookies.clear()
    second = client.post("/reset", json={"question_id": "q-books"}).json()["session_id"]
    assert first != second
    client.post("/step", json={"action": QUERY, "session_id": first})
    client.post("/step", json={"action": QUERY, "session_id": first})
    assert client.get("/state", params={"session_id": first}).json()["step_count"] == 2
    assert client.get("/state", params={"session_id": second}).json()["step_count"] == 0
    assert client.get("/state", params={"session_id": second}).json()["question_id"] == "q-books"


def test_reset_with_a_session_id_reuses_that_session(client: TestClient) -> None:
    manager = client.app.state.sessions  # type: ignore[attr-defined]
    first = client.post("/reset", json={}).json()["session_id"]
    again = client.post("/reset", json={"session_id": first, "question_id": "q-max"}).json()
    assert again["session_id"] == first
    assert manager.count("http") == 1


def test_step_without_a_session_runs_a_one_off_episode_and_says_so(client: TestClient) -> None:
    response = client.post("/step", json={"action": QUERY})
    assert response.status_code == 200
    assert response.json()["observation"]["rows"] == [[30]]
    assert "one-off" in response.json()["metadata"]["session"]
    assert response.json()["session_id"] is None
    assert client.app.state.sessions.count() == 0  # type: ignore[attr-defined]


def test_an_unknown_session_is_a_404_with_a_hint(client: TestClient) -> None:
    response = client.post("/step", json={"action": QUERY, "session_id": "gone"})
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail["code"] == "SESSION_ERROR"
    assert "reset" in detail["message"]
    assert client.get("/state", params={"session_id": "gone"}).status_code == 404


def test_invalid_actions_are_422_and_change_nothing(client: TestClient) -> None:
    session_id = client.post("/reset", json={"question_id": "q-count"}).json()["session_id"]
    for bad in (
        {"action_type": "DROP", "argument": "x"},
        {"argument": "x"},
        {"action_type": 3},
        {"action_type": "QUERY", "argument": ["x"]},
    ):
        response = client.post("/step", json={"action": bad, "session_id": session_id})
        assert response.status_code == 422, bad
    assert client.post("/step", json={"action": "QUERY"}).status_code == 422
    assert client.post("/step", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    assert client.get("/state", params={"session_id": session_id}).json()["step_count"] == 0


def test_an_unknown_question_is_a_clear_422_and_leaks_no_session(client: TestClient) -> None:
    response = client.post("/reset", json={"question_id": "nope"})
    assert response.status_code == 422
    assert "nope" in response.json()["detail"]["message"]
    assert client.app.state.sessions.count() == 0  # type: ignore[attr-defined]


def test_capacity_is_refused_with_capacity_reached(dataset: Dataset) -> None:
    with TestClient(create_app(Settings(max_sessions=2, max_sessions_per_client=2), dataset=dataset)) as client:
        for _ in range(2):
            client.cookies.clear()
            assert client.post("/reset").status_code == 200
        client.cookies.clear()
        refused = client.post("/reset")
        assert refused.status_code == 503
        assert refused.json()["detail"]["code"] == "CAPACITY_REACHED"
        assert refused.json()["detail"]["max_sessions"] == 2


def test_close_frees_the_slot(client: TestClient) -> None:
    session_id = client.post("/reset").json()["session_id"]
    closed = client.post("/close", json={"session_id": session_id}).json()
    assert closed == {"session_id": session_id, "closed": True}
    assert client.app.state.sessions.count() == 0  # type: ignore[attr-defined]
    assert client.post("/step", json={"action": QUERY, "session_id": session_id}).status_code == 404


@pytest.mark.parametrize("path", ["/reset", "/step", "/mcp"])
def test_oversized_bodies_are_refused_with_413(client: TestClient, path: str) -> None:
    huge = b'{"action": {"action_type": "QUERY", "argument": "' + b"x" * 2_000_000 + b'"}}'
    response = client.post(path, content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]["message"]
    assert client.get("/health").status_code == 200


def test_root_redirects_to_the_playground(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/web"
    page = client.get("/web")
    assert page.status_code == 200
    assert "<title>SQLEnv playground</title>" in page.text
    assert client.get("/web/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/web/secret.py").status_code == 404
