"""The episode mix over WebSocket: sqlenv-server beside OpenEnv's own ``create_app``, in one run.

What training looks like, not one query repeated: K concurrent WebSocket sessions each play whole
episodes (``reset``, ``DESCRIBE`` a table, three ``QUERY``s of real Spider gold SQL from other
questions on the same database, ``ANSWER``) over the Spider dev databases (../shared/spider).
Two mixes:

* ``distinct``: every QUERY's text is unique in the run (a ``/* tag */`` comment in front of
  the gold SQL), so no result is ever shared: the uncached figure.
* ``grpo``: sessions play in groups of 8 (one GRPO group): the 8 rollouts of a group get the same
  question and send the same SQL, so 7 of 8 QUERYs can be answered from the shared result cache.

The servers run as separate processes on 127.0.0.1: ours is the shipped ``sqlenv-server``
command with its default settings (only the dataset, the port and ``--max-sessions``, which the
K=256 runs need, are given; ``--ours-args`` adds more), and the peer is OpenEnv 0.10.0's
``create_app`` serving a bare SQL environment (a read-only ``sqlite3`` connection per session, no
sandbox, no verifier, no reward) under uvicorn's defaults. This process is the load generator.
It prints steps/s (every message is a step: reset and ANSWER included), p50/p99 latency and the
server's CPU milliseconds per step (all its processes, user + system: steadier than steps/s on a
busy machine) per K and mix, the ratio to OpenEnv, then the RSS that 1,000 idle sessions cost.

Needs ``openenv`` beside the workspace packages in a throwaway venv (never the workspace's):

    uv venv /tmp/oe-venv && uv pip install --python /tmp/oe-venv openenv==0.10.0 \\
        -e packages/sqlenv-core -e packages/sqlenv-server
    /tmp/oe-venv/bin/python bench/bench_server.py            # or: uv run nox -s bench_server

Options: ``--ks 1,8,64,256``, ``--mixes distinct,grpo``, ``--seconds 8``, ``--idle 1000``,
``--servers ours,openenv`` (also ``ours-nocache``; ``ours+--workers=2`` is ours with more options,
``ours+SQLENV_X=1`` with more settings, ``base@ours+PYTHONPATH=/old/src`` an older checkout in a
column named ``base``), ``--rounds 2``, ``--generators 1``, ``--ours-args "--workers 1"`` (for
every ``ours``), ``--quick``.

At K=1 a round's p99 is its slowest 1% of a few thousand steps, and on a shared machine rounds
minutes apart move by more than the servers differ: compare K=1 p99 over ``--rounds 10``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import itertools
import json
import os
import random
import resource
import shlex
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
SPIDER = Path(os.environ.get("SQLENV_SPIDER_DIR", Path(__file__).resolve().parents[2] / "shared" / "spider"))
GROUP = 8  # rollouts per GRPO group in the grpo mix


# -- what the sessions play ------------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    question_id: str
    table: str
    queries: tuple[str, str, str]


@dataclass
class Plan:
    """Per database: its questions, tables and gold SQL (the same for both servers)."""

    questions: list[tuple[str, str]]  # (question_id, db_id)
    tables: dict[str, list[str]]
    gold: dict[str, list[str]]

    def episode(self, rng: random.Random, tag: str) -> Episode:
        question_id, db_id = rng.choice(self.questions)
        pool = self.gold[db_id]
        picked = rng.sample(pool, 3) if len(pool) >= 3 else [rng.choice(pool) for _ in range(3)]
        queries = tuple(f"/* {tag} q{i} */ {sql}" for i, sql in enumerate(picked))
        return Episode(question_id, rng.choice(self.tables[db_id]), queries)  # type: ignore[arg-type]


def load_plan() -> Plan:
    from sqlenv_core import load

    dataset = load(f"spider:{SPIDER}?split=dev")
    questions = [(q.id, q.db_id) for q in dataset.questions]
    gold: dict[str, list[str]] = {}
    for q in dataset.questions:
        gold.setdefault(q.db_id, []).append(q.gold_sql.strip().rstrip(";"))
    tables = {db_id: dataset.table_names(db_id) for db_id in gold}
    return Plan(questions, tables, {db: sorted(set(sqls)) for db, sqls in gold.items()})


# -- the OpenEnv peer: a bare SQL environment under OpenEnv's create_app ---------------------------


def serve_openenv(port: int, max_sessions: int) -> None:
    import uvicorn
    from openenv.core.env_server.http_server import create_app
    from openenv.core.env_server.interfaces import Environment
    from openenv.core.env_server.types import Action, Observation, State

    from sqlenv_core import load

    dataset = load(f"spider:{SPIDER}?split=dev")
    db_of = {q.id: str(dataset.db_path(q.db_id)) for q in dataset.questions}

    class SQLAction(Action):
        action_type: str = "QUERY"
        argument: str = ""

    class SQLObservation(Observation):
        columns: list[str] = []
        rows: list[list[Any]] = []
        error: str = ""

    class BareSQLEnvironment(Environment[SQLAction, SQLObservation, State]):  # type: ignore[misc]
        SUPPORTS_CONCURRENT_SESSIONS = True

        def __init__(self) -> None:
            super().__init__()
            self._conn: sqlite3.Connection | None = None
            self._db = ""
            self._state = State(episode_id=None, step_count=0)

        def reset(
            self, seed: int | None = None, episode_id: str | None = None, question_id: str = "", **kw: Any
        ) -> SQLObservation:
            db = db_of[question_id]
            if db != self._db:
                self.close()
                self._conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
                self._db = db
            self._state = State(episode_id=episode_id or "e", step_count=0)
            return SQLObservation()

        def step(self, action: SQLAction, timeout_s: float | None = None, **kw: Any) -> SQLObservation:
            assert self._conn is not None
            self._state.step_count += 1
            if action.action_type == "ANSWER":
                return SQLObservation(done=True, reward=0.0)
            sql = action.argument
            if action.action_type == "DESCRIBE":
                sql = f'PRAGMA table_info("{action.argument}")'
            try:
                cursor = self._conn.execute(sql)
                rows = [list(r) for r in cursor.fetchmany(20)]
                return SQLObservation(columns=[d[0] for d in cursor.description or ()], rows=rows, reward=0.0)
            except sqlite3.Error as exc:
                return SQLObservation(error=str(exc), reward=0.0)

        @property
        def state(self) -> State:
            return self._state

        def close(self) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn, self._db = None, ""

    app = create_app(
        BareSQLEnvironment, SQLAction, SQLObservation, env_name="sql_bench", max_concurrent_envs=max_sessions
    )
    uvicorn.run(app, host=LOOPBACK, port=port, log_level="warning")


# -- server processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))


class ServerProcess:
    def __init__(self, kind: str, max_sessions: int, ours_args: str = "") -> None:
        self.kind = kind
        self.port = free_port()
        env = dict(os.environ)
        # "ours+--workers=2" is ours with more options, "ours+SQLENV_WORKER_THREADS=4" with more settings;
        # "name@..." names the column.
        kind, *more = kind.rpartition("@")[2].split("+")
        settings = [a for a in more if a.startswith(("SQLENV_", "PYTHONPATH="))]  # e.g. an older checkout's src
        more_args = [a for a in more if a not in settings]
        env.update(a.split("=", 1) for a in settings)  # type: ignore[misc]
        if kind == "openenv":
            command = [
                sys.executable,
                __file__,
                "--serve-openenv",
                "--port",
                str(self.port),
                "--max",
                str(max_sessions),
            ]
        else:
            command = [
                sys.executable,
                "-m",
                "sqlenv_server.cli",
                "--dataset",
                f"spider:{SPIDER}?split=dev",
                "--port",
                str(self.port),
                "--max-sessions",
                str(max_sessions),
                "--log-level",
                "warning",
                *shlex.split(ours_args),
                *(part for arg in more_args for part in arg.split("=", 1)),
            ]
            if kind == "ours-nocache":
                env["SQLENV_RESULT_CACHE_MB"] = "0"
        env["SQLENV_MAX_SESSIONS_PER_CLIENT"] = str(max_sessions)  # the generator is one client
        self.process = subprocess.Popen(command, env=env, preexec_fn=raise_fd_limit, stderr=subprocess.DEVNULL)
        self.base = f"http://{LOOPBACK}:{self.port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{kind} server exited with {self.process.returncode}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"{kind} server did not start on port {self.port}")
        time.sleep(0.5)

    def pids(self) -> list[int]:
        """The server's process and its children (the workers of ``--workers N``)."""
        found = [self.process.pid]
        for pid in found:
            children = Path(f"/proc/{pid}/task/{pid}/children")
            if children.exists():
                found.extend(int(c) for c in children.read_text().split())
        return found

    def cpu_s(self) -> float:
        """CPU seconds the server's processes have used so far (user + system)."""
        ticks = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- load generation -------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def one_session(url: str, plan: Plan, seed: int, mix: str, start_at: float, stop_at: float, tally: Tally) -> None:
    """Connect, wait for the common start (wall clock), then play episodes until the stop."""
    from websockets.asyncio.client import connect

    rng = random.Random(seed)
    episode_no = itertools.count()
    async with connect(url, max_size=None, open_timeout=300, ping_interval=None) as ws:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        while time.time() < stop_at:
            n = next(episode_no)
            tag = f"s{seed}e{n}" if mix == "distinct" else f"g{seed // GROUP}e{n}"
            episode = plan.episode(rng, tag)
            messages = [
                {"type": "reset", "data": {"question_id": episode.question_id}},
                {"type": "step", "data": {"action_type": "DESCRIBE", "argument": episode.table}},
                *({"type": "step", "data": {"action_type": "QUERY", "argument": sql}} for sql in episode.queries),
                {"type": "step", "data": {"action_type": "ANSWER", "argument": "1"}},
            ]
            for message in messages:
                began = time.time()
                await ws.send(json.dumps(message))
                reply = json.loads(await ws.recv())
                if reply.get("type") != "observation":
                    tally.errors.append(json.dumps(reply)[:300])
                if began < stop_at:
                    tally.latencies.append(time.time() - began)


