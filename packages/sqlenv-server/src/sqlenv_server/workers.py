"""``sqlenv-server --workers N``: N server processes on one port, HTTP sessions routed to their worker.

The parent reserves the port, then starts N worker processes (``spawn``: each loads the dataset
itself, so every worker has its own sandbox watchdog thread) that accept connections on the port
(on Linux each on its own ``SO_REUSEPORT`` socket, so the kernel spreads connections evenly;
elsewhere on one shared socket) and on a Unix socket of their own. WebSocket sessions live on their connection;
HTTP and MCP requests that name another worker's session are forwarded to it
(:mod:`sqlenv_server.routing`). The parent restarts a worker that dies and stops them all on
SIGINT/SIGTERM. Workers die with the parent: on Linux the kernel sends them SIGTERM when it dies
(``PR_SET_PDEATHSIG``), elsewhere each checks its parent's pid every second; and a port that
anything still listens on (such orphans of a killed server included) is refused, never shared.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any, NamedTuple

import uvicorn

from sqlenv_server.bounds import connection_limit, raise_open_files_limit
from sqlenv_server.protocol import head_deadline_protocol
from sqlenv_server.settings import Settings
from sqlenv_server.sharedlimit import BUCKETS, SharedClientSlots

__all__ = ["PortReservation", "reserve_port", "run_workers", "uvicorn_options"]

logger = logging.getLogger("sqlenv_server.workers")
_RESTART_PAUSE_S = 1.0
#: How often a worker checks that its parent still lives (where no parent-death signal exists).
_PARENT_CHECK_S = 1.0
_PR_SET_PDEATHSIG = 1


def uvicorn_options(settings: Settings, log_level: str) -> dict[str, Any]:
    """The uvicorn settings every ``sqlenv-server`` process runs with.

    Sizing ``limit_concurrency`` raises this process's soft open-files limit to its hard limit
    (once), unless ``settings.max_connections`` is given.
    """
    limit = (
        connection_limit(open_files_limit(), settings.max_sessions)
        if settings.max_connections is None
        else settings.max_connections
    )
    per_client = settings.max_connections_per_client
    if per_client is None:
        per_client = settings.requests_per_client
        if limit is not None:
            per_client = min(per_client, max(1, limit - limit // 8))
    return {
        "log_level": log_level,
        # The protocol layer refuses a larger frame (close 1009) before it is buffered whole.
        "ws_max_size": settings.max_message_bytes,
        # New connections past it get 503 and are closed, before the descriptors run out.
        "limit_concurrency": limit,
        "ws_per_message_deflate": settings.ws_compression,
        # Connections that take longer than header_timeout to send a request head (or body_timeout
        # for its body) are closed, and one client's HTTP connections past its share are refused at
        # once (slowloris).
        "http": head_deadline_protocol(
            settings.header_timeout, max_per_client=per_client, body_timeout_s=settings.body_timeout
        ),
        "timeout_graceful_shutdown": 5,
    }


_open_files: list[int | None] = []


def open_files_limit() -> int | None:
    """This process's soft open-files limit, raised to its hard limit the first time it is asked."""
    if not _open_files:
        _open_files.append(raise_open_files_limit())
    return _open_files[0]


