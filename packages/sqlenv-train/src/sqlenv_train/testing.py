"""A scripted OpenAI-compatible chat endpoint on loopback, for offline tests of :class:`LLMPolicy`.

:class:`ScriptedChatServer` serves ``POST /v1/chat/completions`` on ``127.0.0.1`` from a thread.
By default it plays the oracle through native tool calls: it reads the question from the
conversation, calls ``query`` with the gold SQL, then ``answer`` with the gold result. That runs
the whole protocol path of an LLM baseline (HTTP, tool schemas, tool-call ids, tool results,
usage accounting) without a model. ``faults`` injects what real endpoints do: HTTP 500 and 429
(with ``Retry-After``), slow replies, invalid tool arguments, replies without a tool call.
A request with ``"stream": true`` is answered as OpenAI streams (server-sent ``chat.completion.chunk``
events, the usage in a last chunk when ``stream_options.include_usage`` asks, then ``[DONE]``), as
clients such as verifiers' interception proxy request it.

Example:
    >>> from sqlenv_core.datasets import builtin
    >>> with ScriptedChatServer(builtin("eval")) as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from sqlenv_core.datasets import Dataset
from sqlenv_train.sft import answer_text

__all__ = ["Fault", "OracleScript", "ScriptedChatServer"]

#: A fault for one request: "500", "429", "slow:<seconds>", "bad_arguments", "unknown_tool",
#: "no_tool_call", "not_json".
Fault = str
Script = Callable[[list[dict[str, Any]]], dict[str, Any]]
_MAX_BODY = 4 * 1024 * 1024


class OracleScript:
    """Replies as the oracle would, with tool calls: query the gold SQL, then answer its result.

    Args:
        dataset: the questions (the script finds the question by its text and database).
        describe_first: describe a table before querying (one more round trip).
    """

    def __init__(self, dataset: Dataset, *, describe_first: bool = False) -> None:
        self.dataset = dataset
        self.describe_first = describe_first
        self._by_text = {(q.db_id, q.prompt): q for q in dataset}
        self._count = 0

    def __call__(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The assistant message for the next turn."""
        question = self._question(messages)
        # Steps of the plan already done: tool results that were not errors.
        done_calls = [
            m for m in messages if m.get("role") == "tool" and not str(m.get("content", "")).startswith("Error:")
        ]
        last = messages[-1] if messages else {}
        if last.get("role") == "tool" and "episode is over" in str(last.get("content", "")):
            return {"role": "assistant", "content": "Done."}
        plan: list[tuple[str, dict[str, str]]] = []
        if self.describe_first:
            tables = self.dataset.table_names(question.db_id)
            plan.append(("describe", {"table": tables[0]}))
        plan.append(("query", {"sql": question.gold_sql}))
        plan.append(("answer", {"answer": answer_text(self.dataset.gold(question.id).rows)}))
        if len(done_calls) >= len(plan):
            return {"role": "assistant", "content": "Done."}
        name, arguments = plan[len(done_calls)]
        self._count += 1
        return _tool_call_message(f"call_{self._count}", name, json.dumps(arguments))

    def _question(self, messages: list[dict[str, Any]]) -> Any:
        user = next((str(m.get("content", "")) for m in messages if m.get("role") == "user"), "")
        text = user.split("\n", 1)[0].removeprefix("Question: ")
        for (db_id, prompt), question in self._by_text.items():
            if prompt.split("\n", 1)[0] == text and f"'{db_id}'" in user:
                return question
        raise LookupError(f"no question matches {text[:80]!r}")


def _sse_body(payload: dict[str, Any], request: dict[str, Any]) -> bytes:
    """A chat completion as OpenAI streams it: chunks as server-sent events, then ``[DONE]``.

    The usage comes in a last chunk when the request's ``stream_options.include_usage`` asks for it.
    """
    if "choices" not in payload:  # an injected malformed reply ("not_json"): sent as one event
        return f"data: {json.dumps(payload)}\n\ndata: [DONE]\n\n".encode()
    options: Any = request.get("stream_options")
    include_usage = isinstance(options, dict) and bool(cast("dict[str, Any]", options).get("include_usage"))
    choice = payload["choices"][0]
    message = choice["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
    head = {k: payload[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    chunks: list[dict[str, Any]] = [
        head | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        head | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
    ]
    if include_usage:
        chunks.append(head | {"choices": [], "usage": payload["usage"]})
    return b"".join(f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks) + b"data: [DONE]\n\n"


def _tool_call_message(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
    }


class ScriptedChatServer:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint on loopback, answering from a script.

    Args:
        dataset: for the default :class:`OracleScript`.
        script: ``script(messages) -> assistant message`` (overrides the oracle).
        faults: faults to inject, one per request in order, before the script answers normally.
        model: the model name the endpoint reports.

    Attributes:
        requests: every request body received (for assertions).
        headers: every request's headers.
    """

    def __init__(
        self,
        dataset: Dataset | None = None,
        *,
        script: Script | None = None,
        faults: Iterable[Fault] = (),
        model: str = "scripted-oracle",
    ) -> None:
        if script is None:
            if dataset is None:
                raise ValueError("pass a dataset (for the oracle script) or a script")
            script = OracleScript(dataset)
        self.script = script
        self.faults: deque[Fault] = deque(faults)
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        """The API root to give :class:`LLMPolicy` (``http://127.0.0.1:<port>/v1``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def close(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedChatServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
        messages: list[dict[str, Any]] = list(body.get("messages") or [])
        if fault == "500":
            return 500, {"error": {"message": "injected server error"}}, {}
        if fault == "429":
            return 429, {"error": {"message": "injected rate limit"}}, {"Retry-After": "0"}
        if fault is not None and fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        if fault == "not_json":
            return 200, {"not": "a chat completion"}, {}
        if fault == "bad_arguments":
            message = _tool_call_message("call_bad", "query", '{"sql": ')
        elif fault == "unknown_tool":
            message = _tool_call_message("call_unknown", "drop_table", '{"table": "x"}')
        elif fault == "no_tool_call":
            message = {"role": "assistant", "content": "I think the answer is 42."}
        else:
            message = self.script(messages)
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1
        completion_tokens = len(json.dumps(message)) // 4 + 1
        payload = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, payload, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    self._send(413, {"error": {"message": "request too large"}}, {})
                    return
                try:
                    body: Any = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(400, {"error": {"message": "invalid JSON"}}, {})
                    return
                if not isinstance(body, dict):
                    self._send(400, {"error": {"message": "expected a JSON object"}}, {})
                    return
                with server._lock:  # pyright: ignore[reportPrivateUsage]
                    server.requests.append(body)  # pyright: ignore[reportUnknownArgumentType]
                    server.headers.append(dict(self.headers.items()))
                try:
                    status, payload, headers = server._reply(body)  # pyright: ignore[reportPrivateUsage, reportUnknownArgumentType]
                except LookupError as exc:
                    status, payload, headers = 400, {"error": {"message": str(exc)}}, {}
                if status == 200 and body.get("stream") is True:  # pyright: ignore[reportUnknownMemberType]
                    self._write(200, _sse_body(payload, body), {"Content-Type": "text/event-stream"})  # pyright: ignore[reportUnknownArgumentType]
                    return
                self._send(status, payload, headers)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                self._write(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})

            def _write(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read the recorded requests instead."""

        return Handler
