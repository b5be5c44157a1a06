"""Properties of the verifier that hold for any result: shuffles, column permutations, round trips."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlenv_core.protocol import Cell
from sqlenv_core.verifier import GoldResult, result_similarity, results_match, verify
from sqlenv_core.verifier.cells import canonical_cell, similarity_key
from sqlenv_core.verifier.compare import assign_columns, f1

cells: st.SearchStrategy[Cell] = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(alphabet="abAB ,|\"'-.0123456789\n", max_size=6),
    st.sampled_from(["Paris", "null", "None", "42", "3.50", "Smith, John", ""]),
)


@st.composite
def tables(draw: st.DrawFn, min_rows: int = 0) -> list[tuple[Cell, ...]]:
    width = draw(st.integers(min_value=1, max_value=4))
    return draw(st.lists(st.tuples(*([cells] * width)), min_size=min_rows, max_size=7))


@settings(max_examples=300)
@given(tables(), tables(), st.randoms(use_true_random=False))
def test_shuffling_rows_never_changes_an_unordered_verdict(
    predicted: list[tuple[Cell, ...]], gold: list[tuple[Cell, ...]], rnd: random.Random
) -> None:
    shuffled = list(predicted)
    rnd.shuffle(shuffled)
    assert results_match(shuffled, gold) == results_match(predicted, gold)
    assert results_match(shuffled, predicted)


@settings(max_examples=300)
@given(tables(), tables(), st.randoms(use_true_random=False), st.booleans())
def test_permuting_columns_never_changes_a_verdict(
    predicted: list[tuple[Cell, ...]], gold: list[tuple[Cell, ...]], rnd: random.Random, ordered: bool
) -> None:
    width = len(predicted[0]) if predicted else 0
    order = list(range(width))
    rnd.shuffle(order)
    permuted = [tuple(row[i] for i in order) for row in predicted]
    assert results_match(permuted, gold, ordered=ordered) == results_match(predicted, gold, ordered=ordered)
    assert results_match(permuted, predicted, ordered=ordered)


@settings(max_examples=300)
@given(tables(), tables(), st.booleans())
def test_results_match_is_reflexive_and_symmetric(
    a: list[tuple[Cell, ...]], b: list[tuple[Cell, ...]], ordered: bool
) -> None:
    assert results_match(a, a, ordered=ordered)
    assert results_match(a, b, ordered=ordered) == results_match(b, a, ordered=ordered)


@settings(max_examples=300)
@given(tables(min_rows=1), st.booleans(), st.randoms(use_true_random=False))
def test_any_gold_written_as_a_json_table_is_correct_and_a_shuffle_only_when_unordered(
    rows: list[tuple[Cell, ...]], ordered: bool, rnd: random.Random
) -> None:
    gold = GoldResult([f"c{i}" for i in range(len(rows[0]))], rows, ordered=ordered)
    assert verify(json.dumps(rows), gold).correct
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    if not ordered:
        assert verify(json.dumps(shuffled), gold).correct
    assert verify(json.dumps(shuffled), gold).correct == results_match(shuffled, rows, ordered=ordered)


@settings(max_examples=300)
@given(tables(), tables(min_rows=1), st.booleans())
def test_similarity_is_in_range_and_one_exactly_on_a_match(
    predicted: list[tuple[Cell, ...]], rows: list[tuple[Cell, ...]], ordered: bool
) -> None:
    gold = GoldResult([f"c{i}" for i in range(len(rows[0]))], rows, ordered=ordered)
    score = result_similarity(predicted, gold)
    assert 0.0 <= score <= 1.0
    assert (score == 1.0) == results_match(predicted, rows, ordered=ordered)
    assert result_similarity(rows, gold) == 1.0


@settings(max_examples=300)
@given(tables(min_rows=2))
def test_dropping_a_row_is_always_wrong_and_loses_credit(rows: list[tuple[Cell, ...]]) -> None:
    gold = GoldResult([f"c{i}" for i in range(len(rows[0]))], rows)
    assert not verify(json.dumps(rows[1:]), gold).correct
    assert result_similarity(rows[1:], gold) < 1.0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=200), json_values.map(lambda v: json.dumps(v))))
def test_verify_never_raises_on_any_text(answer: str) -> None:
    for gold in (
        GoldResult(["n"], [(42,)]),
        GoldResult(["name", "n"], [("Ann", 1.5), ("Bob", None)], ordered=True),
        GoldResult(["name"], [("Smith, John",), ("a",)]),
    ):
        verdict = verify(answer, gold)
        assert isinstance(verdict.correct, bool)
        assert verdict.reason


def _plain_similarity(predicted: list[tuple[Cell, ...]], gold: GoldResult) -> float:
    """The partial credit as result_similarity's docstring defines it, computed the plain way."""
    if results_match(predicted, gold.rows, ordered=gold.ordered):
        return 1.0
    if not predicted or not gold.rows:
        return 0.0
    view = gold.view
    pred_keys = [[similarity_key(canonical_cell(cell)) for cell in column] for column in zip(*predicted, strict=True)]
    gold_keys = [[similarity_key(cell) for cell in column] for column in zip(*view.rows, strict=True)]
    n_pred, n_gold = len(predicted), len(view.rows)
    scores = [[f1((Counter(g) & Counter(p)).total(), n_pred, n_gold) for p in pred_keys] for g in gold_keys]
    pairs = [(j, i) for j, i in enumerate(assign_columns(scores, view.width, len(pred_keys))) if i >= 0]
    if not pairs:
        return 0.0
    gold_rows = list(zip(*[gold_keys[j] for j, _ in pairs], strict=True))
    pred_rows = list(zip(*[pred_keys[i] for _, i in pairs], strict=True))
    overlap = (Counter(gold_rows) & Counter(pred_rows)).total()
    column_credit = sum(scores[j][i] for j, i in pairs) / view.width
    score = 0.5 * column_credit + 0.5 * f1(overlap, n_pred, n_gold) * len(pairs) / view.width
    if len(pred_keys) > view.width:
        score *= math.sqrt(view.width / len(pred_keys))
    if gold.ordered and n_gold > 1:
        in_place = sum(1 for p, g in zip(pred_rows, gold_rows, strict=False) if p == g)
        score *= 0.75 + 0.25 * min(in_place, n_gold) / n_gold
    return max(0.0, min(score, 0.99))


