"""How long ``import sqlenv_client`` takes, in fresh interpreters, beside the imports it cannot avoid.

Each statement runs in a new ``python -c`` process ``--runs`` times (median shown), so nothing is
cached in memory. ``import pydantic`` is the floor: the client hands back pydantic models
(``SQLObservation``), so it always loads pydantic. ``--baseline-src DIR`` adds the same statements
for the packages under ``DIR/packages`` (an older checkout, e.g. ``git archive``) in the same run.

    uv run python bench/bench_imports.py [--runs 9] [--baseline-src /tmp/old]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

STATEMENTS = [
    "import pydantic",
    "import sqlenv_client",
    "from sqlenv_client import SQLEnvClient",
    "from sqlenv_client import AsyncSQLEnvClient",
    "from sqlenv_client import SQLEnvClient; SQLEnvClient('http://127.0.0.1:1', transport='http')",
]
PROBE = "import time, sys; t = time.perf_counter(); exec(sys.argv[1]); print(time.perf_counter() - t)"


def timed(statement: str, runs: int, pythonpath: str | None) -> float:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", PROBE, statement], capture_output=True, text=True, env=env, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline-src", type=Path, help="an older checkout's root, to compare in the same run")
    args = parser.parse_args()
    baseline = None
    if args.baseline_src:
        baseline = os.pathsep.join(str(p / "src") for p in sorted((args.baseline_src / "packages").iterdir()))
    print(f"median of {args.runs} fresh interpreters, seconds")
    print(f"{'statement':<92} {'now':>6}" + (f" {'baseline':>9}" if baseline else ""))
    for statement in STATEMENTS:
        line = f"{statement:<92} {timed(statement, args.runs, None):>6.3f}"
        if baseline:
            line += f" {timed(statement, args.runs, baseline):>9.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
