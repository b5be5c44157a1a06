"""Connection settings shared by the sync and async clients."""

from __future__ import annotations

import inspect
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from sqlenv_client._shared.wire import http_base_url

__all__ = ["DEFAULT_URL", "ClientSettings", "TransportName", "check_twin", "headers_dict", "spread"]

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
    urls: tuple[str, ...] = ()
    """Every server this client may use, in the order it tries them; ``base_url`` is the one in use."""
    _untried: int = field(default=0, init=False, repr=False)

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
        self.urls = tuple(http_base_url(u) for u in self.urls) or (self.base_url,)
        self._untried = len(self.urls) - 1

    @classmethod
    def for_client(
        cls,
        base_url: str | Sequence[str],
        transport: str | object,
        *,
        is_async: bool,
        connect_timeout: float,
        message_timeout: float,
        reconnect_attempts: int,
        backoff: float,
        max_backoff: float,
        max_message_bytes: int,
        headers: Mapping[str, str] | None,
        http_client: object | None,
    ) -> ClientSettings:
        """The settings of a new client (async or not), from its constructor's arguments, checked.

        Raises:
            ValueError: a setting is out of range, or ``http_client`` does not fit the others.
            TypeError: ``transport`` is an object made for the other client (sync or async).
        """
        if not isinstance(transport, str):
            check_twin(transport, is_async=is_async)
        first, urls = spread(base_url)
        settings = cls(
            first,
            cast(TransportName, transport) if isinstance(transport, str) else "ws",
            connect_timeout,
            message_timeout,
            reconnect_attempts,
            backoff,
            max_backoff,
            max_message_bytes,
            headers_dict(headers),
            urls,
        )
        if http_client is not None and settings.transport != "http":
            raise ValueError("http_client is used by transport='http' only; pass transport='http' with it")
        if http_client is not None and len(urls) > 1:
            raise ValueError("http_client talks to one server; give one base_url with it")
        return settings

    def failover(self) -> bool:
        """Move to the next server, unless every one has been tried since the last success.

        Returns:
            Whether there was one left to try (``base_url`` now names it).
        """
        if self._untried <= 0:
            return False
        self._untried -= 1
        self.base_url = self.urls[(self.urls.index(self.base_url) + 1) % len(self.urls)]
        return True

    def succeeded(self) -> None:
        """A server answered: the next failure may try every other server again."""
        self._untried = len(self.urls) - 1

    def backoff_delay(self, attempt: int) -> float:
        """The pause before retry number ``attempt`` (0-based): exponential, capped at ``max_backoff``."""
        return min(self.max_backoff, self.backoff * (2**attempt))

    def backoff_delays(self) -> Iterator[float]:
        """Pauses before each retry of a failed connect: exponential, capped at ``max_backoff``."""
        delay = self.backoff
        for _ in range(self.reconnect_attempts):
            yield delay
            delay = min(self.max_backoff, delay * 2 if delay else self.backoff)


_TWINS = ("LocalTransport", "HttpTransport", "WebSocketTransport")


def check_twin(transport: object, *, is_async: bool) -> None:
    """Refuse a transport made for the other client: an async one for the sync client, or back.

    Raises:
        TypeError: what to use instead.
    """
    name = type(transport).__name__
    exchange = getattr(transport, "exchange", None)
    if not callable(exchange):
        raise TypeError(f"{name} is not a transport (it has no exchange() method); see sqlenv_client.transports")
    if inspect.iscoroutinefunction(exchange) == is_async:
        return
    if is_async:  # a blocking transport
        twin = f"Async{name}" if name in _TWINS else "a transport whose exchange() is async"
        raise TypeError(f"{name} is for SQLEnvClient; use {twin} with AsyncSQLEnvClient")
    plain = name.removeprefix("Async")
    twin = plain if plain in _TWINS and plain != name else "a transport whose exchange() is not async"
    raise TypeError(f"{name} is for AsyncSQLEnvClient; use {twin} with SQLEnvClient")


def headers_dict(headers: Mapping[str, str] | None) -> dict[str, str]:
    """A plain dict of extra headers (``{}`` for none)."""
    return dict(headers or {})


_turns: dict[tuple[str, ...], Iterator[int]] = {}
_turns_lock = threading.Lock()


def spread(base_url: str | Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The server a new client starts on, and the order it fails over in.

    ``base_url`` is one URL, several separated by commas, or a sequence of URLs. The clients of
    one process take the URLs of the same list in turn (round-robin), so that N clients spread
    their sessions evenly over the servers; each then fails over through the others in order.

    Raises:
        ValueError: no URL was given.
    """
    urls = tuple(u.strip() for u in (base_url.split(",") if isinstance(base_url, str) else base_url) if u.strip())
    if not urls:
        raise ValueError("base_url names no server; give a URL such as http://127.0.0.1:8000")
    if len(urls) == 1:
        return urls[0], urls
    with _turns_lock:
        turn = next(_turns.setdefault(urls, itertools.count()))
    start = turn % len(urls)
    order = urls[start:] + urls[:start]
    return order[0], order
