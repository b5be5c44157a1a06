"""``sqlenv-server``: serve SQLEnv with uvicorn (the built-in dataset on ``$PORT`` or 8000 by default)."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from sqlenv_server.settings import Settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqlenv-server",
        description="Serve SQLEnv over the OpenEnv wire protocol (HTTP, WebSocket /ws, MCP /mcp, playground /web).",
        epilog="Every option also reads an environment variable: SQLENV_DATASET, SQLENV_HOST, PORT or SQLENV_PORT, "
        "SQLENV_MAX_SESSIONS, SQLENV_WORKERS, SQLENV_NODE_ID; and more settings only from the environment "
        "(SQLENV_STEP_BUDGET, SQLENV_REWARD, SQLENV_SESSION_TTL, SQLENV_MAX_SESSIONS_PER_CLIENT, ...: "
        "see docs/server.md).",
    )
    parser.add_argument(
        "--dataset", help="dataset spec: builtin, builtin:eval, spider:/path?split=dev (default: builtin)"
    )
    parser.add_argument("--host", help="interface to bind (default: 127.0.0.1; use 0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, help="port (default: $PORT or 8000)")
    parser.add_argument("--max-sessions", type=int, help="sessions open at once, per worker (default: 256)")
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (default: 0 = one per CPU core, at most 8); "
        "HTTP sessions are routed to the worker that holds them",
    )
    parser.add_argument(
        "--node-id", help="this server's name behind a load balancer: session ids start with '<node-id>-'"
    )
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load the dataset (failing fast), then serve until interrupted."""
    args = _parser().parse_args(argv)
    overrides = {
        key: value
        for key, value in {
            "dataset": args.dataset,
            "host": args.host,
            "port": args.port,
            "max_sessions": args.max_sessions,
            "workers": args.workers,
            "node_id": args.node_id,
        }.items()
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        print(f"sqlenv-server: invalid settings: {problems}", file=sys.stderr)
        return 2

    # Imported here so that --help stays instant and a missing optional piece reads as a message.
    import uvicorn

    from sqlenv_core import load
    from sqlenv_server.app import UnservableDatasetError, check_servable, create_app
    from sqlenv_server.workers import reserve_port, run_workers, uvicorn_options

    try:
        dataset = load(settings.dataset)
        check_servable(dataset)
    except UnservableDatasetError as exc:
        print(f"sqlenv-server: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # any failure to load is the user's configuration, not a crash
        print(f"sqlenv-server: cannot load dataset {settings.dataset!r}: {exc}", file=sys.stderr)
        return 2
    count = settings.worker_count
    if count > 1 and not hasattr(socket, "AF_UNIX"):
        print(
            "sqlenv-server: --workers above 1 needs Unix sockets, which this platform lacks; use --workers 1",
            file=sys.stderr,
        )
        return 2
    try:
        port = reserve_port(settings, count)
    except OSError as exc:
        print(
            f"sqlenv-server: cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}): "
            "choose another --port (SQLENV_PORT) or stop what uses it",
            file=sys.stderr,
        )
        return 2
    settings = port.settings  # a requested port 0 is now the port bound
    workers = f", {count} workers" if count > 1 else ""
    print(
        f"sqlenv-server: serving {dataset.name!r} ({len(dataset)} questions{workers}) on "
        f"http://{settings.host}:{settings.port} (playground: /web, docs: /docs)",
        file=sys.stderr,
    )
    if count > 1:
        del dataset  # each worker loads its own
        return run_workers(settings, count, args.log_level, port)
    app = create_app(settings, dataset=dataset)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, **uvicorn_options(settings, args.log_level))
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[port.reserved])
    except KeyboardInterrupt:
        pass
    finally:
        port.reserved.close()
    return 0 if server.started else 3  # 3: the app failed to start (uvicorn's own status for it)


if __name__ == "__main__":
    sys.exit(main())
