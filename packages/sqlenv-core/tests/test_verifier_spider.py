"""The verifier on every Spider dev question: right answers in every accepted shape pass, perturbed ones fail.

Each gold result (computed by the real sandbox from the gold SQL) is rendered the ways an agent
may write it, and perturbed the ways a wrong answer differs. Every rendering must be judged
correct (else a false negative) and every perturbation wrong (else a false positive). The counts
are printed as a summary; the target is zero of each.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sqlenv_core.datasets import Dataset, load_spider
from sqlenv_core.protocol import Cell
from sqlenv_core.render import format_table
from sqlenv_core.verifier import GoldResult, canonical_cell, result_similarity, results_match, verify

pytestmark = [pytest.mark.spider, pytest.mark.slow]

Row = tuple[Cell, ...]


@pytest.fixture(scope="module")
def spider_dev(spider_root: Path) -> Dataset:
    return load_spider(spider_root)


def text_of(cell: Cell) -> str:
    return "NULL" if cell is None else str(cell)


def as_json(rows: Sequence[Sequence[Cell]]) -> str:
    return json.dumps([list(r) for r in rows])


def renderings(gold: GoldResult, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(label, answer text) for the gold result written in each accepted shape."""
    rows = gold.rows
    width = len(gold.columns)
    yield "json table", as_json(rows)
    yield "pasted pipe table", format_table(gold.columns, rows, max_rows=len(rows))
    # Keys carry the position: Spider results may repeat a column name (two "name" columns).
    keys = [f"{i}:{c}" for i, c in enumerate(gold.columns)]
    yield "json objects", json.dumps([dict(zip(keys, r, strict=True)) for r in rows])
    yield "fenced json", f"```json\n{as_json(rows)}\n```"
    if width > 1:
        yield "columns reversed", as_json([r[::-1] for r in rows])
        rotation = list(range(1, width)) + [0]
        yield "columns rotated", as_json([[r[i] for i in rotation] for r in rows])
    if not gold.ordered and len(rows) > 1:
        shuffled = list(rows)
        while len(set(map(repr, rows))) > 1 and shuffled == rows:
            rng.shuffle(shuffled)
        yield "rows shuffled", as_json(shuffled)
    if len(rows) == 1 and width == 1:
        value = rows[0][0]
        yield "bare scalar", text_of(value)
        yield "json scalar", json.dumps(value)
        yield "prefixed scalar", f"Answer: {text_of(value)}"
        yield "quoted scalar", f'"{text_of(value)}"'
    if width == 1:
        column = [r[0] for r in rows]
        yield "json list", json.dumps(column)
        yield "comma list", ", ".join(text_of(v) for v in column)
        yield "one per line", "\n".join(text_of(v) for v in column)
    if len(rows) == 1 and width > 1:
        yield "json row", json.dumps(list(rows[0]))
        yield "comma row", ", ".join(text_of(v) for v in rows[0])


def pasted_table(rows: Sequence[Sequence[Cell]]) -> str:
    width = len(rows[0]) if rows else 1
    return format_table([f"c{j + 1}" for j in range(width)], rows, max_rows=len(rows))


def changed(cell: Cell) -> Cell:
    if cell is None:
        return "zz"
    if isinstance(cell, str):
        return cell + "zz"
    if isinstance(cell, int):
        return cell + 1
    return cell + max(abs(cell), 1.0) * 0.5


def moved_beyond_tolerance(cell: int | float) -> float:
    # 100x the default relative tolerance, so the moved number is clearly a different one.
    return cell * (1 + 1e-4) if cell else 1e-4


@dataclass
class Tally:
    judged: int = 0
    false_negatives: list[str] = field(default_factory=list[str])
    false_positives: list[str] = field(default_factory=list[str])
    excluded: dict[str, int] = field(default_factory=dict[str, int])

    def exclude(self, reason: str) -> None:
        self.excluded[reason] = self.excluded.get(reason, 0) + 1


