"""Helpers for the cross-package integration tests: a tiny dataset and real uvicorn servers.

Imported by name (``from live_helpers import ...``), never as ``conftest``: when pytest collects
``packages`` and ``tests`` in one run, several ``conftest`` modules exist and the name is ambiguous.
Servers listen on 127.0.0.1 on a free port and nothing else; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from sqlenv_core.datasets import Dataset, Question
from sqlenv_core.sandbox import SandboxLimits

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
def run_uvicorn(app: Any, *, port: int | None = None, **config: Any) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on loopback in a background thread; yield its base URL.

    ``port``: a free one unless given (a restart test serves twice on the same port).
    """
    port = port or free_port()
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


def interrupt_group(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> bytes:
    """Press Ctrl-C on ``process``'s group (started with ``start_new_session``), as a user would;
    kill the group if it has not stopped within ``timeout_s``. Returns what it printed."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    return output
