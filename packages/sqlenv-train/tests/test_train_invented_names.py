"""Warm-start episodes with invented names: the same conversation, every database word replaced consistently."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from sqlenv_train.sft import oracle_conversations, sft_rows
from sqlenv_train.transfer import copy_rows, invent_names, invented_copies


def call(messages: list[dict[str, Any]], tool: str) -> str:
    for message in messages:
        for c in message.get("tool_calls") or []:
            if c["function"]["name"] == tool:
                return str(c["function"]["arguments"])
    raise AssertionError(f"no {tool} call")


def tables_line(messages: list[dict[str, Any]]) -> list[str]:
    line = next(x for x in messages[1]["content"].splitlines() if x.startswith("Tables: "))
    return line[len("Tables: ") :].split(", ")


def test_invented_names_replace_every_database_word_consistently() -> None:
    rows = sft_rows(oracle_conversations("procgen:train?seed=4&n=20&level=1-3", describe_first=True))
    same_answer = 0
    for row in rows:
        renamed = invent_names(row, random.Random(7))
        before, after = row["messages"], renamed["messages"]
        assert after[0] == before[0]  # the system prompt is the same for every task
        text = json.dumps(after)
        for name in tables_line(before):
            assert not re.search(rf"\b{re.escape(name)}\b", text), f"{name} survived"
        # The renamed tool calls name the renamed tables: DESCRIBE and SQL still fit the table list.
        described = json.loads(call(after, "describe"))["table"]
        assert described in tables_line(after)
        sql = json.loads(call(after, "query"))["sql"]
        assert any(re.search(rf"\b{re.escape(t)}\b", sql) for t in tables_line(after)), sql
        same_answer += call(after, "answer") == call(before, "answer")
        assert renamed["invented_names"] is True and "invented_names" not in row
    # Values are not names: answers stay as they were (a value may share a word with a column, rarely).
    assert same_answer >= 0.9 * len(rows)


def test_invented_names_are_seeded() -> None:
    row = sft_rows(oracle_conversations("procgen:train?seed=5&n=1&level=1", describe_first=True))[0]
    assert invent_names(row, random.Random(3)) == invent_names(row, random.Random(3))
    assert invent_names(row, random.Random(3)) != invent_names(row, random.Random(4))


def test_invented_copies_give_several_copies_each_with_its_own_names() -> None:
    rows = sft_rows(oracle_conversations("procgen:train?seed=4&n=10&level=1"))
    copies = invented_copies(rows, 2.5, random.Random(0))
    assert 2 * len(rows) <= len(copies) <= 3 * len(rows)
    assert all(c["invented_names"] for c in copies)
    by_question: dict[str, set[str]] = {}
    for c in copies:
        by_question.setdefault(c["question_id"], set()).add(", ".join(tables_line(c["messages"])))
    # every copy of a question names its tables differently
    assert all(len(names) >= 2 for names in by_question.values())
    assert invented_copies(rows, 0.0, random.Random(0)) == []
    with pytest.raises(ValueError, match="at least 0"):
        invented_copies(rows, -1.0, random.Random(0))


def test_copy_rows_call_a_name_that_is_in_the_context_and_never_repeat_one() -> None:
    rows = copy_rows(200, random.Random(3))
    described_tables: list[str] = []
    for row in rows:
        messages = row["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
        table = json.loads(call(messages, "describe"))["table"]
        sql = json.loads(call(messages, "query"))["sql"]
        # The copied span is one of the tables the question lists, and the query names it.
        listed = tables_line([{}, *messages])  # tables_line reads the message after the system prompt
        assert table in listed, (table, listed)
        assert sql.endswith(f" FROM {table}")
        assert messages[2]["content"].startswith(f"Table {table} (")
        # A column the query copies is one DESCRIBE showed.
        column = re.fullmatch(r"SELECT (?:count\(\*\)|(?:avg|max)\((\w+)\)|(\w+)) FROM \w+", sql)
        assert column is not None, sql
        copied = column.group(1) or column.group(2)
        if copied:
            assert f"\n{copied} | " in messages[2]["content"]
        described_tables.append(table)
    # Names are drawn fresh: the task cannot be memorised.
    assert len(set(described_tables)) >= 195
    assert len({row["messages"][0]["content"].split("\n")[0] for row in rows}) >= 195
    with_prompt = copy_rows(1, random.Random(3), include_prompt=True)[0]
    assert with_prompt["messages"][0]["role"] == "system" and with_prompt["tools"]
