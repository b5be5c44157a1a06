"""LLMPolicy against a real HTTP endpoint on loopback (the scripted oracle), faults included."""

from __future__ import annotations

import time

import httpx
import pytest

from sqlenv_client import SQLEnvClient
from sqlenv_core import Dataset
from sqlenv_core.datasets import builtin
from sqlenv_core.tools import openai_tools
from sqlenv_train import LLMError, LLMPolicy, evaluate
from sqlenv_train.testing import ScriptedChatServer


@pytest.fixture(scope="module")
def pack() -> Dataset:
    return builtin("eval")


def test_scripted_oracle_solves_every_question_through_the_protocol(pack: Dataset) -> None:
    ids = [q.id for q in pack]
    with (
        ScriptedChatServer(pack) as server,
        LLMPolicy("scripted", base_url=server.base_url, api_key="sk-test") as policy,
    ):
        with SQLEnvClient.local(pack) as env:
            report = evaluate(
                policy, env, ids, dataset=pack, show_progress=False, metadata={"endpoint": server.base_url}
            )
    assert report.solve_rate == 1.0 and len(report.episodes) == len(ids)
    first = server.requests[0]
    assert first["tools"] == openai_tools() and first["model"] == "scripted"
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    second = server.requests[1]["messages"]
    assert second[2]["tool_calls"][0]["function"]["name"] == "query"
    assert second[3]["role"] == "tool" and second[3]["tool_call_id"] == second[2]["tool_calls"][0]["id"]
    data = report.to_dict()
    usage = data["usage"]
    assert usage["model_calls"] == 2 * len(ids) and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["latency_s"] > 0 and usage["format_errors"] == 0
    assert data["action_mix"]["QUERY"] == data["action_mix"]["ANSWER"] == 0.5
    assert data["metadata"]["endpoint"] == server.base_url and data["metadata"]["versions"]["httpx"]


def test_transient_errors_are_retried_and_counted(pack: Dataset) -> None:
    with ScriptedChatServer(pack, faults=["500", "429"]) as server:
        policy = LLMPolicy("m", base_url=server.base_url, backoff_s=0.01)
        with SQLEnvClient.local(pack) as env:
            report = evaluate(policy, env, [pack.questions[0].id], show_progress=False)
    assert report.solve_rate == 1.0
    assert report.episodes[0].usage["retries"] == 2


def test_format_errors_go_back_to_the_model_without_costing_steps(pack: Dataset) -> None:
    with ScriptedChatServer(pack, faults=["bad_arguments", "unknown_tool"]) as server:
        policy = LLMPolicy("m", base_url=server.base_url)
        with SQLEnvClient.local(pack) as env:
            report = evaluate(policy, env, [pack.questions[0].id], show_progress=False)
    episode = report.episodes[0]
    assert episode.solved and episode.steps == 1
    assert episode.usage["format_errors"] == 2
    tool_results = [m for m in server.requests[2]["messages"] if m["role"] == "tool"]
    assert tool_results[0]["content"].startswith("Error: query: the arguments are not valid JSON")
    assert tool_results[1]["content"].startswith("Error: unknown tool 'drop_table'")
    assert report.summary()["format_error_rate"] == 1.0


def test_a_reply_without_a_tool_call_ends_the_episode_unless_text_counts_as_answer(pack: Dataset) -> None:
    question = pack.questions[0]
    with ScriptedChatServer(pack, faults=["no_tool_call"]) as server, SQLEnvClient.local(pack) as env:
        strict = evaluate(LLMPolicy("m", base_url=server.base_url), env, [question.id], show_progress=False)
        server.faults.append("no_tool_call")
        lenient = evaluate(
            LLMPolicy("m", base_url=server.base_url, text_as_answer=True), env, [question.id], show_progress=False
        )
    assert strict.episodes[0].reason == "gave up: replied without a tool call"
    assert not strict.episodes[0].answered
    assert lenient.episodes[0].answered and lenient.episodes[0].usage["no_tool_call"] == 1


def test_timeouts_are_bounded_and_reported(pack: Dataset) -> None:
    with ScriptedChatServer(pack, faults=["slow:1.5", "slow:1.5"]) as server:
        policy = LLMPolicy("m", base_url=server.base_url, timeout_s=0.3, max_retries=1, backoff_s=0.01)
        started = time.monotonic()
        with pytest.raises(LLMError, match=r"gave up after 2 attempts; last: timed out after 0.3s"):
            policy.complete([{"role": "user", "content": "hi"}])
        assert time.monotonic() - started < 3


def test_client_errors_are_not_retried(pack: Dataset) -> None:
    def reject(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "invalid api key"}})

    policy = LLMPolicy(
        "m", base_url="http://llm.invalid/v1", http_client=httpx.Client(transport=httpx.MockTransport(reject))
    )
    with pytest.raises(LLMError, match="HTTP 401: invalid api key"):
        policy.complete([{"role": "user", "content": "hi"}])


def test_unreachable_endpoint_fails_after_the_retries() -> None:
    policy = LLMPolicy("m", base_url="http://127.0.0.1:9/v1", timeout_s=1, max_retries=1, backoff_s=0.01)
    with pytest.raises(LLMError, match="connection failed"):
        policy.complete([{"role": "user", "content": "hi"}])


def test_a_reply_that_is_not_a_chat_completion_is_an_error(pack: Dataset) -> None:
    with ScriptedChatServer(pack, faults=["not_json"]) as server:
        with pytest.raises(LLMError, match="has no choices"):
            LLMPolicy("m", base_url=server.base_url).complete([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(("kwargs", "message"), [({"timeout_s": 0}, "timeout_s"), ({"max_retries": -1}, "max_retries")])
def test_bad_settings_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LLMPolicy("m", **kwargs)  # type: ignore[arg-type]
