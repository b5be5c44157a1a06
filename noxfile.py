"""Test sessions: each package alone, everything together, lint, build, and the opt-in heavy ones.

Run ``uv run nox`` for the default set, ``uv run nox -l`` to list, ``uv run nox -s NAME`` for one.
Every session installs from the committed ``uv.lock`` into its own environment, so
``tests(package='sqlenv-client')`` proves that the client installs and works alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PACKAGES = ["sqlenv-core", "sqlenv-client", "sqlenv-server", "sqlenv-train"]
# Packages whose own tests need more than the shared test tools; they declare a `test` group.
PACKAGE_TEST_GROUPS = {"sqlenv-server"}
PYTHON = "3.11"
SPIDER_DIR = os.environ.get("SQLENV_SPIDER_DIR", str(ROOT.parent / "shared" / "spider"))


def sync(session: nox.Session, *args: str) -> None:
    """Install exactly the locked dependencies of what ``args`` selects into the session's venv."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


def install_group(session: nox.Session, group: str) -> None:
    """Add a root dependency group at its locked versions, without touching what ``sync`` installed."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        requirements = handle.name
    session.run_install(
        "uv",
        "export",
        "--frozen",
        "--no-hashes",
        "--no-emit-project",
        "--no-emit-workspace",
        "--only-group",
        group,
        "-o",
        requirements,
        silent=True,
    )
    session.install("-r", requirements, silent=True)
    os.unlink(requirements)


@nox.session(python=PYTHON)
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package alone: only it, its dependencies and the test tools are installed."""
    own_group = ("--group", "test") if package in PACKAGE_TEST_GROUPS else ()
    sync(session, "--package", package, *own_group)
    install_group(session, "test")
    session.run(
        "pytest",
        f"packages/{package}/tests",
        *session.posargs,
        env={"SQLENV_ISOLATED_PACKAGE": package, "SQLENV_SPIDER_DIR": SPIDER_DIR},
    )


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Everything installed together: the cross-package tests, real servers on loopback, the browser."""
    sync(session, "--all-packages", "--group", "integration")
    session.run("pytest", "tests", *session.posargs, env={"SQLENV_SPIDER_DIR": SPIDER_DIR})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (lint + format check) and pyright strict over the packages' sources."""
    sync(session, "--all-packages", "--group", "lint", "--group", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("pyright")


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Every package builds to an sdist and a wheel that ``twine check --strict`` accepts."""
    sync(session, "--group", "build")
    dist = Path(session.create_tmp()) / "dist"
    session.run("uv", "build", "--all-packages", "--out-dir", str(dist), silent=True, external=True)
    artifacts = sorted(str(p) for p in dist.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    session.run("twine", "check", "--strict", *artifacts)


@nox.session(python=PYTHON, default=False)
def spider(session: nox.Session) -> None:
    """The real-data tests on ../shared/spider (or $SQLENV_SPIDER_DIR) only."""
    if not (Path(SPIDER_DIR) / "dev.json").is_file():
        session.skip(f"Spider data not found at {SPIDER_DIR}; set SQLENV_SPIDER_DIR")
    sync(session, "--all-packages", "--group", "test")
    session.run("pytest", "packages", "tests", "-m", "spider", *session.posargs, env={"SQLENV_SPIDER_DIR": SPIDER_DIR})


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Core benchmarks: ratios against raw sqlite3 in the same process (prints, never fails on speed)."""
    sync(session, "--all-packages")
    session.run("python", "bench/bench_core.py", *session.posargs, env={"SQLENV_SPIDER_DIR": SPIDER_DIR})


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: object, timeout_s: float = 60.0) -> None:
    import json
    import subprocess
    import time
    import urllib.request

    assert isinstance(process, subprocess.Popen)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sqlenv-server exited with {process.returncode} before becoming healthy")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if json.load(response).get("status") == "healthy":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"sqlenv-server at {url} was not healthy within {timeout_s}s")


@nox.session(python=PYTHON)
def client_alone(session: nox.Session) -> None:
    """sqlenv-client installed alone plays against a server running from a separate environment.

    The client's environment gets only sqlenv-client (+ core) and the test tools; its tests assert that
    fastapi, uvicorn, torch and trl cannot be imported there. The server runs on 127.0.0.1 from its own
    locked environment under .nox/, and the tests find it through SQLENV_TEST_SERVER_URL.
    """
    import subprocess

    sync(session, "--package", "sqlenv-client")
    install_group(session, "test")
    server_env = ROOT / ".nox" / "client_alone_server"
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",
        "--package",
        "sqlenv-server",
        env={"UV_PROJECT_ENVIRONMENT": str(server_env)},
        silent=True,
    )
    port = _free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(session.create_tmp()) / "server.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [str(server_env / "bin" / "sqlenv-server"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(url, server)
            session.run(
                "pytest",
                "packages/sqlenv-client/tests",
                *session.posargs,
                env={"SQLENV_ISOLATED_PACKAGE": "sqlenv-client", "SQLENV_TEST_SERVER_URL": url},
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)
    session.log(f"server log: {log}")


@nox.session(python=PYTHON)
def openenv_compat(session: nox.Session) -> None:
    """The real openenv 0.10.0 from PyPI against our server, and our client against OpenEnv's server.

    Installs the workspace packages at their locked versions plus openenv==0.10.0 into this session's
    own environment (never into the workspace's), then runs tests/test_openenv*.py.
    """
    sync(session, "--all-packages", "--group", "test")
    session.install("openenv==0.10.0", silent=True)
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_openenv*.py"))
    session.run("pytest", *tests, *session.posargs)


@nox.session(python=PYTHON, default=False)
def bench_server(session: nox.Session) -> None:
    """The episode mix on sqlenv-server beside OpenEnv's own create_app, and import times (prints, never fails)."""
    if not (Path(SPIDER_DIR) / "dev.json").is_file():
        session.skip(f"the episode mix plays Spider; not found at {SPIDER_DIR} (set SQLENV_SPIDER_DIR)")
    sync(session, "--all-packages")
    session.install("openenv==0.10.0", silent=True)
    session.run("python", "bench/bench_server.py", *session.posargs, env={"SQLENV_SPIDER_DIR": SPIDER_DIR})
    session.run("python", "bench/bench_imports.py")
