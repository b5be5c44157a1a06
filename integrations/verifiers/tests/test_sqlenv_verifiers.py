"""sqlenv-verifiers under the real verifiers 0.4: the tool server in-process, then ``vf-eval`` end to end.

``vf-eval`` runs as a user runs it: a subprocess that loads the taskset by its id, launches one
tool server per rollout, runs verifiers' chat harness against an OpenAI-compatible endpoint on
loopback (``ScriptedChatServer``, which plays the oracle through native tool calls, or a wrong
answer) and writes ``traces.jsonl``, whose rewards and metrics are checked against what SQLEnv
pays for the same episode played directly.

Run by ``uv run nox -s verifiers`` (verifiers is not in the workspace lock).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("verifiers.v1", reason="needs verifiers 0.4: run `uv run nox -s verifiers`")

import verifiers.v1 as vf
from sqlenv_verifiers.taskset import SQLEnvConfig, SQLEnvTaskset
from sqlenv_verifiers.toolset import SQLEnvToolset

from sqlenv_core import SQLEnvironment, load
from sqlenv_core.datasets import Dataset
from sqlenv_core.protocol import SQLAction
from sqlenv_core.tools import SYSTEM_PROMPT, TOOLS
from sqlenv_train.adapter import SQLEnvFactory
from sqlenv_train.sft import answer_text
from sqlenv_train.testing import OracleScript, ScriptedChatServer

SPEC = "builtin:eval?limit=3"
WRONG = "-987654321"
VF_EVAL_TIMEOUT_S = 420


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load(SPEC)


def oracle_return(data: Dataset, question_id: str, *, reward: str = "dense", wrong: bool = False) -> float:
    env = SQLEnvironment(data, step_budget=10, reward=reward)
    env.reset(question_id=question_id)
    env.step(SQLAction(action_type="QUERY", argument=data.question(question_id).gold_sql))
    env.step(SQLAction(action_type="ANSWER", argument=WRONG if wrong else answer_text(data.gold(question_id).rows)))
    total = env.state.total_reward
    env.close()
    return total


# -- the taskset and the tool server, in-process --------------------------------------------------


def test_tasks_carry_sqlenv_prompts_and_the_tool_server_plays_one_episode(data: Dataset) -> None:
    tasks = list(SQLEnvTaskset(SQLEnvConfig(id="sqlenv-verifiers", dataset=SPEC)).load())
    assert [t.data.id for t in tasks] == [q.id for q in data]
    first = tasks[0].data
    assert first.system_prompt == SYSTEM_PROMPT
    assert isinstance(first.prompt, str) and first.prompt.startswith(f"Question: {data.questions[0].question}")
    assert "[10 steps left]" in first.prompt
    assert data.questions[0].gold_sql not in json.dumps(first.model_dump()), "no gold in what the agent can read"

    server = SQLEnvToolset(vf.ToolsetConfig())
    asyncio.run(server.setup_task(first))  # verifiers hands a task-scoped server the task's data
    assert server.query("SELECT count(*) FROM no_such_table").startswith("Error:")
    result = server.query(data.questions[0].gold_sql)
    assert answer_text(data.gold(first.id or "").rows) in result
    state = server.state
    assert state.tool_calls == 2 and not state.done and len(state.step_rewards) == 2
    # Stopping here would keep the gold query's +0.1 progress; the reward takes it back, so a rollout
    # that stops is worth what one that answers wrong is, never more than 0.
    assert state.total_reward == pytest.approx(sum(state.step_rewards) - 0.1) and state.total_reward <= 0
    server.answer(answer_text(data.gold(first.id or "").rows))
    assert server.state.correct and server.state.done
    assert server.state.total_reward == pytest.approx(sum(server.state.step_rewards))
    assert server.answer("again").startswith("Error: the episode is over")
    assert server.state.calls_after_done == 1


def test_the_tools_are_the_four_core_tools_with_their_schemas() -> None:
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("t")
    SQLEnvToolset(vf.ToolsetConfig()).register(mcp)
    listed = {tool.name: tool for tool in asyncio.run(mcp.list_tools())}
    assert sorted(listed) == sorted(tool.name for tool in TOOLS)
    for tool in TOOLS:
        assert listed[tool.name].description == tool.docstring().strip()
        assert list(listed[tool.name].input_schema["properties"]) == [tool.parameter]


# -- vf-eval end to end ---------------------------------------------------------------------------


class WrongAnswer(OracleScript):
    """The oracle's plan, but the answer is a value no question here has."""

    def __call__(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        reply = super().__call__(messages)
        for call in reply.get("tool_calls") or []:
            if call["function"]["name"] == "answer":
                call["function"]["arguments"] = json.dumps({"answer": WRONG})
        return reply


def vf_eval(tmp_path: Path, base_url: str, *args: str) -> list[dict[str, Any]]:
    """Run ``vf-eval sqlenv-verifiers`` against ``base_url``; every trace it wrote."""
    executable = shutil.which("vf-eval", path=str(Path(sys.executable).parent)) or "vf-eval"
    command = [
        executable, "sqlenv-verifiers", "--model", "scripted", "--client.base-url", base_url,
        "--env.agent.runtime.type", "subprocess", "--no-push", "--no-rich", "-o", str(tmp_path / "out"), *args,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=VF_EVAL_TIMEOUT_S, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (traces_file,) = (tmp_path / "out").glob("*/traces.jsonl")
    episodes = [json.loads(line) for line in traces_file.read_text().splitlines() if line.strip()]
    return [trace for episode in episodes for trace in episode["traces"]]


def test_vf_eval_with_the_oracle_solves_every_question_and_pays_sqlenv_return(tmp_path: Path, data: Dataset) -> None:
    with ScriptedChatServer(data) as chat:
        traces = vf_eval(tmp_path, chat.base_url, "--env.taskset.dataset", SPEC, "-n", "3", "-r", "2")
        requests = list(chat.requests)
    assert len(traces) == 3 * 2
    for trace in traces:
        question_id = trace["task"]["data"]["id"]
        assert trace["ok"] and not trace["errors"], trace["errors"]
        assert trace["stop_condition"] == "episode_over", "the rollout ends when the episode does"
        metrics = trace["metrics"]
        # Two calls each: with state leaking between rollouts (two per task, run together) the
        # counts would add up, and the second rollout's answer would find its episode over.
        assert metrics == {"correct": 1.0, "answered": 1.0, "tool_calls": 2.0, "invalid_calls": 0.0,
                           "calls_after_done": 0.0}  # fmt: skip
        assert trace["rewards"]["sqlenv_return"]["score"] == pytest.approx(oracle_return(data, question_id))
    # Native tool calls: the model was offered exactly SQLEnv's four tools, and the tool results it
    # read back hold the gold query's result, as SQLEnv rendered it.
    offered = [sorted(t["function"]["name"] for t in r.get("tools") or []) for r in requests]
    assert offered and all(names == sorted(t.name for t in TOOLS) for names in offered)
    tool_results = {str(m["content"]) for r in requests for m in r["messages"] if m.get("role") == "tool"}
    for question in data:
        env = SQLEnvFactory(data, step_budget=10)()
        env.reset(question_id=question.id)
        assert env.query(question.gold_sql) in tool_results, "the model reads exactly what SQLEnv rendered"


def test_vf_eval_on_a_sqlenv_server_with_a_wrong_answer_scores_zero(tmp_path: Path, data: Dataset) -> None:
    pytest.importorskip("sqlenv_server", reason="needs sqlenv-server for the remote run")
    from sqlenv_server import Settings, create_app

    app = create_app(Settings(max_sessions=8, step_budget=10, reward="sparse"), dataset=data)
    with serve(app) as server_url, ScriptedChatServer(script=WrongAnswer(data)) as chat:
        traces = vf_eval(
            tmp_path, chat.base_url, "--env.taskset.dataset", SPEC, "--env.taskset.base-url", server_url,
            "--env.taskset.reward-profile", "sparse", "-n", "2",
        )  # fmt: skip
    assert len(traces) == 2
    for trace in traces:
        assert trace["ok"], trace["errors"]
        assert trace["metrics"]["correct"] == 0.0 and trace["metrics"]["answered"] == 1.0
        assert trace["rewards"]["sqlenv_return"]["score"] == 0.0


def serve(app: Any) -> Any:
    """uvicorn on loopback in a thread, as the integration tests run servers."""
    from contextlib import contextmanager

    import httpx
    import uvicorn

    @contextmanager
    def running() -> Iterator[str]:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            for _ in range(600):
                if server.started:
                    break
                threading.Event().wait(0.05)
            assert server.started, "the SQLEnv server did not start"
            port = server.servers[0].sockets[0].getsockname()[1]
            url = f"http://127.0.0.1:{port}"
            assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "healthy"
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=15)

    return running()
