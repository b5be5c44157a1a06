"""/metrics from a per-app registry, settings from the environment, and the CLI's fail-fast path."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from server_helpers import TestClient

from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app


def test_metrics_count_steps_errors_and_latency(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "reset"})
        ws.receive_json()
        for argument in ("SELECT 1", "SELECT 2"):
            ws.send_json({"type": "step", "data": {"action_type": "QUERY", "argument": argument}})
            ws.receive_json()
        ws.send_json({"type": "step", "data": {"action_type": "DESCRIBE", "argument": "items"}})
        ws.receive_json()
        ws.send_text("garbage")
        ws.receive_json()
        text = client.get("/metrics").text
        assert 'sqlenv_active_sessions{transport="ws"} 1.0' in text
    assert 'sqlenv_steps_total{action_type="QUERY"} 2.0' in text
    assert 'sqlenv_steps_total{action_type="DESCRIBE"} 1.0' in text
    assert 'sqlenv_errors_total{code="INVALID_JSON"} 1.0' in text
    assert 'sqlenv_step_latency_seconds_count{action_type="QUERY"} 2.0' in text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


def test_two_apps_do_not_share_metrics(dataset: Dataset) -> None:
    with (
        TestClient(create_app(Settings(), dataset=dataset)) as first,
        TestClient(create_app(Settings(), dataset=dataset)) as second,
    ):
        first.post("/step", json={"action": {"action_type": "QUERY", "argument": "SELECT 1"}})
        assert 'sqlenv_steps_total{action_type="QUERY"} 1.0' in first.get("/metrics").text
        assert "sqlenv_steps_total{" not in second.get("/metrics").text


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "7860")
    monkeypatch.setenv("SQLENV_DATASET", "builtin:eval")
    monkeypatch.setenv("SQLENV_MAX_SESSIONS", "12")
    monkeypatch.setenv("SQLENV_REWARD", "sparse")
    settings = Settings()
    assert (settings.port, settings.dataset, settings.max_sessions, settings.reward) == (
        7860,
        "builtin:eval",
        12,
        "sparse",
    )
    monkeypatch.setenv("SQLENV_PORT", "9000")
    assert Settings().port == 9000  # the specific variable wins over the generic one
    assert Settings(port=1234).port == 1234


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from sqlenv_server.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, check=False)


def test_cli_fails_fast_without_a_traceback_when_the_dataset_cannot_load(tmp_path: object) -> None:
    result = run_cli("--dataset", "spider:/definitely/not/here")
    assert result.returncode == 2
    assert "cannot load dataset 'spider:/definitely/not/here'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_rejects_bad_settings_readably() -> None:
    result = run_cli("--max-sessions", "0")
    assert result.returncode == 2
    assert "max_sessions" in result.stderr and "Traceback" not in result.stderr


def test_auto_workers_respect_a_container_cpu_quota(tmp_path: Path) -> None:
    from sqlenv_server.settings import MAX_AUTO_WORKERS, usable_cpus

    affinity = usable_cpus(tmp_path / "no-cgroup")
    (tmp_path / "cpu.max").write_text("100000 100000\n")  # a 1-CPU limit (Kubernetes: limits.cpu: 1)
    assert usable_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")  # no limit
    assert usable_cpus(tmp_path) == affinity
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus(v1) == 1
    assert Settings(workers=3).worker_count == 3
    assert 1 <= Settings().worker_count <= MAX_AUTO_WORKERS


def test_per_client_limit_defaults_leave_room_for_others() -> None:
    assert Settings().per_client_limit == 224
    assert Settings(max_sessions=16).per_client_limit == 14
    assert Settings(max_sessions=1).per_client_limit == 1
    assert Settings(max_sessions=8, max_sessions_per_client=50).per_client_limit == 8
    # WebSocket connections per client and worker: the session limit of one worker unless set.
    assert Settings().ws_per_client == 224
    assert Settings(max_sessions=16, max_sessions_per_client=4).ws_per_client == 4
    assert Settings(max_ws_per_client=2).ws_per_client == 2
    # HTTP connections per address: its requests in flight, leaving an eighth of the connections to others.
    from sqlenv_server.workers import uvicorn_options

    assert uvicorn_options(Settings(max_connections=4096), "info")["http"].max_per_client == 224 + 32
    assert uvicorn_options(Settings(max_connections=64), "info")["http"].max_per_client == 56
    assert uvicorn_options(Settings(max_connections_per_client=3), "info")["http"].max_per_client == 3


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_says_in_one_line_that_the_port_is_taken(workers: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("--host", "127.0.0.1", "--port", str(port), "--workers", workers)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no "serving ... on" banner before it, no traceback
    assert lines[0].startswith(f"sqlenv-server: cannot listen on 127.0.0.1:{port} (")
    assert "choose another --port (SQLENV_PORT)" in lines[0]
    assert "Traceback" not in result.stderr
