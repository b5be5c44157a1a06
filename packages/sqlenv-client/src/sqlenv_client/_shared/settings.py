"""Connection settings shared by the sync and async clients."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlenv_client._shared.wire import http_base_url

__all__ = ["DEFAULT_URL", "ClientSettings", "TransportName", "headers_dict"]

TransportName = Literal["ws", "http"]
"""How a client reaches a server: one WebSocket (``ws``) or HTTP sessions (``http``)."""

#: Where a client connects when given no URL (``sqlenv-server``'s default address).
DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass
class ClientSettings:
    """Connection settings shared by :class:`SQLEnvClient` and :class:`AsyncSQLEnvClient`."""

    base_url: str
    transport: TransportName = "ws"
    connect_timeout: float = 10.0
    message_timeout: float = 60.0
    reconnect_attempts: int = 3
    backoff: float = 0.25
    max_backoff: float = 4.0
    max_message_bytes: int = 16 * 1024 * 1024
    headers: dict[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        if self.transport not in ("ws", "http"):
            raise ValueError(f"transport must be 'ws' or 'http', got {self.transport!r}")
        for name in ("connect_timeout", "message_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {getattr(self, name)!r}")
        if self.reconnect_attempts < 0:
            raise ValueError(f"reconnect_attempts must be >= 0, got {self.reconnect_attempts}")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff and max_backoff must be >= 0")
        self.base_url = http_base_url(self.base_url)

    def backoff_delay(self, attempt: int) -> float:
        """The pause before retry number ``attempt`` (0-based): exponential, capped at ``max_backoff``."""
        return min(self.max_backoff, self.backoff * (2**attempt))

    def backoff_delays(self) -> Iterator[float]:
        """Pauses before each retry of a failed connect: exponential, capped at ``max_backoff``."""
        delay = self.backoff
        for _ in range(self.reconnect_attempts):
            yield delay
            delay = min(self.max_backoff, delay * 2 if delay else self.backoff)


def headers_dict(headers: Mapping[str, str] | None) -> dict[str, str]:
    """A plain dict of extra headers (``{}`` for none)."""
    return dict(headers or {})
