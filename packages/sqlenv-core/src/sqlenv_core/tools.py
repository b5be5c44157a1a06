"""The four tools an LLM agent calls, defined once for every way a model meets SQLEnv.

TRL's ``environment_factory`` adapter, the OpenAI-style :class:`~sqlenv_train.LLMPolicy`, the local
:class:`~sqlenv_train.HFPolicy` and the server's MCP route all take the tool names, descriptions and
argument schemas from here, turn a tool call into an :class:`~sqlenv_core.protocol.SQLAction` with
:func:`tool_call_to_action`, and show the model an observation with :func:`render_observation`, so
a model sees the same tools and the same text wherever it plays.

Example:
    >>> from sqlenv_core.tools import TOOLS, tool_call_to_action
    >>> [tool.name for tool in TOOLS]
    ['describe', 'sample', 'query', 'answer']
    >>> tool_call_to_action("query", '{"sql": "SELECT 1"}')
    SQLAction(action_type='QUERY', argument='SELECT 1', metadata={})
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlenv_core.protocol import MAX_ARGUMENT_CHARS, ActionType, SQLAction, SQLObservation

__all__ = [
    "DEFAULT_MAX_CHARS",
    "SYSTEM_PROMPT",
    "TOOLS",
    "TOOL_NAMES",
    "Tool",
    "ToolCallError",
    "get_tool",
    "mcp_tool",
    "openai_tools",
    "render_observation",
    "render_start",
    "tool_call_to_action",
]

#: Longest tool result a model is shown (characters); the rest is cut with a note saying so.
DEFAULT_MAX_CHARS = 1500
#: Longest raw ``arguments`` JSON accepted from a model (the action's own cap, plus quoting room).
_MAX_ARGUMENTS_JSON_CHARS = 2 * MAX_ARGUMENT_CHARS

SYSTEM_PROMPT = (
    "You answer a question about a SQLite database you cannot see. Explore it with the tools: "
    "describe a table, sample its rows, run read-only SQL queries. Every call uses one step of a "
    "limited budget. When you know the answer, call answer once with the value(s): a number, a "
    "text, or a JSON list of values or rows. The episode ends at answer."
)


class ToolCallError(ValueError):
    """A tool call a model made cannot become an action; the message says how to fix it."""


@dataclass(frozen=True)
class Tool:
    """One tool: its name, what it does, and its single string argument.

    Attributes:
        name: what the model calls (``describe``, ``sample``, ``query``, ``answer``).
        action_type: the :class:`SQLAction` type the call becomes.
        description: one or two sentences the model reads.
        parameter: the argument's name.
        parameter_description: what the argument holds.
    """

    name: str
    action_type: ActionType
    description: str
    parameter: str
    parameter_description: str

    def input_schema(self, extra_properties: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON schema of the arguments (``extra_properties`` are added as optional fields)."""
        properties: dict[str, Any] = {self.parameter: {"type": "string", "description": self.parameter_description}}
        properties.update(extra_properties or {})
        return {"type": "object", "properties": properties, "required": [self.parameter]}

    def openai_schema(self) -> dict[str, Any]:
        """The tool as OpenAI's chat-completions API (and Hugging Face chat templates) take it."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.input_schema()},
        }

    def docstring(self) -> str:
        """A Google-style docstring from which ``transformers.get_json_schema`` derives the same schema."""
        return f"{self.description}\n\nArgs:\n    {self.parameter}: {self.parameter_description}\n"


TOOLS: tuple[Tool, ...] = (
    Tool("describe", "DESCRIBE", "Show the columns and types of a table, and its row count.", "table", "A table name."),
    Tool("sample", "SAMPLE", "Show the first rows of a table.", "table", "A table name."),
    Tool(
        "query",
        "QUERY",
        "Run one read-only SQL statement (SQLite) and see up to 20 rows of its result.",
        "sql",
        "The SQL query.",
    ),
    Tool(
        "answer",
        "ANSWER",
        "Give the final answer and end the episode; the reply says whether it was correct.",
        "answer",
        "The answer: a value, or a JSON list of values or of rows.",
    ),
)
TOOL_NAMES: tuple[str, ...] = tuple(tool.name for tool in TOOLS)
_BY_NAME = {tool.name: tool for tool in TOOLS}


def get_tool(name: str) -> Tool:
    """The tool called ``name``.

    Raises:
        ToolCallError: there is no such tool; the message lists the tools.
    """
    tool = _BY_NAME.get(name)
    if tool is None:
        raise ToolCallError(f"unknown tool {_clip(repr(name), 80)}; the tools are {', '.join(TOOL_NAMES)}")
    return tool


def openai_tools() -> list[dict[str, Any]]:
    """All four tools in OpenAI's ``tools=[...]`` format."""
    return [tool.openai_schema() for tool in TOOLS]


