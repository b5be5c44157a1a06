"""Question families on the 1-5 ladder, each with several paraphrases and gold SQL.

=====  ===========================================================================================
level  families
=====  ===========================================================================================
1      count rows; count with one filter (category or number); max/min/avg/sum of a column; names
       matching a filter; one attribute of a named row
2      superlatives (the row with the highest/lowest value, the top three); two filters; group by
       (counts per category, the commonest category, distinct values); average with a filter
3      joins of two tables (an item's events, an item's group, a group's items, the group with the
       most items, totals of an item's events); date ranges over one year
4      joins of three tables; date ranges with a join or across months; dirty data (categories
       spelled in several cases and spacings, missing values, repeated names)
5      nested queries (above the average, rows with no events, groups with more than k items) and
       set operations (INTERSECT, EXCEPT); the item with the most events in a year
=====  ===========================================================================================

A family returns a :class:`Candidate` or ``None`` when the world does not support it (no clean
category column, no unique name...); :func:`draw_questions` runs each candidate's SQL on the world
and keeps it only when its answer is usable: not empty, not all NULL, not a zero count, at most a
dozen rows, and no tie at a ``LIMIT``.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from sqlenv_core.datasets.procgen.model import Attr
from sqlenv_core.datasets.procgen.world import Table, World, sql_literal

__all__ = ["LEVELS", "Candidate", "draw_questions"]

LEVELS = (1, 2, 3, 4, 5)
#: Answers with more rows than this are too long to be a fair question.
MAX_ANSWER_ROWS = 12
#: Draws of one family in its turn before the next family's turn.
_TRIES_PER_TURN = 6
_MONTHS = ("January February March April May June July August September October November December").split()


@dataclass(frozen=True)
class Candidate:
    """A question before it is checked.

    Attributes:
        level: its rung on the ladder (1-5).
        family: the family's name (``count_all``, ``superlative``...).
        text: the question.
        sql: the gold SQL.
        tie_sql: for a ``LIMIT k`` question, a query of the ordering keys of the first ``k + 1``
            rows; the question is dropped when row ``k`` ties with row ``k + 1``.
        k: the ``LIMIT`` of ``tie_sql``.
    """

    level: int
    family: str
    text: str
    sql: str
    tie_sql: str = ""
    k: int = 1


Family = Callable[[World, random.Random], Candidate | None]


# -- helpers ------------------------------------------------------------------------------------


def _an(words: str) -> str:
    """``words`` with its article: "an annual budget", "a salary", "an hourly rate", "expenses"."""
    first = words.split()[0].lower()
    if first.endswith("s") and not first.endswith("ss"):
        return words  # a plural takes none: "expenses above 500", "hours above 2"
    return ("an " if first[:1] in "aeiou" or first.startswith("hour") else "a ") + words


def _noun(attr: Attr) -> str:
    """How a question names ``attr`` as a quantity: "salary", "number of pages"."""
    return f"number of {attr.words}" if attr.counted else attr.words


def _above(attr: Attr, x: str, rng: random.Random, high: bool = True) -> str:
    """A phrase that follows "have" or "with": "more than 300 pages", "a salary above 50000"."""
    if attr.counted:
        return f"{'more' if high else 'fewer'} than {x} {attr.words}"
    word = rng.choice(["greater than", "above", "over", "more than"] if high else ["less than", "below", "under"])
    return f"{_an(attr.words)} {word} {x}"


def _pick(rng: random.Random, options: list[str]) -> str:
    return rng.choice(options)


def _clean(world: World, table: Table, kinds: tuple[str, ...]) -> list[Attr]:
    return [a for a in table.attrs(*kinds) if not world.is_dirty(table, a)]


def _present(table: Table, attr: Attr) -> list[str]:
    """The category values of ``attr`` that occur exactly in ``table``, in declaration order."""
    col = table.cols[attr.name]
    seen = {r[col] for r in table.rows}
    return [v for v in attr.values if v in seen]


def _unique_names(table: Table) -> list[str]:
    """Names that occur once in ``table`` (in row order)."""
    if table.name_col is None:
        return []
    counts: dict[str, int] = {}
    for row in table.rows:
        name = str(row[table.name_col])
        counts[name] = counts.get(name, 0) + 1
    return [str(r[table.name_col]) for r in table.rows if counts[str(r[table.name_col])] == 1]


def _number(attr: Attr, value: object) -> str:
    """A threshold near ``value``, written as a question would say it."""
    number = float(str(value))
    if attr.kind == "int" or attr.hi - attr.lo >= 20:
        return str(round(number))
    return f"{round(number, 1):g}"


def _threshold(table: Table, attr: Attr, rng: random.Random) -> str | None:
    col = table.cols[attr.name]
    values = [r[col] for r in table.rows if r[col] is not None]
    if not values:
        return None
    return _number(attr, rng.choice(values))


def _eq(world: World, table: Table, attr: Attr, value: str, qualified: bool = False) -> str:
    col = table.cols[attr.name]
    ref = f"{table.name}.{col}" if qualified else col
    if world.is_dirty(table, attr):
        return f"lower(trim({ref})) = {sql_literal(value.lower())}"
    return f"{ref} = {sql_literal(value)}"


def _join_item_group(world: World) -> str:
    item, group = world.item, world.group
    return f"{item.name} JOIN {group.name} ON {item.name}.{item.fk} = {group.name}.{group.pk}"


def _join_event_item(world: World) -> str:
    event, item = world.event, world.item
    return f"{event.name} JOIN {item.name} ON {event.name}.{event.fk} = {item.name}.{item.pk}"


def _join_all(world: World) -> str:
    group, item = world.group, world.item
    return f"{_join_event_item(world)} JOIN {group.name} ON {item.name}.{item.fk} = {group.name}.{group.pk}"


def _date_attr(table: Table) -> Attr | None:
    dates = table.attrs("date")
    return dates[0] if dates else None


def _years(table: Table, attr: Attr) -> list[int]:
    col = table.cols[attr.name]
    return sorted({int(str(r[col])[:4]) for r in table.rows if r[col] is not None})


def _named_tables(world: World) -> list[Table]:
    return [t for t in world.tables if t.name_col is not None]


# -- level 1 ------------------------------------------------------------------------------------


def count_all(world: World, rng: random.Random) -> Candidate:
    table = rng.choice(world.tables)
    pl = table.entity.plural
    text = _pick(
        rng,
        [
            f"How many {pl} are there?",
            f"Count the {pl}.",
            f"What is the total number of {pl}?",
            f"How many {pl} are in the database?",
            f"How many {pl} are recorded?",
        ],
    )
    return Candidate(1, "count_all", text, f"SELECT count(*) FROM {table.name}")


def count_category(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice([world.item, world.event])
    attrs = _clean(world, table, ("cat",))
    if not attrs:
        return None
    attr = rng.choice(attrs)
    values = _present(table, attr)
    if not values:
        return None
    value, pl, a = rng.choice(values), table.entity.plural, attr.words
    text = _pick(
        rng,
        [
            f"How many {pl} have {a} {value}?",
            f"Count the {pl} whose {a} is {value}.",
            f"How many {pl} are there with {a} {value}?",
            f"What is the number of {pl} with {a} equal to {value}?",
        ],
    )
    return Candidate(
        1, "count_filter", text, f"SELECT count(*) FROM {table.name} WHERE {_eq(world, table, attr, value)}"
    )


def count_compare(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice(world.tables)
    attrs = table.attrs("int", "real")
    if not attrs:
        return None
    attr = rng.choice(attrs)
    x = _threshold(table, attr, rng)
    if x is None:
        return None
    pl, col = table.entity.plural, table.cols[attr.name]
    high = rng.random() < 0.5
    op, phrase = (">" if high else "<"), _above(attr, x, rng, high)
    text = _pick(
        rng,
        [
            f"How many {pl} have {phrase}?",
            f"Count the {pl} with {phrase}.",
            f"What is the number of {pl} with {phrase}?",
            f"How many {pl} are there with {phrase}?",
        ],
    )
    return Candidate(1, "count_filter", text, f"SELECT count(*) FROM {table.name} WHERE {col} {op} {x}")


def aggregate(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice(world.tables)
    attrs = table.attrs("int", "real")
    if not attrs:
        return None
    attr = rng.choice(attrs)
    pl, sg, a, col = table.entity.plural, table.entity.singular, _noun(attr), table.cols[attr.name]
    func = rng.choice(["max", "min", "avg", "sum"])
    options = {
        "max": [
            f"What is the highest {a} of any {sg}?",
            f"What is the maximum {a} among the {pl}?",
            f"What is the largest {a} of the {pl}?",
        ],
        "min": [
            f"What is the lowest {a} of any {sg}?",
            f"What is the minimum {a} among the {pl}?",
            f"What is the smallest {a} of the {pl}?",
        ],
        "avg": [
            f"What is the average {a} of the {pl}?",
            f"What is the mean {a} across all {pl}?",
            f"On average, what is the {a} of {_an(sg)}?",
        ],
        "sum": [
            f"What is the total {a} of all {pl}?",
            f"What do the {a} values of all {pl} add up to?",
            f"What is the sum of the {a} of the {pl}?",
        ],
    }[func]
    return Candidate(1, "aggregate", _pick(rng, options), f"SELECT {func}({col}) FROM {table.name}")


def names_matching(world: World, rng: random.Random) -> Candidate | None:
    tables = [t for t in _named_tables(world) if _clean(world, t, ("cat", "int", "real"))]
    if not tables:
        return None
    table = rng.choice(tables)
    attr = rng.choice(_clean(world, table, ("cat", "int", "real")))
    pl, a, name = table.entity.plural, attr.words, table.name_col
    if attr.kind == "cat":
        values = _present(table, attr)
        if not values:
            return None
        value = rng.choice(values)
        cond, phrase = _eq(world, table, attr, value), f"{a} {value}"
    else:
        x = _threshold(table, attr, rng)
        if x is None:
            return None
        cond, phrase = f"{table.cols[attr.name]} > {x}", _above(attr, x, rng)
    text = _pick(
        rng,
        [
            f"List the names of the {pl} with {phrase}.",
            f"Which {pl} have {phrase}? Give their names.",
            f"Give the names of all {pl} with {phrase}.",
            f"Name the {pl} that have {phrase}.",
        ],
    )
    return Candidate(1, "names_filter", text, f"SELECT {name} FROM {table.name} WHERE {cond}")


def lookup(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice([world.group, world.item])
    attrs = _clean(world, table, ("cat", "int", "real", "date"))
    names = _unique_names(table)
    if not attrs or not names:
        return None
    attr, name = rng.choice(attrs), rng.choice(names)
    sg, a = table.entity.singular, _noun(attr)
    text = _pick(
        rng,
        [
            f"What is the {a} of the {sg} {name}?",
            f"What {a} does the {sg} named {name} have?",
            f"Give the {a} of {sg} {name}.",
            f"For the {sg} {name}, what is the {a}?",
        ],
    )
    sql = f"SELECT {table.cols[attr.name]} FROM {table.name} WHERE {table.name_col} = {sql_literal(name)}"
    return Candidate(1, "lookup", text, sql)


# -- level 2 ------------------------------------------------------------------------------------


def superlative(world: World, rng: random.Random) -> Candidate | None:
    tables = [t for t in _named_tables(world) if _clean(world, t, ("int", "real"))]
    if not tables:
        return None
    table = rng.choice(tables)
    attr = rng.choice(_clean(world, table, ("int", "real")))
    sg, a, col, name = table.entity.singular, attr.words, table.cols[attr.name], table.name_col
    high = rng.random() < 0.5
    word = rng.choice(["highest", "largest", "greatest"] if high else ["lowest", "smallest"])
    if attr.counted:
        word, a = ("most" if high else "fewest"), attr.words
    order = "DESC" if high else "ASC"
    text = _pick(
        rng,
        [
            f"Which {sg} has the {word} {a}?",
            f"Name the {sg} with the {word} {a}.",
            f"What is the name of the {sg} with the {word} {a}?",
            f"Which {sg} has the {word} {a}? Give its name.",
        ],
    )
    sql = f"SELECT {name} FROM {table.name} ORDER BY {col} {order} LIMIT 1"
    tie = f"SELECT {col} FROM {table.name} ORDER BY {col} {order} LIMIT 2"
    return Candidate(2, "superlative", text, sql, tie, 1)


def top_three(world: World, rng: random.Random) -> Candidate | None:
    tables = [t for t in _named_tables(world) if _clean(world, t, ("int", "real")) and len(t.rows) > 5]
    if not tables:
        return None
    table = rng.choice(tables)
    attr = rng.choice(_clean(world, table, ("int", "real")))
    pl, a, col, name = table.entity.plural, attr.words, table.cols[attr.name], table.name_col
    most = "most" if attr.counted else "highest"
    text = _pick(
        rng,
        [
            f"List the names of the three {pl} with the {most} {a}, from highest to lowest.",
            f"Which three {pl} have the {most} {a}? Give their names from highest to lowest.",
            f"Name the top 3 {pl} by {_noun(attr)}, in descending order.",
        ],
    )
    sql = f"SELECT {name} FROM {table.name} ORDER BY {col} DESC LIMIT 3"
    tie = f"SELECT {col} FROM {table.name} ORDER BY {col} DESC LIMIT 4"
    return Candidate(2, "superlative", text, sql, tie, 3)


def two_filters(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice([world.item, world.event])
    cats, nums = _clean(world, table, ("cat",)), table.attrs("int", "real")
    if not cats or not nums:
        return None
    cat, num = rng.choice(cats), rng.choice(nums)
    values = _present(table, cat)
    x = _threshold(table, num, rng)
    if not values or x is None:
        return None
    value, pl = rng.choice(values), table.entity.plural
    text = _pick(
        rng,
        [
            f"How many {pl} have {cat.words} {value} and {_above(num, x, rng)}?",
            f"Count the {pl} with {cat.words} {value} and {_above(num, x, rng)}.",
            f"Among the {pl} with {cat.words} {value}, how many have {_above(num, x, rng)}?",
        ],
    )
    sql = f"SELECT count(*) FROM {table.name} WHERE {_eq(world, table, cat, value)} AND {table.cols[num.name]} > {x}"
    return Candidate(2, "two_filters", text, sql)


def count_per_category(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice([world.item, world.event])
    cats = _clean(world, table, ("cat",))
    if not cats:
        return None
    attr = rng.choice(cats)
    pl, a, col = table.entity.plural, attr.words, table.cols[attr.name]
    text = _pick(
        rng,
        [
            f"For each {a}, how many {pl} are there?",
            f"How many {pl} are there per {a}?",
            f"Count the {pl} for every {a}.",
            f"Show each {a} with its number of {pl}.",
        ],
    )
    return Candidate(2, "group_by", text, f"SELECT {col}, count(*) FROM {table.name} GROUP BY {col}")


def commonest_category(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice([world.item, world.event])
    cats = _clean(world, table, ("cat",))
    if not cats:
        return None
    attr = rng.choice(cats)
    pl, a, col = table.entity.plural, attr.words, table.cols[attr.name]
    text = _pick(
        rng,
        [
            f"Which {a} is the most common among the {pl}?",
            f"What is the most frequent {a} of the {pl}?",
            f"Which {a} do the most {pl} have?",
        ],
    )
    sql = f"SELECT {col} FROM {table.name} GROUP BY {col} ORDER BY count(*) DESC LIMIT 1"
    tie = f"SELECT count(*) FROM {table.name} GROUP BY {col} ORDER BY count(*) DESC LIMIT 2"
    return Candidate(2, "group_by", text, sql, tie, 1)


def distinct_count(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice([world.item, world.event])
    cats = _clean(world, table, ("cat",))
    if not cats:
        return None
    attr = rng.choice(cats)
    pl, a, col = table.entity.plural, attr.words, table.cols[attr.name]
    text = _pick(
        rng,
        [
            f"How many different {a} values do the {pl} have?",
            f"How many distinct {a} values appear among the {pl}?",
            f"Count the distinct {a} values of the {pl}.",
        ],
    )
    return Candidate(2, "group_by", text, f"SELECT count(DISTINCT {col}) FROM {table.name}")


def count_between(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice(world.tables)
    nums = table.attrs("int", "real")
    if not nums:
        return None
    attr = rng.choice(nums)
    first, second = _threshold(table, attr, rng), _threshold(table, attr, rng)
    if first is None or second is None or float(first) == float(second):
        return None
    low, high = sorted((first, second), key=float)
    pl, a, col = table.entity.plural, _noun(attr), table.cols[attr.name]
    text = _pick(
        rng,
        [
            f"How many {pl} have {_an(a)} between {low} and {high}?",
            f"Count the {pl} whose {a} is from {low} to {high}, inclusive.",
            f"How many {pl} have {_an(a)} of at least {low} and at most {high}?",
        ],
    )
    return Candidate(2, "range_filter", text, f"SELECT count(*) FROM {table.name} WHERE {col} BETWEEN {low} AND {high}")


def average_where(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice(world.tables)
    nums = table.attrs("int", "real")
    if len(nums) < 2:
        return None
    target, cond = rng.sample(nums, 2)
    x = _threshold(table, cond, rng)
    if x is None:
        return None
    pl = table.entity.plural
    func, word = rng.choice([("avg", "average"), ("max", "highest"), ("min", "lowest"), ("sum", "total")])
    text = _pick(
        rng,
        [
            f"What is the {word} {_noun(target)} of the {pl} with {_above(cond, x, rng)}?",
            f"Among the {pl} with {_above(cond, x, rng)}, what is the {word} {_noun(target)}?",
            f"Considering only {pl} with {_above(cond, x, rng)}, give the {word} {_noun(target)}.",
        ],
    )
    sql = f"SELECT {func}({table.cols[target.name]}) FROM {table.name} WHERE {table.cols[cond.name]} > {x}"
    return Candidate(2, "aggregate_filter", text, sql)


def value_of_top(world: World, rng: random.Random) -> Candidate | None:
    tables = [t for t in _named_tables(world) if _clean(world, t, ("int", "real")) and len(t.attrs()) > 1]
    if not tables:
        return None
    table = rng.choice(tables)
    key = rng.choice(_clean(world, table, ("int", "real")))
    shown = [a for a in _clean(world, table, ("cat", "int", "real", "date")) if a is not key]
    if not shown:
        return None
    attr = rng.choice(shown)
    sg, col = table.entity.singular, table.cols[key.name]
    most = "the most" if key.counted else "the highest"
    phrase = f"{most} {key.words}"
    text = _pick(
        rng,
        [
            f"What is the {_noun(attr)} of the {sg} with {phrase}?",
            f"The {sg} with {phrase}: what is its {_noun(attr)}?",
            f"Give the {_noun(attr)} of the {sg} that has {phrase}.",
        ],
    )
    sql = f"SELECT {table.cols[attr.name]} FROM {table.name} ORDER BY {col} DESC LIMIT 1"
    tie = f"SELECT {col} FROM {table.name} ORDER BY {col} DESC LIMIT 2"
    return Candidate(2, "superlative", text, sql, tie, 1)


def average_filtered(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice([world.item, world.event])
    cats, nums = _clean(world, table, ("cat",)), table.attrs("int", "real")
    if not cats or not nums:
        return None
    cat, num = rng.choice(cats), rng.choice(nums)
    values = _present(table, cat)
    if not values:
        return None
    value, pl = rng.choice(values), table.entity.plural
    text = _pick(
        rng,
        [
            f"What is the average {_noun(num)} of the {pl} with {cat.words} {value}?",
            f"For {pl} whose {cat.words} is {value}, what is the mean {_noun(num)}?",
            f"On average, what {_noun(num)} do {pl} with {cat.words} {value} have?",
        ],
    )
    sql = f"SELECT avg({table.cols[num.name]}) FROM {table.name} WHERE {_eq(world, table, cat, value)}"
    return Candidate(2, "aggregate_filter", text, sql)


# -- level 3 ------------------------------------------------------------------------------------


def events_of_item(world: World, rng: random.Random) -> Candidate | None:
    names = _unique_names(world.item)
    if not names:
        return None
    name, item, event = rng.choice(names), world.item, world.event
    text = _pick(
        rng,
        [
            f"How many {event.entity.plural} does the {item.entity.singular} {name} have?",
            f"Count the {event.entity.plural} of the {item.entity.singular} named {name}.",
            f"How many {event.entity.plural} are linked to {item.entity.singular} {name}?",
        ],
    )
    sql = f"SELECT count(*) FROM {_join_event_item(world)} WHERE {item.name}.{item.name_col} = {sql_literal(name)}"
    return Candidate(3, "join", text, sql)


def group_of_item(world: World, rng: random.Random) -> Candidate | None:
    names = _unique_names(world.item)
    if not names:
        return None
    name, item, group = rng.choice(names), world.item, world.group
    text = _pick(
        rng,
        [
            f"Which {group.entity.singular} does the {item.entity.singular} {name} belong to?",
            f"What is the name of the {group.entity.singular} of {item.entity.singular} {name}?",
            f"Give the {group.entity.singular} of the {item.entity.singular} named {name}.",
        ],
    )
    sql = (
        f"SELECT {group.name}.{group.name_col} FROM {_join_item_group(world)} "
        f"WHERE {item.name}.{item.name_col} = {sql_literal(name)}"
    )
    return Candidate(3, "join", text, sql)


def items_in_group(world: World, rng: random.Random) -> Candidate | None:
    names = _unique_names(world.group)
    if not names:
        return None
    name, item, group = rng.choice(names), world.item, world.group
    counting = rng.random() < 0.6
    if counting:
        text = _pick(
            rng,
            [
                f"How many {item.entity.plural} are in the {group.entity.singular} {name}?",
                f"How many {item.entity.plural} does the {group.entity.singular} {name} have?",
                f"Count the {item.entity.plural} of the {group.entity.singular} named {name}.",
            ],
        )
        select = "count(*)"
    else:
        text = _pick(
            rng,
            [
                f"List the names of the {item.entity.plural} in the {group.entity.singular} {name}.",
                f"Which {item.entity.plural} belong to the {group.entity.singular} {name}? Give their names.",
            ],
        )
        select = f"{item.name}.{item.name_col}"
        if item.name_col is None:
            return None
    sql = f"SELECT {select} FROM {_join_item_group(world)} WHERE {group.name}.{group.name_col} = {sql_literal(name)}"
    return Candidate(3, "join", text, sql)


def group_with_most_items(world: World, rng: random.Random) -> Candidate:
    item, group = world.item, world.group
    text = _pick(
        rng,
        [
            f"Which {group.entity.singular} has the most {item.entity.plural}?",
            f"Name the {group.entity.singular} with the largest number of {item.entity.plural}.",
            f"Which {group.entity.singular} has more {item.entity.plural} than any other?",
        ],
    )
    gname = f"{group.name}.{group.name_col}"
    base = f"FROM {_join_item_group(world)} GROUP BY {gname} ORDER BY count(*) DESC"
    return Candidate(3, "join_group_by", text, f"SELECT {gname} {base} LIMIT 1", f"SELECT count(*) {base} LIMIT 2", 1)


def item_event_total(world: World, rng: random.Random) -> Candidate | None:
    names = _unique_names(world.item)
    nums = world.event.attrs("int", "real")
    if not names or not nums:
        return None
    name, num, item, event = rng.choice(names), rng.choice(nums), world.item, world.event
    func = rng.choice(["sum", "avg", "max"])
    word = {"sum": "total", "avg": "average", "max": "highest"}[func]
    text = _pick(
        rng,
        [
            f"What is the {word} {_noun(num)} of the {event.entity.plural} of {item.entity.singular} {name}?",
            f"For the {item.entity.singular} {name}, what is the {word} {_noun(num)} over its {event.entity.plural}?",
            f"Over all {event.entity.plural} of {item.entity.singular} {name}, what is the {word} {_noun(num)}?",
        ],
    )
    sql = (
        f"SELECT {func}({event.name}.{event.cols[num.name]}) FROM {_join_event_item(world)} "
        f"WHERE {item.name}.{item.name_col} = {sql_literal(name)}"
    )
    return Candidate(3, "join_aggregate", text, sql)


def events_in_year(world: World, rng: random.Random) -> Candidate | None:
    event = world.event
    date = _date_attr(event)
    if date is None:
        return None
    years = _years(event, date)
    if not years:
        return None
    year, pl, col = rng.choice(years), event.entity.plural, event.cols[date.name]
    text = _pick(
        rng,
        [
            f"How many {pl} have {_an(date.words)} in {year}?",
            f"How many {pl} were there in {year}?",
            f"Count the {pl} whose {date.words} falls in {year}.",
            f"How many {pl} have {_an(date.words)} between {year}-01-01 and {year}-12-31?",
        ],
    )
    sql = f"SELECT count(*) FROM {event.name} WHERE {col} BETWEEN '{year}-01-01' AND '{year}-12-31'"
    return Candidate(3, "date_range", text, sql)


# -- level 4 ------------------------------------------------------------------------------------


def events_in_group(world: World, rng: random.Random) -> Candidate | None:
    names = _unique_names(world.group)
    if not names:
        return None
    name, group, item, event = rng.choice(names), world.group, world.item, world.event
    text = _pick(
        rng,
        [
            f"How many {event.entity.plural} belong to {item.entity.plural} of the {group.entity.singular} {name}?",
            f"Count the {event.entity.plural} of all {item.entity.plural} in the {group.entity.singular} {name}.",
            f"For the {group.entity.singular} {name}, how many {event.entity.plural} do its {item.entity.plural} have?",
        ],
    )
    sql = f"SELECT count(*) FROM {_join_all(world)} WHERE {group.name}.{group.name_col} = {sql_literal(name)}"
    return Candidate(4, "join3", text, sql)


def group_top_total(world: World, rng: random.Random) -> Candidate | None:
    nums = world.event.attrs("int", "real")
    if not nums:
        return None
    num, group, item, event = rng.choice(nums), world.group, world.item, world.event
    text = _pick(
        rng,
        [
            f"Which {group.entity.singular} has the highest total {_noun(num)} over the "
            f"{event.entity.plural} of its {item.entity.plural}?",
            f"Adding up the {_noun(num)} of the {event.entity.plural} of its {item.entity.plural}, "
            f"which {group.entity.singular} has the largest total?",
            f"Name the {group.entity.singular} whose {item.entity.plural} have the largest total {_noun(num)} "
            f"across their {event.entity.plural}.",
        ],
    )
    gname = f"{group.name}.{group.name_col}"
    total = f"sum({event.name}.{event.cols[num.name]})"
    base = f"FROM {_join_all(world)} GROUP BY {gname} ORDER BY {total} DESC"
    return Candidate(4, "join3", text, f"SELECT {gname} {base} LIMIT 1", f"SELECT {total} {base} LIMIT 2", 1)


def item_events_between(world: World, rng: random.Random) -> Candidate | None:
    names = _unique_names(world.item)
    date = _date_attr(world.event)
    if not names or date is None:
        return None
    item, event = world.item, world.event
    years = _years(event, date)
    if len(years) < 2:
        return None
    first = rng.choice(years[:-1])
    last = rng.choice([y for y in years if y > first])
    name = rng.choice(names)
    text = _pick(
        rng,
        [
            f"How many {event.entity.plural} did the {item.entity.singular} {name} have between {first} and {last}?",
            f"Count the {event.entity.plural} of {item.entity.singular} {name} from {first} to {last} inclusive.",
            f"Between {first} and {last}, how many {event.entity.plural} did {item.entity.singular} {name} have?",
        ],
    )
    sql = (
        f"SELECT count(*) FROM {_join_event_item(world)} WHERE {item.name}.{item.name_col} = {sql_literal(name)} "
        f"AND {event.name}.{event.cols[date.name]} BETWEEN '{first}-01-01' AND '{last}-12-31'"
    )
    return Candidate(4, "date_range_join", text, sql)


def events_between_months(world: World, rng: random.Random) -> Candidate | None:
    event = world.event
    date = _date_attr(event)
    if date is None:
        return None
    years = _years(event, date)
    if not years:
        return None
    year = rng.choice(years)
    m1 = rng.randint(1, 10)
    m2 = rng.randint(m1 + 1, 12)
    end = (dt.date(year + (m2 == 12), m2 % 12 + 1, 1) - dt.timedelta(days=1)).isoformat()
    pl = event.entity.plural
    text = _pick(
        rng,
        [
            f"How many {pl} were there between {_MONTHS[m1 - 1]} {year} and {_MONTHS[m2 - 1]} {year}, inclusive?",
            f"How many {pl} have {_an(date.words)} from {_MONTHS[m1 - 1]} to {_MONTHS[m2 - 1]} {year}?",
            f"Count the {pl} with {_an(date.words)} between {year}-{m1:02d}-01 and {end}.",
        ],
    )
    sql = f"SELECT count(*) FROM {event.name} WHERE {event.cols[date.name]} BETWEEN '{year}-{m1:02d}-01' AND '{end}'"
    return Candidate(4, "date_range", text, sql)


def dirty_category(world: World, rng: random.Random) -> Candidate | None:
    options = [
        (t, a) for t in (world.item, world.event) for a in t.attrs("cat") if f"case:{t.role}.{a.name}" in world.dirty
    ]
    if not options:
        return None
    table, attr = rng.choice(options)
    value, pl, a = rng.choice(attr.values), table.entity.plural, attr.words
    text = _pick(
        rng,
        [
            f"How many {pl} have {a} {value}?",
            f"Count the {pl} whose {a} is {value}, however it is capitalised or spaced.",
            f"How many {pl} are there with {a} {value}? Watch for variant spellings.",
        ],
    )
    return Candidate(4, "dirty", text, f"SELECT count(*) FROM {table.name} WHERE {_eq(world, table, attr, value)}")


def missing_values(world: World, rng: random.Random) -> Candidate | None:
    options = [a for a in world.item.attrs() if f"null:item.{a.name}" in world.dirty]
    if not options:
        return None
    attr, item = options[0], world.item
    pl, a = item.entity.plural, _noun(attr)
    text = _pick(
        rng,
        [
            f"How many {pl} have no {a} recorded?",
            f"Count the {pl} whose {a} is missing.",
            f"For how many {pl} is the {a} unknown?",
        ],
    )
    return Candidate(4, "dirty", text, f"SELECT count(*) FROM {item.name} WHERE {item.cols[attr.name]} IS NULL")


def distinct_names(world: World, rng: random.Random) -> Candidate | None:
    if "dupnames" not in world.dirty or world.item.name_col is None:
        return None
    item = world.item
    text = _pick(
        rng,
        [
            f"How many distinct {item.entity.singular} names are there?",
            f"Some {item.entity.plural} share a name. How many different names do the {item.entity.plural} have?",
            f"Count the different names among the {item.entity.plural}.",
        ],
    )
    return Candidate(4, "dirty", text, f"SELECT count(DISTINCT {item.name_col}) FROM {item.name}")


# -- level 5 ------------------------------------------------------------------------------------


def above_average(world: World, rng: random.Random) -> Candidate | None:
    table = rng.choice([world.item, world.event])
    nums = table.attrs("int", "real")
    if not nums:
        return None
    attr = rng.choice(nums)
    pl, a, col = table.entity.plural, _noun(attr), table.cols[attr.name]
    cond = f"{col} > (SELECT avg({col}) FROM {table.name})"
    if table.name_col is not None and rng.random() < 0.4:
        text = _pick(
            rng,
            [
                f"Which {pl} have {_an(a)} above the average {a} of all {pl}? Give their names.",
                f"List the names of the {pl} whose {a} is higher than the average.",
            ],
        )
        return Candidate(5, "nested", text, f"SELECT {table.name_col} FROM {table.name} WHERE {cond}")
    text = _pick(
        rng,
        [
            f"How many {pl} have {_an(a)} above the average?",
            f"Count the {pl} whose {a} is greater than the average {a} of all {pl}.",
            f"How many {pl} are above average in {a}?",
        ],
    )
    return Candidate(5, "nested", text, f"SELECT count(*) FROM {table.name} WHERE {cond}")


def items_without_events(world: World, rng: random.Random) -> Candidate:
    item, event = world.item, world.event
    cond = f"{item.pk} NOT IN (SELECT {event.fk} FROM {event.name})"
    if item.name_col is not None and rng.random() < 0.5:
        text = _pick(
            rng,
            [
                f"Which {item.entity.plural} have no {event.entity.plural}? Give their names.",
                f"List the names of the {item.entity.plural} without any {event.entity.plural}.",
            ],
        )
        return Candidate(5, "nested", text, f"SELECT {item.name_col} FROM {item.name} WHERE {cond}")
    text = _pick(
        rng,
        [
            f"How many {item.entity.plural} have no {event.entity.plural}?",
            f"Count the {item.entity.plural} that have never had {_an(event.entity.singular)}.",
            f"How many {item.entity.plural} have zero {event.entity.plural}?",
        ],
    )
    return Candidate(5, "nested", text, f"SELECT count(*) FROM {item.name} WHERE {cond}")


def groups_with_more_than(world: World, rng: random.Random) -> Candidate:
    group, item = world.group, world.item
    counts: dict[object, int] = {}
    for row in item.rows:
        counts[row[item.fk or ""]] = counts.get(row[item.fk or ""], 0) + 1
    k = rng.choice(sorted(set(counts.values())))
    text = _pick(
        rng,
        [
            f"How many {group.entity.plural} have more than {k} {item.entity.plural}?",
            f"Count the {group.entity.plural} with over {k} {item.entity.plural} each.",
        ],
    )
    sql = f"SELECT count(*) FROM (SELECT {item.fk} FROM {item.name} GROUP BY {item.fk} HAVING count(*) > {k})"
    return Candidate(5, "nested", text, sql)


def shared_categories(world: World, rng: random.Random) -> Candidate | None:
    names = _unique_names(world.group)
    cats = _clean(world, world.item, ("cat",))
    if len(names) < 2 or not cats:
        return None
    first, second = rng.sample(names, 2)
    attr, item, group = rng.choice(cats), world.item, world.group
    a = attr.words
    text = _pick(
        rng,
        [
            f"Which {a} values occur among the {item.entity.plural} of both the {group.entity.singular} "
            f"{first} and the {group.entity.singular} {second}?",
            f"Find the {a} values shared by {item.entity.plural} of {group.entity.singular} {first} "
            f"and of {group.entity.singular} {second}.",
            f"List every {a} that both the {group.entity.singular} {first} and the {group.entity.singular} "
            f"{second} have among their {item.entity.plural}.",
        ],
    )
    column = f"{item.name}.{item.cols[attr.name]}"
    part = f"SELECT {column} FROM {_join_item_group(world)} WHERE {group.name}.{group.name_col} = "
    return Candidate(5, "set", text, f"{part}{sql_literal(first)} INTERSECT {part}{sql_literal(second)}")


def groups_without(world: World, rng: random.Random) -> Candidate | None:
    cats = _clean(world, world.item, ("cat",))
    if not cats:
        return None
    attr, item, group = rng.choice(cats), world.item, world.group
    values = _present(item, attr)
    if not values:
        return None
    value = rng.choice(values)
    text = _pick(
        rng,
        [
            f"Which {group.entity.plural} have no {item.entity.plural} with {attr.words} {value}?",
            f"List the {group.entity.plural} none of whose {item.entity.plural} has {attr.words} {value}.",
            f"Name the {group.entity.plural} without a single {item.entity.singular} whose {attr.words} is {value}.",
        ],
    )
    sql = (
        f"SELECT {group.name_col} FROM {group.name} EXCEPT SELECT {group.name}.{group.name_col} "
        f"FROM {_join_item_group(world)} WHERE {_eq(world, item, attr, value, qualified=True)}"
    )
    return Candidate(5, "set", text, sql)


def top_item_in_year(world: World, rng: random.Random) -> Candidate | None:
    date = _date_attr(world.event)
    if date is None or world.item.name_col is None:
        return None
    item, event = world.item, world.event
    years = _years(event, date)
    if not years:
        return None
    year = rng.choice(years)
    text = _pick(
        rng,
        [
            f"Which {item.entity.singular} had the most {event.entity.plural} in {year}?",
            f"In {year}, which {item.entity.singular} had more {event.entity.plural} than any other?",
            f"Name the {item.entity.singular} with the largest number of {event.entity.plural} in {year}.",
        ],
    )
    iname = f"{item.name}.{item.name_col}"
    base = (
        f"FROM {_join_event_item(world)} WHERE {event.name}.{event.cols[date.name]} BETWEEN '{year}-01-01' AND "
        f"'{year}-12-31' GROUP BY {item.name}.{item.pk} ORDER BY count(*) DESC"
    )
    return Candidate(5, "nested", text, f"SELECT {iname} {base} LIMIT 1", f"SELECT count(*) {base} LIMIT 2", 1)


def items_with_many_events(world: World, rng: random.Random) -> Candidate | None:
    item, event = world.item, world.event
    counts: dict[object, int] = {}
    for row in event.rows:
        counts[row[event.fk or ""]] = counts.get(row[event.fk or ""], 0) + 1
    if not counts:
        return None
    k = rng.choice(sorted(set(counts.values())))
    inner = f"SELECT {event.fk} FROM {event.name} GROUP BY {event.fk} HAVING count(*) > {k}"
    if item.name_col is not None and rng.random() < 0.5:
        text = _pick(
            rng,
            [
                f"Which {item.entity.plural} have more than {k} {event.entity.plural}? Give their names.",
                f"List the names of the {item.entity.plural} with over {k} {event.entity.plural}.",
            ],
        )
        return Candidate(5, "nested", text, f"SELECT {item.name_col} FROM {item.name} WHERE {item.pk} IN ({inner})")
    text = _pick(
        rng,
        [
            f"How many {item.entity.plural} have more than {k} {event.entity.plural}?",
            f"Count the {item.entity.plural} with over {k} {event.entity.plural} each.",
        ],
    )
    return Candidate(5, "nested", text, f"SELECT count(*) FROM ({inner})")


def items_with_event_value(world: World, rng: random.Random) -> Candidate | None:
    item, event = world.item, world.event
    cats = event.attrs("cat")
    if not cats:
        return None
    attr = rng.choice(cats)
    value = rng.choice(attr.values)
    cond = _eq(world, event, attr, value)
    inner = f"SELECT {event.fk} FROM {event.name} WHERE {cond}"
    without = rng.random() < 0.4
    if without:
        text = _pick(
            rng,
            [
                f"How many {item.entity.plural} have no {event.entity.singular} with {attr.words} {value}?",
                f"Count the {item.entity.plural} that never had {_an(event.entity.singular)} "
                f"with {attr.words} {value}.",
            ],
        )
        return Candidate(5, "nested", text, f"SELECT count(*) FROM {item.name} WHERE {item.pk} NOT IN ({inner})")
    text = _pick(
        rng,
        [
            f"How many {item.entity.plural} have at least one {event.entity.singular} with {attr.words} {value}?",
            f"Count the {item.entity.plural} with some {event.entity.singular} whose {attr.words} is {value}.",
        ],
    )
    return Candidate(5, "nested", text, f"SELECT count(*) FROM {item.name} WHERE {item.pk} IN ({inner})")


FAMILIES: dict[int, tuple[Family, ...]] = {
    1: (count_all, count_category, count_compare, aggregate, names_matching, lookup),
    2: (
        superlative,
        top_three,
        value_of_top,
        two_filters,
        count_between,
        count_per_category,
        commonest_category,
        distinct_count,
        average_filtered,
        average_where,
    ),
    3: (events_of_item, group_of_item, items_in_group, group_with_most_items, item_event_total, events_in_year),
    4: (
        events_in_group,
        group_top_total,
        item_events_between,
        events_between_months,
        dirty_category,
        missing_values,
        distinct_names,
    ),
    5: (
        above_average,
        items_with_many_events,
        items_with_event_value,
        items_without_events,
        groups_with_more_than,
        shared_categories,
        groups_without,
        top_item_in_year,
    ),
}


def _usable(conn: sqlite3.Connection, cand: Candidate) -> bool:
    try:
        rows = conn.execute(cand.sql).fetchmany(MAX_ANSWER_ROWS + 1)
    except sqlite3.Error:
        return False
    if not rows or len(rows) > MAX_ANSWER_ROWS:
        return False
    cells = [c for row in rows for c in row]
    if all(c is None for c in cells):
        return False
    if len(cells) == 1 and cells[0] == 0 and cand.sql.startswith("SELECT count("):
        return False
    if cand.tie_sql:
        keys = conn.execute(cand.tie_sql).fetchall()
        if len(keys) > cand.k and keys[cand.k - 1] == keys[cand.k]:
            return False
        if any(k[0] is None for k in keys[: cand.k]):
            return False
    return True


def draw_questions(
    world: World, conn: sqlite3.Connection, rng: random.Random, per_level: int
) -> dict[int, list[Candidate]]:
    """Up to ``per_level`` checked questions at each level, none repeating another's SQL.

    Args:
        world: the world the questions are about.
        conn: a connection to the world's database (its gold answers are checked there).
        rng: the world's generator (after the world was drawn).
        per_level: questions wanted per level.
    """
    drawn: dict[int, list[Candidate]] = {}
    seen: set[str] = set()
    for level in LEVELS:
        # Families take turns in a shuffled order, each tried a few times before the next, so a
        # level's questions spread over its families instead of piling on the easiest to satisfy.
        order = list(FAMILIES[level])
        rng.shuffle(order)
        kept: list[Candidate] = []
        turn = 0
        while len(kept) < per_level and turn < per_level * len(order) * 2:
            family = order[turn % len(order)]
            turn += 1
            for _ in range(_TRIES_PER_TURN):
                cand = family(world, rng)
                if cand is not None and cand.sql not in seen and _usable(conn, cand):
                    seen.add(cand.sql)
                    kept.append(cand)
                    break
        drawn[level] = kept
    return drawn
