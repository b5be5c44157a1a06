"""Issue 19's attacks against a live ``sqlenv-server`` (built-in dataset, one worker): memory and
latency under each, with the code of another checkout measured in the same run as the baseline.

1. ``queue``: 3 bomb queries plus 100 ``/step`` requests of ~1 MB of JSON junk each, all on one
   session: the server's RSS before and after, and ``/health`` p99 meanwhile.
2. ``ws``: 30 WebSocket connections, each with a running bomb and 7 queued 3.9 MB frames: RSS.
3. ``cookie``: 20 requests with a ``Cookie: sqlenv_session="\\\\..."`` header of 15 kB: how long
   ``/health`` waits meanwhile.
4. ``heavy``: ``/health`` p50/p99 idle, then while 64 WebSocket sessions run the heaviest steps an
   agent can send (a QUERY of 1,000 rows x 100 float columns, a 90 kB list ANSWER) back to back.
5. ``heavy-distinct``: the same, with every QUERY's text made unique by a comment, so that the
   server has never seen it: each is tried on the event loop under the inline budget first.
6. ``slowloris``: the server serves at most 256 connections (``SQLENV_MAX_CONNECTIONS``); for 30 s
   one address (127.0.0.3) keeps 300 connections open that send half a request line and nothing
   more, opening a new one whenever one is closed. A new user (127.0.0.2, a new connection per
   request) asks ``/health`` every 20 ms: how many get 200, and how fast.
7. ``slowloris-spread``: the same 300 connections from 30 addresses (127.0.1.x), 10 each, not
   reopened: what the head deadline alone gives back.
8. ``slowbody-spread``: the same, but each connection sends a whole ``POST /step`` head and then
   its 1,000-byte body a space every 5 s, for 45 s: what the body deadline gives back.

Everything talks to 127.0.0.1 and every loop is bounded by a count or a deadline. Timings depend on
the machine and its load: compare the two columns of one run, never figures of different runs.

    git archive fa54d64 | tar -x -C /tmp/old   # the code before issue 19
    uv run python bench/bench_server_load.py --baseline-src /tmp/old [--only heavy]

(``slowloris`` needs a baseline with ``SQLENV_MAX_CONNECTIONS``: ``git archive 50a8c50``.)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

BOMB = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
WIDE = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) SELECT "
    + ", ".join(f"x * {i}.25 AS c{i}" for i in range(100))
    + " FROM c"
)
LONG_ANSWER = "[" + ", ".join(f"{i}.5" for i in range(12_000)) + "]"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def probe_health(
    url: str, stop: Callable[[], bool], pid: int, every_s: float = 0.02
) -> tuple[list[float], list[int]]:
    """``/health`` latencies, one request at a time from a client of its own, until ``stop()``;
    and the server's RSS after each."""
    samples: list[float] = []
    rss: list[int] = []
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=url, timeout=30, transport=transport) as client:
        while not stop() and len(samples) < 5_000:
            began = time.perf_counter()
            try:
                await client.get("/health")
                samples.append(time.perf_counter() - began)
            except httpx.HTTPError:
                samples.append(30.0)  # no answer counts as the timeout
            rss.append(rss_mb(pid))  # the peak is taken from these
            await asyncio.sleep(every_s)
    return samples, rss


def _probe_process(url: str, pid: int, ready: Any, stop: Any, out: Any) -> None:
    ready.set()
    out.put(asyncio.run(probe_health(url, stop.is_set, pid)))


async def while_probing(url: str, attack: Callable[[], Awaitable[object]]) -> list[float]:
    """Run ``attack`` while another process probes ``/health`` (as a Kubernetes probe would): the
    attack's own client work (64 sessions reading megabyte replies) must not delay the probe."""
    context = multiprocessing.get_context("spawn")
    ready, stop, out = context.Event(), context.Event(), context.Queue()
    prober = context.Process(target=_probe_process, args=(url, server_pid[0], ready, stop, out), daemon=True)
    prober.start()
    await asyncio.to_thread(ready.wait, 60)  # the prober's interpreter has started
    try:
        await attack()
    finally:
        stop.set()
    samples, rss = await asyncio.to_thread(out.get, True, 120)
    prober.join(timeout=30)
    measured.extend(rss)
    return samples


async def queue_attack(url: str) -> None:
    junk = (
        '{"session_id": "%s", "action": {"action_type": "QUERY", "argument": "SELECT 1"}, "junk": ['
        + ",".join(["{}"] * 330_000)
        + "]}"
    )
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        sid = (await client.post("/reset", json={})).json()["session_id"]
        body = junk % sid
        bombs = [
            asyncio.create_task(
                client.post("/step", json={"session_id": sid, "action": {"action_type": "QUERY", "argument": BOMB}})
            )
            for _ in range(3)
        ]
        await asyncio.sleep(0.5)
        headers = {"content-type": "application/json"}
        flood = [asyncio.create_task(client.post("/step", content=body, headers=headers)) for _ in range(100)]
        await asyncio.sleep(8)
        await client.post("/close", json={"session_id": sid})
        await asyncio.gather(*bombs, *flood, return_exceptions=True)


