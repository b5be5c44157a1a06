"""Helpers for the client's own tests: a tiny dataset, and scripted WebSocket peers on loopback.

These tests need only sqlenv-client and its dependencies (websockets ships a server, which the
scripted peers use to misbehave on purpose: stay silent, drop the connection, send garbage; the
standard library's HTTP server stands in for an HTTP server that answers ``/reset``).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from sqlenv_core.datasets import Dataset, Question

LOOPBACK = "127.0.0.1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def build_shop(root: Path) -> Dataset:
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
    return Dataset("shop", questions, {"shop": db})


@pytest.fixture
def shop(tmp_path: Path) -> Dataset:
    return build_shop(tmp_path)


OBSERVATION = {
    "type": "observation",
    "data": {
        "observation": {"question": "How many?", "schema_info": "Tables: t", "step_count": 0, "budget_remaining": 5},
        "reward": None,
        "done": False,
    },
}


def observation(step: int = 0, **fields: Any) -> dict[str, Any]:
    """An observation frame like the server sends, at ``step``."""
    frame = json.loads(json.dumps(OBSERVATION))
    frame["data"]["observation"]["step_count"] = step
    frame["data"]["observation"].update(fields)
    return frame


@dataclass
class ScriptedPeer:
    """A WebSocket server on loopback whose replies a test scripts.

    ``script(connection_index, message_index, message)`` returns the frame to send, ``None`` to stay
    silent, or the string ``"drop"`` to close the connection. Every message received, on every
    connection, is kept in ``received`` as ``(connection_index, message)``.
    """

    script: Callable[[int, int, dict[str, Any]], Any]
    received: list[tuple[int, dict[str, Any]]] = field(default_factory=list[tuple[int, dict[str, Any]]])
    connections: int = 0
    url: str = ""

    def handle(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        for count, raw in enumerate(ws):
            message = json.loads(raw)
            self.received.append((index, message))
            reply = self.script(index, count, message)
            if reply == "drop":
                ws.close()
                return
            if isinstance(reply, str):
                ws.send(reply)
            elif reply is not None:
                ws.send(json.dumps(reply))


Script = Callable[[int, int, dict[str, Any]], Any]
"""``script(connection_index, message_index, message)``: what a :class:`ScriptedPeer` replies."""
StartPeer = Callable[[Script], ScriptedPeer]
"""The ``scripted_peer`` fixture: ``peer = scripted_peer(script)``."""


@pytest.fixture
def scripted_peer() -> Iterator[StartPeer]:
    """``peer = scripted_peer(script)``: start a scripted WebSocket server; stopped after the test."""
    servers: list[Any] = []
    threads: list[threading.Thread] = []

    def start(script: Script) -> ScriptedPeer:
        peer = ScriptedPeer(script)
        server = serve(peer.handle, LOOPBACK, 0)
        port = server.socket.getsockname()[1]
        peer.url = f"http://{LOOPBACK}:{port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        return peer

    yield start
    for server in servers:
        server.shutdown()
    for thread in threads:
        thread.join(timeout=10)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class ResetOnlyHandler(BaseHTTPRequestHandler):
    """An HTTP server's ``POST /reset`` (any POST): an observation, in session ``s1``."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(observation()["data"] | {"session_id": "s1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def reset_server() -> Iterator[str]:
    """The URL of a real HTTP server on loopback that answers ``/reset`` (``ResetOnlyHandler``)."""
    server = ThreadingHTTPServer((LOOPBACK, 0), ResetOnlyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
