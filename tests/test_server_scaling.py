"""Past one process: several servers behind a real nginx (deploy/nginx.conf) on loopback, and a
client that spreads its sessions over several URLs.

nginx comes from Debian's package (``.ci/run`` installs it when missing); the tests skip with a
reason where it is absent. Everything listens on 127.0.0.1, and every wait is bounded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import httpx
import pytest
from live_helpers import free_port

from sqlenv_client import CapacityError, ServerConnectionError, SQLEnvClient
from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
Serve = Callable[..., AbstractContextManager[str]]


def _active(url: str, transport: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    found = re.search(rf'^sqlenv_active_sessions{{transport="{transport}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def two_nodes(tiny_dataset: Dataset, serve_app: Serve) -> Iterator[dict[str, str]]:
    """Two SQLEnv servers named ``a`` and ``b``, three sessions each."""
    with ExitStack() as stack:
        nodes = {}
        for node in ("a", "b"):
            settings = Settings(node_id=node, max_sessions=3, max_sessions_per_client=3)
            nodes[node] = stack.enter_context(serve_app(create_app(settings, dataset=tiny_dataset)))
        yield nodes


@pytest.fixture
def nginx(two_nodes: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """deploy/nginx.conf, its ports replaced by the nodes' and a free one, under a real nginx."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does it)")
    port = free_port()
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    config = config.replace("127.0.0.1:8001", two_nodes["a"].removeprefix("http://"))
    config = config.replace("127.0.0.1:8002", two_nodes["b"].removeprefix("http://"))
    config = config.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    (tmp_path / "temp").mkdir()
    (tmp_path / "nginx.conf").write_text(config)
    command = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"]
    log = (tmp_path / "nginx.log").open("w")
    process = subprocess.Popen(command, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start: {(tmp_path / 'nginx.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def test_websocket_episodes_through_nginx(nginx: str, two_nodes: dict[str, str]) -> None:
    clients = [SQLEnvClient(nginx) for _ in range(4)]
    try:
        for client in clients:
            observation = client.reset(question_id="q-count")
            assert client.query("SELECT count(*) FROM items").rows == [[30]]
            assert client.answer(30).reward is not None and observation.question
        # nginx spread the upgraded connections over both nodes.
        assert _active(two_nodes["a"], "ws") == 2 and _active(two_nodes["b"], "ws") == 2
    finally:
        for client in clients:
            client.close()


def test_http_sessions_are_routed_to_their_node(nginx: str, two_nodes: dict[str, str]) -> None:
    clients = [SQLEnvClient(nginx, transport="http") for _ in range(6)]
    try:
        for client in clients:
            client.reset(question_id="q-count")
        assert sorted(c.session_id[:2] for c in clients if c.session_id) == ["a-"] * 3 + ["b-"] * 3
        for step in range(1, 4):  # without routing, half of these would reach the wrong node (404)
            for client in clients:
                assert client.query("SELECT 1").step_count == step
        assert all(c.state().step_count == 3 for c in clients)
        # Every node is full now: its 503 passes through nginx as the typed capacity error.
        with SQLEnvClient(nginx, transport="http") as extra, pytest.raises(CapacityError, match="capacity"):
            extra.reset()
    finally:
        for client in clients:
            client.close()
    assert _active(two_nodes["a"], "http") == 0 and _active(two_nodes["b"], "http") == 0


def test_mcp_sessions_are_routed_by_their_header(nginx: str) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    with httpx.Client(base_url=nginx) as client:
        for _ in range(4):
            reset = client.post("/mcp", json={**call, "params": {"name": "reset", "arguments": {}}})
            session_id = reset.headers["Mcp-Session-Id"]
            query = {"name": "query", "arguments": {"sql": "SELECT 6 * 7"}}
            reply = client.post("/mcp", json={**call, "params": query}, headers={"Mcp-Session-Id": session_id})
            assert "42" in reply.json()["result"]["content"][0]["text"]


def test_a_client_spreads_sessions_over_several_urls(two_nodes: dict[str, str]) -> None:
    urls = [two_nodes["a"], two_nodes["b"]]
    clients = [SQLEnvClient(urls, transport="http") for _ in range(4)]
    try:
        for client in clients:
            client.reset()
        assert _active(urls[0], "http") == 2 and _active(urls[1], "http") == 2
    finally:
        for client in clients:
            client.close()


def test_a_full_or_missing_server_is_skipped(two_nodes: dict[str, str]) -> None:
    a, b = two_nodes["a"], two_nodes["b"]
    holders = [SQLEnvClient(a) for _ in range(3)]
    try:
        for holder in holders:
            holder.reset()  # node a is full now
        # Whichever URL a client starts on, the episodes land on node b.
        for _ in range(2):
            with SQLEnvClient(f"{a},{b}") as client:
                client.reset(question_id="q-count")
                assert client.settings.base_url == b
                assert client.query("SELECT 1").rows == [[1]]
        dead = f"http://127.0.0.1:{free_port()}"
        with SQLEnvClient([dead, b], reconnect_attempts=0) as client:
            assert client.reset(question_id="q-max").question
            assert client.settings.base_url == b
        # Over HTTP the refused /reset is the first contact with a server; it fails over too.
        gone = f"http://127.0.0.1:{free_port()}"  # a new list, so the client starts on the dead URL
        with SQLEnvClient([gone, b], transport="http", reconnect_attempts=0) as client:
            assert client.settings.base_url == gone
            assert client.reset(question_id="q-max").question
            assert client.settings.base_url == b and client.session_id
        with SQLEnvClient([a, dead], reconnect_attempts=0) as stuck:
            with pytest.raises((CapacityError, ServerConnectionError)):
                stuck.reset()  # each server tried once: the last one's error says why
            assert stuck.settings.base_url in (a, dead)
    finally:
        for holder in holders:
            holder.close()