async def ws_attack(url: str, connections: int = 30) -> None:
    from websockets.asyncio.client import connect

    ws_url = url.replace("http", "ws") + "/ws"
    frame = json.dumps(
        {"type": "step", "data": {"action_type": "QUERY", "argument": "SELECT 1", "metadata": {"pad": "x" * 3_900_000}}}
    )
    sockets = []
    try:
        for _ in range(connections):
            ws = await connect(ws_url, max_size=None, open_timeout=30)
            sockets.append(ws)
            await ws.send(json.dumps({"type": "reset", "data": {}}))
            await ws.recv()
            await ws.send(json.dumps({"type": "step", "data": {"action_type": "QUERY", "argument": BOMB}}))
            for _ in range(7):
                await ws.send(frame)
        await asyncio.sleep(3)
    except Exception as exc:  # refused or cut off: that is a result too
        print(f"    ws attack stopped after {len(sockets)} connections: {type(exc).__name__}")
    finally:
        for ws in sockets:
            await ws.close()


async def cookie_attack(url: str) -> None:
    evil = 'sqlenv_session="' + "\\\\" * 7_000 + '"'
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(
            *(client.get("/state", headers={"Cookie": evil}) for _ in range(20)), return_exceptions=True
        )


async def heavy_attack(url: str, sessions: int = 64, seconds: float = 20.0, distinct: bool = False) -> None:
    from websockets.asyncio.client import connect

    ws_url = url.replace("http", "ws") + "/ws"
    deadline = time.monotonic() + seconds
    steps = [0]
    tags = itertools.count()

    async def player() -> None:
        async with connect(ws_url, max_size=None, open_timeout=60) as ws:
            while time.monotonic() < deadline:
                await ws.send(json.dumps({"type": "reset", "data": {}}))
                await ws.recv()
                for action in [("QUERY", WIDE)] * 3 + [("ANSWER", LONG_ANSWER)]:
                    if distinct and action[0] == "QUERY":
                        action = ("QUERY", f"/* {next(tags)} */ {WIDE}")
                    await ws.send(
                        json.dumps({"type": "step", "data": {"action_type": action[0], "argument": action[1]}})
                    )
                    await ws.recv()
                    steps[0] += 1
                    if time.monotonic() >= deadline:
                        return

    await asyncio.gather(*(player() for _ in range(sessions)))
    print(f"    heavy: {steps[0]} steps in {seconds:.0f} s ({steps[0] / seconds:.1f}/s)")


#: The connections the server may serve at once in the slowloris attacks, and the attackers' sockets.
SLOWLORIS_LIMIT = 256
SLOWLORIS_SOCKETS = 300


#: A request head sent whole, then a body that never ends: a space every few seconds.
SLOW_BODY_HEAD = (
    b"POST /step HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
)


async def slowloris(
    url: str, addresses: list[str], reopen: bool, seconds: float = 30.0, body: bool = False
) -> dict[str, str]:
    """``SLOWLORIS_SOCKETS`` half-sent requests from ``addresses`` while a new user probes ``/health``.

    ``body``: each sends a whole head and then its body a space every 5 s, instead of half a head.
    """
    host, port = url.removeprefix("http://").split(":")
    stop = asyncio.Event()
    opened = [0]
    holding = [0]

    async def hold(address: str) -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, int(port), local_addr=(address, 0))
            except OSError:
                await asyncio.sleep(0.05)
                continue
            opened[0] += 1
            holding[0] += 1
            try:
                writer.write(SLOW_BODY_HEAD if body else b"GET /hea")  # and never the rest
                while not stop.is_set():
                    try:
                        if not await asyncio.wait_for(reader.read(4096), 5.0 if body else 0.5):
                            break  # closed by the server
                    except TimeoutError:
                        if body:
                            writer.write(b" ")  # one more byte of the body
                        continue
            except OSError:
                pass
            finally:
                holding[0] -= 1
                writer.close()
            if not reopen:
                await stop.wait()

    per_address = SLOWLORIS_SOCKETS // len(addresses)
    attackers = [asyncio.create_task(hold(a)) for a in addresses for _ in range(per_address)]
    await asyncio.sleep(2.0)  # the attack is in place
    statuses: list[int | str] = []
    latencies: list[float] = []
    held_samples: list[int] = []
    victim = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    limits = httpx.Limits(max_keepalive_connections=0)  # a new user: a new connection per request
    started = time.monotonic()
    deadline = started + seconds
    first_ok: float | None = None
    async with httpx.AsyncClient(base_url=url, timeout=5, transport=victim, limits=limits) as client:
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                statuses.append((await client.get("/health")).status_code)
                latencies.append(time.perf_counter() - began)
                if statuses[-1] == 200 and first_ok is None:
                    first_ok = time.monotonic() - started
            except httpx.HTTPError as exc:
                statuses.append(type(exc).__name__)
            held_samples.append(holding[0])
            await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*attackers, return_exceptions=True)
    ok = [lat for status, lat in zip(statuses, latencies, strict=False) if status == 200]
    good = statuses.count(200)
    others = sorted({str(s) for s in statuses if s != 200})
    return {
        "victim /health 200": f"{good}/{len(statuses)} ({100 * good / max(1, len(statuses)):.0f} %)"
        + (f" else {','.join(others)[:14]}" if others else ""),
        "victim p50/p99 (200s)": f"{pct(ok, 0.5):.1f} / {pct(ok, 0.99):.1f} ms" if ok else "-",
        "attacker sockets held (median)": f"{sorted(held_samples)[len(held_samples) // 2]} ({opened[0]} opened)",
        "victim's first 200 after": f"{first_ok:.1f} s" if first_ok is not None else "never",
    }


