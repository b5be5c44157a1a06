"""One test per verifier rule: the answer shapes, the comparison rules, the reasons, the robustness."""

from __future__ import annotations

import gc
import json
import math

import pytest

from sqlenv_core.verifier import (
    MAX_ANSWER_CHARS,
    MAX_ANSWER_VALUES,
    GoldResult,
    Verdict,
    canonical_cell,
    result_similarity,
    results_match,
    verify,
)

SCALAR = GoldResult(["count(*)"], [(42,)])
CITY = GoldResult(["name"], [("Paris",)])
NAMES = GoldResult(["name"], [("Ann",), ("Bob",), ("Cy",)])
PEOPLE = GoldResult(["name", "age"], [("Ann", 31), ("Bob", 27)])
ONE_ROW = GoldResult(["name", "age"], [("Joe", 52)])
BY_AGE = GoldResult(["name", "age"], [("Bob", 27), ("Ann", 31), ("Cy", 40)], ordered=True)
AVERAGE = GoldResult(["avg(age)"], [(19.625,)])
THIRD = GoldResult(["x"], [(1 / 3,)])


def correct(answer: str, gold: GoldResult, **kwargs: float) -> bool:
    verdict = verify(answer, gold, **kwargs)
    assert isinstance(verdict, Verdict)
    return verdict.correct


# -- answer shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["42", " 42 ", "42.0", "4.2e1", "[42]", "[[42]]", '"42"', '{"count": 42}'])
def test_a_scalar_answer_in_any_spelling_matches_a_one_cell_gold(answer: str) -> None:
    assert correct(answer, SCALAR)


@pytest.mark.parametrize("answer", ["41", "42.5", "420", "forty-two", "[41]", "[42, 42]"])
def test_a_different_scalar_is_wrong(answer: str) -> None:
    assert not correct(answer, SCALAR)


@pytest.mark.parametrize("answer", ["Paris", "paris", "  PARIS ", "'Paris'", '"Paris"', "`Paris`", '["Paris"]'])
def test_text_compares_case_and_whitespace_insensitively(answer: str) -> None:
    assert correct(answer, CITY)


def test_inner_whitespace_is_collapsed_not_removed() -> None:
    gold = GoldResult(["name"], [("New York",)])
    assert correct("new   york", gold)
    assert correct("New\tYork", gold)
    assert not correct("NewYork", gold)


@pytest.mark.parametrize(
    "answer",
    [
        '["Ann", "Bob", "Cy"]',
        "Ann, Bob, Cy",
        "Cy, Ann, Bob",
        "Ann\nBob\nCy",
        "- Ann\n- Bob\n- Cy",
        "1. Ann\n2. Bob\n3. Cy",
        '[["Ann"], ["Bob"], ["Cy"]]',
        '"Ann", "Bob", "Cy"',
        "['Ann', 'Bob', 'Cy']",
        '[["Ann", "Bob", "Cy"]]',
        '{"names": ["Ann", "Bob", "Cy"]}',
    ],
)
def test_a_list_answer_matches_a_one_column_gold(answer: str) -> None:
    assert correct(answer, NAMES)


@pytest.mark.parametrize(
    "answer",
    [
        '[["Ann", 31], ["Bob", 27]]',
        '[[31, "Ann"], [27, "Bob"]]',
        '[["Bob", 27], ["Ann", 31]]',
        '[{"name": "Ann", "age": 31}, {"name": "Bob", "age": 27}]',
        "[('Ann', 31), ('Bob', 27)]",
        "name | age\n----------\nAnn | 31\nBob | 27",
        "| name | age |\n|---|---|\n| Ann | 31 |\n| Bob | 27 |",
        "Ann, 31\nBob, 27",
        "Ann\t31\nBob\t27",
        '{"rows": [["Ann", 31], ["Bob", 27]]}',
    ],
)
def test_a_table_answer_matches_in_any_row_and_column_order(answer: str) -> None:
    assert correct(answer, PEOPLE)


