"""Gold-answer cache benchmark: loading a dataset with its gold answers, cached on disk or not.

For each dataset (the built-in pack, and Spider dev where ../shared/spider or $SQLENV_SPIDER_DIR
has it), in one process, alternating the sides so that neither enjoys a warmer page cache:

* uncached: ``load(spec, gold_cache=GoldCache(None))`` runs every gold query in the sandbox and
  parses it (is its result ordered?) — what every start cost before the cache;
* cold: the same into an empty cache folder (computes, then writes the files);
* warm: a new ``GoldCache`` on the folder the cold run filled, as the next process would see it
  (reads the hash index and one JSON file per database; nothing is run).

Then the user-visible figure, whole processes: ``sqlenv data list builtin`` with
``SQLENV_CACHE_DIR=off`` against the same command with a warm cache (both pay Python's start-up
and imports, which the cache cannot save).

Prints medians and ratios against the uncached load measured in the same run; never asserts speed.

Usage: ``python bench/bench_gold_cache.py [--repeat N]`` (or ``uv run nox -s bench``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlenv_core.datasets import GoldCache, load

ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_spec(spec: str, repeat: int, scratch: Path) -> None:
    uncached: list[float] = []
    cold: list[float] = []
    warm: list[float] = []
    for i in range(repeat):
        folder = scratch / f"cache-{i}"
        uncached.append(timed(lambda: load(spec, gold_cache=GoldCache(None))))
        cold.append(timed(lambda folder=folder: load(spec, gold_cache=GoldCache(folder))))
        warm.append(timed(lambda folder=folder: load(spec, gold_cache=GoldCache(folder))))
        shutil.rmtree(folder)
    base = statistics.median(uncached)
    questions = len(load(spec, gold_cache=GoldCache(None)))
    print(f"{spec} ({questions} questions), median of {repeat}:")
    for label, runs in (("uncached", uncached), ("cold cache", cold), ("warm cache", warm)):
        median = statistics.median(runs)
        print(f"  {label:<11} {median * 1000:8.1f} ms   ratio to uncached {median / base:5.2f}")


def bench_cli(repeat: int, scratch: Path) -> None:
    exe = Path(sys.executable).parent / "sqlenv"
    command = [str(exe), "data", "list", "builtin"] if exe.exists() else [sys.executable, "-m", "sqlenv_core"]
    if not exe.exists():
        command += ["data", "list", "builtin"]
    warm_dir = scratch / "cli-cache"
    base_env = {**os.environ}

    def run(cache: str) -> float:
        env = {**base_env, "SQLENV_CACHE_DIR": cache}
        return timed(lambda: subprocess.run(command, env=env, capture_output=True, check=True, timeout=300))

    run(str(warm_dir))  # fill it
    off: list[float] = []
    on: list[float] = []
    for _ in range(repeat):
        off.append(run("off"))
        on.append(run(str(warm_dir)))
    base = statistics.median(off)
    print(f"`sqlenv data list builtin`, whole process, median of {repeat}:")
    print(f"  cache off   {base * 1000:8.1f} ms   ratio 1.00")
    print(f"  warm cache  {statistics.median(on) * 1000:8.1f} ms   ratio {statistics.median(on) / base:5.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per side")
    parser.add_argument("--spider", default=os.environ.get("SQLENV_SPIDER_DIR", str(ROOT.parent / "shared" / "spider")))
    args = parser.parse_args()
    specs = ["builtin"]
    if (Path(args.spider) / "dev.json").is_file():
        specs.append(f"spider:{args.spider}?split=dev")
    else:
        print(f"(Spider not found at {args.spider}: only the built-in pack is measured)")
    with tempfile.TemporaryDirectory(prefix="sqlenv-bench-gold-") as scratch:
        for spec in specs:
            bench_spec(spec, args.repeat, Path(scratch))
        bench_cli(args.repeat, Path(scratch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