def perturbations(gold: GoldResult, rng: random.Random, tally: Tally) -> Iterator[tuple[str, list[Row]]]:
    """(label, rows) for wrong answers derived from the gold result."""
    rows = list(gold.rows)
    width = len(gold.columns)
    for j in range(width):
        i = rng.randrange(len(rows))
        row = list(rows[i])
        row[j] = changed(row[j])
        yield f"value changed (row {i + 1}, column {j + 1})", rows[:i] + [tuple(row)] + rows[i + 1 :]
    i = rng.randrange(len(rows))
    yield f"row {i + 1} dropped", rows[:i] + rows[i + 1 :]
    yield f"row {i + 1} duplicated", rows + [rows[i]]
    novel = list(rows[i])
    novel[0] = changed(novel[0])
    yield "new row added", rows + [tuple(novel)]
    if gold.ordered and len(rows) > 1:
        reversed_rows = rows[::-1]
        if [tuple(map(canonical_cell, r)) for r in reversed_rows] == [tuple(map(canonical_cell, r)) for r in rows]:
            tally.exclude("order reversed: the reversed sequence equals the gold's (ties or one distinct row)")
        else:
            yield "order reversed", reversed_rows
    numeric = [
        (i, j)
        for i, r in enumerate(rows)
        for j, v in enumerate(r)
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    if numeric:
        i, j = rng.choice(numeric)
        row = list(rows[i])
        row[j] = moved_beyond_tolerance(row[j])  # type: ignore[arg-type]
        yield f"number moved beyond tolerance (row {i + 1}, column {j + 1})", rows[:i] + [tuple(row)] + rows[i + 1 :]
    if width > 1:
        yield "last column dropped", [r[:-1] for r in rows]
    yield "extra column", [(*r, r[0]) for r in rows]


def test_every_spider_dev_gold_is_accepted_in_every_shape_and_perturbations_are_rejected(
    spider_dev: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20240601)
    tally = Tally()
    correct_shapes = wrong_shapes = 0
    for question in spider_dev:
        gold = spider_dev.gold(question.id)
        for label, text in renderings(gold, rng):
            correct_shapes += 1
            verdict = verify(text, gold)
            if not verdict.correct:
                tally.false_negatives.append(f"{question.id} [{label}] {verdict.reason}: {text[:120]!r}")
        if not results_match(list(gold.rows), gold.rows, ordered=gold.ordered):
            tally.false_negatives.append(f"{question.id} [results_match on itself]")
        if result_similarity(gold.rows, gold) != 1.0:
            tally.false_negatives.append(f"{question.id} [result_similarity on itself]")
        for label, rows in perturbations(gold, rng, tally):
            wrong_shapes += 1
            for shape, text in (("json", as_json(rows)), ("pipe table", pasted_table(rows))):
                if verify(text, gold).correct:
                    tally.false_positives.append(f"{question.id} [{label}, {shape}] verify: {text[:120]!r}")
            if results_match(rows, gold.rows, ordered=gold.ordered):
                tally.false_positives.append(f"{question.id} [{label}] results_match")
            similarity = result_similarity(rows, gold)
            if not 0.0 <= similarity < 1.0:
                tally.false_positives.append(f"{question.id} [{label}] result_similarity={similarity}")

    with capsys.disabled():
        print(
            f"\nverifier on Spider dev: {len(spider_dev)} questions, {correct_shapes} right answers "
            f"in accepted shapes, {wrong_shapes} perturbed answers (each as JSON and as a pipe table)"
        )
        print(f"  false negatives: {len(tally.false_negatives)}   false positives: {len(tally.false_positives)}")
        for reason, count in sorted(tally.excluded.items()):
            print(f"  excluded {count}: {reason}")
        for line in (tally.false_negatives + tally.false_positives)[:400]:
            print(f"  {line}")
    assert len(spider_dev) > 500, "expected the Spider dev subset with its 9 databases"
    assert tally.false_negatives == []
    assert tally.false_positives == []


def test_verdict_reasons_on_spider_say_what_is_wrong(spider_dev: Dataset) -> None:
    multi_row = next(q for q in spider_dev if len(spider_dev.gold(q.id).rows) >= 3)
    gold = spider_dev.gold(multi_row.id)
    expected = len(gold.rows)
    assert verify(as_json(gold.rows[:-1]), gold).reason == f"expected {expected} rows, got {expected - 1}"
    ordered = next(
        q
        for q in spider_dev
        if spider_dev.gold(q.id).ordered
        and len({tuple(map(canonical_cell, r)) for r in spider_dev.gold(q.id).rows}) == len(spider_dev.gold(q.id).rows)
        and len(spider_dev.gold(q.id).rows) > 2
    )
    ordered_gold = spider_dev.gold(ordered.id)
    assert "order differs" in verify(as_json(ordered_gold.rows[::-1]), ordered_gold).reason
