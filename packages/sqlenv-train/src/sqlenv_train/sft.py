"""Warm start: episodes exported as a chat dataset with tool calls, and an SFT step before GRPO.

Agents trained with GRPO from a base model often never call a tool (every rollout scores the same,
so there is nothing to learn from). The standard cure is a short supervised warm start on
successful episodes written in exactly the format GRPO will use: the same system prompt, the same
start text, the same tool calls and tool results (:mod:`sqlenv_core.tools`), rendered by the
same chat template.

:func:`episode_conversations` plays any policy (the oracle by default) and keeps its episodes as
conversations; :func:`write_sft_data` writes them as JSONL for TRL's ``SFTTrainer`` (``messages``,
``tools`` and ``chat_template_kwargs`` columns); :func:`run_sft` trains on them. Only
:func:`run_sft` needs the training stack.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlenv_core.datasets import Dataset, load
from sqlenv_core.environment import SQLEnvironment
from sqlenv_core.protocol import Cell, SQLAction, SQLObservation, SQLState
from sqlenv_core.tools import DEFAULT_MAX_CHARS, SYSTEM_PROMPT, TOOLS, render_observation, render_start
from sqlenv_train._deps import require
from sqlenv_train.adapter import trl_tool_schemas
from sqlenv_train.policies import Policy

__all__ = [
    "Conversation",
    "ScriptedOraclePolicy",
    "answer_text",
    "episode_conversations",
    "oracle_conversations",
    "read_sft_data",
    "run_sft",
    "sft_rows",
    "tool_call_message",
    "write_sft_data",
]

_TOOL_OF_ACTION = {tool.action_type: tool for tool in TOOLS}
logger = logging.getLogger("sqlenv_train")


@dataclass(frozen=True)
class Conversation:
    """One episode as chat messages (system, user, then assistant tool calls and tool results)."""

    question_id: str
    db_id: str
    difficulty: str
    messages: list[dict[str, Any]]
    correct: bool
    total_reward: float
    policy: str


def answer_text(rows: Sequence[Sequence[Cell]]) -> str:
    """An answer a person would write for a result: a scalar, a JSON list of values, or of rows."""
    if len(rows) == 1 and len(rows[0]) == 1:
        value = rows[0][0]
        return value if isinstance(value, str) else json.dumps(value)
    if rows and all(len(row) == 1 for row in rows):
        return json.dumps([row[0] for row in rows], ensure_ascii=False)
    return json.dumps([list(row) for row in rows], ensure_ascii=False)


def tool_call_message(action: SQLAction, call_id: str) -> dict[str, Any]:
    """The assistant message that makes ``action`` as a tool call (OpenAI / Hugging Face shape)."""
    tool = _TOOL_OF_ACTION[action.action_type]
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": tool.name, "arguments": {tool.parameter: action.argument}},
            }
        ],
    }


class ScriptedOraclePolicy:
    """The oracle, written the way a careful agent works: optionally DESCRIBE a table, QUERY, ANSWER.

    Args:
        dataset: the dataset the environment serves (for the gold SQL and result).
        describe_first: DESCRIBE the first table the gold SQL names before querying.
    """

    name = "oracle"

    def __init__(self, dataset: Dataset, *, describe_first: bool = False) -> None:
        self._dataset = dataset
        self._describe_first = describe_first
        self._plan: list[SQLAction] = []

    def reset(self) -> None:
        """Forget the previous episode's plan."""
        self._plan = []

    def act(self, observation: SQLObservation, state: SQLState) -> SQLAction:
        """The next step of the plan (made at the first step of the episode)."""
        if state.question_id is None:
            raise ValueError("the oracle needs an episode in progress (no question_id in state)")
        if not self._plan and state.step_count == 0:
            self._plan = self._make_plan(state.question_id, state.db_id or "")
        if not self._plan:
            raise RuntimeError("the oracle's plan is used up; the episode should have ended")
        return self._plan.pop(0)

    def _make_plan(self, question_id: str, db_id: str) -> list[SQLAction]:
        question = self._dataset.question(question_id)
        plan: list[SQLAction] = []
        if self._describe_first:
            words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", question.gold_sql)}
            tables = [t for t in self._dataset.table_names(db_id) if t.lower() in words]
            if tables:
                plan.append(SQLAction(action_type="DESCRIBE", argument=tables[0]))
        plan.append(SQLAction(action_type="QUERY", argument=question.gold_sql))
        plan.append(SQLAction(action_type="ANSWER", argument=answer_text(self._dataset.gold(question_id).rows)))
        return plan


