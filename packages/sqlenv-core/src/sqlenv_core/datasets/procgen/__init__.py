"""Procedurally generated tasks: fresh databases and questions from a seed, on any scale.

``load("procgen:train?seed=0&n=200&level=1-3")`` draws 200 questions on databases generated
from domains of the ``train`` split; ``procgen:eval`` draws from domains that ``train`` never
uses (their schemas, table names and vocabulary are unseen in training).

How a spec becomes tasks: the ``i``-th question lives in database ``(offset + i) // per_db``;
database ``k`` of a split and seed is drawn from ``random.Random("sqlenv-procgen:v1:<split>:
<seed>:<k>")`` (a domain, a naming style, row counts, rows, dirt, then a pool of checked
questions at every level). The levels asked for are dealt round-robin over a database's question
slots, so every level gets its share. A database never depends on ``n``, ``level`` or
``offset``: ``n=400`` extends ``n=200`` and ``offset=200&n=200`` continues it, which is how
:func:`procgen_stream` draws fresh tasks forever.

Databases are written once into the cache folder
(``$SQLENV_CACHE_DIR/procgen/v1/<split>/<db_id>-<content digest>.sqlite``) and reused. The same
spec gives the same questions and byte-identical files on every machine: nothing depends on
``hash()``, set order, the clock or the locale, the file is written by ``VACUUM INTO`` with a
fixed page size, and the header field naming the SQLite version that wrote it is set to a fixed
value.

Levels become the questions' ``difficulty``: ``level-1`` ... ``level-5`` (the number is also in
``Question.metadata["level"]``), so every report that breaks results down by difficulty breaks
them down by level.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlenv_core.datasets.base import Dataset, DatasetError, Question
from sqlenv_core.datasets.gold_cache import CACHE_ENV, GoldCache, default_cache_dir
from sqlenv_core.datasets.procgen.domains import DOMAINS, EVAL_DOMAINS, TRAIN_DOMAINS, domains_of
from sqlenv_core.datasets.procgen.questions import LEVELS, Candidate, draw_questions
from sqlenv_core.datasets.procgen.world import NAMING_STYLES, World, build_world

__all__ = [
    "DOMAINS",
    "EVAL_DOMAINS",
    "GENERATOR_VERSION",
    "LEVEL_NAMES",
    "MAX_PER_DB",
    "PROCGEN_OPTIONS",
    "PROCGEN_SPLITS",
    "TRAIN_DOMAINS",
    "ProcgenOptions",
    "generate_database",
    "level_name",
    "parse_styles",
    "load_procgen",
    "parse_levels",
    "procgen_options",
    "procgen_stream",
]

logger = logging.getLogger("sqlenv_core.procgen")

#: Part of every seed and of the cache path: bump it when generation changes what a seed gives.
GENERATOR_VERSION = "v1"
PROCGEN_SPLITS = ("train", "eval")
#: The options a ``procgen:`` spec takes besides the common filters.
PROCGEN_OPTIONS = ("seed", "n", "level", "offset", "per_db", "style")
LEVEL_NAMES = tuple(f"level-{level}" for level in LEVELS)
MAX_QUESTIONS = 100_000
MAX_PER_DB = 10
DEFAULT_N = 100
DEFAULT_PER_DB = 5
#: The SQLite version written into every generated file's header (bytes 96-99), whatever wrote it.
_HEADER_VERSION = (3_045_000).to_bytes(4, "big")


def level_name(level: int) -> str:
    """``level-3`` for 3: the ``difficulty`` of a procgen question."""
    return f"level-{level}"


@dataclass(frozen=True)
class ProcgenOptions:
    """What a ``procgen:`` spec asks for.

    Attributes:
        split: ``train`` or ``eval``.
        seed: which world of tasks (any whole number >= 0).
        n: how many questions.
        levels: the levels to draw, ascending.
        offset: skip this many questions of the sequence first (``n=200&offset=200`` continues
            ``n=200``).
        per_db: questions per database.
        styles: the naming styles databases may use (default: all four). A database whose drawn
            style is not allowed takes an allowed one instead; its rows stay the same and its
            ``db_id`` ends with the style (``clinic_s0_0003_snake``).
    """

    split: str = "train"
    seed: int = 0
    n: int = DEFAULT_N
    levels: tuple[int, ...] = LEVELS
    offset: int = 0
    per_db: int = DEFAULT_PER_DB
    styles: tuple[str, ...] = NAMING_STYLES

    def spec(self) -> str:
        """The canonical spec string of these options."""
        return (
            f"procgen:{self.split}?seed={self.seed}&n={self.n}&level={_levels_text(self.levels)}"
            + (f"&offset={self.offset}" if self.offset else "")
            + (f"&per_db={self.per_db}" if self.per_db != DEFAULT_PER_DB else "")
            + (f"&style={','.join(self.styles)}" if self.styles != NAMING_STYLES else "")
        )


def _levels_text(levels: tuple[int, ...]) -> str:
    if levels == tuple(range(levels[0], levels[-1] + 1)):
        return str(levels[0]) if len(levels) == 1 else f"{levels[0]}-{levels[-1]}"
    return ",".join(str(level) for level in levels)


def parse_levels(text: str) -> tuple[int, ...]:
    """``"1-3"`` → (1, 2, 3); ``"2,4"`` → (2, 4); ``"5"`` → (5,).

    Raises:
        DatasetError: not levels between 1 and 5.
    """
    levels: set[int] = set()
    expected = "expected levels 1 to 5 such as 'level=2', 'level=1-3' or 'level=1,4'"
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise DatasetError(f"bad level {text!r}: {expected}") from None
        if not (1 <= first <= last <= 5):
            raise DatasetError(f"bad level {text!r}: {expected}")
        levels.update(range(first, last + 1))
    return tuple(sorted(levels))


def parse_styles(text: str) -> tuple[str, ...]:
    """``"snake,camel"`` → ("snake", "camel") in the canonical order.

    Raises:
        DatasetError: a name that is not a naming style.
    """
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    bad = sorted(wanted - set(NAMING_STYLES))
    if bad or not wanted:
        raise DatasetError(f"bad style {text!r}: expected one or more of {', '.join(NAMING_STYLES)}, comma-separated")
    return tuple(style for style in NAMING_STYLES if style in wanted)


def _whole(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise DatasetError(f"procgen option {name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise DatasetError(f"procgen option {name} must be between {low} and {high}, got {number}")
    return number


def procgen_options(split: str, options: dict[str, str]) -> ProcgenOptions:
    """Check a ``procgen:`` spec's split and options (``seed``, ``n``, ``level``, ``offset``, ``per_db``, ``style``).

    Raises:
        DatasetError: an unknown split, or an option out of range; the message says what is allowed.
    """
    if split not in PROCGEN_SPLITS:
        got = f"'procgen:{split}'" if split else "'procgen'"
        raise DatasetError(f"procgen needs a split, 'procgen:train' or 'procgen:eval'; got {got}")
    unknown = sorted(set(options) - set(PROCGEN_OPTIONS))
    if unknown:
        raise DatasetError(f"unknown procgen option {', '.join(unknown)}; options: {', '.join(PROCGEN_OPTIONS)}")
    return ProcgenOptions(
        split=split,
        seed=_whole("seed", options["seed"], 0, 2**63 - 1) if "seed" in options else 0,
        n=_whole("n", options["n"], 1, MAX_QUESTIONS) if "n" in options else DEFAULT_N,
        levels=parse_levels(options["level"]) if "level" in options else LEVELS,
        offset=_whole("offset", options["offset"], 0, 10**12) if "offset" in options else 0,
        per_db=_whole("per_db", options["per_db"], 1, MAX_PER_DB) if "per_db" in options else DEFAULT_PER_DB,
        styles=parse_styles(options["style"]) if "style" in options else NAMING_STYLES,
    )


# -- generation ----------------------------------------------------------------------------------


def _private_temp_root() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return Path(tempfile.gettempdir()) / f"sqlenv-cache-{uid}"


def procgen_dir(cache_dir: Path | None = None) -> Path:
    """Where generated databases live: ``<cache>/procgen/<version>/`` (a private temp folder when caching is off)."""
    root = cache_dir if cache_dir is not None else default_cache_dir()
    return (root if root is not None else _private_temp_root()) / "procgen" / GENERATOR_VERSION


def _usable_folder(folder: Path, split: str) -> Path:
    """``folder`` when it can be written, else a private folder in the system's temporary directory.

    Raises:
        DatasetError: neither can be written (the message names both).
    """
    fallback = _private_temp_root() / "procgen" / GENERATOR_VERSION / split
    for candidate in (folder, fallback):
        try:
            candidate.mkdir(parents=True, exist_ok=True, mode=0o700)
            if candidate is fallback and hasattr(os, "getuid"):
                # A shared temporary directory: use the folder only if it is really ours.
                info = os.lstat(_private_temp_root())
                if info.st_uid != os.getuid() or os.path.islink(_private_temp_root()):
                    raise PermissionError(f"{_private_temp_root()} belongs to someone else")
            probe = candidate / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            logger.warning("sqlenv: cannot write generated databases in %s (%s)", candidate, exc)
            continue
        if candidate is fallback:
            logger.warning("sqlenv: writing generated databases in %s instead", candidate)
        return candidate
    raise DatasetError(
        f"cannot write generated databases in {folder} or {fallback}; set {CACHE_ENV} to a writable folder"
    )


def _rng(split: str, seed: int, index: int) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: the same on every machine and run.
    return random.Random(f"sqlenv-procgen:{GENERATOR_VERSION}:{split}:{seed}:{index}")


def _domain(split: str, seed: int, index: int) -> int:
    """Which domain database ``index`` uses: each block of consecutive databases covers every domain once."""
    count = len(domains_of(split))
    order = list(range(count))
    random.Random(f"sqlenv-procgen:{GENERATOR_VERSION}:{split}:{seed}:order:{index // count}").shuffle(order)
    return order[index % count]


@dataclass(frozen=True)
class GeneratedDatabase:
    """One generated database: its world and checked questions per level."""

    db_id: str
    world: World
    questions: dict[int, list[Candidate]]


def generate_database(
    split: str, seed: int, index: int, *, per_level: int = DEFAULT_PER_DB, styles: tuple[str, ...] = NAMING_STYLES
) -> tuple[GeneratedDatabase, sqlite3.Connection]:
    """Draw database ``index`` of ``split`` and ``seed`` in memory, with its questions.

    ``styles`` limits the naming styles: a database whose drawn style is not among them takes
    one that is (same rows, other names) and its ``db_id`` says which.

    Returns:
        The database's description and an open in-memory connection holding its rows (the
        caller closes it, or passes it to :func:`write_database`).
    """
    domain = domains_of(split)[_domain(split, seed, index)]
    rng = _rng(split, seed, index)
    db_id = f"{domain.key}_s{seed}_{index:04d}"
    # The style build_world is about to draw, read from a copy of the generator so that the rest
    # of the world is the same whichever style it ends up with.
    peek = random.Random()
    peek.setstate(rng.getstate())
    style = peek.choice(NAMING_STYLES)
    if style not in styles:
        style = styles[index % len(styles)]
        db_id = f"{db_id}_{style}"
    world = build_world(domain, db_id, rng, style)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("BEGIN")
    world.write(conn)
    conn.execute("COMMIT")
    questions = draw_questions(world, conn, rng, per_level)
    return GeneratedDatabase(db_id, world, questions), conn


def write_database(conn: sqlite3.Connection, path: Path) -> None:
    """Write the in-memory database to ``path`` (atomically; identical input gives identical bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        conn.execute("VACUUM INTO ?", (str(tmp),))
        with tmp.open("r+b") as handle:
            handle.seek(96)
            handle.write(_HEADER_VERSION)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _slots(options: ProcgenOptions) -> Iterator[tuple[int, int, int]]:
    """``(database index, level, rank within that level)`` of each question the options ask for."""
    first, stop = options.offset, options.offset + options.n
    index = first // options.per_db
    while True:
        taken: dict[int, int] = {}
        for slot in range(options.per_db):
            position = index * options.per_db + slot
            level = options.levels[position % len(options.levels)]
            rank = taken.get(level, 0)
            taken[level] = rank + 1
            if position >= stop:
                return
            if position >= first:
                yield index, level, rank
        index += 1


def load_procgen(
    options: ProcgenOptions | None = None,
    *,
    cache_dir: Path | None = None,
    gold_cache: GoldCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Generate (or reuse) the databases and questions ``options`` ask for.

    Args:
        options: split, seed, n, levels, offset and questions per database (default: 100
            ``train`` questions at every level, seed 0).
        cache_dir: the cache folder (default: ``$SQLENV_CACHE_DIR`` or the user's cache folder).
        gold_cache: where gold answers persist between runs.
        progress: ``progress(done, total)`` per database.

    Returns:
        A dataset named by the options' canonical spec; each question's ``difficulty`` is its
        level (``level-1`` ... ``level-5``) and its ``metadata`` has ``level``, ``family``,
        ``domain`` and ``style``.
    """
    options = options or ProcgenOptions()
    folder = _usable_folder(procgen_dir(cache_dir) / options.split, options.split)
    wanted: dict[int, list[tuple[int, int]]] = {}
    for index, level, rank in _slots(options):
        wanted.setdefault(index, []).append((level, rank))
    questions: list[Question] = []
    databases: dict[str, Path] = {}
    per_level = max(1, options.per_db)
    for done, (index, slots) in enumerate(sorted(wanted.items()), 1):
        generated, conn = generate_database(
            options.split, options.seed, index, per_level=per_level, styles=options.styles
        )
        try:
            # The file is named by its content too: a file written by another generator version
            # (or a damaged one's namesake) is never mistaken for this database.
            path = folder / f"{generated.db_id}-{generated.world.fingerprint()[:16]}.sqlite"
            if not path.is_file():
                write_database(conn, path)
        finally:
            conn.close()
        databases[generated.db_id] = path
        world = generated.world
        for level, rank in slots:
            pool = generated.questions.get(level, [])
            if rank >= len(pool):
                # Not seen in tests (every level fills 10 slots per database); said, not hidden.
                logger.warning("sqlenv: %s has too few level-%d questions; one fewer question", generated.db_id, level)
                continue
            cand = pool[rank]
            questions.append(
                Question(
                    id=f"{generated.db_id}-l{level}-{rank}",
                    db_id=generated.db_id,
                    question=cand.text,
                    gold_sql=cand.sql,
                    difficulty=level_name(level),
                    split=options.split,
                    metadata={
                        "source": "procgen",
                        "level": level,
                        "family": cand.family,
                        "domain": world.domain.key,
                        "style": world.style,
                    },
                )
            )
        if progress is not None:
            progress(done, len(wanted))
    return Dataset(options.spec(), questions, databases, gold_cache=gold_cache)


def procgen_stream(
    split: str = "train",
    *,
    seed: int = 0,
    levels: str | tuple[int, ...] = LEVELS,
    chunk: int = 200,
    per_db: int = DEFAULT_PER_DB,
    styles: str | tuple[str, ...] = NAMING_STYLES,
    start: int = 0,
    cache_dir: Path | None = None,
    gold_cache: GoldCache | None = None,
) -> Iterator[Dataset]:
    """Fresh tasks forever: successive datasets of ``chunk`` questions that never repeat.

    The ``i``-th dataset is ``procgen:<split>?seed=S&n=<chunk>&offset=<start + i * chunk>``;
    stop iterating whenever you like (each chunk's databases are generated as it is drawn).

    Example::

        for dataset in procgen_stream("train", levels="1-2", chunk=100):
            env = SQLEnvironment(dataset)
            ...
    """
    wanted = parse_levels(levels) if isinstance(levels, str) else tuple(sorted(set(levels)))
    offset = start
    while True:
        options = procgen_options(
            split,
            {
                "seed": str(seed),
                "n": str(chunk),
                "offset": str(offset),
                "per_db": str(per_db),
                "level": _levels_text(wanted),
                "style": styles if isinstance(styles, str) else ",".join(styles),
            },
        )
        yield load_procgen(options, cache_dir=cache_dir, gold_cache=gold_cache)
        offset += chunk
