"""Shared fixtures for the cross-package integration tests: a tiny dataset and real uvicorn servers.

* ``tiny_dataset`` — a shop database with three questions, built in a temp folder.
* ``serve_app(app)`` — run any ASGI app under uvicorn in a background thread; yields the base URL.
* ``server_url`` — the SQLEnv server on ``tiny_dataset`` (default settings, 16 sessions).

The helpers live in ``live_helpers`` so that test modules can import them by a unique name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from live_helpers import build_tiny_dataset, run_uvicorn

from sqlenv_core.datasets import Dataset
from sqlenv_server import Settings, create_app


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Dataset:
    return build_tiny_dataset(tmp_path)


@pytest.fixture
def serve_app() -> Callable[..., AbstractContextManager[str]]:
    """``with serve_app(app) as base_url: ...`` — any ASGI app under uvicorn on loopback."""
    return run_uvicorn


@pytest.fixture
def server_url(tiny_dataset: Dataset) -> Iterator[str]:
    """A live SQLEnv server on the tiny dataset."""
    app = create_app(Settings(max_sessions=16), dataset=tiny_dataset)
    with run_uvicorn(app, ws_max_size=4_000_000) as base_url:
        yield base_url
