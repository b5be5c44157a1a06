"""Test sessions: each package alone, everything together, lint, build, and the opt-in heavy ones.

Run ``uv run nox`` for the default set, ``uv run nox -l`` to list, ``uv run nox -s NAME`` for one.
Every session installs from the committed ``uv.lock`` into its own environment, so
``tests(package='sqlenv-client')`` proves that the client installs and works alone.

Offline: locked installs (``uv sync --locked``) need no index once uv's cache holds the wheels.
The two steps that are not locked (the build backend of ``uv build``, and ``openenv`` for the
compatibility sessions) try the index first and, when it cannot be reached, run again from uv's
cache alone (``--offline``). So ``uv run nox`` reruns without a network after one run with it.
``uv run nox --install-only`` prepares every environment and runs nothing else.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import nox
from nox.command import CommandFailed

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
# What every test run sees: the Spider folder, and a gold-answer cache of the test runs' own (warm
# on reruns) so that tests never write into the user's cache folder.
TEST_ENV = {"SQLENV_SPIDER_DIR": SPIDER_DIR, "SQLENV_CACHE_DIR": str(ROOT / ".nox" / "sqlenv-cache")}


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
    # --inexact keeps the package that `sync` installed; --only-group leaves the workspace out.
    sync(session, "--inexact", "--only-group", group)


def installing_only(session: nox.Session) -> bool:
    """Whether this is ``nox --install-only``, under which ``session.run`` is skipped and returns None."""
    return session.run("python", "-c", "", silent=True) is None


def run_with_cache_fallback(session: nox.Session, *args: str, install: bool = False, **kwargs: Any) -> object:
    """Run a uv command that consults the index; when that fails, run it again from uv's cache alone.

    The retry changes nothing online (a real failure fails again, with uv's own message), and
    offline it lets a warm cache serve what the index would have.
    """
    runner = session.run_install if install else session.run
    try:
        return runner(*args, **kwargs)
    except CommandFailed:
        session.log(f"`{' '.join(args[:3])} ...` could not use the index: trying again from uv's cache (--offline)")
        return runner(*args, "--offline", **kwargs)


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
        env={"SQLENV_ISOLATED_PACKAGE": package, **TEST_ENV},
    )


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Everything installed together: the cross-package tests, real servers on loopback, the browser."""
    sync(session, "--all-packages", "--group", "integration")
    session.run("pytest", "tests", *session.posargs, env=TEST_ENV)


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
    built = run_with_cache_fallback(
        session, "uv", "build", "--all-packages", "--out-dir", str(dist), silent=True, external=True
    )
    if built is None:  # nox --install-only: nothing was built, so there is nothing to check
        return
    artifacts = sorted(str(p) for p in dist.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    session.run("twine", "check", "--strict", *artifacts)


@nox.session(python=PYTHON, default=False)
def spider(session: nox.Session) -> None:
    """The real-data tests on ../shared/spider (or $SQLENV_SPIDER_DIR) only, from every test folder.

    It collects ``packages`` and ``tests`` together, so it installs what both need (the
    integration group: schemathesis, playwright) even though only the ``spider`` tests run.
    """
    if not (Path(SPIDER_DIR) / "dev.json").is_file():
        session.skip(f"Spider data not found at {SPIDER_DIR}; set SQLENV_SPIDER_DIR")
    sync(session, "--all-packages", "--group", "integration")
    session.run("pytest", "packages", "tests", "-m", "spider", *session.posargs, env=TEST_ENV)


#: Packages of the locked CUDA build of torch; the train session installs a CPU build instead.
_CUDA_ONLY = ("torch", "triton", "nvidia-", "cuda-")
#: Where PyTorch publishes CPU-only wheels: the fallback when no local wheel is found.
_TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _torch_find_links() -> list[Path]:
    """Folders that may hold a CPU torch wheel: $SQLENV_TORCH_FIND_LINKS, pip's find-links, /opt/wheels."""
    import subprocess

    candidates = os.environ.get("SQLENV_TORCH_FIND_LINKS", "").split(os.pathsep)
    candidates += os.environ.get("PIP_FIND_LINKS", "").split()
    try:
        configured = subprocess.run(
            ["python3", "-m", "pip", "config", "get", "global.find-links"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        configured = ""
    candidates += configured.split()
    candidates.append("/opt/wheels")
    folders: list[Path] = []
    for candidate in candidates:
        path = Path(candidate.removeprefix("file://")) if candidate else None
        if path is not None and path.is_dir() and path not in folders:
            folders.append(path)
    return folders


def _local_torch_wheel() -> Path | None:
    """A CPU torch wheel for this Python on local disk, newest first (``None`` when there is none)."""
    import platform

    tag = f"cp{PYTHON.replace('.', '')}"
    machine = platform.machine()
    wheels = [
        wheel
        for folder in _torch_find_links()
        for wheel in folder.glob("torch-*.whl")
        if f"-{tag}-" in wheel.name and machine in wheel.name and "+cu" not in wheel.name
    ]
    return max(wheels, key=lambda w: w.name) if wheels else None


def install_train_stack(session: nox.Session) -> None:
    """The workspace with sqlenv-train[train,lora] from the lock, but a CPU build of torch.

    The lock pins PyPI's torch, a ~3 GB CUDA build. Instead: a CPU wheel found on local disk (pip's
    find-links, /opt/wheels or $SQLENV_TORCH_FIND_LINKS), else the CPU build from PyTorch's own
    index (slower: a ~200 MB download). Everything else comes from uv.lock at its locked version.
    """
    python = str(Path(session.virtualenv.location) / "bin" / "python")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        requirements = handle.name
    session.run_install(
        "uv",
        "export",
        "--frozen",
        "--no-hashes",
        "--no-emit-workspace",
        "--package",
        "sqlenv-train",
        "--extra",
        "train",
        "--extra",
        "lora",
        "--group",
        "test",
        "--group",
        "notebook",
        "-o",
        requirements,
        silent=True,
        external=True,
    )
    lines = Path(requirements).read_text().splitlines()
    locked_torch = next((line.split(";")[0].strip() for line in lines if line.startswith("torch==")), "torch")
    kept = [line for line in lines if not line.strip().startswith(_CUDA_ONLY)]
    Path(requirements).write_text("\n".join(kept) + "\n")
    # Bytecode compiled once at install: imports of torch, transformers and trl take seconds each
    # in every test process otherwise (and PYTHONDONTWRITEBYTECODE may forbid caching it later).
    uv_pip = ("uv", "pip", "install", "--python", python, "--quiet", "--compile-bytecode")
    wheel = _local_torch_wheel()
    if wheel is not None:
        session.log(f"torch: the CPU wheel on local disk, {wheel}")
        session.run_install(*uv_pip, "--no-deps", str(wheel), external=True)
    else:
        session.log(f"torch: no local CPU wheel found; {locked_torch} from {_TORCH_CPU_INDEX} (CPU build)")
        run_with_cache_fallback(
            session, *uv_pip, "--no-deps", "--index-url", _TORCH_CPU_INDEX, locked_torch, install=True, external=True
        )
    run_with_cache_fallback(session, *uv_pip, "--no-deps", "-r", requirements, install=True, external=True)
    os.unlink(requirements)
    workspace = [f"packages/{name}" for name in ("sqlenv-core", "sqlenv-client", "sqlenv-train")]
    session.run_install(*uv_pip, "--no-deps", *(arg for path in workspace for arg in ("-e", path)), external=True)


@nox.session(python=PYTHON)
def train(session: nox.Session) -> None:
    """GRPO with TRL on CPU: real GRPOTrainer steps with a tiny local model, evaluations, the notebook.

    Also the adapter, HF and LLM policy evaluations, reports and plots; the notebook runs in smoke mode.

    Installs a CPU build of torch (never the locked CUDA build; see ``install_train_stack``). The tiny
    model is built locally (no download) and cached, like gold answers, in the test runs' own cache.
    """
    install_train_stack(session)
    session.run(
        "pytest",
        "packages/sqlenv-train/tests",
        *session.posargs,
        # One BLAS thread: on 2 shared cores, two spinning OpenMP threads ran a tiny-model training
        # step in 0.90 s against 0.13 s for one thread while another process was busy (measured here).
        env={
            **TEST_ENV,
            "SQLENV_REQUIRE_TRAIN_STACK": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        },
    )


@nox.session(python=PYTHON, default=False)
def bench_train(session: nox.Session) -> None:
    """Warm start then GRPO on CPU with the tiny model; prints reward and tool-call validity at start and end."""
    install_train_stack(session)
    session.run("python", "bench/bench_train.py", *session.posargs, env=TEST_ENV)


@nox.session(python=PYTHON, default=False)
def bench_transfer(session: nox.Session) -> None:
    """A model built from scratch, warm-started and GRPO-trained on procgen:train, evaluated on unseen domains.

    About 25 minutes on 2 CPU cores (``-- --quick``: a few minutes). Pass ``-- --out-dir DIR`` to
    choose where the models, reports and ``transfer.json`` go (default ``bench/results/transfer``).
    """
    install_train_stack(session)
    args = list(session.posargs)
    if "--out-dir" not in args:
        args += ["--out-dir", "bench/results/transfer"]
    session.run(
        "python",
        "bench/bench_transfer.py",
        *args,
        env={**TEST_ENV, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Core benchmarks: ratios against raw sqlite3, and the gold cache against none (prints, never fails on speed)."""
    sync(session, "--all-packages")
    session.run("python", "bench/bench_core.py", *session.posargs, env={"SQLENV_SPIDER_DIR": SPIDER_DIR})
    session.run("python", "bench/bench_gold_cache.py", env={"SQLENV_SPIDER_DIR": SPIDER_DIR})


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
    if installing_only(session):
        return  # both environments are ready; the server is for the tests, which are not run
    port = _free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(session.create_tmp()) / "server.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [str(server_env / "bin" / "sqlenv-server"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **TEST_ENV},
        )
        try:
            _wait_healthy(url, server)
            session.run(
                "pytest",
                "packages/sqlenv-client/tests",
                *session.posargs,
                env={"SQLENV_ISOLATED_PACKAGE": "sqlenv-client", "SQLENV_TEST_SERVER_URL": url, **TEST_ENV},
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
    run_with_cache_fallback(session, "uv", "pip", "install", "openenv==0.10.0", install=True, silent=True)
    tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_openenv*.py"))
    session.run("pytest", *tests, *session.posargs, env=TEST_ENV)


@nox.session(python=PYTHON, default=False)
def bench_server(session: nox.Session) -> None:
    """The episode mix on sqlenv-server beside OpenEnv's own create_app, and import times (prints, never fails)."""
    if not (Path(SPIDER_DIR) / "dev.json").is_file():
        session.skip(f"the episode mix plays Spider; not found at {SPIDER_DIR} (set SQLENV_SPIDER_DIR)")
    sync(session, "--all-packages")
    run_with_cache_fallback(session, "uv", "pip", "install", "openenv==0.10.0", install=True, silent=True)
    session.run("python", "bench/bench_server.py", *session.posargs, env={"SQLENV_SPIDER_DIR": SPIDER_DIR})
    session.run("python", "bench/bench_imports.py")
