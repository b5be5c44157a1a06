"""Core benchmark: an in-process ``step(QUERY)`` against a raw read-only sqlite3 execute + fetch.

The realistic case, as training sees it: whole episodes over the Spider dev subset
(../shared/spider or $SQLENV_SPIDER_DIR), the database changing from one episode to the next
(round robin over its databases), and every QUERY's SQL new to everything (each text carries
a unique comment, so no statement cache, no result cache and no normal-form cache ever hits).
An episode is ``reset``, three QUERYs (gold SQL of *other* questions on the same database, so
the dense reward compares a result that does not match) and an ANSWER.

Both sides run in this process, query by query, taking turns at going first, so that neither
enjoys a warmer machine or page cache:

* raw: ``sqlite3.connect("file:...?mode=ro", uri=True)`` per database (opened once, as any
  environment would), ``execute(sql).fetchall()``;
* ours: ``SQLEnvironment.step(QUERY sql)``: the sandbox (authorizer, deadline, caps), formatting,
  the observation and the reward, dense and sparse (two environments on one dataset).

Printed: per-QUERY medians and the median of per-query ratios to raw, the ratio of totals, whole
episodes (reset + 3 QUERYs + ANSWER against the 3 raw executes), ``reset`` alone, and, reported
apart because it only holds on a hit, a QUERY another session already ran (the result cache).
Speed is printed, never asserted.

Usage: ``uv run nox -s bench`` or ``python bench/bench_core.py [--episodes N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

from sqlenv_core import SQLAction, SQLEnvironment, load_spider

ROOT = Path(__file__).resolve().parents[1]
QUERIES_PER_EPISODE = 3


def _median_us(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e6:8.1f} us"


class CoreBench:
    """Runs the episodes and keeps every timing."""

    def __init__(self, spider: Path, episodes: int) -> None:
        self.dataset = dataset = load_spider(spider)
        self.envs = {
            "dense": SQLEnvironment(dataset, step_budget=50, reward="dense", cache_results=False),
            "sparse": SQLEnvironment(dataset, step_budget=50, reward="sparse", cache_results=False),
        }
        self.cached_env = SQLEnvironment(dataset, step_budget=50, reward="dense")
        self.first_env = SQLEnvironment(dataset, step_budget=50, reward="dense")
        self.by_db: dict[str, list[str]] = {}
        for q in dataset:
            self.by_db.setdefault(q.db_id, []).append(q.id)
        # Round robin over databases: consecutive episodes are on different databases.
        order = [qid for group in itertools.zip_longest(*self.by_db.values()) for qid in group if qid is not None]
        self.episodes = order[:episodes]
        self.raw_conns = {
            db_id: sqlite3.connect(f"file:{dataset.db_path(db_id).resolve()}?mode=ro", uri=True) for db_id in self.by_db
        }
        self.counter = itertools.count()
        self.turns = itertools.count()
        self.raw_q: list[float] = []
        self.ours_q: dict[str, list[float]] = {name: [] for name in self.envs}
        self.ratios: dict[str, list[float]] = {name: [] for name in self.envs}
        self.episode_ours: dict[str, list[float]] = {name: [] for name in self.envs}
        self.episode_raw: list[float] = []
        self.resets: list[float] = []
        self.hits: list[float] = []
        self.misses: list[float] = []

    def unique(self, sql: str) -> str:
        """``sql`` made new to every cache by a comment no other text carries."""
        return f"{sql.rstrip().rstrip(';')} -- {next(self.counter)}"

    def sqls_for(self, qid: str) -> list[str]:
        """Gold SQL of the next questions on the same database: real queries, not this gold."""
        q = self.dataset.question(qid)
        siblings = self.by_db[q.db_id]
        start = siblings.index(qid)
        others = [siblings[(start + k) % len(siblings)] for k in range(1, QUERIES_PER_EPISODE + 1)]
        return [self.dataset.question(o).gold_sql for o in others]

    def episode(self, qid: str) -> None:
        """One episode on each environment, each QUERY alternated with its raw twin."""
        perf = time.perf_counter
        conn = self.raw_conns[self.dataset.question(qid).db_id]
        sqls = self.sqls_for(qid)
        raw_total = 0.0
        totals = dict.fromkeys(self.envs, 0.0)
        for name, env in self.envs.items():
            t0 = perf()
            env.reset(question_id=qid)
            totals[name] += perf() - t0
            if name == "dense":
                self.resets.append(perf() - t0)
        for sql in sqls:
            # The sides take turns going first: the first to read a database's pages pays for it.
            sides = ["raw", *self.envs]
            turn = next(self.turns) % len(sides)
            spent: dict[str, float] = {}
            for side in sides[turn:] + sides[:turn]:
                text = self.unique(sql)
                if side == "raw":
                    t0 = perf()
                    conn.execute(text).fetchall()
                    spent[side] = perf() - t0
                else:
                    action = SQLAction(action_type="QUERY", argument=text)
                    t0 = perf()
                    self.envs[side].step(action)
                    spent[side] = perf() - t0
            raw = spent["raw"]
            self.raw_q.append(raw)
            raw_total += raw
            for name in self.envs:
                self.ours_q[name].append(spent[name])
                self.ratios[name].append(spent[name] / raw)
                totals[name] += spent[name]
        answer = SQLAction(action_type="ANSWER", argument="42")
        for name, env in self.envs.items():
            t0 = perf()
            env.step(answer)
            self.episode_ours[name].append(totals[name] + perf() - t0)
        self.episode_raw.append(raw_total)
        # The result cache: the first session to send a text pays, the next ones hit.
        shared = SQLAction(action_type="QUERY", argument=self.unique(sqls[0]))
        self.first_env.reset(question_id=qid)
        self.cached_env.reset(question_id=qid)
        t0 = perf()
        self.first_env.step(shared)
        self.misses.append(perf() - t0)
        t0 = perf()
        self.cached_env.step(shared)
        self.hits.append(perf() - t0)

    def report(self, rounds: int) -> None:
        """Print the figures."""
        print(
            f"SQLEnv core benchmark: {len(self.episodes)} episodes x {rounds} rounds over {len(self.by_db)} Spider "
            f"dev databases (the database changes every episode), {len(self.raw_q)} QUERYs of distinct SQL"
        )
        print(f"  raw sqlite3 execute+fetch       median {_median_us(self.raw_q)}")
        for name in self.envs:
            print(
                f"  step(QUERY), reward={name:<6}    median {_median_us(self.ours_q[name])}   "
                f"ratio to raw: median {statistics.median(self.ratios[name]):.2f}x, "
                f"total {sum(self.ours_q[name]) / sum(self.raw_q):.2f}x"
            )
        for name in self.envs:
            print(
                f"  whole episode, reward={name:<6}  median {_median_us(self.episode_ours[name])}   vs raw's "
                f"3 executes {_median_us(self.episode_raw)}: "
                f"{sum(self.episode_ours[name]) / sum(self.episode_raw):.2f}x (total)"
            )
        print(f"  reset() onto another database   median {_median_us(self.resets)}")
        print(
            f"  result cache: first session     median {_median_us(self.misses)}; "
            f"a later session (hit) median {_median_us(self.hits)}   (the cached figure holds only on a hit)"
        )
        print("  target: step(QUERY) <= 2x raw, dense reward on")

    def close(self) -> None:
        """Close every connection."""
        for conn in self.raw_conns.values():
            conn.close()
        for env in (*self.envs.values(), self.cached_env, self.first_env):
            env.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=600, help="episodes per round (default 600)")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the episode list (default 3)")
    parser.add_argument("--spider", default=os.environ.get("SQLENV_SPIDER_DIR", str(ROOT.parent / "shared" / "spider")))
    args = parser.parse_args()

    spider = Path(args.spider)
    if not (spider / "dev.json").is_file():
        print(f"Spider data not found at {spider}; set SQLENV_SPIDER_DIR. Nothing to measure.")
        return 0
    bench = CoreBench(spider, args.episodes)
    for _ in range(args.rounds):
        for qid in bench.episodes:
            bench.episode(qid)
    bench.report(args.rounds)
    bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
