"""Server settings, read from ``SQLENV_*`` environment variables (and ``PORT``, which HF Spaces sets)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MAX_AUTO_WORKERS", "Settings", "usable_cpus"]

#: Most worker processes ``workers=0`` starts (each loads the dataset and holds its own sessions).
MAX_AUTO_WORKERS = 8


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """CPU cores this process may use: its affinity, capped by a container's CPU quota (cgroup v1 or v2).

    A container limited to 2 CPUs on a 64-core host sees 64 cores in ``os.cpu_count()``; its quota
    (``cpu.max`` = ``200000 100000``) says 2. Kubernetes CPU limits are such quotas.
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for quota_file, period_file in (("cpu.max", None), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):
        try:
            fields = (cgroup / quota_file).read_text()[:64].split()
            if period_file is not None:
                fields += (cgroup / period_file).read_text()[:64].split()
            quota, period = int(fields[0]), int(fields[1])
        except (OSError, ValueError, IndexError):  # no such file, "max", or nothing readable
            continue
        if quota > 0 and period > 0:
            usable = min(usable, max(1, -(-quota // period)))
        break
    return usable


class Settings(BaseSettings):
    """Everything a self-hosted server can be told.

    Each field reads ``SQLENV_<FIELD>`` from the environment; ``port`` also reads ``PORT`` (the
    variable HuggingFace Spaces and most PaaS hosts set). Pass values directly to override.
    """

    model_config = SettingsConfigDict(env_prefix="SQLENV_", populate_by_name=True, extra="ignore")

    dataset: str = "builtin"
    """A ``sqlenv_core.load`` spec: ``builtin``, ``builtin:eval``, ``spider:/path?split=dev``."""
    step_budget: int = Field(default=15, ge=1, le=1_000)
    """Steps an agent gets per episode (ANSWER is free)."""
    reward: Literal["dense", "sparse"] = "dense"
    """Reward profile of every episode."""
    reveal_rewards: Literal["step", "episode"] = "step"
    """When agents see rewards: ``step`` (each step's reward and breakdown) or ``episode`` (0 until
    the last step, which carries the whole return). Per-step shaping says whether a result shares
    values with the gold answer, so a public server or an evaluation of untrusted agents should use
    ``episode`` (docs/rewards.md#reward-integrity)."""
    show_gold_after_episode: bool = False
    """Put the gold SQL in every session's final observation (``info["gold_sql"]``), which the
    ``/web`` playground then shows. For demos only: any client of such a server can reset to the
    same question and replay the gold SQL, so never train or evaluate against it."""
    max_sessions: int = Field(default=256, ge=1)
    """Concurrent sessions (WebSocket, HTTP and MCP together); more are refused with CAPACITY_REACHED."""
    session_ttl: float = Field(default=600.0, gt=0)
    """Seconds an HTTP or MCP session may stay idle before it is reaped. WebSocket sessions end with
    their connection instead."""
    reap_interval: float | None = Field(default=None, gt=0)
    """Seconds between two sweeps for idle sessions; default: a quarter of ``session_ttl``, at most 30."""
    max_sessions_per_client: int | None = Field(default=None, ge=1)
    """Sessions one client (one peer address; behind a trusted proxy, the forwarded address) may hold
    at once, so that one client cannot lock everyone out; more are refused with CAPACITY_REACHED.
    Default: all but an eighth of ``max_sessions`` (224 of 256), so that others can always get in.
    With several workers the limit counts the client's sessions on all of them: a value set here is
    its total, the default is the per-worker default times the workers."""
    max_message_bytes: int = Field(default=1_000_000, ge=1_024)
    """Largest WebSocket message or request body accepted, counted on the bytes actually received
    (chunked bodies included); larger ones get an error (413 over HTTP), not a crash."""
    max_batch: int = Field(default=32, ge=1, le=10_000)
    """Most JSON-RPC messages in one ``/mcp`` batch; a longer batch is refused whole."""
    result_cache_mb: int = Field(default=64, ge=0)
    """Megabytes of query results shared between sessions (the databases are immutable, so the same
    deterministic SQL always gives the same result); 0 turns the cache off."""
    result_cache_ttl: float = Field(default=600.0, gt=0)
    """Seconds a cached result may stay unused before it is dropped (the reaper also sweeps them)."""
    temp_store: Literal["memory", "file"] = "file"
    """Where SQLite sorts: ``file`` (default) sorts in small runs that the deadline can stop and
    spills big sorts to temporary files, capped per query by ``max_temp_mb``; ``memory`` never
    touches disk, but SQLite's in-memory sorter does not see the deadline (see docs/sandbox.md)."""
    max_temp_mb: int = Field(default=256, ge=1)
    """Megabytes of temporary files one query may hold (sorts, DISTINCT, GROUP BY) before it stops
    with ``too_large``."""
    worker_threads: int = Field(default=4, ge=1, le=1_024)
    """Steps that may run Python at once in worker threads (a slow query never blocks the event
    loop). A step still running inside SQLite after ``slow_step_s`` gives its slot back, so slow
    queries cannot keep quick ones waiting; one slow in Python (reward, verdict) keeps it, so that
    at most this many threads compete with the event loop for the GIL: 4 keeps ``/health`` near
    50 ms at p99 against 64 sessions sending the heaviest steps (8: 140 ms), at the throughput of 8
    on the episode mix, since most steps of an episode now run on the event loop."""
    slow_step_s: float = Field(default=0.1, gt=0, le=60)
    """A slot-holding step seen inside SQLite (the GIL released) after this long stops counting
    against ``worker_threads`` (the runner looks every half of it)."""
    inline_step_ms: float = Field(default=2.0, ge=0, le=50)
    """A step never seen before, or whose every earlier run (same action, same database or question)
    took less than this, is tried on the event loop under an inline budget of half this much
    SQLite time (``sqlenv_core.sandbox.InlineBudget``) and goes to a worker thread if it needs
    more; an action once slower than this always does. 0 sends every step to a thread."""
    ws_compression: bool = False
    """Offer per-message deflate on WebSocket connections: fewer bytes on a slow network, more CPU per
    step on both ends (observations are small; off by default)."""
    node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,16}$")
    """This server's name behind a load balancer: session ids start with ``<node_id>-`` so that the
    balancer can route a session's requests to the server that holds it (see docs/scaling.md)."""
    workers: int = Field(default=0, ge=0, le=256)
    """Server processes of the ``sqlenv-server`` command, sharing its port: each serves WebSocket
    sessions on its own and forwards HTTP/MCP requests for a session to the worker that holds it.
    ``0`` (the default): one per CPU core this process may use (a container's CPU quota counts),
    at most 8. Limits such as
    ``max_sessions`` apply per worker."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65_535, validation_alias=AliasChoices("SQLENV_PORT", "PORT"))
    # -- Bounds under hostile load (docs/server.md, "Limits"): what one client can make a worker hold.
    max_pending_per_session: int = Field(default=4, ge=0, le=1_000)
    """Requests that may wait behind a session's running request; more are refused at once with 429
    (``CAPACITY_REACHED``) instead of queueing (a session runs one request at a time anyway)."""
    max_requests_per_client: int | None = Field(default=None, ge=1)
    """HTTP requests one client may have in flight at once (any route); more get 429. Default: its
    session limit plus 32, so that every session it may hold can have a request running."""
    max_body_bytes_per_client: int | None = Field(default=None, ge=1_024)
    """Bytes of request bodies one client may have in flight at once (received and not yet answered);
    more get 429. Default: 4 x ``max_message_bytes``."""
    max_connections: int | None = Field(default=None, ge=16)
    """Connections (HTTP and WebSocket) one worker serves at once; a new one past it gets 503 and is
    closed. Default: what the open-files limit leaves after two files per session and a reserve (the
    server raises its soft open-files limit to the hard one at start), so that it refuses cleanly
    before it runs out of file descriptors."""
    header_timeout: float = Field(default=10.0, gt=0, le=600)
    """Seconds a connection has to send a request's line and headers, counted from when it opened (its
    first request) or from its previous response; past it the connection is closed (with 408 if a
    request was begun), so that connections that send nothing, or a byte now and then, cannot hold
    ``max_connections`` (slowloris). Applies to the ``sqlenv-server`` command (``uvicorn_options``)."""
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    """Seconds a request's body has to arrive whole, counted from its head; past it the connection is
    closed (with 408 if no response was begun), so that bodies sent a byte now and then cannot hold
    ``max_connections`` either. Applies to the ``sqlenv-server`` command (``uvicorn_options``)."""
    max_connections_per_client: int | None = Field(default=None, ge=1)
    """HTTP connections one peer address may hold open on one worker (WebSockets are counted by
    ``max_ws_per_client`` instead); one more is answered 429 at once and closed. Default: its
    ``max_requests_per_client``, at most all but an eighth of ``max_connections``. Connections from a
    proxy uvicorn trusts (``FORWARDED_ALLOW_IPS``; loopback by default) are not counted. Applies to
    the ``sqlenv-server`` command (``uvicorn_options``)."""
    max_ws_per_client: int | None = Field(default=None, ge=1)
    """WebSocket connections one client (as in ``max_sessions_per_client``) may hold on one worker; one
    more gets a ``CAPACITY_REACHED`` error frame and close code 1013. Default: the per-client session
    limit of one worker (all but an eighth of ``max_sessions``, or ``max_sessions_per_client`` when
    set), so that with several workers, whose session limit is shared, one client still cannot take
    every slot of one worker."""
    ws_send_timeout: float = Field(default=10.0, gt=0, le=600)
    """Seconds a reply may wait for a WebSocket client to read; a client that does not read for this
    long is disconnected and its session freed."""
    allowed_hosts: str = ""
    """Comma-separated names the server answers to besides IP addresses, ``localhost`` and the HF
    Space's ``SPACE_HOST`` (``*``: any); another ``Host`` gets 421 (DNS rebinding). Default: when
    bound to loopback, those only; when bound elsewhere (``0.0.0.0``), any name."""
    allowed_origins: str = ""
    """Comma-separated origins (``https://example.org``) whose pages may open ``/ws`` or send
    state-changing requests, besides the server's own, loopback ones and the Space's (``*``: any);
    a request with another ``Origin`` gets 403. Requests without ``Origin`` (non-browser clients)
    are not affected."""

    @property
    def worker_count(self) -> int:
        """The effective number of worker processes."""
        if self.workers:
            return self.workers
        if not hasattr(socket, "AF_UNIX"):  # workers reach each other over Unix sockets
            return 1
        return max(1, min(usable_cpus(), MAX_AUTO_WORKERS))

    @property
    def per_client_limit(self) -> int:
        """The effective number of sessions one client may hold."""
        if self.max_sessions_per_client is not None:
            return min(self.max_sessions_per_client, self.max_sessions)
        return max(1, self.max_sessions - max(1, self.max_sessions // 8))

    @property
    def requests_per_client(self) -> int:
        """The effective number of HTTP requests one client may have in flight."""
        if self.max_requests_per_client is not None:
            return self.max_requests_per_client
        return self.per_client_limit + 32

    @property
    def ws_per_client(self) -> int:
        """The effective number of WebSocket connections one client may hold on one worker."""
        if self.max_ws_per_client is not None:
            return self.max_ws_per_client
        return self.per_client_limit

    @property
    def body_bytes_per_client(self) -> int:
        """The effective bytes of request bodies one client may have in flight."""
        if self.max_body_bytes_per_client is not None:
            return self.max_body_bytes_per_client
        return 4 * self.max_message_bytes

    @property
    def reap_every_s(self) -> float:
        """The effective interval between idle-session sweeps."""
        if self.reap_interval is not None:
            return self.reap_interval
        return min(30.0, max(0.05, self.session_ttl / 4))
