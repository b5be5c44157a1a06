"""Procedurally generated tasks: deterministic, disjoint splits, every question verifiable and solvable."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sqlenv_core.cli import main
from sqlenv_core.datasets import Dataset, DatasetError, load, parse_spec
from sqlenv_core.datasets.gold_cache import GoldCache
from sqlenv_core.datasets.procgen import (
    DOMAINS,
    EVAL_DOMAINS,
    MAX_PER_DB,
    TRAIN_DOMAINS,
    ProcgenOptions,
    generate_database,
    load_procgen,
    procgen_options,
    procgen_stream,
)
from sqlenv_core.datasets.procgen.model import Domain
from sqlenv_core.datasets.procgen.world import NAMING_STYLES, RESERVED, build_world
from sqlenv_core.environment import SQLEnvironment
from sqlenv_core.validate import validate_dataset


def _load_in(cache: Path, spec: str) -> Dataset:
    """Load a procgen spec into ``cache`` without touching the user's gold cache."""
    parsed = parse_spec(spec)
    dataset = load_procgen(
        procgen_options(parsed.target, dict(parsed.params)), cache_dir=cache, gold_cache=GoldCache(None)
    )
    dataset.compute_gold()
    return dataset


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("procgen-cache")


@pytest.fixture(scope="module")
def train_all(cache: Path) -> Dataset:
    return _load_in(cache, "procgen:train?seed=1&n=100")


@pytest.fixture(scope="module")
def eval_all(cache: Path) -> Dataset:
    return _load_in(cache, "procgen:eval?seed=1&n=100")


def test_the_spec_loads_through_load_and_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLENV_CACHE_DIR", str(tmp_path))
    dataset = load("procgen:train?seed=0&n=20&level=1-3")
    assert dataset.name == "procgen:train?seed=0&n=20&level=1-3"
    assert len(dataset) == 20
    assert {q.difficulty for q in dataset} == {"level-1", "level-2", "level-3"}
    assert all(path.parent == tmp_path / "procgen" / "v1" / "train" for path in dataset.databases.values())
    env = SQLEnvironment("procgen:eval?seed=0&n=10&level=1")
    try:
        obs = env.reset(seed=0)
        assert obs.question and env.question is not None and env.question.split == "eval"
    finally:
        env.close()