@pytest.mark.parametrize("answer", ["Joe, 52", '["Joe", 52]', "52, Joe", '{"name": "Joe", "age": 52}', "Joe | 52"])
def test_a_flat_list_is_read_as_one_row_when_the_gold_is_one_row(answer: str) -> None:
    assert correct(answer, ONE_ROW)


@pytest.mark.parametrize(
    "answer",
    [
        "```\n42\n```",
        "```json\n[42]\n```",
        "Answer: 42",
        "answer = 42",
        "Final answer: 42",
        "The answer is: 42",
        'Answer: "42"',
        "```sql\n42\n```",
    ],
)
def test_fences_prefixes_and_quotes_are_stripped(answer: str) -> None:
    assert correct(answer, SCALAR)


def test_a_value_with_a_comma_is_read_whole_when_the_gold_is_one_cell() -> None:
    gold = GoldResult(["name"], [("Smith, John",)])
    assert correct("Smith, John", gold)
    assert correct('"Smith, John"', gold)
    assert not correct("John, Smith", gold)
    assert not correct("Smith", gold)


def test_values_with_commas_in_a_comma_separated_list_are_reassembled_from_the_gold() -> None:
    gold = GoldResult(["born"], [("May 26, 1986",), ("July 14, 1983",)])
    assert correct("May 26, 1986, July 14, 1983", gold)
    assert correct('"July 14, 1983", "May 26, 1986"', gold)
    assert not correct("May 26, 1986, July 14, 1984", gold)
    two_names = GoldResult(["a", "b"], [("Smith, John", "x")])
    assert correct("Smith, John, x", two_names)


def test_a_header_is_dropped_only_when_it_names_the_gold_columns() -> None:
    assert correct("name\nAnn\nBob\nCy", NAMES)
    # "Dan" is not a column name, so it is a fourth row, and a wrong one.
    assert not correct("Dan\nAnn\nBob\nCy", NAMES)


# -- comparison rules --------------------------------------------------------------------------


def test_rows_are_a_multiset_duplicates_count() -> None:
    gold = GoldResult(["name"], [("a",), ("a",), ("b",)])
    assert correct("a, a, b", gold)
    assert correct("b, a, a", gold)
    assert verify("a, b", gold) == Verdict(False, "expected 3 rows, got 2")
    assert not correct("a, b, b", gold)


def test_order_matters_only_when_the_gold_is_ordered() -> None:
    assert correct('[["Bob", 27], ["Ann", 31], ["Cy", 40]]', BY_AGE)
    assert correct('[[27, "Bob"], [31, "Ann"], [40, "Cy"]]', BY_AGE)
    reversed_rows = verify('[["Cy", 40], ["Ann", 31], ["Bob", 27]]', BY_AGE)
    assert reversed_rows == Verdict(False, "right rows, but the order differs from the gold's ORDER BY")
    unordered = GoldResult(BY_AGE.columns, BY_AGE.rows, ordered=False)
    assert correct('[["Cy", 40], ["Ann", 31], ["Bob", 27]]', unordered)


def test_integers_compare_exactly_floats_within_relative_tolerance() -> None:
    big = GoldResult(["n"], [(1_000_000,)])
    assert not correct("1000001", big)  # relative difference 1e-6, but integers are exact
    assert correct("19.625", AVERAGE)
    assert correct("19.62500000001", AVERAGE)
    assert not correct("19.63", AVERAGE)
    assert correct(repr(1 / 3), THIRD)
    assert correct("0.33333334", THIRD)  # within 1e-6 relative
    assert not correct("0.3333", THIRD)


def test_float_tolerance_is_configurable() -> None:
    assert not correct("0.3333", THIRD)
    assert correct("0.3333", THIRD, float_tolerance=1e-3)
    assert not correct("0.3333", THIRD, float_tolerance=1e-9) and not correct("0.333333", THIRD, float_tolerance=1e-9)


