"""Issue 9's core reproductions, timed: each prints what it costs now (and, for sorts, both temp stores).

* the column-order search: a 10-column 512-row and a 12-column 2,048-row 0/1 parity gold against
  the other parity, and 12 columns x 400 rows of floats off by 0.1 %, through ``verify``,
  ``result_similarity`` and ``results_match`` (issue: 8.4 s, 9.6 s and 48 s);
* re-joining a comma list against a gold value holding a thousand commas (16 s before);
* the result cache after 20,000 steps of ``SELECT {i} --<20 KB comment>`` (issue: RSS 82 -> 894 MB
  while it reported 5 MB; a full cache made each garbage-collector pass slower);
* sorts, a window and a GROUP BY over 3 and 6 million rows with a 5 s deadline, with
  ``temp_store="memory"`` (the old default) and ``"file"`` (the default now), in child processes
  so that each one's memory is its own (issue: 7-13 s).

Usage: ``python bench/bench_hardening.py [--skip-sorts]``. Speed is printed, never asserted; the
tests in packages/sqlenv-core/tests hold the same cases with generous bounds.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlenv_core import SQLAction, SQLEnvironment
from sqlenv_core.datasets import Dataset, Question
from sqlenv_core.rewards import result_similarity
from sqlenv_core.verifier import GoldResult, results_match, verify


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def parity(width: int, bit: int) -> list[tuple[int, ...]]:
    return [bits + ((sum(bits) + bit) % 2,) for bits in itertools.product((0, 1), repeat=width - 1)]


def column_search() -> None:
    rnd = random.Random(1)
    floats = [tuple(rnd.random() * 100 for _ in range(12)) for _ in range(400)]
    cases = {
        "parity 10 x 512": (parity(10, 0), parity(10, 1)),
        "parity 12 x 2048": (parity(12, 0), parity(12, 1)),
        "floats 12 x 400": (floats, [tuple(c * 1.001 for c in row) for row in floats]),
    }
    print("column-order search (the answer is wrong in every case):")
    for name, (gold_rows, answer) in cases.items():
        gold = GoldResult([f"c{i}" for i in range(len(gold_rows[0]))], list(gold_rows))
        text = json.dumps(answer)
        t_verify, _ = timed(lambda gold=gold, text=text: verify(text, gold))
        t_sim, _ = timed(lambda gold=gold, answer=answer: result_similarity(answer, gold))
        t_match, _ = timed(lambda gold_rows=gold_rows, answer=answer: results_match(answer, gold_rows))
        print(f"  {name:18} verify {t_verify:6.3f} s  result_similarity {t_sim:6.3f} s  results_match {t_match:6.3f} s")
    gold = GoldResult(["x"], [(",".join(["a"] * 1_000),), ("b",)])
    t_join, _ = timed(lambda: verify(", ".join(["a"] * 1_999 + ["c"]), gold))
    print(f"  comma list of 2,000 items against a gold value with 1,000 commas: verify {t_join:6.3f} s")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cache_growth(folder: Path) -> None:
    import sqlite3

    db = folder / "one.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    dataset = Dataset("one", [Question("q", "one", "x?", "SELECT x FROM t")], {"one": db})
    env = SQLEnvironment(dataset, step_budget=10**9, reward="sparse")
    env.reset(question_id="q")
    comment = "--" + "x" * 19_900
    gc.collect()
    before = rss_mib()
    start = time.perf_counter()
    for i in range(20_000):
        env.step(SQLAction(action_type="QUERY", argument=f"SELECT {i} {comment}"))
    elapsed = time.perf_counter() - start
    gc.collect()
    after = rss_mib()
    cache = dataset.result_cache
    held, entries = cache.nbytes, len(cache)
    full = min(timed(gc.collect)[0] for _ in range(5))
    cache.clear()
    gc.collect()
    empty = min(timed(gc.collect)[0] for _ in range(5))
    print(
        f"result cache: 20,000 steps of SELECT i --<20 KB comment> in {elapsed:.1f} s: RSS {before:.0f} -> "
        f"{after:.0f} MiB, the cache reports {held / 2**20:.1f} MiB in {entries:,} entries; "
        f"a full GC pass {full * 1000:.1f} ms with it full, {empty * 1000:.1f} ms once cleared"
    )


SORT_CHILD = r"""
import json, sys, time
from sqlenv_core.sandbox import Sandbox, SandboxError, SandboxLimits
db, store, sql = sys.argv[1], sys.argv[2], sys.stdin.read()
box = Sandbox(db, SandboxLimits(timeout_s=5.0, temp_store=store))
box.execute("SELECT 1")
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = peak()
start = time.monotonic()
try:
    box.execute(sql)
    code = "ok"
except SandboxError as exc:
    code = exc.code
print(json.dumps({"elapsed": time.monotonic() - start, "code": code, "peak_growth_mib": peak() - base}))
"""

_COUNTER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {n}) "
SORTS = {
    "ORDER BY random()": "SELECT x FROM (" + _COUNTER + "SELECT x FROM c) ORDER BY random()",
    "sum() OVER (ORDER BY random())": _COUNTER
    + "SELECT max(s) FROM (SELECT sum(x) OVER (ORDER BY random()) AS s FROM c)",
    "GROUP BY random()": "SELECT count(*) FROM (SELECT random() AS r, count(*) FROM ("
    + _COUNTER
    + "SELECT x FROM c) GROUP BY r)",
}


def sorts(folder: Path) -> None:
    import sqlite3

    db = folder / "empty.sqlite"
    sqlite3.connect(db).close()
    print("sorts with a 5 s deadline (seconds, outcome, peak RSS growth), temp_store memory | file:")
    for name, template in SORTS.items():
        for n in (3_000_000, 6_000_000):
            cells = []
            for store in ("memory", "file"):
                proc = subprocess.run(
                    [sys.executable, "-c", SORT_CHILD, str(db), store],
                    input=template.format(n=n),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                r = json.loads(proc.stdout)
                cells.append(f"{r['elapsed']:5.2f} s {r['code']:<9} +{r['peak_growth_mib']:4.0f} MiB")
            print(f"  {name:31} {n // 1_000_000} M rows: {' | '.join(cells)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-sorts", action="store_true", help="skip the sorts (about a minute)")
    args = parser.parse_args()
    column_search()
    with tempfile.TemporaryDirectory() as folder:
        cache_growth(Path(folder))
        if not args.skip_sorts:
            sorts(Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
