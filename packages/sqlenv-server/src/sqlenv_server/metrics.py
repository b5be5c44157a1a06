"""Prometheus metrics, in a registry owned by one app (never the process-global one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from sqlenv_server.protocol import CLOSED_CONNECTIONS

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _ClosedConnections(Collector):
    """What the HTTP protocol (:mod:`sqlenv_server.protocol`) closed in this process, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "sqlenv_connections_closed",
            "Connections the server closed before a request was whole: head not received within "
            "header_timeout, body not within body_timeout, or one past max_connections_per_client (refused "
            "with 429).",
            labels=["reason"],
        )
        for reason, count in CLOSED_CONNECTIONS.items():
            family.add_metric([reason], count)
        yield family


class ServerMetrics:
    """The counters one server exposes on ``GET /metrics``.

    Attributes:
        registry: the registry these metrics live in; two apps in one process never share one.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.active_sessions = Gauge(
            "sqlenv_active_sessions", "Sessions currently open, by transport.", ["transport"], registry=self.registry
        )
        self.sessions_opened = Counter(
            "sqlenv_sessions_opened", "Sessions opened, by transport.", ["transport"], registry=self.registry
        )
        self.sessions_reaped = Counter(
            "sqlenv_sessions_reaped", "Sessions closed because they stayed idle past the TTL.", registry=self.registry
        )
        self.steps = Counter("sqlenv_steps", "Steps executed, by action type.", ["action_type"], registry=self.registry)
        self.inline_steps = Counter(
            "sqlenv_inline_steps",
            "Steps run on the event loop because every earlier run of the same action was cheap.",
            registry=self.registry,
        )
        self.errors = Counter("sqlenv_errors", "Errors answered to clients, by code.", ["code"], registry=self.registry)
        self.step_latency = Histogram(
            "sqlenv_step_latency_seconds",
            "Time spent executing one step (sandbox and reward), by action type.",
            ["action_type"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ClosedConnections())
        for transport in ("ws", "http", "mcp"):
            self.active_sessions.labels(transport).set(0)
        # labels() takes a lock and builds a key on every call; a step resolves its children once.
        self._per_action: dict[str, tuple[Any, Any]] = {}

    def step_done(self, action_type: str, seconds: float, *, inline: bool = False) -> None:
        """Count one step of ``action_type`` that took ``seconds`` (``inline``: on the event loop)."""
        children = self._per_action.get(action_type)
        if children is None:
            children = self._per_action[action_type] = (
                self.steps.labels(action_type),
                self.step_latency.labels(action_type),
            )
        children[0].inc()
        children[1].observe(seconds)
        if inline:
            self.inline_steps.inc()

    def render(self) -> bytes:
        """The metrics in Prometheus' text exposition format."""
        return generate_latest(self.registry)
