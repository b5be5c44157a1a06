"""``HFPolicy``: a local transformers model with its chat template, as a SQLEnv policy.

The conversation is rendered with the tokenizer's chat template and the same tool schemas TRL
renders during GRPO (``enable_thinking=False`` for Qwen3-style templates), so a model is
evaluated on exactly the prompts it was trained on. Replies are read as Qwen/Hermes-style
``<tool_call>{...}</tool_call>`` blocks (Qwen2.5, Qwen3, Hermes and the tiny local model).

Needs the ``train`` extra (torch, transformers).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlenv_train._deps import require
from sqlenv_train.adapter import trl_tool_schemas
from sqlenv_train.chat import AssistantTurn, ChatPolicy, parse_hermes_tool_calls

__all__ = ["HFPolicy"]


class HFPolicy(ChatPolicy):
    """A causal LM run locally with ``generate``.

    Args:
        model: a model name or folder for ``AutoModelForCausalLM.from_pretrained``, or a loaded model.
        tokenizer: its tokenizer (loaded from ``model`` when that is a name or folder).
        name: the name reports show (default: ``hf:<model>``).
        temperature: 0 for greedy decoding (repeatable), else sampling.
        max_new_tokens: longest reply per turn.
        chat_template_kwargs: passed to ``apply_chat_template`` (default ``{"enable_thinking": False}``).
        device: ``"cpu"``, ``"cuda"``, ... (default: where the model is, or CUDA when available).
        seed: seeds sampling.
        **kwargs: passed to :class:`~sqlenv_train.chat.ChatPolicy`.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        name: str | None = None,
        temperature: float = 0.0,
        max_new_tokens: int = 256,
        chat_template_kwargs: dict[str, Any] | None = None,
        device: str | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        torch = require("torch")
        transformers = require("transformers")
        label = model if isinstance(model, str | Path) else getattr(getattr(model, "config", None), "_name_or_path", "")
        super().__init__(name or f"hf:{Path(str(label)).name or 'model'}", **kwargs)
        if isinstance(model, str | Path):
            tokenizer = tokenizer or transformers.AutoTokenizer.from_pretrained(str(model))
            model = transformers.AutoModelForCausalLM.from_pretrained(str(model))
            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
        if tokenizer is None:
            raise ValueError("pass the tokenizer with a loaded model")
        if device is not None:
            model = model.to(device)
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.chat_template_kwargs = dict(chat_template_kwargs or {"enable_thinking": False})
        self._torch = torch
        self._generator_seed = seed
        self._turns = 0

    def complete(self, messages: list[dict[str, Any]]) -> AssistantTurn:
        """Render, generate one reply, and parse its tool calls."""
        torch = self._torch
        started = time.perf_counter()
        encoded = self.tokenizer.apply_chat_template(
            _hf_messages(messages),
            tools=trl_tool_schemas(),
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            **self.chat_template_kwargs,
        )
        device = next(self.model.parameters()).device
        input_ids = encoded["input_ids"].to(device)
        attention = encoded["attention_mask"].to(device)
        sampling = self.temperature > 0
        self._turns += 1
        if sampling:
            torch.manual_seed(self._generator_seed + self._turns)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.no_grad():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=self.max_new_tokens,
                do_sample=sampling,
                temperature=self.temperature if sampling else None,
                top_p=None,
                top_k=None,
                pad_token_id=pad,
            )
        new_tokens = output[0][input_ids.shape[1] :]
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        turn = parse_hermes_tool_calls(text, id_prefix=f"call_{self._turns}")
        turn.prompt_tokens = int(input_ids.shape[1])
        turn.completion_tokens = int(new_tokens.shape[0])
        turn.latency_s = time.perf_counter() - started
        return turn


def _hf_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-format messages (arguments as JSON text) in the shape Hugging Face templates expect."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        out = dict(message)
        if message.get("tool_calls"):
            calls: list[dict[str, Any]] = []
            for call in message["tool_calls"]:
                arguments: Any = call["function"]["arguments"]
                if isinstance(arguments, str):
                    try:
                        arguments = json.loads(arguments)
                    except ValueError:
                        pass  # rendered as the text the model sent
                calls.append(
                    {"type": "function", "function": {"name": call["function"]["name"], "arguments": arguments}}
                )
            out["tool_calls"] = calls
        out.pop("tool_call_id", None)
        converted.append(out)
    return converted
