"""The tiny local Qwen3-style model: deterministic, cached, and accepted by TRL for tool calling."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="needs the training stack (trl): run `uv run nox -s train`")

from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.chat_template_utils import add_response_schema, parse_response, supports_tool_calling

from sqlenv_core.datasets import builtin
from sqlenv_train.adapter import trl_tool_schemas
from sqlenv_train.sft import oracle_conversations
from sqlenv_train.tiny import TinyModelSpec, build_tiny_model


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_build_is_deterministic_and_cached(tiny_model_path: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "copy")
    assert digest(again) == digest(tiny_model_path)
    started = time.perf_counter()
    assert build_tiny_model() == tiny_model_path
    assert time.perf_counter() - started < 5  # the cache answers; nothing is rebuilt


def test_a_different_spec_gets_a_different_folder(tiny_model_path: Path) -> None:
    from sqlenv_train.tiny import _key, chat_corpus, qwen3_chat_template  # pyright: ignore[reportPrivateUsage]

    corpus = chat_corpus()
    template = qwen3_chat_template()
    assert _key(TinyModelSpec(), template, corpus) in tiny_model_path.name
    assert _key(TinyModelSpec(hidden_size=32), template, corpus) != _key(TinyModelSpec(), template, corpus)


def test_trl_accepts_it_for_tool_calling_and_prompts_are_short(tiny_model_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert supports_tool_calling(tokenizer)
    tokenizer = add_response_schema(tokenizer)  # TRL recognised the Qwen3 template
    prefix = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}],
        tools=trl_tool_schemas(),
        add_generation_prompt=True,
        enable_thinking=False,
        tokenize=True,
        return_dict=False,
    )
    text = '<tool_call>\n{"name": "query", "arguments": {"sql": "SELECT 1"}}\n</tool_call><|im_end|>'
    parsed = parse_response(tokenizer, tokenizer(text)["input_ids"], prefix=prefix, tools=trl_tool_schemas())
    assert parsed["tool_calls"][0]["function"] == {"name": "query", "arguments": {"sql": "SELECT 1"}}
    # A malformed call stays visible as text (so the rollout log can count it).
    broken_ids = tokenizer('<tool_call>\n{"name": "query", "argu<|im_end|>')["input_ids"]
    broken = parse_response(tokenizer, broken_ids, prefix=prefix, tools=trl_tool_schemas())
    assert "<tool_call>" in broken["content"] and "tool_calls" not in broken
    conversation = oracle_conversations(builtin("eval"))[0]
    prompt = tokenizer.apply_chat_template(
        conversation.messages[:2],
        tools=trl_tool_schemas(),
        add_generation_prompt=True,
        enable_thinking=False,
        tokenize=True,
        return_dict=False,
    )
    assert len(prompt) < 120  # the tokenizer was trained on the template's text


def test_the_gpu_check_script_runs_on_cpu_with_a_tiny_config(tmp_path: Path, tiny_model_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[4] / "bench" / "gpu_grpo_check.py"
    env = {**os.environ, "SQLENV_CACHE_DIR": str(tiny_model_path.parent), "OUT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(script), "--tiny", "--steps", "2", "--sft-steps", "5"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_grpo_check.json").read_text())
    assert result["grpo_steps"] == 2 and result["seconds_per_step"] > 0
    assert result["peak_gpu_memory_gib"] is None  # no GPU here
    assert result["rollout_seconds"] > 0 and result["env_share_of_rollout"] is not None