@st.composite
def results_near(draw: st.DrawFn, gold: list[tuple[Cell, ...]]) -> list[tuple[Cell, ...]]:
    """A result made from the gold's values: columns picked, rows dropped or repeated, cells retyped."""
    width = len(gold[0])
    picked = draw(st.lists(st.integers(0, width - 1), min_size=1, max_size=width + 1))
    rows = draw(st.lists(st.sampled_from(gold), max_size=len(gold) + 2))
    retype = draw(st.sampled_from([lambda c: c, str, lambda c: float(c) if isinstance(c, int) else c]))
    extra = draw(st.booleans())
    return [tuple(retype(row[j]) for j in picked) + ((draw(cells),) if extra else ()) for row in rows]


@settings(max_examples=500)
@given(st.data(), tables(min_rows=1), st.booleans())
def test_similarity_equals_its_definition_computed_the_plain_way(
    data: st.DataObject, rows: list[tuple[Cell, ...]], ordered: bool
) -> None:
    """The fast paths (cached keys, counts of gold values only, one-column shortcut) change nothing."""
    predicted = data.draw(st.one_of(tables(), results_near(rows)))
    gold = GoldResult([f"c{i}" for i in range(len(rows[0]))], rows, ordered=ordered)
    expected = pytest.approx(_plain_similarity(predicted, gold), rel=1e-12, abs=1e-12)
    assert result_similarity(predicted, gold) == expected
    assert result_similarity(predicted, gold) == expected  # again, with its values' keys remembered now