def episode_conversations(
    policy: Policy,
    dataset: Dataset,
    *,
    question_ids: Iterable[str] | None = None,
    step_budget: int = 15,
    system_prompt: str = SYSTEM_PROMPT,
    max_chars: int = DEFAULT_MAX_CHARS,
    only_correct: bool = True,
) -> list[Conversation]:
    """Play one episode per question with ``policy`` and keep each as a conversation.

    The messages are exactly what GRPO shows and expects: the system prompt, the start text as
    the user message, one tool call per assistant turn, each tool result as rendered by
    :func:`sqlenv_core.tools.render_observation`, and an empty closing assistant turn (the model
    learns to stop once the answer is in).

    Args:
        policy: any policy (``ScriptedOraclePolicy``, ``OraclePolicy``, ``RandomPolicy``, ...).
        dataset: the questions.
        question_ids: which questions (default: all).
        step_budget: the environment's budget.
        system_prompt: the system message.
        max_chars: the cap on tool results.
        only_correct: keep only episodes whose answer was right.
    """
    env = SQLEnvironment(dataset, step_budget=step_budget)
    ids = list(question_ids) if question_ids is not None else [q.id for q in dataset]
    conversations: list[Conversation] = []
    try:
        for question_id in ids:
            policy.reset()
            observation = env.reset(question_id=question_id)
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": render_start(observation, max_chars=max_chars)},
            ]
            turn = 0
            while not observation.done and turn < step_budget + 1:
                action = policy.act(observation, env.state)
                turn += 1
                call = tool_call_message(action, f"call_{turn}")
                messages.append(call)
                observation = env.step(action)
                name = call["tool_calls"][0]["function"]["name"]
                messages.append(
                    {"role": "tool", "name": name, "content": render_observation(observation, max_chars=max_chars)}
                )
            messages.append({"role": "assistant", "content": ""})
            verdict: Any = observation.info.get("verdict") or {}
            correct = bool(verdict.get("correct"))
            if only_correct and not correct:
                continue
            question = dataset.question(question_id)
            conversations.append(
                Conversation(
                    question_id,
                    question.db_id,
                    question.difficulty,
                    messages,
                    correct,
                    env.state.total_reward,
                    policy.name,
                )
            )
    finally:
        env.close()
    return conversations


def oracle_conversations(dataset: Dataset | str, *, describe_first: bool = False) -> list[Conversation]:
    """The scripted oracle's conversation for every question of ``dataset``."""
    data = load(dataset) if isinstance(dataset, str) else dataset
    return episode_conversations(ScriptedOraclePolicy(data, describe_first=describe_first), data)


def sft_rows(conversations: Iterable[Conversation]) -> list[dict[str, Any]]:
    """Rows for TRL's ``SFTTrainer``: ``messages``, ``tools`` and ``chat_template_kwargs``.

    The tool schemas are :func:`~sqlenv_train.adapter.trl_tool_schemas`, the dicts GRPO and
    :class:`~sqlenv_train.hf.HFPolicy` render, so the warm start sees the same system prompt.
    Tool-call arguments and the tool schemas are stored as JSON text: Arrow would otherwise merge
    the different argument names of the four tools into one struct padded with nulls, and the
    chat template would render those nulls.
    """
    tools = json.dumps(trl_tool_schemas())
    rows: list[dict[str, Any]] = []
    for conv in conversations:
        messages: list[dict[str, Any]] = []
        for message in conv.messages:
            out = {"role": message["role"], "content": message.get("content") or ""}
            if message.get("tool_calls"):
                out["tool_calls"] = [
                    {
                        "type": "function",
                        "function": {
                            "name": call["function"]["name"],
                            "arguments": json.dumps(call["function"]["arguments"], ensure_ascii=False),
                        },
                    }
                    for call in message["tool_calls"]
                ]
            if message.get("name"):
                out["name"] = message["name"]
            messages.append(out)
        rows.append(
            {
                "messages": messages,
                "tools": tools,
                "chat_template_kwargs": {"enable_thinking": False},
                "question_id": conv.question_id,
                "db_id": conv.db_id,
                "difficulty": conv.difficulty,
                "policy": conv.policy,
            }
        )
    return rows


