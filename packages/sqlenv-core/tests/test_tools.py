from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlenv_core import SQLEnvironment
from sqlenv_core.datasets import builtin
from sqlenv_core.protocol import MAX_ARGUMENT_CHARS
from sqlenv_core.tools import (
    TOOL_NAMES,
    TOOLS,
    ToolCallError,
    get_tool,
    mcp_tool,
    openai_tools,
    render_observation,
    render_start,
    tool_call_to_action,
)


@pytest.fixture(scope="module")
def env() -> SQLEnvironment:
    return SQLEnvironment(builtin("eval"), step_budget=3)


def test_four_tools_with_one_string_argument_each() -> None:
    assert TOOL_NAMES == ("describe", "sample", "query", "answer")
    for schema in openai_tools():
        params = schema["function"]["parameters"]
        assert schema["type"] == "function"
        assert len(params["required"]) == 1
        assert params["properties"][params["required"][0]]["type"] == "string"


def test_mcp_shape_keeps_the_server_argument_names_and_adds_session_id() -> None:
    extra = {"session_id": {"type": "string", "description": "The session_id returned by reset."}}
    tools = {t.name: mcp_tool(t, extra) for t in TOOLS}
    assert tools["query"]["inputSchema"]["required"] == ["sql"]
    assert set(tools["describe"]["inputSchema"]["properties"]) == {"table", "session_id"}
    assert tools["answer"]["inputSchema"]["required"] == ["answer"]


def test_docstring_lists_the_argument_for_schema_generators() -> None:
    doc = get_tool("sample").docstring()
    assert doc.startswith(get_tool("sample").description)
    assert "Args:\n    table: A table name." in doc


@pytest.mark.parametrize(
    ("name", "arguments", "action_type", "argument"),
    [
        ("describe", {"table": "sites"}, "DESCRIBE", "sites"),
        ("sample", '{"table": "sites"}', "SAMPLE", "sites"),
        ("query", {"sql": "SELECT 1"}, "QUERY", "SELECT 1"),
        ("answer", {"answer": "Paris"}, "ANSWER", "Paris"),
        ("answer", {"answer": [1, 2]}, "ANSWER", "[1, 2]"),
        ("answer", '{"answer": 42}', "ANSWER", "42"),
        ("answer", {"answer": ""}, "ANSWER", ""),
    ],
)
def test_tool_calls_become_actions(name: str, arguments: object, action_type: str, argument: str) -> None:
    action = tool_call_to_action(name, arguments)  # type: ignore[arg-type]
    assert (action.action_type, action.argument) == (action_type, argument)


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("drop", {}, "unknown tool 'drop'; the tools are describe, sample, query, answer"),
        ("query", "{", "not valid JSON"),
        ("query", "[1]", "must be a JSON object"),
        ("query", {}, "needs the argument 'sql'"),
        ("query", None, "needs the argument 'sql'"),
        ("query", {"sql": 1}, "'sql' must be a string, got int"),
        ("query", {"sql": "SELECT 1", "limit": 3}, "unexpected limit"),
        ("describe", {"table": "   "}, "needs a non-empty 'table'"),
        ("query", {"sql": "x" * (MAX_ARGUMENT_CHARS + 1)}, "the limit is"),
        ("query", "{" + " " * (3 * MAX_ARGUMENT_CHARS) + "}", "far over the limit"),
    ],
)
def test_bad_tool_calls_get_a_clear_error(name: str, arguments: object, message: str) -> None:
    with pytest.raises(ToolCallError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tool_call_to_action(name, arguments)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=300), st.one_of(st.text(max_size=300), st.dictionaries(st.text(max_size=10), st.text(max_size=10)))
)
def test_any_tool_call_is_an_action_or_a_tool_call_error(name: str, arguments: str | dict[str, str]) -> None:
    try:
        tool_call_to_action(name, arguments)
    except ToolCallError as exc:
        assert str(exc)


def test_rendering_shows_question_tables_budget_errors_and_the_end(env: SQLEnvironment) -> None:
    start = env.reset(question_id=env.dataset.questions[0].id)
    text = render_observation(start)
    assert text == render_start(start)
    assert text.startswith(f"Question: {start.question}\nTables: ")
    assert text.endswith("[3 steps left]")
    bad = env.step(tool_call_to_action("query", {"sql": "SELECT nope"}))
    assert render_observation(bad) == "Error: SQL error: no such column: nope\n[2 steps left]"
    done = env.step(tool_call_to_action("answer", {"answer": "1"}))
    assert render_observation(done).endswith("[the episode is over; do not call more tools]")
    again = env.step(tool_call_to_action("query", {"sql": "SELECT 1"}))
    assert render_observation(again).startswith("Error: the episode is over")


def test_budget_exhaustion_says_why_the_episode_ended(env: SQLEnvironment) -> None:
    env.reset(question_id=env.dataset.questions[0].id)
    obs = None
    for _ in range(3):
        obs = env.step(tool_call_to_action("query", {"sql": "SELECT 1"}))
    assert obs is not None and obs.done
    assert render_observation(obs).endswith("[the episode is over (step budget exhausted); do not call more tools]")


@pytest.mark.parametrize("max_chars", [200, 500, 1500])
def test_long_results_are_cut_to_the_cap_with_a_note(env: SQLEnvironment, max_chars: int) -> None:
    env.reset(question_id=env.dataset.questions[0].id)
    obs = env.step(tool_call_to_action("query", {"sql": "SELECT * FROM observations"}))
    text = render_observation(obs, max_chars=max_chars)
    assert len(text) <= max_chars
    assert "more characters not shown)" in text
    assert text.endswith("[2 steps left]")


def test_schemas_are_json_serialisable() -> None:
    assert json.loads(json.dumps(openai_tools())) == openai_tools()