def _reuse_port_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket on ``host:port`` with ``SO_REUSEPORT``.

    Each worker listens on one of its own and the kernel spreads new connections evenly over them
    (a shared socket gives them to whichever worker is waiting in ``accept``, often the same one).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def _plain_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` as uvicorn binds one (``SO_REUSEADDR``, not listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class PortReservation(NamedTuple):
    """The port held for the server before anything is started.

    Attributes:
        settings: the settings with the port actually bound (a requested port 0 is resolved).
        reserved: the socket that holds the port; close it when the server stops.
        shared: the socket the workers accept on, when they share one (``None``: each worker
            listens on its own ``SO_REUSEPORT`` socket).
    """

    settings: Settings
    reserved: socket.socket
    shared: socket.socket | None


def reserve_port(settings: Settings, workers: int) -> PortReservation:
    """Bind the server's port now, so that a port in use is reported before anything starts.

    With several workers on Linux the port is held by a bound, never listening ``SO_REUSEPORT``
    socket (it gets no connections; each worker listens on one of its own); otherwise by the one
    socket the server (or every worker) accepts on.

    Raises:
        OSError: the port cannot be bound (in use, not permitted, no such address).
    """
    if workers > 1 and sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT"):
        # SO_REUSEPORT sockets of one user share a port: first bind it as nobody else may, so that a
        # port another server listens on (or the orphaned workers of one that was killed) is refused
        # instead of shared with it.
        _plain_socket(settings.host, settings.port).close()
        reserved = _reuse_port_socket(settings.host, settings.port, listen=False)
        shared = None
    else:
        reserved = shared = _plain_socket(settings.host, settings.port)
    bound = settings.model_copy(update={"port": reserved.getsockname()[1]})
    return PortReservation(bound, reserved, shared)


def _die_with_parent(parent: int) -> None:
    """Make this worker exit (SIGTERM: uvicorn stops gracefully) when the parent ``parent`` dies.

    On Linux the kernel sends the signal (``PR_SET_PDEATHSIG``); everywhere a daemon thread also
    checks the parent's pid every second, which covers other systems and a parent that died before
    the signal was asked for. A killed parent thus never leaves workers serving its port.
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_S)
        logger.warning("the sqlenv-server parent process %d is gone; this worker stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    if os.getppid() != parent:  # died while this worker was starting
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=watch, name="sqlenv-parent-watch", daemon=True).start()


def _worker_main(
    settings_json: str,
    index: int,
    shared: socket.socket | None,
    sockets: list[str],
    log_level: str,
    parent: int | None = None,
    client_counts: tuple[Any, Any] | None = None,
) -> None:
    if parent is not None:
        _die_with_parent(parent)
    from sqlenv_core import load
    from sqlenv_server.app import create_app

    settings = Settings.model_validate_json(settings_json)
    dataset = load(settings.dataset)
    slots = None
    if client_counts is not None:
        counts, lock = client_counts
        limit = settings.per_client_limit * (1 if settings.max_sessions_per_client else len(sockets))
        slots = SharedClientSlots(counts, lock, index=index, workers=len(sockets), limit=limit)
    app = create_app(settings, dataset=dataset, worker_index=index, worker_sockets=sockets, client_slots=slots)
    own = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sockets[index])
    own.bind(sockets[index])
    own.listen(2048)
    public = shared or _reuse_port_socket(settings.host, settings.port, listen=True)
    config = uvicorn.Config(app, **uvicorn_options(settings, log_level))
    uvicorn.Server(config).run(sockets=[public, own])


def run_workers(settings: Settings, workers: int, log_level: str, port: PortReservation | None = None) -> int:
    """Serve with ``workers`` processes until SIGINT/SIGTERM; returns the exit status.

    Args:
        settings: the server's settings.
        workers: how many worker processes.
        log_level: uvicorn's log level.
        port: the port already reserved by :func:`reserve_port` (default: reserve it here,
            ``OSError`` when it cannot be bound).
    """
    context = multiprocessing.get_context("spawn")
    settings, reserved, shared = port or reserve_port(settings, workers)
    rundir = Path(tempfile.mkdtemp(prefix="sqlenv-workers-"))
    sockets = [str(rundir / f"worker-{i}.sock") for i in range(workers)]
    payload = settings.model_dump_json()
    stopping = threading.Event()
    # Every worker's sessions per client, so that one per-client limit holds across workers.
    client_counts = context.RawArray("i", workers * BUCKETS)
    client_lock = context.Lock()

    def start(index: int) -> multiprocessing.process.BaseProcess:
        for column in range(index * BUCKETS, (index + 1) * BUCKETS):  # its old sessions died with it
            client_counts[column] = 0
        process = context.Process(
            target=_worker_main,
            args=(payload, index, shared, sockets, log_level, os.getpid(), (client_counts, client_lock)),
            name=f"sqlenv-worker-{index}",
        )
        # A Ctrl-C reaches the whole process group; a worker still importing would die of it with a
        # traceback. Workers are born with SIGINT blocked (the mask survives exec) and are stopped by
        # the parent with SIGTERM instead; blocked, not ignored, here, so a Ctrl-C arriving meanwhile
        # still reaches the parent once the worker has started. The resource tracker must already
        # run: starting it inside ``process.start()`` unblocks SIGINT before the worker is spawned.
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return process

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start(i) for i in range(workers)]
    try:
        while not stopping.wait(0.5):
            for index, process in enumerate(processes):
                if not process.is_alive() and not stopping.is_set():
                    logger.warning("worker %d exited with %s; starting it again", index, process.exitcode)
                    time.sleep(_RESTART_PAUSE_S)
                    processes[index] = start(index)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reserved.close()
        for path in sockets:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        with contextlib.suppress(OSError):
            rundir.rmdir()
    return 0
