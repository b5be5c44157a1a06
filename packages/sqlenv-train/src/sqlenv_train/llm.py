"""``LLMPolicy``: any OpenAI-compatible chat endpoint with native tool calling, as a SQLEnv policy.

It speaks ``POST {base_url}/chat/completions`` with ``tools=[...]`` over httpx (already a
dependency of sqlenv-client, so no ``openai`` package is needed): OpenAI, vLLM's and SGLang's
servers, llama.cpp's server, Ollama, TGI, LiteLLM and most hosted models accept it.

Every request has a timeout; connection errors, timeouts, 429 and 5xx replies are retried with
exponential backoff (honouring ``Retry-After``, bounded); other errors raise :class:`LLMError`
with the endpoint's message. Token usage and latency are recorded per episode.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import httpx

from sqlenv_core.tools import openai_tools
from sqlenv_train._json import as_list, as_object
from sqlenv_train.chat import AssistantTurn, ChatPolicy, ToolCall

__all__ = ["LLMError", "LLMPolicy"]

_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_MAX_RETRY_AFTER_S = 60.0


class LLMError(RuntimeError):
    """The endpoint refused a request or kept failing; the message says what it answered."""


class LLMPolicy(ChatPolicy):
    """A chat model behind an OpenAI-compatible endpoint, calling the four tools natively.

    Args:
        model: the model name the endpoint knows (``gpt-4o-mini``, ``Qwen/Qwen3-8B``, ...).
        base_url: the API root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1``.
        api_key: sent as a bearer token; default ``$OPENAI_API_KEY`` (none when unset).
        temperature: sampling temperature (0 for repeatable baselines).
        max_tokens: longest reply per call.
        timeout_s: seconds allowed per request (connect, read, write).
        max_retries: extra attempts after a connection error, a timeout, 429 or 5xx.
        backoff_s: first pause between attempts (doubles, with jitter).
        extra_body: more fields for every request (e.g. ``{"chat_template_kwargs": {...}}``).
        http_client: an ``httpx.Client`` to use (for tests or proxies; the caller closes it).
        **kwargs: passed to :class:`~sqlenv_train.chat.ChatPolicy` (``max_format_errors``, ...).

    Example:
        >>> policy = LLMPolicy("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", timeout_s=1)
        >>> policy.name
        'openai:gpt-4o-mini'
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        extra_body: dict[str, Any] | None = None,
        http_client: httpx.Client | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(f"openai:{model}", **kwargs)
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be at least 0, got {max_retries}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.extra_body = dict(extra_body or {})
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = http_client or httpx.Client(timeout=timeout_s)
        self._owns_client = http_client is None
        self._rng = random.Random(0)
        self._call_index = 0
        self._retry_after: float | None = None

    def close(self) -> None:
        """Close the HTTP client (when this policy made it)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> LLMPolicy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def complete(self, messages: list[dict[str, Any]]) -> AssistantTurn:
        """One chat completion with the tools; retried on transient failures."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "tools": openai_tools(),
            "tool_choice": "auto",
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.extra_body,
        }
        url = f"{self.base_url}/chat/completions"
        started = time.perf_counter()
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._pause(attempt))
            try:
                status, payload, retry_after = self._post(url, body)
            except httpx.TimeoutException as exc:
                last_problem = f"timed out after {self.timeout_s:g}s ({type(exc).__name__})"
                continue
            except httpx.TransportError as exc:
                last_problem = f"connection failed: {exc}"
                continue
            if status == 429 or status >= 500:
                last_problem = f"HTTP {status}: {_error_text(payload)}"
                if retry_after is not None:
                    last_problem += f" (retry after {retry_after:g}s)"
                    self._retry_after = retry_after
                continue
            if status >= 400:
                raise LLMError(f"{url} answered HTTP {status}: {_error_text(payload)}")
            turn = self._turn(payload)
            turn.latency_s = time.perf_counter() - started
            turn.retries = attempt
            return turn
        raise LLMError(f"{url}: gave up after {self.max_retries + 1} attempts; last: {last_problem}")

    def _pause(self, attempt: int) -> float:
        if self._retry_after is not None:
            pause, self._retry_after = min(self._retry_after, _MAX_RETRY_AFTER_S), None
            return pause
        base = self.backoff_s * (2 ** (attempt - 1))
        return base * (0.5 + self._rng.random() / 2)

    def _post(self, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float | None]:
        with self._client.stream("POST", url, json=body, headers=self._headers, timeout=self.timeout_s) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > _MAX_RESPONSE_BYTES:
                    raise LLMError(f"{url}: reply larger than {_MAX_RESPONSE_BYTES} bytes")
                chunks.append(chunk)
            raw = b"".join(chunks)
            retry_after: float | None = None
            header = response.headers.get("retry-after")
            if header:
                try:
                    retry_after = max(0.0, float(header))
                except ValueError:
                    retry_after = None
            try:
                decoded: object = json.loads(raw) if raw else {}
            except ValueError:
                decoded = {"error": {"message": raw[:300].decode("utf-8", "replace")}}
            payload = as_object(decoded)
            if payload is None:
                if response.status_code < 400:
                    raise LLMError(f"{url}: expected a JSON object, got {type(decoded).__name__}")
                payload = {"error": str(decoded)[:300]}
            return response.status_code, payload, retry_after

    def _turn(self, payload: dict[str, Any]) -> AssistantTurn:
        choices = as_list(payload.get("choices")) or []
        choice = as_object(choices[0]) if choices else None
        if choice is None:
            raise LLMError(f"the endpoint's reply has no choices: {json.dumps(payload)[:300]}")
        message = as_object(choice.get("message")) or {}
        content = str(message.get("content") or "")
        calls: list[ToolCall] = []
        for index, item in enumerate(as_list(message.get("tool_calls")) or []):
            raw = as_object(item) or {}
            function = as_object(raw.get("function"))
            if function is None or not isinstance(function.get("name"), str):
                return AssistantTurn(content=content, malformed="a tool call without a function name")
            raw_arguments: object = function.get("arguments", "")
            arguments: str | dict[str, Any] = (
                raw_arguments
                if isinstance(raw_arguments, str)
                else as_object(raw_arguments) or json.dumps(raw_arguments)
            )
            self._call_index += 1
            raw_id = raw.get("id")
            call_id = raw_id if isinstance(raw_id, str) else f"call_{self._call_index}_{index}"
            calls.append(ToolCall(call_id, str(function["name"]), arguments))
        usage = as_object(payload.get("usage")) or {}
        return AssistantTurn(
            content=content,
            tool_calls=calls,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )


def _error_text(payload: dict[str, Any]) -> str:
    error: object = payload.get("error")
    detail = as_object(error)
    if detail is not None and detail.get("message"):
        return str(detail["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return json.dumps(payload, default=str)[:300]