async def drive(url: str, plan: Plan, seeds: list[int], mix: str, start_at: float, seconds: float) -> Tally:
    """One generator process's sessions."""
    tally = Tally()
    stop_at = start_at + seconds
    await asyncio.gather(*(one_session(url, plan, s, mix, start_at, stop_at, tally) for s in seeds))
    return tally


def _drive_in_process(url: str, plan: Plan, seeds: list[int], mix: str, start_at: float, seconds: float) -> Tally:
    return asyncio.run(drive(url, plan, seeds, mix, start_at, seconds))


def load(
    server: ServerProcess, plan: Plan, sessions: int, mix: str, seconds: float, generators: int = 1
) -> dict[str, float]:
    """K sessions from ``generators`` processes; all start together once connected."""
    url = server.base.replace("http://", "ws://") + "/ws"
    # In the grpo mix the sessions of one group share a seed, hence their questions and SQL.
    seeds = [(i // GROUP) * GROUP if mix == "grpo" else i for i in range(sessions)]
    start_at = time.time() + 2.0 + sessions / 40  # time for every session to connect first
    parts = [seeds[i::generators] for i in range(generators) if seeds[i::generators]]
    if len(parts) == 1:

        async def drive_and_measure() -> tuple[Tally, float]:
            return await asyncio.gather(
                drive(url, plan, seeds, mix, start_at, seconds), _cpu_window(server, start_at, seconds)
            )

        tally, cpu = asyncio.run(drive_and_measure())
        tallies = [tally]
    else:
        with concurrent.futures.ProcessPoolExecutor(len(parts)) as pool:
            futures = [pool.submit(_drive_in_process, url, plan, part, mix, start_at, seconds) for part in parts]
            cpu = asyncio.run(_cpu_window(server, start_at, seconds))
            tallies = [f.result() for f in futures]
    errors = [e for t in tallies for e in t.errors]
    if errors:
        raise RuntimeError(f"{len(errors)} error replies, first: {errors[0]}")
    lat = sorted(x for t in tallies for x in t.latencies)
    return {
        "cpu_ms_per_step": 1000 * cpu / len(lat),
        "steps_per_s": len(lat) / seconds,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


async def _cpu_window(server: ServerProcess, start_at: float, seconds: float) -> float:
    """The server's CPU seconds between ``start_at`` and ``start_at + seconds`` (wall clock)."""
    await asyncio.sleep(max(0.0, start_at - time.time()))
    before = server.cpu_s()
    await asyncio.sleep(seconds)
    return server.cpu_s() - before


async def _hold_idle(server: ServerProcess, count: int) -> float:
    from websockets.asyncio.client import connect

    url = server.base.replace("http://", "ws://") + "/ws"
    sockets: list[Any] = []
    for batch in range(0, count, 50):
        opened = await asyncio.gather(
            *(connect(url, open_timeout=120, ping_interval=None) for _ in range(min(50, count - batch)))
        )
        for ws in opened:
            await ws.send(json.dumps({"type": "reset", "data": {}}))
        for ws in opened:
            await ws.recv()
        sockets.extend(opened)
    await asyncio.sleep(1.0)
    rss = server.rss_mb()
    await asyncio.gather(*(ws.close() for ws in sockets))
    return rss


def measure(
    plan: Plan, servers: list[str], mixes: list[str], ks: list[int], args: argparse.Namespace
) -> dict[tuple[str, int], dict[str, dict[str, float]]]:
    """Every row (mix, K) for every server: the median of ``args.rounds`` measurements."""
    rows: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    # Every server runs for the whole benchmark (idle ones cost nothing) and each row measures them
    # back to back, in alternating order over the rounds: load from elsewhere on the machine then
    # hits all of them alike, instead of whichever server happened to run while it lasted.
    running: dict[str, ServerProcess] = {}
    try:
        for kind in servers:
            running[kind] = ServerProcess(kind, max_sessions=max(ks) + 16, ours_args=args.ours_args)
            load(running[kind], plan, 4, "distinct", 1.0)  # warm-up: imports, first connections
        for mix in mixes:
            for k in ks:
                samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in servers}
                for round_no in range(args.rounds):
                    for kind in servers if round_no % 2 == 0 else servers[::-1]:
                        samples[kind].append(load(running[kind], plan, k, mix, args.seconds, args.generators))
                for kind, results in samples.items():
                    rows.setdefault((mix, k), {})[kind] = {
                        key: statistics.median(r[key] for r in results) for key in results[0]
                    }
                    print(f"  {kind:>12} {mix:>8} K={k:<4} {rows[mix, k][kind]}", file=sys.stderr)
    finally:
        for server in running.values():
            server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", default="1,8,64,256")
    parser.add_argument("--mixes", default="distinct,grpo")
    parser.add_argument("--servers", default="ours,openenv")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per K and mix")
    parser.add_argument("--idle", type=int, default=1000, help="idle sessions for the memory figure (0: skip)")
    parser.add_argument("--ours-args", default="", help="extra sqlenv-server options, e.g. '--workers 2'")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per row and server (median shown)")
    parser.add_argument("--generators", type=int, default=1, help="load-generating processes (for many cores)")
    parser.add_argument("--quick", action="store_true", help="K=8,64, 4 s windows, 200 idle sessions")
    parser.add_argument("--serve-openenv", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--max", type=int, default=2048, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_openenv:
        serve_openenv(args.port, args.max)
        return 0
    if not (SPIDER / "dev.json").is_file():
        print(f"Spider not found at {SPIDER}; set SQLENV_SPIDER_DIR", file=sys.stderr)
        return 2
    raise_fd_limit()
    if args.quick:
        args.ks, args.seconds, args.idle = "8,64", 4.0, 200
    ks = [int(k) for k in args.ks.split(",")]
    mixes = args.mixes.split(",")
    servers = args.servers.split(",")
    plan = load_plan()
    rows = measure(plan, servers, mixes, ks, args)
    print(
        f"\nEpisode mix over WebSocket ({os.cpu_count()} CPUs; ours: sqlenv-server {args.ours_args or 'as shipped'}; "
        f"OpenEnv: create_app, one uvicorn process; median of {args.rounds} x {args.seconds:g} s per row; "
        "steps/s, latency in ms)"
    )
    header = f"{'mix':>8} {'K':>4} |" + "".join(
        f" {k.partition('@')[0]:>12} {'p50':>6} {'p99':>7} {'cpu/step':>8} |" for k in servers
    )
    print(header + " ratio to OpenEnv")
    for (mix, k), by_kind in rows.items():
        line = f"{mix:>8} {k:>4} |"
        for kind in servers:
            r = by_kind[kind]
            line += f" {r['steps_per_s']:>12.0f} {r['p50_ms']:>6.1f} {r['p99_ms']:>7.1f} {r['cpu_ms_per_step']:>8.2f} |"
        if "openenv" in by_kind:
            base = by_kind["openenv"]["steps_per_s"]
            line += " " + ", ".join(
                f"{kind.partition('@')[0]} {by_kind[kind]['steps_per_s'] / base:.2f}x"
                for kind in servers
                if kind != "openenv"
            )
        print(line)
    if args.idle and "ours" in servers:
        server = ServerProcess("ours", max_sessions=args.idle + 16, ours_args=args.ours_args)
        try:
            empty = server.rss_mb()
            held = asyncio.run(_hold_idle(server, args.idle))
            print(
                f"\nRSS of our server: {empty:.0f} MB empty, {held:.0f} MB with {args.idle} idle sessions "
                f"(+{held - empty:.0f} MB, {1024 * (held - empty) / args.idle:.0f} KB per session)"
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
