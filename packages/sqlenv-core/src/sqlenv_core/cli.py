"""The ``sqlenv`` command: list, download, import and validate datasets, or play an episode.

Examples::

    sqlenv data list builtin:eval
    sqlenv data download spider --to data/spider
    sqlenv data import sales.csv customers.json --db shop --to my_data
    sqlenv data validate "spider:data/spider?split=dev"
    sqlenv play builtin --seed 3
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from sqlenv_core.datasets.base import DIFFICULTIES, LEVEL_DIFFICULTIES, DatasetError
from sqlenv_core.datasets.download import DownloadError, download_dataset, load_manifest
from sqlenv_core.datasets.importer import import_files
from sqlenv_core.datasets.spec import SPEC_HELP, load, no_usable_questions
from sqlenv_core.environment import SQLEnvironment
from sqlenv_core.protocol import ActionType, SQLAction, SQLObservation
from sqlenv_core.render import format_table
from sqlenv_core.validate import validate_dataset

__all__ = ["Progress", "build_parser", "human_number", "main"]


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, a few plain lines otherwise.

    Call it as ``progress(done, total)``; ``total`` 0 means unknown. ``byte_units`` shows sizes.
    """

    def __init__(self, label: str, *, stream: TextIO | None = None, byte_units: bool = False) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.byte_units = byte_units
        self._last_draw = 0.0
        self._last_decile = -1
        self._finished = False

    def _fmt(self, n: int) -> str:
        if not self.byte_units:
            return f"{n:,}"
        size = float(n)
        for unit in ("B", "KiB", "MiB", "GiB"):
            if size < 1024 or unit == "GiB":
                return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
            size /= 1024
        return f"{n} B"  # pragma: no cover

    def __call__(self, done: int, total: int) -> None:
        """Report that ``done`` of ``total`` units are finished."""
        complete = total > 0 and done >= total
        if self.tty:
            now = time.monotonic()
            if not complete and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            if total > 0:
                filled = int(30 * min(done, total) / total)
                bar = "#" * filled + "." * (30 - filled)
                line = f"\r{self.label} [{bar}] {self._fmt(done)}/{self._fmt(total)}"
            else:
                line = f"\r{self.label} {self._fmt(done)}"
            self.stream.write(line)
            if complete:
                self.stream.write("\n")
            self.stream.flush()
        elif total > 0:
            decile = min(done, total) * 10 // total
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(f"{self.label}: {self._fmt(done)}/{self._fmt(total)} ({decile * 10}%)\n")
                self.stream.flush()
        if complete:
            self._finished = True


def _say(text: str = "") -> None:
    print(text, flush=True)


# -- data list -----------------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    ds = load(
        args.spec, progress=Progress("computing gold answers"), generate_progress=Progress("generating databases")
    )
    counts = ds.counts()
    _say(f"{ds.name}: {len(ds)} questions on {len(ds.databases)} databases")
    _say()
    _say("databases:")
    width = max((len(d) for d in ds.databases), default=0)
    for db_id, path in sorted(ds.databases.items()):
        _say(f"  {db_id:<{width}}  {counts['db_id'].get(db_id, 0):>5} questions  {path}")
    _say()
    _say("by split:       " + ", ".join(f"{k} {v}" for k, v in sorted(counts["split"].items())))
    order = {name: i for i, name in enumerate(DIFFICULTIES + LEVEL_DIFFICULTIES)}
    by_diff = sorted(counts["difficulty"].items(), key=lambda kv: order.get(kv[0], 9))
    _say("by difficulty:  " + ", ".join(f"{k} {v}" for k, v in by_diff))
    _say()
    if not ds.skipped:
        _say("skipped: none")
        return 0
    _say(f"skipped: {len(ds.skipped)} questions")
    reasons = Counter(s.reason.split(":")[0] for s in ds.skipped)
    example = {s.reason.split(":")[0]: s for s in reversed(ds.skipped)}
    for reason, n in reasons.most_common():
        first = example[reason]
        detail = f" (e.g. {first.id}: {first.reason})" if first.reason != reason else ""
        _say(f"  {n:>5}  {reason}{detail}")
    if args.verbose:
        for s in ds.skipped:
            _say(f"  {s.id} ({s.db_id}): {s.reason}")
    return 0


# -- data download / import ----------------------------------------------------------------------