def test_integral_floats_and_numeric_text_equal_integers() -> None:
    assert results_match([(3.0,)], [(3,)])
    assert results_match([("42",)], [(42,)])
    assert results_match([("2016",)], [("2016",)])
    assert results_match([(0.1 + 0.2,)], [(0.3,)])
    assert results_match([(1e-17,)], [(0,)])  # float round-off around zero
    assert not results_match([("0042",)], [(42,)])  # leading zeros make it a code, not a number
    assert not results_match([("3,000",)], [(3000,)])


@pytest.mark.parametrize("spelling", ["None", "null", "NULL", " Null ", "[null]", "[None]"])
def test_null_spelled_out_equals_null(spelling: str) -> None:
    assert correct(spelling, GoldResult(["x"], [(None,)]))
    assert correct(f'[["Ann", {json.dumps(None)}]]', GoldResult(["a", "b"], [("Ann", None)]))


def test_null_is_not_an_empty_string_or_zero() -> None:
    gold = GoldResult(["a", "b"], [("Ann", None)])
    assert not correct('[["Ann", ""]]', gold)
    assert not correct('[["Ann", 0]]', gold)
    assert results_match([(None,)], [(None,)])
    assert not results_match([(None,)], [(0,)])


def test_columns_may_be_permuted_even_with_many_columns_holding_the_same_values() -> None:
    width = 10
    gold = [tuple((i + j) % width for j in range(width)) for i in range(width)]
    for shift in range(width):
        rotated = [tuple(row[(j + shift) % width] for j in range(width)) for row in gold]
        assert results_match(rotated, gold)
    broken = [tuple(row[(j + 3) % width] for j in range(width)) for row in gold]
    broken[0] = (0,) * width
    assert not results_match(broken, gold)


def test_identical_columns_do_not_blow_up_the_search() -> None:
    gold = [(None,) * 12 + (i,) for i in range(50)]
    shuffled = [(i,) + (None,) * 12 for i in range(50)]
    assert results_match(shuffled, gold)
    assert not results_match([(i + 1,) + (None,) * 12 for i in range(50)], gold)


def test_results_match_requires_equal_shapes() -> None:
    assert not results_match([("a", 1)], [("a",)])
    assert not results_match([("a",), ("b",)], [("a",)])
    assert not results_match([("a",), ("b", 1)], [("a",), ("b",)])
    assert results_match([], [])
    assert not results_match([("a",)], [])


def test_canonical_cell_is_what_is_compared() -> None:
    assert canonical_cell("  Hello   World ") == "hello world"
    assert canonical_cell(3.0) == 3 and isinstance(canonical_cell(3.0), int)
    assert canonical_cell("1e3") == 1000
    assert canonical_cell("null") is None
    assert canonical_cell(True) == 1
    assert canonical_cell(float("nan")) == "nan"
    assert canonical_cell("Infinity") == math.inf  # how observations spell 1e999, read back as the number


# -- reasons -----------------------------------------------------------------------------------


def test_reasons_say_what_is_wrong() -> None:
    assert verify("Ann, Bob", NAMES).reason == "expected 3 rows, got 2"
    assert verify("Ann", PEOPLE).reason == "expected 2 rows, got 1"
    assert verify('[["Ann"], ["Bob"]]', PEOPLE).reason == "expected 2 columns, got 1"
    assert verify('[["Ann", 31, 1], ["Bob", 27, 1]]', PEOPLE).reason == "expected 2 columns, got 3"
    assert verify('[["Ann", 31], ["Bob"]]', PEOPLE).reason == "the rows of the answer have different numbers of values"
    assert verify("41", SCALAR).reason == "value mismatch in row 1"
    assert verify("Ann, Bob, Dan", NAMES).reason == "value mismatch in row 3 (1 of 3 rows differ)"
    assert verify('[["Bob", 27], ["Ann", 31], ["Cy", 41]]', BY_AGE).reason.startswith("value mismatch in row 3")
    assert verify("Paris", CITY).reason == "correct"
    assert verify("", CITY).reason.startswith("empty answer")
    assert verify("```\n```", CITY).reason.startswith("empty answer")


