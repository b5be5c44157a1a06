"""Issue 9's two resource figures against a live ``sqlenv-server`` (one worker, built-in dataset).

1. Memory under 8 parallel chunked request bodies of 100 MB each (no Content-Length): the RSS of
   the server before and after. A body limit that only reads ``Content-Length`` reads them whole.
2. Fairness: 32 sessions run query bombs (each runs to the sandbox deadline); how long a cheap
   ``SELECT 1`` in another session waits for its reply.

Everything talks to 127.0.0.1 and every loop is bounded. ``--baseline-src DIR`` runs the same
against the packages under ``DIR/packages`` (an older checkout, e.g. from ``git archive``).

    uv run python bench/bench_server_limits.py [--baseline-src /tmp/old]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

BOMB = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


def chunked_body(port: int, megabytes: int = 100) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /step HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20))
        try:
            for _ in range(megabytes):
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
            sock.recv(200)
        except OSError:
            pass  # the server answered and hung up


async def cheap_query_wait(port: int, bombs: int = 32) -> float:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws"
    sessions = [await connect(url, open_timeout=60) for _ in range(bombs)]
    try:
        for ws in sessions:
            await ws.send(json.dumps({"type": "reset", "data": {}}))
            await ws.recv()
        async with connect(url) as quick:
            await quick.send(json.dumps({"type": "reset", "data": {}}))
            await quick.recv()
            for ws in sessions:
                await ws.send(json.dumps({"type": "step", "data": {"action_type": "QUERY", "argument": BOMB}}))
            await asyncio.sleep(0.5)  # every bomb is running
            began = time.perf_counter()
            await quick.send(json.dumps({"type": "step", "data": {"action_type": "QUERY", "argument": "SELECT 1"}}))
            await quick.recv()
            return time.perf_counter() - began
    finally:
        for ws in sessions:
            await ws.close()


def measure(label: str, pythonpath: str | None) -> None:
    port = free_port()
    env = dict(os.environ, SQLENV_MAX_SESSIONS_PER_CLIENT="256", SQLENV_WORKERS="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, "-m", "sqlenv_server.cli", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{label}: the server did not start") from None
                time.sleep(0.2)
        time.sleep(1.0)
        before = rss_mb(server.pid)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: chunked_body(port), range(8)))
        time.sleep(1.0)
        after = rss_mb(server.pid)
        wait = asyncio.run(cheap_query_wait(port))
        print(
            f"{label:>8}: 8 x 100 MB chunked bodies: RSS {before} -> {after} MB; "
            f"SELECT 1 behind 32 running bombs: {1000 * wait:.0f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="an older checkout's root, measured in the same run")
    args = parser.parse_args()
    measure("now", None)
    if args.baseline_src:
        paths = os.pathsep.join(str(p / "src") for p in sorted((args.baseline_src / "packages").iterdir()))
        measure("baseline", paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