def _cmd_download(args: argparse.Namespace) -> int:
    if args.name not in load_manifest(args.manifest):
        raise DownloadError(
            f"unknown dataset {args.name!r}; choose from {', '.join(sorted(load_manifest(args.manifest)))}"
        )
    result = download_dataset(
        args.name,
        args.to,
        manifest=args.manifest,
        base_url=args.base_url,
        sha256=args.sha256,
        timeout=args.timeout,
        force=args.force,
        keep_archive=args.keep_archive,
        progress=Progress(f"downloading {args.name}", byte_units=True),
    )
    loader = load_manifest(args.manifest)[args.name].loader
    if result.already_present:
        _say(f"{args.name} is already in {result.path} (pass --force to download it again)")
    else:
        if result.resumed_from:
            _say(f"resumed from byte {result.resumed_from:,}")
        if result.verified:
            _say(f"verified sha256 {result.sha256}")
        else:
            print(
                f"warning: no checksum is pinned for {args.name}; the archive's sha256 is {result.sha256} "
                f"({result.size:,} bytes). Pin it in the manifest or pass --sha256 to require it next time.",
                file=sys.stderr,
            )
        _say(f"extracted to {result.path}")
    _say(f"load it with: sqlenv data list {loader}:{result.path}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    path, counts = import_files(args.files, db_name=args.db, to=args.to, replace=args.replace)
    _say(f"wrote {path}")
    for table, n in counts.items():
        _say(f"  {table}: {n:,} rows")
    _say(
        f"next: add {args.to}/questions.jsonl with lines like "
        f'{{"db_id": "{args.db}", "question": "...", "gold_sql": "SELECT ..."}}, '
        f"then run: sqlenv data validate dir:{args.to}"
    )
    return 0


# -- data validate -------------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    ds = load(
        args.spec, progress=Progress("computing gold answers"), generate_progress=Progress("generating databases")
    )
    report = validate_dataset(ds, oracle=not args.no_oracle, step_budget=args.budget, progress=Progress("validating"))
    if args.json:
        _say(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for problem in report.problems:
            where = problem.question_id or "(database)"
            _say(f"{problem.severity:<7} {where} [{problem.db_id}] {problem.code}: {problem.message}")
        if report.problems:
            _say()
        _say(report.summary())
    return 0 if report.ok else 1


# -- play ----------------------------------------------------------------------------------------

PLAY_HELP = """commands:
  describe TABLE      columns and row count of a table
  sample TABLE        a few rows of a table
  query SQL           run a read-only query (a line starting with SELECT or WITH works too)
  answer VALUE        answer and end the episode: 42 | Paris | a, b | ["a", "b"] | [[1, "x"], [2, "y"]]
  schema              show the question and the tables again
  new [QUESTION_ID]   leave this episode and start another (random, or the one named)
  help                this text
  quit                leave (also Ctrl-D / Ctrl-C)"""

_VERBS: dict[str, ActionType] = {"describe": "DESCRIBE", "sample": "SAMPLE", "query": "QUERY", "answer": "ANSWER"}
_USAGE = {
    "describe": "describe needs a table name, e.g. `describe {table}`",
    "sample": "sample needs a table name, e.g. `sample {table}`",
    "query": "query needs SQL, e.g. `query SELECT count(*) FROM {table}`",
    "answer": 'answer needs a value, e.g. `answer 42`, `answer Paris` or `answer ["a", "b"]`',
}


def human_number(value: object) -> str:
    """A cell as a person reads it: floats without binary noise (``156.8``, not ``156.79999999999998``).

    Floats are rounded to 15 significant digits, the precision a double holds reliably, and then
    printed in their shortest form; everything else prints as it is (``NULL`` for ``None``). Only
    the display changes: answers are still compared with the exact values.
    """
    if value is None:
        return "NULL"
    if isinstance(value, float) and math.isfinite(value):
        return repr(float(f"{value:.15g}"))
    return str(value)


def _show(obs: SQLObservation, kind: ActionType) -> None:
    if obs.error:
        _say(f"error: {obs.error}")
    elif kind in ("QUERY", "SAMPLE") and obs.columns:
        _say(format_table(obs.columns, [[human_number(v) for v in row] for row in obs.rows], max_rows=len(obs.rows)))
        if obs.truncated:
            _say(f"(only the first {len(obs.rows)} rows are shown)")
    elif obs.result:
        _say(obs.result)
    if not obs.done:
        reward = f", reward {obs.reward:+.3f}" if obs.reward is not None else ""
        _say(f"[step {obs.step_count}, {obs.budget_remaining} left{reward}]")


def _read_line(interactive: bool, prompt: str) -> str | None:
    if interactive:
        try:
            return input(prompt)
        except (EOFError, KeyboardInterrupt):
            print()
            return None
    line = sys.stdin.readline()
    return None if line == "" else line


class _Player:
    """The terminal loop: episodes one after another until the user quits."""

    def __init__(self, env: SQLEnvironment, interactive: bool) -> None:
        self.env = env
        self.interactive = interactive
        self.played = 0
        self.solved = 0
        self.total_reward = 0.0

    def start(self, question_id: str | None, seed: int | None = None) -> SQLObservation | None:
        try:
            obs = self.env.reset(seed=seed, question_id=question_id)
        except KeyError as exc:
            _say(f"error: {exc.args[0] if exc.args else exc}")
            return None
        state = self.env.state
        question = self.env.question
        level = f", {question.difficulty}" if question is not None else ""
        _say()
        _say(f"question {state.question_id} on database {state.db_id}{level}:")
        _say(f"  {obs.question}")
        _say()
        _say(obs.schema_info)
        _say(f"(budget: {obs.budget_remaining} steps; ANSWER is free; type 'help' for commands)")
        return obs

    def finish(self, obs: SQLObservation) -> None:
        verdict: Any = obs.info.get("verdict")
        correct = isinstance(verdict, dict) and bool(verdict.get("correct"))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        reason = str(verdict.get("reason", "")) if isinstance(verdict, dict) else ""  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        self.played += 1
        self.solved += int(correct)
        self.total_reward += self.env.state.total_reward
        _say()
        outcome = "correct" if correct else f"not correct ({reason})" if reason else "not correct"
        _say(f"episode over: {outcome}; total reward {self.env.state.total_reward:+.3f}")
        gold_sql = obs.info.get("gold_sql")
        if gold_sql:
            _say(f"gold SQL: {gold_sql}")
        _say()
        _say("Press Enter for another question, type `new QUESTION_ID` for a given one, or `quit`.")

    def goodbye(self) -> None:
        if self.played:
            _say(
                f"{self.played} episode{'s' if self.played != 1 else ''} played, {self.solved} solved, "
                f"total reward {self.total_reward:+.3f}"
            )

    def run(self, question_id: str | None, seed: int | None) -> int:
        obs = self.start(question_id, seed)
        if obs is None:
            return 2
        while obs is not None:
            line = _read_line(self.interactive, "sqlenv> " if not obs.done else "next> ")
            if line is None:
                if not obs.done:
                    _say("end of input: episode abandoned")
                break
            text = line.strip()
            if not text.startswith("#"):
                if not self.interactive and text:
                    _say(f"> {text}")
                obs = self.handle(obs, text)
        self.goodbye()
        return 0

    def handle(self, obs: SQLObservation, text: str) -> SQLObservation | None:
        """Apply one line; the observation to go on from, or ``None`` to leave."""
        verb, _, rest = text.partition(" ")
        verb, rest = verb.lower(), rest.strip()
        if verb in ("quit", "exit", "q"):
            if not obs.done:
                _say("episode abandoned")
            return None
        if verb in ("help", "?"):
            _say(PLAY_HELP)
        elif verb == "new" or (obs.done and not text):
            if not obs.done:
                _say("episode abandoned")
            return self.start(rest or None) or obs
        elif not text:
            pass
        elif obs.done:
            _say("the episode is over: press Enter for another question, or type `new QUESTION_ID` or `quit`")
        elif verb in ("schema", "tables"):
            _say(f"  {obs.question}")
            _say(obs.schema_info)
        else:
            return self.act(obs, verb, text, rest)
        return obs

    def act(self, obs: SQLObservation, verb: str, text: str, rest: str) -> SQLObservation:
        if verb in ("select", "with"):
            kind: ActionType = "QUERY"
            argument = text
        elif verb in _VERBS:
            kind, argument = _VERBS[verb], rest
            if not argument:
                # Refused here, before the environment sees it: an empty ANSWER would end the episode.
                tables = obs.schema_info.splitlines()[0].removeprefix("Tables: ").split(", ")
                _say(f"{_USAGE[verb].format(table=tables[0] or 'TABLE')} (nothing was sent; no step used)")
                return obs
        else:
            _say(f"unknown command {verb!r}; type 'help' for the commands")
            return obs
        obs = self.env.step(SQLAction(action_type=kind, argument=argument))
        _show(obs, kind)
        if obs.done:
            self.finish(obs)
        return obs


def _cmd_play(args: argparse.Namespace) -> int:
    # Load without gold answers first, so that a mistyped --question-id is reported at once.
    ds = load(args.spec, compute_gold=False, generate_progress=Progress("generating databases"))
    if args.question_id is not None and args.question_id not in {q.id for q in ds.questions}:
        ids = [q.id for q in ds.questions]
        close = [i for i in ids if args.question_id.lower() in i.lower()][:5]
        hint = f"; similar: {', '.join(close)}" if close else f"; e.g. {', '.join(ids[:3])} (sqlenv data list -v)"
        raise DatasetError(f"no question {args.question_id!r} in {ds.name!r}{hint}")
    ds.compute_gold(progress=Progress("computing gold answers"))
    if not ds.questions:
        raise DatasetError(no_usable_questions(args.spec, ds))
    if args.question_id is not None and args.question_id not in {q.id for q in ds.questions}:
        why = next((s.reason for s in ds.skipped if s.id == args.question_id), "its gold answer is unusable")
        raise DatasetError(f"question {args.question_id!r} cannot be played: {why}")
    with SQLEnvironment(ds, step_budget=args.budget, reward=args.reward) as env:
        return _Player(env, sys.stdin.isatty()).run(args.question_id, args.seed)


# -- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sqlenv`` (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(prog="sqlenv", description="SQLEnv datasets and a terminal episode player.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="list, download, import and validate datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = data_commands.add_parser("list", help="databases, question counts and skipped questions of a dataset")
    p.add_argument("spec", nargs="?", default="builtin", help=f"dataset spec (default: builtin); {SPEC_HELP}")
    p.add_argument("-v", "--verbose", action="store_true", help="list every skipped question")
    p.set_defaults(handler=_cmd_list)

    p = data_commands.add_parser("download", help="download Spider or BIRD from the manifest")
    p.add_argument("name", help="dataset name in the manifest: spider or bird")
    p.add_argument("--to", required=True, help="folder to create (then load it with spider:DIR / bird:DIR)")
    p.add_argument(
        "--manifest", help="manifest path or URL (default: $SQLENV_DATA_MANIFEST or the one shipped with sqlenv-core)"
    )
    p.add_argument("--base-url", help="fetch <BASE_URL>/<filename> instead (a mirror; default $SQLENV_DATA_BASE_URL)")
    p.add_argument("--sha256", help="require this SHA-256 for the archive")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server (default 10)")
    p.add_argument("--force", action="store_true", help="replace the target folder if it exists")
    p.add_argument("--keep-archive", action="store_true", help="keep the verified archive after extracting it")
    p.set_defaults(handler=_cmd_download)

    p = data_commands.add_parser("import", help="build a SQLite database from CSV/TSV/JSON/JSONL files")
    p.add_argument("files", nargs="+", help="input files; each becomes one table named after the file")
    p.add_argument("--db", required=True, help="database name (the file becomes DIR/NAME.sqlite)")
    p.add_argument("--to", required=True, help="dataset folder to write into")
    p.add_argument("--replace", action="store_true", help="overwrite an existing database of that name")
    p.set_defaults(handler=_cmd_import)

    p = data_commands.add_parser("validate", help="check every question; exit 1 when any has an error")
    p.add_argument("spec", help=f"dataset spec; {SPEC_HELP}")
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle episodes")
    p.add_argument("--budget", type=int, default=15, help="step budget of the oracle episodes (default 15)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_validate)

    p = commands.add_parser("play", help="play episodes in the terminal until you quit (reads actions from stdin)")
    p.add_argument("spec", nargs="?", default="builtin", help="dataset spec (default: builtin)")
    p.add_argument("--question-id", help="the first question to play (default: drawn at random)")
    p.add_argument("--seed", type=int, help="seed for drawing the question")
    p.add_argument("--budget", type=int, default=15, help="step budget (default 15)")
    p.add_argument("--reward", default="dense", help="reward profile: dense (default) or sparse")
    p.set_defaults(handler=_cmd_play)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sqlenv`` with ``argv`` (default: the command line) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (DatasetError, DownloadError) as exc:
        print(f"sqlenv: error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"sqlenv: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
