"""Policies that are chat models calling the four tools: the shared conversation logic.

:class:`ChatPolicy` keeps the conversation of an episode (system prompt, the start text, the
model's tool calls and the rendered tool results, exactly as in GRPO training), turns each tool
call into an action, and counts what goes wrong. :class:`~sqlenv_train.LLMPolicy` (an
OpenAI-compatible endpoint) and :class:`~sqlenv_train.HFPolicy` (a local transformers model)
only implement :meth:`ChatPolicy.complete`.

What happens when the model does not play by the rules:

* a tool call with bad arguments or an unknown tool: the error goes back to the model as the
  tool's result (no environment step is spent), counted in ``format_errors``;
* a turn with no tool call: counted in ``no_tool_call``; the episode ends with no answer (as
  in TRL, where such a turn ends the rollout), or, with ``text_as_answer=True``, the text is
  submitted as the answer;
* a tool call that cannot be parsed at all: counted in ``malformed``; the episode ends;
* after ``max_format_errors`` format errors or ``max_model_calls`` model calls, it gives up.

Giving up sends an empty ANSWER, so the episode ends (incorrect) and the report says why.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState
from sqlenv_core.tools import (
    DEFAULT_MAX_CHARS,
    SYSTEM_PROMPT,
    ToolCallError,
    render_observation,
    render_start,
    tool_call_to_action,
)
from sqlenv_train._json import as_object

__all__ = ["AssistantTurn", "ChatPolicy", "EpisodeStats", "ToolCall", "parse_hermes_tool_calls"]


@dataclass(frozen=True)
class ToolCall:
    """One tool call as a model made it (``arguments`` as the JSON text it sent, or a mapping)."""

    id: str
    name: str
    arguments: str | dict[str, Any]

    def arguments_json(self) -> str:
        """The arguments as JSON text (as the OpenAI API carries them)."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments, ensure_ascii=False)


