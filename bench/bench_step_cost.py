"""Per-step Python cost of the heaviest steps an agent can send, this checkout against another.

What a server's worker thread spends in Python (holding the GIL) on one ``step``, in process,
built-in dataset, dense reward:

* ``QUERY wide (cached)``: 1,000 rows x 100 float columns, the result already in the shared
  result cache (what 64 sessions sending it see): rendering, repeat detection and the dense
  reward's result similarity;
* ``QUERY wide (new)``: the same with a unique comment, so the sandbox fetches it again;
* ``ANSWER 97 kB list``: a JSON list of 12,000 floats;
* ``ANSWER 100 kB <shape>``: the longest answers an action may carry (``MAX_ARGUMENT_CHARS``), in
  the shapes that cost the verifier most (one value per line, a pipe table, a JSON list).

Each side runs in its own interpreter (``PYTHONPATH`` to the other checkout's package sources),
the two taking turns round by round; the figure is the median step time, and the ratio is
baseline / this checkout (above 1: this checkout is cheaper). Compare the columns of one run.

    git archive <commit> | tar -x -C /tmp/old
    uv run python bench/bench_step_cost.py --baseline-src /tmp/old [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WIDE = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) SELECT "
    + ", ".join(f"x * {i}.25 AS c{i}" for i in range(100))
    + " FROM c"
)
LIMIT = 100_000  # sqlenv_core.protocol.MAX_ARGUMENT_CHARS

# Runs in the measured interpreter: prints {case: [seconds, ...]} as JSON.
_CHILD = r"""
import json, sys, time
from sqlenv_core import SQLAction, SQLEnvironment
wide, repeats, cases = json.loads(sys.stdin.read())
env = SQLEnvironment("builtin", reward="dense", step_budget=1_000)
env.reset()
env.step(SQLAction(action_type="QUERY", argument=wide))  # warm the result cache
out = {}
for name, kind, text in cases:
    times = []
    for i in range(repeats):
        env.reset()
        arg = text if name != "QUERY wide (new)" else f"{text} -- {time.time_ns()} {i}"
        began = time.perf_counter()
        env.step(SQLAction(action_type=kind, argument=arg))
        times.append(time.perf_counter() - began)
    out[name] = times
print(json.dumps(out))
"""


def cases() -> list[tuple[str, str, str]]:
    floats = "[" + ", ".join(f"{i}.5" for i in range(12_000)) + "]"
    return [
        ("QUERY wide (cached)", "QUERY", WIDE),
        ("QUERY wide (new)", "QUERY", WIDE),
        ("ANSWER 97 kB list", "ANSWER", floats),
        ("ANSWER 100 kB lines", "ANSWER", "\n".join(["abcdefghi"] * (LIMIT // 10))),
        ("ANSWER 100 kB pipes", "ANSWER", "\n".join(["| abcd | 7 |"] * (LIMIT // 13))),
        ("ANSWER 100 kB JSON", "ANSWER", json.dumps([1.5] * (LIMIT // 5 - 1))),
        ("ANSWER 100 kB 1-line CSV", "ANSWER", ",".join(["ab"] * (LIMIT // 3))),
    ]


def run(pythonpath: str | None, repeats: int) -> dict[str, list[float]]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    payload = json.dumps([WIDE, repeats, cases()])
    command = [sys.executable, "-c", _CHILD]
    done = subprocess.run(command, input=payload, stdout=subprocess.PIPE, text=True, env=env, check=True, timeout=600)
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="an older checkout's root, measured in the same run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7, help="steps per case per round")
    args = parser.parse_args()
    sides: dict[str, str | None] = {"now": None}
    if args.baseline_src:
        sides["baseline"] = os.pathsep.join(str(p / "src") for p in sorted((args.baseline_src / "packages").iterdir()))
    times: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    for round_ in range(args.rounds):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for side in order:
            for name, samples in run(sides[side], args.repeats).items():
                times[side].setdefault(name, []).extend(samples)
        print(f"  round {round_ + 1}/{args.rounds} done", flush=True)
    header = "".join(f"{side:>12}" for side in sides) + ("     ratio" if len(sides) > 1 else "")
    print(f"\n{'median ms per step':28}{header}")
    for name in times["now"]:
        medians = [statistics.median(times[side][name]) * 1000 for side in sides]
        ratio = f"{medians[1] / medians[0]:9.1f}x" if len(medians) > 1 else ""
        print(f"{name:28}" + "".join(f"{m:12.1f}" for m in medians) + ratio)
    print("\n(in process, built-in dataset, dense reward; ratio = baseline / now; compare within one run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
