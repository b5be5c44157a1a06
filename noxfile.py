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
    # The skyrl extra: pyright checks sqlenv_train.skyrl against skyrl-gym's real classes.
    sync(session, "--all-packages", "--extra", "skyrl", "--group", "lint", "--group", "test")
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


def _has_nvidia_gpu() -> bool:
    """Whether ``nvidia-smi`` lists a GPU here."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def install_train_stack(session: nox.Session, *, cpu_torch: bool = True) -> None:
    """The workspace with sqlenv-train[train,lora] from the lock, but a CPU build of torch.

    The lock pins PyPI's torch, a ~3 GB CUDA build. Instead: a CPU wheel found on local disk (pip's
    find-links, /opt/wheels or $SQLENV_TORCH_FIND_LINKS), else the CPU build from PyTorch's own
    index (slower: a ~200 MB download). Everything else comes from uv.lock at its locked version.
    ``cpu_torch=False`` keeps the locked torch (for a machine with a GPU).
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
    kept = [line for line in lines if not line.strip().startswith(_CUDA_ONLY)] if cpu_torch else lines
    Path(requirements).write_text("\n".join(kept) + "\n")
    # Bytecode compiled once at install: imports of torch, transformers and trl take seconds each
    # in every test process otherwise (and PYTHONDONTWRITEBYTECODE may forbid caching it later).
    uv_pip = ("uv", "pip", "install", "--python", python, "--quiet", "--compile-bytecode")
    wheel = _local_torch_wheel()
    if not cpu_torch:
        session.log(f"torch: {locked_torch} as locked (a CUDA build), for the GPU")
    elif wheel is not None:
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
def smoke_train(session: nox.Session) -> None:
    """The smoke training from a fresh clone: ``uv run nox -s smoke_train [-- FLAGS of sqlenv-train train]``.

    Installs sqlenv-train with its ``train`` extra into ``.nox/smoke_train`` (a CPU build of torch,
    or the locked CUDA build where ``nvidia-smi`` lists a GPU), then runs
    ``sqlenv-train train --smoke`` (the tiny model built locally: warm start, GRPO, evaluations,
    report) into ``runs/smoke``. Arguments after ``--`` go to ``sqlenv-train train``, e.g.
    ``-- --steps 8`` or ``-- --resume``.
    """
    install_train_stack(session, cpu_torch=not _has_nvidia_gpu())
    args = list(session.posargs)
    if not any(a == "--output-dir" or a.startswith("--output-dir=") for a in args):
        args = ["--output-dir", "runs/smoke", *args]
    session.run(
        "sqlenv-train",
        "train",
        "--smoke",
        *args,
        env={"SQLENV_SPIDER_DIR": SPIDER_DIR, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )


@nox.session(python=PYTHON, default=False)
def bench_train(session: nox.Session) -> None:
    """Warm start then GRPO on CPU with the tiny model; prints reward and tool-call validity at start and end."""
    install_train_stack(session)
    session.run("python", "bench/bench_train.py", *session.posargs, env=TEST_ENV)


#: The framework versions the integration sessions install and test (each in its own environment,
#: outside the workspace lock: verifiers pins openai<3 and mcp==2.0.0 and brings ~100 packages).
VERIFIERS_VERSION = "0.4.0"


@nox.session(python=PYTHON)
def verifiers(session: nox.Session) -> None:
    """sqlenv-verifiers (integrations/verifiers) under the real verifiers: the tool server, then vf-eval on loopback.

    The workspace packages come from the lock (no extras: no torch); verifiers is pip-installed
    at its pinned version on top, into this session's own environment only. verifiers' chat
    harness is a PEP 723 script: uv resolves its few dependencies on the first run (then from
    uv's cache).
    """
    sync(session, "--all-packages")
    install_group(session, "test")
    run_with_cache_fallback(
        session,
        "uv",
        "pip",
        "install",
        "--quiet",
        f"verifiers=={VERIFIERS_VERSION}",
        "-e",
        "integrations/verifiers",
        install=True,
        silent=True,
    )
    session.run("pytest", "integrations/verifiers/tests", *session.posargs, env=TEST_ENV)
    # docs/integrations.md's verifiers blocks (the docs test skips them where verifiers is absent).
    session.run("pytest", "tests/test_docs_examples.py", "-k", "integrations", env=TEST_ENV)
    # What the Environments Hub installs: the package builds, and its wheel holds the taskset module.
    dist = Path(session.create_tmp()) / "dist-verifiers"
    built = run_with_cache_fallback(
        session, "uv", "build", "integrations/verifiers", "--out-dir", str(dist), silent=True, external=True
    )
    if built is not None:
        check = (
            "import sys, zipfile, pathlib; (wheel,) = pathlib.Path(sys.argv[1]).glob('sqlenv_verifiers-*.whl'); "
            "names = set(zipfile.ZipFile(wheel).namelist()); "
            "missing = {f'sqlenv_verifiers/{m}.py' for m in ('__init__', 'taskset', 'toolset')} - names; "
            "sys.exit(f'{wheel.name} lacks {sorted(missing)}' if missing else 0)"
        )
        session.run("python", "-c", check, str(dist))


@nox.session(python=PYTHON)
def skyrl(session: nox.Session) -> None:
    """sqlenv-train[skyrl]: SQLEnv as a SkyRL-Gym text environment, driven with scripted model strings.

    Also docs/integrations.md's SkyRL blocks (the docs test, which starts a sqlenv-server, skips
    them where skyrl-gym is absent).
    """
    sync(session, "--all-packages", "--extra", "skyrl")
    install_group(session, "test")
    session.run("pytest", "packages/sqlenv-train/tests/test_train_skyrl.py", *session.posargs, env=TEST_ENV)
    session.run("pytest", "tests/test_docs_examples.py", "-k", "integrations", env=TEST_ENV)


@nox.session(python=PYTHON, default=False)
def bench_transfer(session: nox.Session) -> None:
    """A model built from scratch, warm-started and GRPO-trained on procgen:train, evaluated on unseen domains.

    About 20 minutes on 2 CPU cores (``-- --quick``: a few minutes). Pass ``-- --out-dir DIR`` to
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


def _pep503_index(dist: Path, root: Path) -> list[str]:
    """A static PEP 503 "simple" index of the files in ``dist`` under ``root/simple``; returns the project names."""
    import hashlib
    import html
    import re
    import shutil

    files = root / "files"
    files.mkdir(parents=True)
    projects: dict[str, list[str]] = {}
    for artifact in sorted(dist.iterdir()):
        if not artifact.name.endswith((".whl", ".tar.gz")):
            continue
        shutil.copy2(artifact, files / artifact.name)
        # wheel: {name}-{version}-...whl with "_" for "-"; sdist: {name}-{version}.tar.gz
        name = re.split(r"-\d", artifact.name, maxsplit=1)[0]
        projects.setdefault(re.sub(r"[-_.]+", "-", name).lower(), []).append(artifact.name)
    simple = root / "simple"
    for project, names in projects.items():
        (simple / project).mkdir(parents=True)
        links = []
        for name in names:
            digest = hashlib.sha256((files / name).read_bytes()).hexdigest()
            href = html.escape(f"../../files/{name}#sha256={digest}")
            links.append(f'<a href="{href}">{html.escape(name)}</a><br>')
        (simple / project / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n", encoding="utf-8"
        )
    (simple / "index.html").write_text(
        "<!DOCTYPE html><html><body>\n"
        + "\n".join(f'<a href="{p}/">{p}</a><br>' for p in sorted(projects))
        + "\n</body></html>\n",
        encoding="utf-8",
    )
    return sorted(projects)


def _wait_http(url: str, process: object, timeout_s: float = 30.0) -> None:
    import subprocess
    import time
    import urllib.request

    assert isinstance(process, subprocess.Popen)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the index server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s}s")


def _stop(process: object) -> None:
    import subprocess

    assert isinstance(process, subprocess.Popen)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


#: Plays bookshop-003 against the server at argv[1] and checks that the packages came from the index.
_EPISODE = """
import importlib.metadata as md, sys
from sqlenv_client import SQLEnvClient
for name in ("sqlenv-core", "sqlenv-client"):
    dist = md.distribution(name)
    assert dist.read_text("direct_url.json") is None, f"{name} was installed from a path or URL, not by name"
    print(name, dist.version, "installed by name from the index")
for absent in ("fastapi", "uvicorn", "torch"):
    try:
        __import__(absent)
    except ImportError:
        continue
    raise SystemExit(f"{absent} is installed beside sqlenv-client alone")
with SQLEnvClient(sys.argv[1]) as env:
    obs = env.reset(question_id="bookshop-003")
    obs = env.query("SELECT count(*) FROM orders WHERE lower(status) = 'cancelled'")
    assert not obs.error, obs.error
    obs = env.answer(obs.rows[0][0])
    print("episode:", obs.info["verdict"], "reward", obs.reward)
    assert obs.done and obs.info["verdict"]["correct"], obs.info
"""


def _installed_by_name(session: nox.Session, python: Path, *names: str) -> None:
    check = (
        "import importlib.metadata as md, sys\n"
        "for name in sys.argv[1:]:\n"
        "    dist = md.distribution(name)\n"
        "    assert dist.read_text('direct_url.json') is None, f'{name} came from a path or URL, not the index'\n"
        "    print(name, dist.version, 'installed by name from the index')\n"
    )
    session.run(str(python), "-c", check, *names, external=True)


@nox.session(python=PYTHON)
def index_install(session: nox.Session) -> None:
    """What a release publishes installs by name and works: the packages from a package index on loopback.

    Builds every wheel and sdist (or takes them from ``-- --dist DIR``, as the release workflow
    does), serves them as a PEP 503 index with ``python -m http.server`` on 127.0.0.1, and in clean
    virtual environments installs ``sqlenv-server``, ``sqlenv-client`` and ``sqlenv-train[train]``
    by name (their other dependencies from the normal index; torch as a CPU build, see
    ``install_train_stack``). Then it starts the installed ``sqlenv-server`` on a free loopback
    port, plays an episode against it from the client's environment, and runs
    ``sqlenv-train train --smoke`` from the training environment.
    """
    import argparse
    import subprocess
    import sys

    parser = argparse.ArgumentParser(prog="nox -s index_install --")
    parser.add_argument("--dist", help="test these built files instead of building them")
    args = parser.parse_args(session.posargs)
    sync(session, "--group", "build")  # nothing of the workspace: the session's own python runs the index
    if installing_only(session):
        return
    tmp = Path(session.create_tmp())
    if args.dist:
        dist = Path(args.dist).resolve()
    else:
        dist = tmp / "dist"
        if dist.exists():
            import shutil

            shutil.rmtree(dist)
        run_with_cache_fallback(
            session, "uv", "build", "--all-packages", "--out-dir", str(dist), silent=True, external=True
        )
    index_root = tmp / "index"
    if index_root.exists():
        import shutil

        shutil.rmtree(index_root)
    projects = _pep503_index(dist, index_root)
    missing = sorted({"sqlenv-core", "sqlenv-client", "sqlenv-server", "sqlenv-train"} - set(projects))
    if missing:
        session.error(f"no distribution of {', '.join(missing)} in {dist}")
    port = _free_loopback_port()
    index_url = f"http://127.0.0.1:{port}/simple"
    index_log = (tmp / "index.log").open("w")
    index = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(index_root)],
        stdout=index_log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_http(f"{index_url}/", index)
        session.log(f"serving {', '.join(projects)} at {index_url}")
        envs = {name: tmp / f"venv-{name}" for name in ("client", "server", "train", "base")}
        for venv in envs.values():
            session.run("uv", "venv", "--quiet", "--clear", "--python", PYTHON, str(venv), external=True)
        py = {name: venv / "bin" / "python" for name, venv in envs.items()}
        # The local index comes first: uv takes a name from the first index that has it (never a
        # same-named project of the normal index); everything else resolves from the normal index.
        by_name = ("uv", "pip", "install", "--quiet", "--extra-index-url", index_url)
        session.run(*by_name, "--python", str(py["server"]), "sqlenv-server", external=True)
        session.run(*by_name, "--python", str(py["client"]), "sqlenv-client", external=True)
        session.run(*by_name, "--python", str(py["base"]), "sqlenv-train", external=True)
        _install_torch_cpu(session, py["train"])
        session.run(*by_name, "--compile-bytecode", "--python", str(py["train"]), "sqlenv-train[train]", external=True)
        _installed_by_name(session, py["server"], "sqlenv-core", "sqlenv-server")
        _installed_by_name(session, py["train"], "sqlenv-core", "sqlenv-client", "sqlenv-train")
        cpu_only = (
            "import torch; assert torch.version.cuda is None, torch.__version__; print('torch', torch.__version__)"
        )
        session.run(str(py["train"]), "-c", cpu_only, external=True)
    finally:
        _stop(index)
        index_log.close()

    server_port = _free_loopback_port()
    url = f"http://127.0.0.1:{server_port}"
    with (tmp / "server.log").open("w") as log_file:
        server = subprocess.Popen(
            [str(envs["server"] / "bin" / "sqlenv-server"), "--host", "127.0.0.1", "--port", str(server_port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **TEST_ENV},
        )
        try:
            _wait_healthy(url, server)
            session.run(str(py["client"]), "-c", _EPISODE, url, external=True)
        finally:
            _stop(server)
    _check_install_advice(session, envs["base"] / "bin" / "sqlenv-train")
    run_dir = tmp / "smoke-run"
    session.run(
        str(envs["train"] / "bin" / "sqlenv-train"),
        "train",
        "--smoke",
        "--no-progress",
        "--output-dir",
        str(run_dir),
        external=True,
        env={**TEST_ENV, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )
    import json

    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    if summary.get("steps") != 4:
        session.error(f"the smoke training ran {summary.get('steps')} GRPO steps, not 4")
    session.log(f"the installed sqlenv-train trained {summary['steps']} steps in {summary['train_seconds']} s")


def _check_install_advice(session: nox.Session, command: Path) -> None:
    """``sqlenv-train`` installed without its ``train`` extra says which pip command adds it (and only that)."""
    import subprocess

    done = subprocess.run(
        [str(command), "train", "--smoke", "--dry-run"], capture_output=True, text=True, timeout=120, check=False
    )
    advice = "pip install 'accelerate>=1.4'"
    if done.returncode != 2 or advice not in done.stderr or "checkout" in done.stderr:
        session.error(f"expected exit 2 and {advice!r} from the base install; got {done.returncode}: {done.stderr}")
    session.log(f"the base install says: {done.stderr.strip().splitlines()[-1]}")


def _install_torch_cpu(session: nox.Session, python: Path) -> None:
    """A CPU build of torch into ``python``'s environment: the wheel on local disk, else PyTorch's CPU index."""
    wheel = _local_torch_wheel()
    pip = ("uv", "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python))
    if wheel is not None:
        session.log(f"torch: the CPU wheel on local disk, {wheel}")
        session.run(*pip, str(wheel), external=True)  # its small dependencies from the normal index
    else:
        session.log(f"torch: no local CPU wheel; torch from {_TORCH_CPU_INDEX} (CPU build)")
        session.run(*pip, "--index-url", _TORCH_CPU_INDEX, "torch", external=True)