def mcp_tool(tool: Tool, extra_properties: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A tool as MCP's ``tools/list`` lists it (``extra_properties``: e.g. a ``session_id`` field)."""
    return {"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema(extra_properties)}


def tool_call_to_action(name: str, arguments: Mapping[str, object] | str | None) -> SQLAction:
    """Turn a model's tool call into the action it stands for.

    Args:
        name: the tool the model called.
        arguments: the arguments, as a mapping or as the JSON text an API returns. Unknown extra
            arguments are rejected (the model learns the schema from the error); an ``answer``
            given as a number or a list is sent as its JSON text.

    Raises:
        ToolCallError: unknown tool, arguments that are not a JSON object, a missing or
            non-text argument, or one over the size limit. Checks are linear in the input size.
    """
    tool = get_tool(name)
    args = _arguments_mapping(tool, arguments)
    unknown = sorted(str(key) for key in args if key != tool.parameter)
    if unknown:
        raise ToolCallError(
            f"{tool.name} takes one argument {tool.parameter!r}; unexpected {', '.join(_clip(k, 40) for k in unknown)}"
        )
    if tool.parameter not in args:
        raise ToolCallError(f"{tool.name} needs the argument {tool.parameter!r} ({tool.parameter_description})")
    value = args[tool.parameter]
    if isinstance(value, str):
        text = value
    elif tool.name == "answer":
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ToolCallError(f"answer must be text, a number or a JSON list: {exc}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool) and tool.parameter == "table":
        text = str(value)
    else:
        raise ToolCallError(f"{tool.name}: {tool.parameter!r} must be a string, got {type(value).__name__}")
    if len(text) > MAX_ARGUMENT_CHARS:
        raise ToolCallError(
            f"{tool.name}: {tool.parameter!r} is {len(text)} characters; the limit is {MAX_ARGUMENT_CHARS}"
        )
    if tool.name != "answer" and not text.strip():
        raise ToolCallError(f"{tool.name} needs a non-empty {tool.parameter!r} ({tool.parameter_description})")
    return SQLAction(action_type=tool.action_type, argument=text)


def _arguments_mapping(tool: Tool, arguments: Mapping[str, object] | str | None) -> Mapping[str, object]:
    if arguments is None:
        return {}
    if isinstance(arguments, str):
        if len(arguments) > _MAX_ARGUMENTS_JSON_CHARS:
            raise ToolCallError(f"{tool.name}: the arguments are {len(arguments)} characters; far over the limit")
        if not arguments.strip():
            return {}
        try:
            parsed: object = json.loads(arguments)
        except ValueError as exc:
            raise ToolCallError(
                f"{tool.name}: the arguments are not valid JSON ({exc}); send an object like "
                f'{{"{tool.parameter}": "..."}}'
            ) from None
        if not isinstance(parsed, dict):
            raise ToolCallError(f'{tool.name}: the arguments must be a JSON object like {{"{tool.parameter}": "..."}}')
        return {str(k): v for k, v in cast(dict[Any, Any], parsed).items()}
    return arguments


def render_start(observation: SQLObservation, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The text a model reads at the start of an episode: the question, the tables, the budget."""
    lines = [f"Question: {observation.question}", observation.schema_info]
    if observation.result:
        lines.append(observation.result)
    lines.append(f"[{observation.budget_remaining} steps left]")
    return _cap("\n".join(lines), max_chars)


def render_observation(observation: SQLObservation, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The text a model reads after a tool call: the result or the error, capped, and the steps left.

    The first observation of an episode (``step_count == 0``) renders as :func:`render_start`. Once
    the episode is over the text says so, and that no more tools should be called.
    """
    if observation.step_count == 0 and not observation.done and not observation.error:
        return render_start(observation, max_chars=max_chars)
    body = f"Error: {observation.error}" if observation.error else observation.result
    if observation.done:
        verdict: Any = observation.info.get("verdict")
        reason = str(cast(Mapping[str, Any], verdict).get("reason", "")) if isinstance(verdict, Mapping) else ""
        if observation.error or body.startswith("Answer ") or not reason:
            status = "the episode is over; do not call more tools"
        else:
            status = f"the episode is over ({reason}); do not call more tools"
    else:
        status = f"{observation.budget_remaining} steps left"
    status_line = f"[{status}]"
    return _cap(body, max(max_chars - len(status_line) - 1, 0)) + "\n" + status_line


def _cap(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    note = f"\n... (cut: {len(text) - max_chars} more characters not shown)"
    keep = max(max_chars - len(note), 0)
    return text[:keep] + note


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
