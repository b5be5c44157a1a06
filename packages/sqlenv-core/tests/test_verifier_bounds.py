"""The column-order search is bounded: adversarial results get a verdict quickly, honest ones still match.

Reproductions from issue 9 item 2: ten 0/1 columns holding every 10-bit pattern of one parity
against the other parity (every projection on nine columns agrees, so pruning cannot help) took
8.4 s in ``verify`` and 9.6 s in ``result_similarity``; 12 x 2048 took 48 s; 12 columns of floats
off by 0.1 % took 45 s. Each test carries a timeout far above the bounded cost (~0.5 s), so a
regression to the exhaustive search fails instead of hanging; speed itself is measured in bench/.
"""

from __future__ import annotations

import itertools
import json
import random

import pytest

from sqlenv_core.protocol import Cell
from sqlenv_core.rewards import result_similarity
from sqlenv_core.verifier import GoldResult, results_match, verify

Rows = list[tuple[Cell, ...]]


def parity_rows(width: int, parity: int) -> Rows:
    """Every (width-1)-bit pattern, completed by a last bit giving the row sum ``parity`` mod 2."""
    return [bits + ((sum(bits) + parity) % 2,) for bits in itertools.product((0, 1), repeat=width - 1)]


def permuted(rows: Rows, order: list[int]) -> Rows:
    return [tuple(row[i] for i in order) for row in rows]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("width", [10, 12])
def test_symmetric_wrong_answer_is_judged_wrong_within_the_budget(width: int) -> None:
    gold = GoldResult([f"c{i}" for i in range(width)], parity_rows(width, 0))
    wrong = parity_rows(width, 1)
    verdict = verify(json.dumps(wrong), gold)
    assert not verdict.correct
    assert "work limit" in verdict.reason
    assert not results_match(wrong, gold.rows)
    assert result_similarity(wrong, gold) < 1.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ordered", [False, True])
def test_symmetric_right_answer_with_columns_permuted_is_still_found(ordered: bool) -> None:
    rows = parity_rows(10, 0)
    gold = GoldResult([f"c{i}" for i in range(10)], rows, ordered=ordered)
    order = list(range(10))
    random.Random(3).shuffle(order)
    answer = permuted(rows, order)
    assert verify(json.dumps(answer), gold).correct
    assert results_match(answer, rows, ordered=ordered)
    assert result_similarity(answer, gold) == 1.0


@pytest.mark.timeout(60)
def test_wide_float_results_off_by_a_tenth_of_a_percent_are_wrong_in_bounded_time() -> None:
    rnd = random.Random(1)
    rows: Rows = [tuple(rnd.random() * 100 for _ in range(12)) for _ in range(400)]
    gold = GoldResult([f"c{i}" for i in range(12)], rows)
    off = [tuple(c * 1.001 for c in row) for row in rows]  # type: ignore[operator]
    assert not verify(json.dumps(off), gold).correct
    assert not results_match(off, rows)
    assert result_similarity(off, gold) < 1.0


def test_floats_within_tolerance_in_another_column_order_match() -> None:
    rnd = random.Random(2)
    rows: Rows = [(rnd.random(), rnd.random(), f"r{i}") for i in range(50)]
    gold = GoldResult(["a", "b", "name"], rows, ordered=True)
    close = [(name, b * (1 + 1e-9), a * (1 - 1e-9)) for a, b, name in rows]  # type: ignore[operator]
    assert results_match(close, rows, ordered=True)
    assert verify(json.dumps(close), gold).correct
    assert result_similarity(close, gold) == 1.0
    assert not verify(json.dumps(close[::-1]), gold).correct


def test_a_tiny_budget_stops_the_search_and_says_so() -> None:
    rows = parity_rows(6, 0)
    wrong = parity_rows(6, 1)
    assert not results_match(wrong, rows, max_comparisons=100)
    verdict = verify(json.dumps(wrong), GoldResult([f"c{i}" for i in range(6)], rows), max_comparisons=100)
    assert not verdict.correct and "work limit" in verdict.reason
    # The default budget decides this small case exactly: no order of the other parity matches.
    assert "work limit" not in verify(json.dumps(wrong), GoldResult([f"c{i}" for i in range(6)], rows)).reason


def test_ordered_right_rows_in_the_wrong_order_with_permuted_columns() -> None:
    rows: Rows = [(i, f"n{i}", i % 3) for i in range(30)]
    gold = GoldResult(["id", "name", "k"], rows, ordered=True)
    shuffled = permuted(rows[::-1], [2, 0, 1])
    verdict = verify(json.dumps(shuffled), gold)
    assert not verdict.correct and "order differs" in verdict.reason
