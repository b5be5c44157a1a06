"""The protocol is OpenEnv's, both ways, proven with the real ``openenv`` package (0.10.0).

(a) OpenEnv's ``GenericEnvClient`` plays a whole episode on our server;
(b) ``openenv validate --url`` passes against our live server;
(c) our client drives an SQL environment served by OpenEnv's own ``create_app``.

Run with ``uv run nox -s openenv_compat`` (installs openenv into its own environment). Skipped
where openenv is not importable, e.g. in the workspace environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

openenv_core = pytest.importorskip(
    "openenv.core", reason="openenv is not installed here; run `uv run nox -s openenv_compat`"
)

from openenv.core.env_server.http_server import create_app as openenv_create_app  # noqa: E402
from openenv.core.env_server.interfaces import Environment  # noqa: E402
from openenv.core.env_server.types import Action, Observation, State  # noqa: E402
from openenv.core.generic_client import GenericEnvClient  # noqa: E402
from pydantic import Field  # noqa: E402

from sqlenv_client import CapacityError, InvalidRequestError, SQLEnvClient  # noqa: E402
from sqlenv_core.datasets import Dataset  # noqa: E402
from sqlenv_core.environment import SQLEnvironment  # noqa: E402

pytestmark = pytest.mark.integration


# -- (a) OpenEnv's client on our server ---------------------------------------------------------


def test_openenv_generic_client_plays_an_episode_on_our_server(server_url: str) -> None:
    with GenericEnvClient(base_url=server_url, message_timeout_s=30).sync() as env:
        result = env.reset(question_id="q-count")
        assert result.observation["question"] == "How many items are there?"
        assert result.done is False and result.reward is None
        result = env.step({"action_type": "DESCRIBE", "argument": "items"})
        assert "price" in result.observation["schema_info"]
        result = env.step({"action_type": "QUERY", "argument": "SELECT count(*) FROM items"})
        assert result.observation["rows"] == [[30]] and result.observation["error"] == ""
        result = env.step({"action_type": "ANSWER", "argument": "30"})
        assert result.done is True and result.reward is not None and result.reward > 0
        assert result.observation["info"]["verdict"]["correct"] is True
        state = env.state()
        assert state["question_id"] == "q-count" and state["step_count"] == 2 and state["done"] is True


def test_openenv_client_sees_our_error_envelope(server_url: str) -> None:
    with GenericEnvClient(base_url=server_url, message_timeout_s=30).sync() as env:
        env.reset()
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            env.step({"action_type": "EXPLODE", "argument": ""})
        assert env.step({"action_type": "QUERY", "argument": "SELECT 1"}).observation["rows"] == [[1]]


# -- (b) openenv validate ----------------------------------------------------------------------


def _openenv_cli() -> list[str]:
    beside = Path(sys.executable).with_name("openenv")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("openenv")
    if found is None:
        pytest.skip("the openenv command is not on PATH")
    return [found]


def test_openenv_validate_passes_against_the_live_server(server_url: str) -> None:
    run = subprocess.run(
        [*_openenv_cli(), "validate", "--url", server_url, "--json", "--timeout", "20"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["passed"] is True, [c for c in report["criteria"] if not c["passed"]]
    assert report["summary"]["failed_criteria"] == []


# -- (c) our client on OpenEnv's own server ----------------------------------------------------


class PeerAction(Action):
    """The SQLAction fields as an OpenEnv Action (which adds ``metadata``)."""

    action_type: str
    argument: str = ""


class PeerObservation(Observation):
    """The SQLObservation fields as an OpenEnv Observation (which adds done/reward/metadata)."""

    question: str = ""
    schema_info: str = ""
    result: str = ""
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    truncated: bool = False
    error: str = ""
    step_count: int = 0
    budget_remaining: int = 0
    action_history: list[str] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict)


class PeerState(State):
    question_id: str | None = None
    db_id: str | None = None
    done: bool = False
    total_reward: float = 0.0


def peer_environment_factory(dataset: Dataset) -> Callable[[], Environment]:
    class PeerSQLEnvironment(Environment):
        """A minimal OpenEnv environment around sqlenv-core, as an OpenEnv author would write it."""

        SUPPORTS_CONCURRENT_SESSIONS = True

        def __init__(self) -> None:
            super().__init__()
            self._env = SQLEnvironment(dataset)

        def reset(
            self, seed: int | None = None, episode_id: str | None = None, question_id: str | None = None, **kwargs: Any
        ) -> PeerObservation:
            return PeerObservation(**self._env.reset(seed=seed, question_id=question_id).model_dump())

        def step(self, action: PeerAction, timeout_s: float | None = None, **kwargs: Any) -> PeerObservation:
            obs = self._env.step({"action_type": action.action_type, "argument": action.argument})
            return PeerObservation(**obs.model_dump())

        @property
        def state(self) -> PeerState:
            return PeerState(**self._env.state.model_dump())

        def close(self) -> None:
            self._env.close()

    return PeerSQLEnvironment


def test_our_client_drives_an_environment_served_by_openenv_create_app(
    tiny_dataset: Dataset, serve_app: Callable[..., AbstractContextManager[str]]
) -> None:
    app = openenv_create_app(
        peer_environment_factory(tiny_dataset),
        PeerAction,
        PeerObservation,
        env_name="peer_sql",
        max_concurrent_envs=4,
        state_cls=PeerState,
    )
    with serve_app(app) as url, SQLEnvClient(url, message_timeout=30) as env:
        obs = env.reset(question_id="q-max")
        assert obs.question == "What is the highest item price?" and not obs.done
        obs = env.query("SELECT max(price) FROM items")
        assert obs.rows == [[45.0]] and obs.step_count == 1
        final = env.answer(obs.rows[0][0])
        assert final.done and final.reward is not None and final.reward > 0
        assert final.info["verdict"]["correct"] is True
        state = env.state()
        assert state.question_id == "q-max" and state.step_count == 1 and state.done
        env.reset(question_id="q-count")
        assert env.state().step_count == 0


def test_openenv_error_codes_map_to_our_exceptions(
    tiny_dataset: Dataset, serve_app: Callable[..., AbstractContextManager[str]]
) -> None:
    app = openenv_create_app(
        peer_environment_factory(tiny_dataset),
        PeerAction,
        PeerObservation,
        env_name="peer_sql",
        max_concurrent_envs=1,
        state_cls=PeerState,
    )
    with serve_app(app) as url, SQLEnvClient(url, message_timeout=30) as first:
        first.reset(question_id="q-count")
        # OpenEnv's server validates the raw action with its own model: VALIDATION_ERROR.
        transport = first._transport  # white-box: bypass our own validation to hear OpenEnv's verdict
        assert transport is not None
        frame = transport.exchange({"type": "step", "data": {"argument": "no action_type"}})
        assert frame["type"] == "error" and frame["data"]["code"] == "VALIDATION_ERROR"
        with pytest.raises(InvalidRequestError):
            from sqlenv_client._shared.wire import raise_if_error

            raise_if_error(frame)
        with SQLEnvClient(url, message_timeout=30, reconnect_attempts=0) as second:
            with pytest.raises(CapacityError) as info:
                second.reset()
            assert info.value.code == "CAPACITY_REACHED"
        assert first.query("SELECT 1").rows == [[1]]
