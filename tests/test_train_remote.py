"""The TRL adapter over a real server: one session per rollout, and a clear error when it is too small."""

from __future__ import annotations

import pytest
from live_helpers import run_uvicorn

from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app
from sqlenv_train import ServerCapacityError, SQLEnvFactory


def test_remote_rollouts_play_real_sessions_and_capacity_is_checked_up_front(tiny_dataset: Dataset) -> None:
    app = create_app(Settings(max_sessions=2, max_sessions_per_client=2), dataset=tiny_dataset)
    with run_uvicorn(app) as base_url:
        factory = SQLEnvFactory(tiny_dataset, base_url=base_url)
        factory.check_capacity(2)
        with pytest.raises(ServerCapacityError, match=r"refused rollout environment #3 a session \(max_sessions=2\)"):
            factory.check_capacity(3)
        first, second = factory(), factory()
        start = first.reset(question_id="q-count")
        assert start.startswith("Question: How many items are there?")
        second.reset(question_id="q-max")
        assert "30" in first.query("SELECT count(*) FROM items")
        assert first.answer("30").startswith("Answer correct")
        assert first.rollout.correct and not second.rollout.done
        third = factory()
        with pytest.raises(ServerCapacityError, match="SQLENV_MAX_SESSIONS"):
            third.reset(question_id="q-count")
        factory.close()


def test_the_per_client_limit_is_named_when_it_is_the_one_that_bites(tiny_dataset: Dataset) -> None:
    # 8 sessions in all, but one client (the trainer) may hold only 7 of them by default.
    app = create_app(Settings(max_sessions=8), dataset=tiny_dataset)
    with run_uvicorn(app) as base_url:
        factory = SQLEnvFactory(tiny_dataset, base_url=base_url)
        factory.check_capacity(7)
        with pytest.raises(ServerCapacityError, match=r"max_sessions_per_client=7.*SQLENV_MAX_SESSIONS_PER_CLIENT"):
            factory.check_capacity(8)
        factory.close()
