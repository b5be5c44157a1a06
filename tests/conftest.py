"""Shared fixtures for the cross-package integration tests: a tiny dataset and real uvicorn servers.

Servers listen on 127.0.0.1 on a free port and nothing else; every wait is bounded.

* ``tiny_dataset`` — a shop database with three questions, built in a temp folder.
* ``serve_app(app)`` — run any ASGI app under uvicorn in a background thread; yields the base URL.
* ``server_url`` — the SQLEnv server on ``tiny_dataset`` (default settings, 16 sessions).
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from sqlenv_core.datasets import Dataset, Question
from sqlenv_core.sandbox import SandboxLimits
from sqlenv_server import Settings, create_app

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 20.0

#: Runs for about a second on one laptop core (a recursive CTE counting to five million).
SLOW_SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) SELECT count(*) FROM c"


def free_port() -> int:
    """A TCP port nobody listens on right now (on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_healthy(base_url: str, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    """Poll ``/health`` until it answers ``healthy``; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base_url}/health", timeout=2.0)
            if response.status_code == 200 and response.json().get("status") == "healthy":
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{base_url} did not become healthy within {timeout_s}s (last error: {last})")


def build_tiny_dataset(root: Path) -> Dataset:
    """A shop database (3 categories, 30 items) and three questions about it."""
    db = root / "shop.sqlite"
    conn = sqlite3.connect(db)
    with conn:
        conn.executescript(
            """
            CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL,
                                category_id INTEGER REFERENCES categories(id));
            INSERT INTO categories VALUES (1, 'books'), (2, 'games'), (3, 'tools');
            """
        )
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?)",
            [(i, f"item {i}", round(1.5 * i, 2), 1 + i % 3) for i in range(1, 31)],
        )
    conn.close()
    questions = [
        Question("q-count", "shop", "How many items are there?", "SELECT count(*) FROM items", "easy", "train"),
        Question(
            "q-books",
            "shop",
            "List the names of the items in the books category.",
            "SELECT i.name FROM items i JOIN categories c ON c.id = i.category_id WHERE c.name = 'books'",
            "medium",
            "train",
        ),
        Question("q-max", "shop", "What is the highest item price?", "SELECT max(price) FROM items", "easy", "train"),
    ]
    return Dataset("tiny", questions, {"shop": db}, limits=SandboxLimits(timeout_s=30.0))


@contextmanager
def run_uvicorn(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on loopback in a background thread; yield its base URL."""
    port = free_port()
    config.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, lifespan="on", **config))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    base_url = f"http://{LOOPBACK}:{port}"
    try:
        wait_healthy(base_url)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


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