# -- robustness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "\x00\x01\x02",
        "[" * 100_000,
        "[" * 50_000 + "]" * 50_000,
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        "(" * 5_000 + ")" * 5_000,
        "NaN",
        "[NaN, Infinity, -Infinity]",
        "1e999999",
        "9" * 10_000,
        "[" + "9" * 10_000 + "]",
        "\ud800",
        "|||\n---\n|||",
        ",,,,",
        '"',
        "'",
        "```",
        "Answer:",
        "[1, 2" + ", 3" * 100_000 + "]",
        "{'a': {1, 2}}",
        "[b'bytes']",
        "[[1, [2, [3, [4]]]]]",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ 你好",
    ],
)
def test_verify_never_raises(answer: str) -> None:
    for gold in (SCALAR, PEOPLE, BY_AGE, GoldResult(["x"], [(None,)])):
        verdict = verify(answer, gold)
        assert isinstance(verdict.correct, bool) and verdict.reason


def test_infinity_is_a_number_an_answer_can_give() -> None:
    gold = GoldResult(["x"], [(float("inf"),)])
    assert correct("[Infinity]", gold)
    assert not correct("[-Infinity]", gold)
    assert not correct("[NaN]", gold)


def test_huge_answers_are_refused_without_being_read() -> None:
    huge = "1, " * (MAX_ANSWER_CHARS // 3 + 1)
    verdict = verify(huge, SCALAR)
    assert not verdict.correct and verdict.reason.startswith("answer too long")
    assert "the limit is 100,000," in verdict.reason
    assert verify(" " * 1_000 + "42", SCALAR, max_answer_chars=100).reason.startswith("answer too long")


def test_answers_with_too_many_values_are_refused_before_parsing_with_a_clear_reason() -> None:
    gold = GoldResult(["n"], [(i,) for i in range(10)])
    many = json.dumps([7] * (MAX_ANSWER_VALUES + 1))  # 20,001 values in 60 kB: under the length limit
    assert len(many) < MAX_ANSWER_CHARS
    verdict = verify(many, gold)
    assert not verdict.correct
    assert verdict.reason.startswith("answer too long (20,001 values")
    assert "the limit is 20,000," in verdict.reason
    one_per_line = "\n".join(["7"] * (MAX_ANSWER_VALUES + 1))
    assert verify(one_per_line, gold).reason.startswith("answer too long (20,001 values")
    assert verify(json.dumps([7] * MAX_ANSWER_VALUES), gold).reason == "expected 10 rows, got 20000"
    assert correct(json.dumps(list(range(10))), gold)  # a right answer is judged as ever


def test_a_gold_larger_than_the_answer_limits_can_still_be_answered() -> None:
    # 30,000 cells: past MAX_ANSWER_VALUES, so the limits grow with the gold (zero false verdicts).
    gold = GoldResult(["name", "n", "m"], [(f"name {i}", i, i * 2) for i in range(10_000)])
    answer = json.dumps([[f"name {i}", i, i * 2] for i in range(10_000)], indent=2)
    assert len(answer) > MAX_ANSWER_CHARS
    assert correct(answer, gold)
    table = "| name | n | m |\n|---|---|---|\n" + "\n".join(f"| name {i} | {i} | {i * 2} |" for i in range(10_000))
    assert correct(table, gold)
    verdict = verify(json.dumps(list(range(500_000))), gold)
    assert verdict.reason.startswith("answer too long")
    # The reason reads the same for a small gold: probing with an oversized answer says nothing of the gold's size.
    small = verify(json.dumps(list(range(500_000))), GoldResult(["n"], [(1,)]))
    assert small.reason.split("(", 1)[1].split(";")[1] == verdict.reason.split("(", 1)[1].split(";")[1]


def test_a_long_but_acceptable_answer_is_judged() -> None:
    rows = [(f"name {i}", i) for i in range(5_000)]
    gold = GoldResult(["name", "n"], rows)
    assert correct(json.dumps([[n, i] for i, n in reversed([(i, n) for n, i in rows])]), gold)
    assert not correct(json.dumps([[n, i + 1] for n, i in rows]), gold)


# -- partial credit ----------------------------------------------------------------------------


def test_similarity_is_one_exactly_for_a_match() -> None:
    assert result_similarity([("Bob", 27), ("Ann", 31), ("Cy", 40)], BY_AGE) == 1.0
    assert result_similarity([(27, "Bob"), (31, "Ann"), (40, "Cy")], BY_AGE) == 1.0
    assert result_similarity([(31, "Ann"), (27, "Bob")], PEOPLE) == 1.0
    assert result_similarity([("Cy", 40), ("Ann", 31), ("Bob", 27)], BY_AGE) < 1.0


def test_similarity_gives_more_credit_to_closer_results() -> None:
    gold = GoldResult(["name", "age"], [(f"p{i}", 20 + i) for i in range(10)])
    all_rows = result_similarity(list(gold.rows), gold)
    most_rows = result_similarity(list(gold.rows[:8]), gold)
    some_rows = result_similarity(list(gold.rows[:3]), gold)
    names_only = result_similarity([(f"p{i}",) for i in range(10)], gold)
    extra_column = result_similarity([(*row, "x") for row in gold.rows], gold)
    extra_rows = result_similarity(list(gold.rows) + [(f"q{i}", i) for i in range(10)], gold)
    unrelated = result_similarity([("zzz", -1)], gold)
    assert all_rows == 1.0
    assert 1.0 > most_rows > some_rows > 0.0
    assert 0.0 < names_only < most_rows
    assert 0.5 < extra_column < 1.0
    assert 0.5 < extra_rows < 1.0
    assert unrelated == 0.0
    assert result_similarity([], gold) == 0.0


def test_similarity_credits_the_right_rows_in_the_wrong_order_below_a_match() -> None:
    wrong_order = result_similarity([("Cy", 40), ("Ann", 31), ("Bob", 27)], BY_AGE)
    one_wrong_value = result_similarity([("Bob", 27), ("Ann", 31), ("Cy", 41)], BY_AGE)
    assert 0.7 < wrong_order < 1.0
    assert 0.0 < one_wrong_value < 1.0


def test_similarity_stays_in_range_on_odd_input() -> None:
    for rows in ([("a", 1), ("b",)], [()], [(None, None)], [(float("inf"),)], [(b"blob",)]):
        score = result_similarity(rows, PEOPLE)  # type: ignore[arg-type]
        assert 0.0 <= score < 1.0


def test_similarity_reads_a_bounded_sample_of_huge_results() -> None:
    gold = GoldResult(["n"], [(i,) for i in range(10)])
    huge = [(i,) for i in range(200_000)]
    score = result_similarity(huge, gold)
    assert 0.0 < score < 0.01


class _CountingRow(tuple[object, ...]):
    """A row that counts how often it is read (iterated), as the similarity reads each sampled row."""

    reads = 0

    def __iter__(self):  # type: ignore[override]
        _CountingRow.reads += 1
        return super().__iter__()


def test_similarity_of_a_wide_result_reads_a_bounded_number_of_cells_and_still_ranks_near_misses_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlenv_core.rewards import similarity

    # The gold: 1,000 rows x 20 columns of floats, as a wide analytic query returns.
    gold = GoldResult([f"c{j}" for j in range(20)], [tuple(i * (j + 1.25) for j in range(20)) for i in range(1_000)])
    near_miss = [(*row, "extra") for row in gold.rows]  # every gold row, one column too many
    half = [row[:10] + tuple(-1.5 for _ in range(10)) + ("extra",) for row in gold.rows]  # half the columns wrong
    miss = [tuple(-i - 0.5 for _ in range(21)) for i in range(1_000)]  # nothing in common

    _CountingRow.reads = 0
    counted = [_CountingRow(row) for row in near_miss]
    score = result_similarity(counted, gold)
    assert _CountingRow.reads * 21 <= similarity.SIMILARITY_MAX_CELLS + 21  # not the 21,000 cells
    assert result_similarity(near_miss, gold) > result_similarity(half, gold) > result_similarity(miss, gold) == 0.0
    # The sample's overlaps are scaled to the whole result: about the score of reading it all.
    monkeypatch.setattr(similarity, "SIMILARITY_MAX_CELLS", 10**9)
    assert score == pytest.approx(result_similarity(near_miss, gold), abs=0.02)
    assert score > 0.8


def test_similarity_of_a_result_the_size_of_the_gold_is_read_whole_so_a_match_scores_one() -> None:
    rows = [(f"name {i}", *(i * j for j in range(1, 20))) for i in range(1_000)]
    gold = GoldResult([f"c{j}" for j in range(20)], rows)
    reordered = [(*row[1:], row[0]) for row in reversed(gold.rows)]  # 20,000 cells: past the cap
    assert results_match(reordered, gold.rows)
    assert result_similarity(reordered, gold) == 1.0
    assert 0.9 < result_similarity([*reordered[:-1], (-1,) * 20], gold) < 1.0


def test_similarity_folds_plain_float_columns_like_canonical_cells() -> None:
    gold = GoldResult(["x", "big"], [(1.25, 12_345_678), (2.5, 7), (0.1, 8)])
    exact = [(1.25, 12_345_678.0), (2.5, 7.0), (0.1, 8.0), (9.75, 9.0)]  # one extra row: partial credit
    within_seven_digits = [(1.2500000001, 12_345_678.0), (2.4999999999, 7.0), (0.1000000001, 8.0), (9.75, 9.0)]
    assert result_similarity(within_seven_digits, gold) == result_similarity(exact, gold) > 0.8
    big_off_by_one = [(1.25, 12_345_679.0), (2.5, 7.0), (0.1, 8.0), (9.75, 9.0)]  # integers stay exact
    assert result_similarity(big_off_by_one, gold) < result_similarity(exact, gold)
    with_nan = [(math.nan, 1.0), (2.5, 7.0), (0.1, 8.0), (9.75, 9.0)]
    assert 0.0 < result_similarity(with_nan, gold) < result_similarity(exact, gold)


def test_gold_normalisation_is_kept_with_the_gold_and_released_with_it() -> None:
    import weakref

    gold = GoldResult(["n"], [(1,), (2,)])
    assert result_similarity([("1",), (2,)], gold) == 1.0  # not identical rows: normalised
    view = gold.view
    assert gold.view is view  # computed once, kept on the gold result itself
    assert view.rows == [(1,), (2,)]
    alive = weakref.ref(view)
    del gold, view
    gc.collect()
    assert alive() is None  # no module-level cache holds it


def test_an_equal_but_distinct_gold_object_gets_its_own_view() -> None:
    first = GoldResult(["n"], [(1,)])
    second = GoldResult(["n"], [(2,)])
    assert result_similarity([(1,)], first) == 1.0
    assert result_similarity([(1,)], second) < 1.0
    assert verify("2", second).correct


@pytest.mark.parametrize(
    ("answer", "gold"),
    [("1000000.5", 1_000_000), ("999999.1", 1_000_000), ("7.000001", 7), ("6.9999999", 7), ("-3.0000001", -3)],
)
def test_an_integer_gold_accepts_no_nearby_float(answer: str, gold: int) -> None:
    # docs/verifier.md: integers compare exactly. A relative tolerance here let a model answer
    # "1000000.5" for a count of 1,000,000.
    assert not correct(answer, GoldResult(["n"], [(gold,)]))
    assert not results_match([(float(answer),)], [(gold,)])
    assert not correct(f"[[{answer}, 1]]", GoldResult(["n", "k"], [(gold, 1)]))
    assert correct(str(gold), GoldResult(["n"], [(gold,)]))


def test_a_float_gold_still_accepts_the_integer_it_rounds_to() -> None:
    assert correct("3", GoldResult(["avg"], [(2.9999999999,)]))
    assert results_match([(7,), (5,)], [(5.0000000001,), (7,)])
    assert results_match([(4.999999,), (5,)], [(5,), (5.0000001,)])  # pairing, not sorted order
