"""``sqlenv-server --workers 2`` on loopback: WebSocket sessions on any worker, HTTP and MCP sessions
found by whichever worker a request reaches (forwarded over the workers' Unix sockets)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_helpers import free_port, interrupt_group, wait_healthy
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.integration

QUERY = {"action_type": "QUERY", "argument": "SELECT 1"}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """The real command with two workers; yields its URL and the workers' Unix sockets."""
    rundir = tmp_path_factory.mktemp("workers")
    port = free_port()
    env = {**os.environ, "TMPDIR": str(rundir)}
    command = [sys.executable, "-m", "sqlenv_server.cli", "--port", str(port), "--workers", "2"]
    log = (rundir / "server.log").open("w")
    server = subprocess.Popen([*command, "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout_s=60)
        deadline = time.monotonic() + 60  # the first worker may answer before the second is up
        while len(sockets := sorted(str(p) for p in rundir.glob("sqlenv-workers-*/worker-*.sock"))) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.1)
        for path in sockets:
            with _on(path) as worker:
                assert worker.get("/health").json() == {"status": "healthy"}
        yield url, sockets
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()
    assert server.returncode == 0, (rundir / "server.log").read_text()[-2000:]
    assert not list(rundir.glob("sqlenv-workers-*/worker-*.sock"))  # cleaned up


def _on(socket_path: str) -> httpx.Client:
    """A client that talks to one worker directly (as if the kernel had given it the connection)."""
    return httpx.Client(transport=httpx.HTTPTransport(uds=socket_path), base_url="http://worker")


def test_an_http_session_is_found_by_the_other_worker(two_workers: tuple[str, list[str]]) -> None:
    _, sockets = two_workers
    with _on(sockets[0]) as first, _on(sockets[1]) as second:
        opened = first.post("/reset", json={"seed": 3}).json()
        session_id = opened["session_id"]
        assert session_id.startswith("w0-")
        for step in range(1, 4):
            reply = second.post("/step", json={"session_id": session_id, "action": QUERY})
            assert reply.status_code == 200, reply.text
            assert reply.json()["observation"]["step_count"] == step
        state = second.get("/state", headers={"X-Session-Id": session_id}).json()
        assert state["step_count"] == 3 and state["question_id"]
        assert second.post("/close", json={"session_id": session_id}).json()["closed"] is True
        assert first.post("/step", json={"session_id": session_id, "action": QUERY}).status_code == 404


def test_an_mcp_session_is_found_by_the_other_worker(two_workers: tuple[str, list[str]]) -> None:
    _, sockets = two_workers
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    with _on(sockets[1]) as first, _on(sockets[0]) as second:
        reset = first.post("/mcp", json={**call, "params": {"name": "reset", "arguments": {}}}).json()
        session_id = reset["result"]["structuredContent"]["session_id"]
        assert session_id.startswith("w1-")
        query = {"name": "query", "arguments": {"session_id": session_id, "sql": "SELECT 41 + 1"}}
        result = second.post("/mcp", json={**call, "params": query}).json()["result"]
        assert "42" in result["content"][0]["text"] and not result["isError"]
        by_header = second.post(
            "/mcp",
            json={**call, "params": {"name": "query", "arguments": {"sql": "SELECT 2"}}},
            headers={"Mcp-Session-Id": session_id},
        ).json()
        assert "result" in by_header, by_header


def test_episodes_over_the_shared_port(two_workers: tuple[str, list[str]]) -> None:
    url, _ = two_workers
    no_reuse = httpx.Limits(max_keepalive_connections=0)  # every request a new connection, any worker
    with httpx.Client(base_url=url, limits=no_reuse) as client:
        for seed in range(6):
            session_id = client.post("/reset", json={"seed": seed}).json()["session_id"]
            for step in range(1, 3):
                reply = client.post("/step", json={"action": QUERY}, headers={"X-Session-Id": session_id})
                assert reply.json()["observation"]["step_count"] == step
    with connect(url.replace("http", "ws") + "/ws") as ws:
        ws.send(json.dumps({"type": "reset", "data": {"seed": 1}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "observation"
        ws.send(json.dumps({"type": "step", "data": QUERY}))
        assert json.loads(ws.recv(timeout=10))["data"]["observation"]["step_count"] == 1


def test_a_dataset_without_questions_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sqlenv_server.cli", "--dataset", "builtin?difficulty=extra", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    # One line that names the dataset and says what to do (the loader refuses it before the server).
    assert len(lines) == 1 and "builtin?difficulty=extra" in lines[0] and "selects no questions" in lines[0]


def test_a_client_leaving_a_forwarded_step_interrupts_the_owner(two_workers: tuple[str, list[str]]) -> None:
    import socket

    _, sockets = two_workers
    bomb = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
    with _on(sockets[0]) as owner:
        session_id = owner.post("/reset", json={"seed": 1}).json()["session_id"]
        body = json.dumps({"session_id": session_id, "action": {"action_type": "QUERY", "argument": bomb}}).encode()
        head = (
            f"POST /step HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        with socket.socket(socket.AF_UNIX) as raw:  # reaches worker 1, which forwards to worker 0
            raw.connect(sockets[1])
            raw.sendall(head.encode() + body)
            time.sleep(0.5)

        def gone() -> bool:
            text = owner.get("/metrics").text
            return 'sqlenv_errors_total{code="CLIENT_GONE"} 1.0' in text

        deadline = time.monotonic() + 15  # the bomb's own deadline is far longer
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone()
        assert owner.get("/state", headers={"X-Session-Id": session_id}).json()["step_count"] == 1


def _children(pid: int) -> list[int]:
    """The live worker processes ``pid`` has spawned (read from ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes in /proc (Linux)")
def test_ctrl_c_while_workers_start_stops_quietly(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group, workers still importing included: no traceback, exit 0."""
    command = [sys.executable, "-m", "sqlenv_server.cli", "--port", str(free_port()), "--workers", "2"]
    server = subprocess.Popen(
        command,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < 2:  # both spawned; loading the dataset takes them a while yet
            assert server.poll() is None and time.monotonic() < deadline, "the workers were not started"
            time.sleep(0.02)
        for worker in _children(server.pid):  # SIGINT is blocked in them: the parent stops them with SIGTERM
            status = (Path("/proc") / str(worker) / "status").read_text()
            blocked = int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)
            assert blocked & (1 << (signal.SIGINT - 1)), f"worker {worker} can be interrupted by Ctrl-C"
        time.sleep(0.3)  # into their imports
        output = interrupt_group(server, timeout_s=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
    text = output.decode(errors="replace")
    assert server.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes in /proc (Linux)")
def test_workers_die_with_their_parent_and_a_restart_never_shares_their_port(tmp_path: Path) -> None:
    """SIGKILL of the parent (OOM killer, kill -9) leaves no worker serving; the port is free again,
    and a second server is refused while anything still listens on it."""
    port = free_port()
    command = [sys.executable, "-m", "sqlenv_server.cli", "--port", str(port), "--workers", "2"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    server = subprocess.Popen(
        [*command, "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers: list[int] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout_s=60)
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("sqlenv-workers-*/worker-*.sock"))) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.1)
        workers = _children(server.pid)
        assert len(workers) == 2
        # While it serves, a second server on the same port is refused (not started beside it).
        second = subprocess.Popen(
            [*command, "--log-level", "warning"], env=env, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            _, err = second.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # it started beside the first: stop it and its workers
            os.killpg(second.pid, signal.SIGTERM)
            _, err = second.communicate(timeout=30)
            pytest.fail("a second server started on a port another server serves")
        assert second.returncode == 2 and b"cannot listen" in err, err[-2000:]
        server.kill()
        server.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "workers outlived their parent"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    finally:
        for pid in [server.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if server.poll() is None:
            server.wait(timeout=10)


def test_one_per_client_limit_holds_across_workers(tmp_path: Path) -> None:
    """``max_sessions_per_client`` counts a client's sessions on every worker: it used to be kept per
    worker, so a client got N times its share (or was refused while holding few in all)."""
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path), "SQLENV_MAX_SESSIONS_PER_CLIENT": "3"}
    command = [
        sys.executable,
        "-m",
        "sqlenv_server.cli",
        "--port",
        str(port),
        "--workers",
        "2",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"ws://127.0.0.1:{port}/ws"
    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout_s=60)
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("sqlenv-workers-*/worker-*.sock"))) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.1)
        opened: list[ClientConnection] = []
        replies: list[str] = []
        with contextlib.ExitStack() as stack:
            for _ in range(6):  # new connections: the kernel spreads them over both workers
                ws = stack.enter_context(connect(url, open_timeout=10))
                opened.append(ws)
                with contextlib.suppress(ConnectionClosed):  # a refused one is closed after its error
                    ws.send(json.dumps({"type": "reset", "data": {}}))
                replies.append(json.loads(ws.recv(timeout=10))["type"])
            assert replies == ["observation"] * 3 + ["error"] * 3, replies
            opened[0].close()  # a slot comes free, whichever worker held it
            time.sleep(0.5)
            with connect(url, open_timeout=10) as again:
                again.send(json.dumps({"type": "reset", "data": {}}))
                assert json.loads(again.recv(timeout=10))["type"] == "observation"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@pytest.mark.skipif(sys.platform != "linux", reason="sets the server's open-files limit with setrlimit (Linux)")
def test_past_its_open_files_the_server_refuses_connections_cleanly(tmp_path: Path) -> None:
    """Under a 256 open-files limit, 300 connections that each keep a request open: every one gets an
    answer (200, or 503 past the connection limit), none hangs un-accepted, and the server keeps serving.
    It used to accept until the descriptors ran out, then leave new connections unanswered."""
    import resource
    import socket

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    port = free_port()
    command = [sys.executable, "-m", "sqlenv_server.cli", "--port", str(port), "--workers", "1", "--max-sessions", "16"]
    server = subprocess.Popen(
        [*command, "--log-level", "warning"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=limit_files,
    )
    held: list[socket.socket] = []
    statuses: list[str] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout_s=60)
        try:
            for _ in range(300):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                held.append(sock)
                try:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    statuses.append(sock.recv(64).split(b" ")[1].decode() or "closed")
                except (OSError, IndexError) as exc:
                    statuses.append(type(exc).__name__)
        finally:
            for sock in held:
                sock.close()
        assert set(statuses) <= {"200", "503"}, sorted(set(statuses))
        assert "503" in statuses
        wait_healthy(f"http://127.0.0.1:{port}", timeout_s=30)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