def test_the_same_spec_gives_byte_identical_databases_and_questions(tmp_path: Path) -> None:
    def run(folder: Path) -> tuple[dict[str, bytes], list[tuple[str, str, str, str]]]:
        ds = load_procgen(ProcgenOptions("train", seed=5, n=40), cache_dir=folder, gold_cache=GoldCache(None))
        files = {db: path.read_bytes() for db, path in ds.databases.items()}
        return files, [(q.id, q.question, q.gold_sql, q.difficulty) for q in ds]

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second
    # Another process, with another hash seed, gives the same bytes.
    code = (
        "import sys, json, hashlib; from pathlib import Path;"
        "from sqlenv_core.datasets.gold_cache import GoldCache;"
        "from sqlenv_core.datasets.procgen import ProcgenOptions, load_procgen;"
        "ds = load_procgen(ProcgenOptions('train', seed=5, n=40), cache_dir=Path(sys.argv[1]),"
        " gold_cache=GoldCache(None));"
        "print(json.dumps({d: hashlib.sha256(p.read_bytes()).hexdigest() for d, p in ds.databases.items()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "c")],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert json.loads(out.stdout) == {d: hashlib.sha256(b).hexdigest() for d, b in first[0].items()}


def test_train_and_eval_share_no_domain_and_no_table_name() -> None:
    assert len(DOMAINS) == len({d.key for d in DOMAINS})
    assert {d.key for d in TRAIN_DOMAINS}.isdisjoint({d.key for d in EVAL_DOMAINS})

    def nouns(domains: tuple[Domain, ...]) -> set[str]:
        found: set[str] = set()
        for d in domains:
            for entity in (d.group, d.item, d.event):
                found |= {entity.singular.lower(), entity.plural.lower()}
        return found

    assert nouns(TRAIN_DOMAINS).isdisjoint(nouns(EVAL_DOMAINS))


def test_the_loaded_splits_use_disjoint_databases_and_table_names(train_all: Dataset, eval_all: Dataset) -> None:
    train_domains = {q.metadata["domain"] for q in train_all}
    eval_domains = {q.metadata["domain"] for q in eval_all}
    assert train_domains.isdisjoint(eval_domains)

    def tables(ds: Dataset) -> set[str]:
        return {t.lower() for db in ds.databases for t in ds.table_names(db)}

    assert tables(train_all).isdisjoint(tables(eval_all))


def test_every_domain_builds_in_every_style_with_safe_identifiers() -> None:
    for domain in DOMAINS:
        for style in NAMING_STYLES:
            world = build_world(domain, f"{domain.key}_{style}", random.Random(f"t:{domain.key}"), style)
            conn = sqlite3.connect(":memory:")
            conn.execute("PRAGMA foreign_keys=ON")
            world.write(conn)
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            for table in world.tables:
                names = [table.name, table.pk, *table.cols.values()]
                names += [n for n in (table.name_col, table.fk) if n]
                assert not [n for n in names if n.lower() in RESERVED], (domain.key, world.style, names)
            conn.close()


@pytest.mark.parametrize("split", ["train", "eval"])
def test_every_question_passes_the_validator_and_the_oracle_solves_every_level(
    split: str, train_all: Dataset, eval_all: Dataset
) -> None:
    dataset = train_all if split == "train" else eval_all
    assert not dataset.skipped
    report = validate_dataset(dataset)
    assert report.problems == []
    assert report.oracle_solved == len(dataset) == 100
    levels = Counter(q.difficulty for q in dataset)
    assert levels == {f"level-{i}": 20 for i in range(1, 6)}


def test_oracle_through_a_dense_reward_episode_per_level(eval_all: Dataset) -> None:
    env = SQLEnvironment(eval_all)
    try:
        for level in range(1, 6):
            q = next(q for q in eval_all if q.metadata["level"] == level)
            env.reset(question_id=q.id)
            gold = eval_all.gold(q.id)
            obs = env.step({"action_type": "ANSWER", "argument": json.dumps([list(r) for r in gold.rows])})
            assert obs.done and obs.info["verdict"]["correct"], (q.question, q.gold_sql)
    finally:
        env.close()


def test_levels_offset_and_n_compose(cache: Path) -> None:
    whole = _load_in(cache, "procgen:train?seed=2&n=30&level=2")
    assert {q.difficulty for q in whole} == {"level-2"}
    head = _load_in(cache, "procgen:train?seed=2&n=12&level=2")
    tail = _load_in(cache, "procgen:train?seed=2&n=18&offset=12&level=2")
    assert [q.id for q in head] + [q.id for q in tail] == [q.id for q in whole]


def test_the_stream_draws_fresh_tasks(cache: Path) -> None:
    stream = procgen_stream("train", levels="1", chunk=10, cache_dir=cache)
    first, second = next(stream), next(stream)
    assert len(first) == len(second) == 10
    assert not set(first.databases) & set(second.databases)
    assert not {q.id for q in first} & {q.id for q in second}


def test_level_one_questions_name_their_table(train_all: Dataset) -> None:
    # A small model learns to copy: the words of a level-1 count question name its table.
    counts = [q for q in train_all if q.metadata["family"] == "count_all"]
    assert counts
    for q in counts:
        table = q.gold_sql.split("FROM ")[1].lower()
        words = q.question.lower().replace(" ", "")
        assert table.replace("_", "") in words or table.rstrip("s") in words, (q.question, q.gold_sql)


def test_generated_databases_are_small(train_all: Dataset) -> None:
    sizes = [path.stat().st_size for path in train_all.databases.values()]
    assert max(sizes) < 200_000


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("procgen", "procgen needs a split"),
        ("procgen:test", "procgen needs a split"),
        ("procgen:train?level=6", "bad level '6'"),
        ("procgen:train?level=3-1", "bad level"),
        ("procgen:train?level=easy", "bad level"),
        ("procgen:train?n=0", "n must be between 1 and 100000"),
        ("procgen:train?n=-5", "n must be between 1"),
        ("procgen:train?n=lots", "n must be a whole number"),
        ("procgen:train?seed=-1", "seed must be between 0"),
        ("procgen:train?colour=red", "unknown option colour"),
        ("procgen:train?split=eval", "unknown option split"),
        ("procgen:train?n=5&n=6", "given 2 times"),
        ("builtin?seed=3", "unknown option seed"),
    ],
)
def test_bad_options_get_a_clear_error(spec: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        parse_spec(spec)


def test_difficulty_filter_takes_levels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SQLENV_CACHE_DIR", str(tmp_path))
    dataset = load("procgen:train?seed=0&n=10&difficulty=level-1")
    assert {q.difficulty for q in dataset} == {"level-1"}
    with pytest.raises(DatasetError, match="unknown difficulty level-9"):
        load("procgen:train?seed=0&n=10&difficulty=level-9")


def test_an_unwritable_cache_folder_falls_back_to_a_private_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be", encoding="utf-8")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    dataset = load_procgen(ProcgenOptions("eval", n=5), cache_dir=blocked, gold_cache=GoldCache(None))
    assert all(str(p).startswith(str(tmp_path / "tmp")) for p in dataset.databases.values())
    assert "writing generated databases in" in caplog.text


def test_families_are_worded_several_ways(train_all: Dataset, eval_all: Dataset) -> None:
    # A question's skeleton: its words without the domain's nouns, numbers and names.
    vocabulary = {
        d.key: {
            w
            for e in (d.group, d.item, d.event)
            for text in (e.singular, e.plural, *(a.words for a in e.attrs), *(v for a in e.attrs for v in a.values))
            for w in text.lower().split()
        }
        for d in DOMAINS
    }
    skeletons: dict[str, set[tuple[str, ...]]] = {}
    for q in [*train_all, *eval_all]:
        words = [
            w.strip("?.,:").lower() for w in q.question.split() if not w[:1].isupper() or w == q.question.split()[0]
        ]
        kept = tuple(w for w in words if w and not w[:1].isdigit() and w not in vocabulary[q.metadata["domain"]])
        skeletons.setdefault(q.metadata["family"], set()).add(kept)
    assert len(skeletons) >= 15, sorted(skeletons)
    counts = Counter(q.metadata["family"] for q in [*train_all, *eval_all])
    assert [f for f, shapes in skeletons.items() if counts[f] >= 8 and len(shapes) < 3] == []


def test_a_procgen_dataset_copied_to_a_folder_loads_as_dir_with_its_levels(cache: Path, tmp_path: Path) -> None:
    source = _load_in(cache, "procgen:eval?seed=4&n=10&level=4-5")
    folder = tmp_path / "frozen"
    folder.mkdir()
    for db_id, path in source.databases.items():
        (folder / f"{db_id}.sqlite").write_bytes(path.read_bytes())
    records = [
        {"id": q.id, "db_id": q.db_id, "question": q.question, "gold_sql": q.gold_sql, "difficulty": q.difficulty}
        for q in source
    ]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    frozen = load(f"dir:{folder}?difficulty=level-5", gold_cache=GoldCache(None))
    assert [q.id for q in frozen] == [q.id for q in source if q.difficulty == "level-5"]
    assert [frozen.gold(q.id).rows for q in frozen] == [source.gold(q.id).rows for q in frozen]


@pytest.mark.parametrize("split", ["train", "eval"])
def test_every_level_fills_the_most_slots_a_database_can_have(split: str) -> None:
    # n questions means n questions: a database supplies per_db (at most MAX_PER_DB) at one level.
    for index in range(12):
        generated, conn = generate_database(split, 3, index, per_level=MAX_PER_DB)
        conn.close()
        assert {level: len(qs) for level, qs in generated.questions.items()} == dict.fromkeys(range(1, 6), MAX_PER_DB)


def test_cli_lists_generated_tasks_by_level_with_a_progress_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SQLENV_CACHE_DIR", str(tmp_path))
    assert main(["data", "list", "procgen:eval?seed=2&n=15&level=3,1,5"]) == 0
    out, err = capsys.readouterr()
    assert "procgen:eval?seed=2&n=15&level=1,3,5: 15 questions on 3 databases" in out
    assert "by difficulty:  level-1 5, level-3 5, level-5 5" in out
    assert "generating databases: 3/3" in err
    assert main(["data", "validate", "procgen:train?seed=2&n=5&level=5"]) == 0
    assert "oracle solved 5/5" in capsys.readouterr().out


def test_style_limits_naming_and_keeps_the_rows(cache: Path) -> None:
    free = _load_in(cache, "procgen:train?seed=6&n=40&level=1")
    snake = _load_in(cache, "procgen:train?seed=6&n=40&level=1&style=snake")
    assert snake.name == "procgen:train?seed=6&n=40&level=1&style=snake"
    assert {q.metadata["style"] for q in snake} == {"snake"}
    assert len({q.metadata["style"] for q in free}) > 1

    def rows(path: Path) -> list[list[tuple[object, ...]]]:
        conn = sqlite3.connect(path)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
            return [conn.execute(f"SELECT * FROM {n}").fetchall() for n in names]
        finally:
            conn.close()

    for (free_id, free_path), (snake_id, snake_path) in zip(
        free.databases.items(), snake.databases.items(), strict=True
    ):
        assert rows(free_path) == rows(snake_path)
        drawn_snake = free.questions[[q.db_id for q in free].index(free_id)].metadata["style"] == "snake"
        assert (snake_id == free_id) == drawn_snake
        assert drawn_snake or snake_id == f"{free_id}_snake"
    with pytest.raises(DatasetError, match="bad style 'kebab'"):
        parse_spec("procgen:train?style=kebab")