server_pid: list[int] = [0]
measured: list[int] = []


def serve(pythonpath: str | None, extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, SQLENV_WORKERS="1", SQLENV_MAX_SESSIONS_PER_CLIENT="256", **extra_env)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, "-m", "sqlenv_server.cli", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the server did not start")
        time.sleep(0.2)
    time.sleep(1.0)
    server_pid[0] = server.pid
    return server, url


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def measure(label: str, pythonpath: str | None, only: set[str], extra_env: dict[str, str]) -> dict[str, str]:
    results: dict[str, str] = {}
    attacks: dict[str, Callable[[str], Awaitable[None]]] = {
        "queue": queue_attack,
        "ws": ws_attack,
        "cookie": cookie_attack,
        "heavy": heavy_attack,
        "heavy-distinct": lambda url: heavy_attack(url, distinct=True),
    }
    spread = [f"127.0.1.{i}" for i in range(1, 31)]
    floods: dict[str, Callable[[str], Awaitable[dict[str, str]]]] = {
        "slowloris": lambda url: slowloris(url, ["127.0.0.3"], reopen=True),
        "slowloris-spread": lambda url: slowloris(url, spread, reopen=False),
        "slowbody-spread": lambda url: slowloris(url, spread, reopen=False, seconds=45.0, body=True),
    }
    for name, flood in floods.items():
        if name not in only:  # not run by default: --only slowloris, --only slowbody-spread, ...
            continue
        server, url = serve(pythonpath, {**extra_env, "SQLENV_MAX_CONNECTIONS": str(SLOWLORIS_LIMIT)})
        try:
            for key, value in asyncio.run(flood(url)).items():
                results[f"{name}: {key}"] = value
            alive = httpx.get(f"{url}/health", timeout=30).status_code
            results[f"{name}: serving after"] = "yes" if alive == 200 else f"no ({alive})"
        finally:
            stop_server(server)
        print(f"  {label} {name} done", flush=True)
    for name, attack in attacks.items():
        if only and name not in only:
            continue
        server, url = serve(pythonpath, extra_env)
        try:
            before = rss_mb(server.pid)
            measured.clear()
            if name.startswith("heavy"):
                idle = asyncio.run(while_probing(url, lambda: asyncio.sleep(5)))
                results["health idle p50/p99"] = f"{pct(idle, 0.5):.1f} / {pct(idle, 0.99):.1f} ms"
            samples = asyncio.run(while_probing(url, lambda a=attack, u=url: a(u)))
            time.sleep(2)
            after = rss_mb(server.pid)
            peak = max([after, *measured])
            results[f"{name}: RSS before -> peak -> after"] = f"{before} -> {peak} -> {after} MB"
            results[f"{name}: /health p50/p99/max"] = (
                f"{pct(samples, 0.5):.1f} / {pct(samples, 0.99):.1f} / {max(samples) * 1000:.0f} ms"
                f" ({len(samples)} probes, {sum(s >= 30 for s in samples)} unanswered)"
            )
            alive = httpx.get(f"{url}/health", timeout=30).status_code
            results[f"{name}: serving after"] = "yes" if alive == 200 else f"no ({alive})"
        finally:
            stop_server(server)
        print(f"  {label} {name} done", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="an older checkout's root, measured in the same run")
    parser.add_argument(
        "--only",
        action="append",
        choices=[
            "queue",
            "ws",
            "cookie",
            "heavy",
            "heavy-distinct",
            "slowloris",
            "slowloris-spread",
            "slowbody-spread",
        ],
        default=[],
        help="run only these attacks (the slowloris and slowbody ones run only when named)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also measure this code with these server settings (e.g. SQLENV_WORKER_THREADS=2), same run",
    )
    args = parser.parse_args()
    only = set(args.only)
    columns = {"now": measure("now", None, only, {})}
    if args.variant:
        variant = dict(item.split("=", 1) for item in args.variant)
        columns[",".join(args.variant)[:40]] = measure("variant", None, only, variant)
    if args.baseline_src:
        paths = os.pathsep.join(str(p / "src") for p in sorted((args.baseline_src / "packages").iterdir()))
        columns["baseline"] = measure("baseline", paths, only, {})
    print(f"\n{'':44}" + "".join(f"{label:>44}" for label in columns))
    keys = list(dict.fromkeys(key for column in columns.values() for key in column))
    for key in keys:
        print(f"{key:44}" + "".join(f"{columns[label].get(key, '-'):>44}" for label in columns))
    print("\n(one worker, built-in dataset, loopback; timings from a shared machine: compare columns of one run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