def write_sft_data(conversations: Iterable[Conversation], out: str | Path) -> Path:
    """Write :func:`sft_rows` as JSON lines; returns the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in sft_rows(conversations):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_sft_data(path: str | Path) -> list[dict[str, Any]]:
    """Read a file written by :func:`write_sft_data`.

    Raises:
        ValueError: a line is not a JSON object with ``messages`` (the message names the line).
    """
    rows: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
                raise ValueError(f"{path}:{number}: expected an object with a 'messages' list")
            rows.append(row)  # pyright: ignore[reportUnknownArgumentType]
    return rows


def run_sft(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    *,
    max_steps: int,
    learning_rate: float = 3e-3,
    batch_size: int = 8,
    seed: int = 0,
    show_progress: bool = True,
    max_length: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
    all_tokens: bool = False,
    lr_decay: bool = False,
) -> dict[str, float]:
    """Supervised warm start, loss on the assistant turns only; trains ``model`` in place.

    Each row is rendered with the tokenizer's chat template (TRL's prefix-preserving training
    variant of it where TRL has one, the same one GRPO renders with) and masked with the
    template's ``{% generation %}`` markers, so the model learns exactly the tokens it will
    generate during GRPO. The loop is plain PyTorch: TRL's ``SFTTrainer`` takes the same rows
    (``messages``, ``tools``, ``chat_template_kwargs``), but on a tiny CPU model its per-step
    overhead was ten times the step itself.

    Args:
        model: a loaded causal LM.
        tokenizer: its tokenizer, with a chat template that supports tools.
        rows: from :func:`sft_rows` or :func:`read_sft_data`.
        max_steps: optimiser steps.
        learning_rate: AdamW's learning rate (constant after a short warm-up).
        batch_size: conversations per step.
        seed: shuffling and dropout seed.
        show_progress: draw a progress bar.
        max_length: drop conversations longer than this many tokens (``None``: keep all); a
            warning counts them. A batch is padded to its longest conversation, so this bounds
            the step's memory.
        on_step: called with ``(step, loss)`` after every step (1-based), e.g. to log the loss.
        all_tokens: learn every token of the conversation (the question, the tool results), not
            only the assistant's: a model trained from scratch then also learns from the names
            repeated between the question, the table list, the tool results and its calls, which
            is how it learns to copy a name it never saw (``loss`` then counts all of them).
        lr_decay: after the warm-up, lower the learning rate along a cosine to a tenth of it by
            the last step (a fixed budget of steps ends lower this way) instead of keeping it.

    Returns:
        ``first_loss`` and ``last_loss`` (mean of the first and last ten steps), ``steps``,
        ``examples`` (conversations trained on), ``dropped_too_long`` and ``final_learning_rate``.
    """
    if not rows:
        raise ValueError("no SFT rows: export successful episodes first (sqlenv-train sft-data)")
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    torch = require("torch")
    examples = [_tokenize_for_sft(tokenizer, row) for row in rows]
    examples = [e for e in examples if any(e[1])]
    if not examples:
        raise ValueError("no assistant tokens to learn from: the chat template has no {% generation %} markers")
    too_long = 0
    if max_length is not None:
        kept = [e for e in examples if len(e[0]) <= max_length]
        too_long = len(examples) - len(kept)
        if not kept:
            longest = min(len(ids) for ids, _ in examples)
            raise ValueError(
                f"every warm-start conversation is longer than max_length={max_length} tokens "
                f"(the shortest has {longest}); raise sft_max_length or cap tool results (max_chars)"
            )
        if too_long:
            logger.warning(
                "warm start: %d of %d conversations are longer than %d tokens and were left out",
                too_long,
                len(examples),
                max_length,
            )
        examples = kept
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    warmup = max(1, min(10, max_steps // 10))

    def warmed_up(step: int) -> float:
        if step < warmup or not lr_decay:
            return min(1.0, (step + 1) / warmup)
        progress = (step - warmup) / max(1, max_steps - warmup)
        return 0.1 + 0.45 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmed_up)
    model.train()
    losses: list[float] = []
    from sqlenv_train._progress import progress_bar

    order: list[int] = []
    with progress_bar("warm start (SFT)", max_steps, enabled=show_progress) as advance:
        for _ in range(max_steps):
            if len(order) < batch_size:
                order += torch.randperm(len(examples), generator=generator).tolist()
            batch = [examples[i] for i in order[:batch_size]]
            del order[:batch_size]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            for row, (ids, mask) in enumerate(batch):
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, : len(ids)] = torch.tensor(
                    [t if m or all_tokens else -100 for t, m in zip(ids, mask, strict=True)]
                )
            # Padding is on the right and attention is causal, so no real token ever attends to a pad
            # token: no attention mask is needed, and without one attention takes its fast causal
            # path (with the mask a tiny model's CPU step took three times as long).
            out = model(input_ids=input_ids.to(device), labels=labels.to(device))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(out.loss.detach()))
            advance(loss=losses[-1])
            if on_step is not None:
                on_step(len(losses), losses[-1])
    model.eval()
    head, tail = losses[:10], losses[-10:]
    return {
        "first_loss": sum(head) / len(head),
        "last_loss": sum(tail) / len(tail),
        "steps": float(len(losses)),
        "examples": float(len(examples)),
        "dropped_too_long": float(too_long),
        "final_learning_rate": float(scheduler.get_last_lr()[0]),
    }


def _tokenize_for_sft(tokenizer: Any, row: dict[str, Any]) -> tuple[list[int], list[int]]:
    tools = row.get("tools")
    tools = json.loads(tools) if isinstance(tools, str) else tools
    kwargs: dict[str, Any] = dict(row.get("chat_template_kwargs") or {"enable_thinking": False})
    rendered = tokenizer.apply_chat_template(
        row["messages"],
        tools=tools,
        chat_template=training_chat_template(tokenizer),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        **kwargs,
    )
    return list(rendered["input_ids"]), list(rendered["assistant_masks"])


def training_chat_template(tokenizer: Any) -> str | None:
    """TRL's prefix-preserving training variant of the tokenizer's template (``None``: use it as is)."""
    try:
        utils = require("trl.chat_template_utils")
    except ImportError:
        return None
    template = utils.get_training_chat_template(tokenizer)
    return None if template is None else str(template)
