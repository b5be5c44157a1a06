from __future__ import annotations

import json

import pytest

from sqlenv_core import SQLEnvironment, verify
from sqlenv_core.datasets import builtin
from sqlenv_core.tools import render_start
from sqlenv_train import RandomPolicy, episode_conversations, oracle_conversations
from sqlenv_train.adapter import trl_tool_schemas
from sqlenv_train.sft import answer_text, read_sft_data, sft_rows, write_sft_data


@pytest.mark.parametrize("split", ["train", "eval"])
def test_the_scripted_oracle_answers_every_builtin_question(split: str) -> None:
    pack = builtin(split)
    conversations = oracle_conversations(pack)
    assert len(conversations) == len(pack)
    assert all(c.correct for c in conversations)


def test_answer_text_is_what_a_person_writes_and_verifies() -> None:
    pack = builtin("eval")
    shapes = set()
    for question in pack:
        gold = pack.gold(question.id)
        text = answer_text(gold.rows)
        assert verify(text, gold).correct, (question.id, text)
        shapes.add("scalar" if not text.startswith("[") else "rows" if text.startswith("[[") else "list")
    assert shapes == {"scalar", "list", "rows"}


def test_conversations_start_like_a_grpo_prompt() -> None:
    pack = builtin("eval")
    conversation = oracle_conversations(pack)[0]
    env = SQLEnvironment(pack)
    assert conversation.messages[1]["content"] == render_start(env.reset(question_id=conversation.question_id))
    assert conversation.messages[-1] == {"role": "assistant", "content": ""}


def test_failed_episodes_are_kept_only_when_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pack = builtin("eval")
    ids = [q.id for q in pack][:10]
    kept = episode_conversations(RandomPolicy(seed=1), pack, question_ids=ids)
    everything = episode_conversations(RandomPolicy(seed=1), pack, question_ids=ids, only_correct=False)
    assert len(everything) == 10 and len(kept) == sum(c.correct for c in everything)
    path = write_sft_data(everything, tmp_path / "all.jsonl")
    rows = read_sft_data(path)
    assert rows == json.loads(json.dumps(sft_rows(everything)))


def test_sft_rows_carry_the_tool_schemas_grpo_renders() -> None:
    # TRL's chat template prints each tool with tojson: the warm start must see GRPO's exact dicts.
    rows = sft_rows(oracle_conversations(builtin("eval"))[:1])
    assert json.loads(rows[0]["tools"]) == trl_tool_schemas()


def test_read_sft_data_names_the_bad_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": []}\n{oops\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: not JSON"):
        read_sft_data(path)