@dataclass
class AssistantTurn:
    """One reply of the model."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list[ToolCall])
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    retries: int = 0
    malformed: str = ""


@dataclass
class EpisodeStats:
    """Per-episode usage and format counts of a chat policy."""

    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    retries: int = 0
    tool_calls: int = 0
    format_errors: int = 0
    no_tool_call: int = 0
    malformed: int = 0
    gave_up: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


class ChatPolicy:
    """Base class of policies that are chat models with native tool calls.

    Args:
        name: the name reports show.
        system_prompt: the system message (default: the one GRPO trains with).
        max_chars: cap on tool results shown to the model.
        max_format_errors: give up after this many format errors in an episode.
        max_model_calls: give up after this many model calls in an episode.
        text_as_answer: submit a reply without a tool call as the answer (default: no answer).
    """

    def __init__(
        self,
        name: str,
        *,
        system_prompt: str = SYSTEM_PROMPT,
        max_chars: int = DEFAULT_MAX_CHARS,
        max_format_errors: int = 3,
        max_model_calls: int = 40,
        text_as_answer: bool = False,
    ) -> None:
        self.name = name
        self.system_prompt = system_prompt
        self.max_chars = max_chars
        self.max_format_errors = max_format_errors
        self.max_model_calls = max_model_calls
        self.text_as_answer = text_as_answer
        self.messages: list[dict[str, Any]] = []
        self.stats = EpisodeStats()
        self._pending: deque[ToolCall] = deque()
        self._awaiting: ToolCall | None = None

    def complete(self, messages: list[dict[str, Any]]) -> AssistantTurn:
        """The model's next reply to ``messages`` (OpenAI chat format). Subclasses implement it."""
        raise NotImplementedError

    def reset(self) -> None:
        """Start a new conversation."""
        self.messages = []
        self.stats = EpisodeStats()
        self._pending.clear()
        self._awaiting = None

    def episode_stats(self) -> dict[str, Any]:
        """Usage and format counts of the episode so far (for the evaluation report)."""
        return self.stats.to_dict()

    def act(self, observation: SQLObservation, state: SQLState) -> SQLAction:
        """Show the model the latest observation and return the action of its next tool call."""
        if not self.messages:
            self.messages = [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": render_start(observation, max_chars=self.max_chars)},
            ]
        elif self._awaiting is not None:
            self._tool_result(self._awaiting, render_observation(observation, max_chars=self.max_chars))
            self._awaiting = None
        while True:
            while self._pending:
                call = self._pending.popleft()
                self.stats.tool_calls += 1
                try:
                    action = tool_call_to_action(call.name, call.arguments)
                except ToolCallError as exc:
                    self.stats.format_errors += 1
                    self._tool_result(call, f"Error: {exc}")
                    continue
                self._awaiting = call
                return action
            if self.stats.format_errors >= self.max_format_errors:
                return self._give_up(f"{self.stats.format_errors} format errors")
            if self.stats.model_calls >= self.max_model_calls:
                return self._give_up(f"{self.stats.model_calls} model calls without an answer")
            turn = self.complete(self.messages)
            self._record(turn)
            if turn.malformed:
                self.stats.malformed += 1
                self.stats.format_errors += 1
                return self._give_up(f"malformed tool call: {turn.malformed}")
            if not turn.tool_calls:
                self.stats.no_tool_call += 1
                self.stats.format_errors += 1
                if self.text_as_answer and turn.content.strip():
                    return SQLAction(action_type="ANSWER", argument=turn.content.strip())
                return self._give_up("replied without a tool call")
            self._pending.extend(turn.tool_calls)

    def _record(self, turn: AssistantTurn) -> None:
        stats = self.stats
        stats.model_calls += 1
        stats.prompt_tokens += turn.prompt_tokens
        stats.completion_tokens += turn.completion_tokens
        stats.latency_s += turn.latency_s
        stats.retries += turn.retries
        message: dict[str, Any] = {"role": "assistant", "content": turn.content}
        if turn.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
                for c in turn.tool_calls
            ]
        self.messages.append(message)

    def _tool_result(self, call: ToolCall, text: str) -> None:
        self.messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": text})

    def _give_up(self, reason: str) -> SQLAction:
        self.stats.gave_up = reason
        self._pending.clear()
        return SQLAction(action_type="ANSWER", argument="")


def parse_hermes_tool_calls(text: str, *, id_prefix: str = "call") -> AssistantTurn:
    """Parse a Qwen/Hermes-style reply: free text and ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` blocks.

    A ``<think>...</think>`` block is dropped. Scanning is linear in the length of the text.

    Returns:
        The turn; ``malformed`` says what was wrong when a block could not be read (then no calls).
    """
    body = text
    if "</think>" in body:
        body = body.split("</think>", 1)[1]
    calls: list[ToolCall] = []
    content_parts: list[str] = []
    position = 0
    while True:
        start = body.find("<tool_call>", position)
        if start < 0:
            content_parts.append(body[position:])
            break
        content_parts.append(body[position:start])
        end = body.find("</tool_call>", start)
        if end < 0:
            return AssistantTurn(content=body.strip(), malformed="<tool_call> without </tool_call>")
        raw = body[start + len("<tool_call>") : end].strip()
        try:
            parsed = as_object(json.loads(raw))
        except ValueError as exc:
            return AssistantTurn(content=body.strip(), malformed=f"not JSON: {exc}")
        if parsed is None or not isinstance(parsed.get("name"), str):
            return AssistantTurn(content=body.strip(), malformed='expected {"name": ..., "arguments": {...}}')
        arguments: object = parsed.get("arguments", {})
        args: str | dict[str, Any] | None = arguments if isinstance(arguments, str) else as_object(arguments)
        if args is None:
            return AssistantTurn(content=body.strip(), malformed="arguments must be an object")
        calls.append(ToolCall(f"{id_prefix}_{len(calls)}", str(parsed["name"]), args))
        position = end + len("</tool_call>")
    return AssistantTurn(content="".join(content_parts).strip(), tool_calls=calls)
