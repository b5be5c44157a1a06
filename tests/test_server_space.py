"""The HuggingFace Space folder that apps/space/make_space.py writes, checked the way CI can (no Docker).

The folder is written by the real command. Its Dockerfile must sit at its root and copy only
what the folder holds; the Dockerfile's own install step (``uv sync``) is run in the folder into a
fresh environment, then its start command must serve a healthy server on ``PORT=7860``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from live_helpers import LOOPBACK, interrupt_group, wait_healthy

REPO = Path(__file__).resolve().parents[1]
MAKE_SPACE = REPO / "apps" / "space" / "make_space.py"


def _load_make_space() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_space", MAKE_SPACE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dockerfile_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, read with the same parser make_space.py uses."""
    parsed: list[tuple[str, str]] = _load_make_space().dockerfile_instructions(dockerfile.read_text(encoding="utf-8"))
    return parsed


def make_space(to: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAKE_SPACE), "--to", str(to), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("space") / "sqlenv-space"
    result = make_space(folder)
    assert result.returncode == 0, result.stderr
    assert "openenv push" in result.stdout and "git push" in result.stdout
    return folder


def test_the_folder_has_the_dockerfile_the_card_and_the_manifest_at_its_root(space: Path) -> None:
    for name in ("Dockerfile", "README.md", "openenv.yaml", "pyproject.toml", "uv.lock", "__init__.py", "client.py"):
        assert (space / name).is_file(), name
    assert (space / "Dockerfile").read_text() == (REPO / "apps/space/Dockerfile").read_text()
    # Sources only: no tests, no caches, no bytecode.
    files = [p.relative_to(space).as_posix() for p in space.rglob("*") if p.is_file()]
    assert not [f for f in files if "/tests/" in f or "__pycache__" in f or f.endswith(".pyc")]
    assert "packages/sqlenv-core/src/sqlenv_core/builtin/databases/bookshop.sqlite" in files
    assert "packages/sqlenv-server/src/sqlenv_server/static/swagger/swagger-ui-bundle.js" in files


def test_every_path_the_dockerfile_copies_is_in_the_folder(space: Path) -> None:
    instructions = dockerfile_instructions(space / "Dockerfile")
    copies = [args for word, args in instructions if word == "COPY" and "--from=" not in args]
    assert len(copies) >= 5
    for args in copies:
        for source in args.split()[:-1]:
            assert (space / source).exists(), f"COPY {source}: not in the Space folder"


def test_the_image_installs_only_the_server_side_and_runs_as_a_non_root_user(space: Path) -> None:
    text = (space / "Dockerfile").read_text(encoding="utf-8")
    instructions = dockerfile_instructions(space / "Dockerfile")
    assert instructions[0][0] == "FROM" and "slim" in instructions[0][1]
    assert "--package sqlenv-server" in text and "--no-dev" in text
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(word == "HEALTHCHECK" and "/health" in args for word, args in instructions)
    assert any(word == "ARG" and args.startswith("DOWNLOAD_SPIDER") for word, args in instructions)
    assert "sqlenv data download spider" in text


def test_the_space_card_and_openenv_manifest(space: Path) -> None:
    card = (space / "README.md").read_text(encoding="utf-8")
    front = card.split("---")[1]
    assert re.search(r"^sdk: docker$", front, re.M)
    assert re.search(r"^app_port: 7860$", front, re.M)
    manifest = dict(
        line.split(": ", 1)
        for line in (space / "openenv.yaml").read_text(encoding="utf-8").splitlines()
        if ": " in line
    )
    assert manifest["spec_version"] == "1"
    assert manifest["name"] == "sql_env"
    assert manifest["type"] == "space"
    assert manifest["runtime"] == "fastapi"
    assert manifest["port"] == "7860"
    module, _, factory = manifest["app"].partition(":")
    source = space / "packages/sqlenv-server/src" / (module.replace(".", "/") + ".py")
    assert source.is_file() and f"def {factory}(" in source.read_text()


def test_what_the_image_installs_has_no_training_stack(space: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--package", "sqlenv-server", "--no-hashes"],
        cwd=space,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    names = {line.split("==")[0].strip().lower() for line in exported.splitlines() if "==" in line}
    assert {"fastapi", "uvicorn", "pydantic"} <= names
    assert not names & {"torch", "transformers", "trl", "datasets", "matplotlib"}


def test_the_command_refuses_to_overwrite_or_to_write_inside_what_it_copies(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    refused = make_space(tmp_path / "busy")
    assert refused.returncode == 2 and "pass --force" in refused.stderr
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    replaced = make_space(tmp_path / "busy", "--force")
    assert replaced.returncode == 0 and not (tmp_path / "busy" / "keep.txt").exists()
    inside = make_space(REPO / "packages" / "sqlenv-core" / "src" / "space")
    assert inside.returncode == 2 and "lies inside" in inside.stderr
    assert not (REPO / "packages" / "sqlenv-core" / "src" / "space").exists()


def test_force_never_empties_a_folder_that_holds_the_repository_or_its_sources(tmp_path: Path) -> None:
    # A stand-in repository (the real checkout is never put at risk): the Dockerfile and what it copies.
    module = _load_make_space()
    repo = tmp_path / "repo"
    space = repo / "apps" / "space"
    space.mkdir(parents=True)
    dockerfile = (REPO / "apps" / "space" / "Dockerfile").read_text(encoding="utf-8")
    (space / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    for source in module.copied_sources(dockerfile):
        (repo / source).mkdir(parents=True, exist_ok=True)
        (repo / source / "kept.txt").write_text("mine")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for target in (tmp_path, repo, repo / "packages", repo / "apps", space):
        with pytest.raises(module.SpaceError, match="which the Space is made from"):
            module.make_space(target, force=True, repo=repo)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((LOOPBACK, port)) != 0


def image_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """The ENV the Dockerfile sets, with ARG defaults and earlier values substituted."""
    values: dict[str, str] = {}
    for word, args in instructions:
        if word == "ARG" and "=" in args:
            key, _, default = args.partition("=")
            values.setdefault(key.strip(), default.strip())
        if word == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                values[key] = re.sub(r"\$(\w+)", lambda m: values.get(m.group(1), ""), value)
    return {k: v for k, v in values.items() if k not in ("DOWNLOAD_SPIDER", "DATASET")}


@pytest.mark.integration
def test_the_folder_installs_as_the_dockerfile_says_and_serves_on_port_7860(space: Path, tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    if not port_is_free(7860):
        pytest.skip("port 7860 is in use on this machine")
    instructions = dockerfile_instructions(space / "Dockerfile")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQLENV_", "VIRTUAL_ENV", "UV_"))}
    env.update(image_env(instructions))
    venv = tmp_path / "venv"
    # The image's paths, made local: its venv, its gold cache; loopback instead of 0.0.0.0.
    env.update(
        UV_PROJECT_ENVIRONMENT=str(venv),
        UV_COMPILE_BYTECODE="0",  # compiling changes nothing the test can see, and costs CI time
        SQLENV_CACHE_DIR=str(tmp_path / "cache"),
        SQLENV_HOST=LOOPBACK,
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    install = next(args for word, args in instructions if word == "RUN" and args.startswith("uv sync"))
    command = install.split("&&")[0].split()
    assert command[:2] == ["uv", "sync"]
    # --offline: nothing is downloaded at test time; the wheels are in uv's cache from the sessions' syncs.
    installed = subprocess.run(
        [uv, *command[1:], "--offline"], cwd=space, env=env, capture_output=True, text=True, timeout=600
    )
    if installed.returncode != 0 and "offline" in installed.stderr.lower():
        pytest.skip(f"uv's cache lacks a locked wheel and nothing may be downloaded here: {installed.stderr[-500:]}")
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert not (venv / "bin" / "torch").exists()

    warm = next(args for word, args in instructions if word == "RUN" and args.startswith("sqlenv data list"))
    warmed = subprocess.run(["bash", "-c", warm], cwd=space, env=env, capture_output=True, text=True, timeout=300)
    assert warmed.returncode == 0, warmed.stderr[-2000:]
    assert list((tmp_path / "cache" / "gold").glob("*.json"))

    cmd = json.loads(next(args for word, args in instructions if word == "CMD"))
    process = subprocess.Popen(
        [str(venv / "bin" / cmd[0]), *cmd[1:]],
        cwd=space,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(f"http://{LOOPBACK}:7860", timeout_s=60)
        metadata = httpx.get(f"http://{LOOPBACK}:7860/metadata", timeout=5).json()
        assert "'builtin'" in metadata["description"]
        assert httpx.get(f"http://{LOOPBACK}:7860/web", timeout=5).status_code == 200
        assert httpx.get(f"http://{LOOPBACK}:7860/docs/assets/swagger-ui.css", timeout=5).status_code == 200
    finally:
        output = interrupt_group(process, timeout_s=20)
    assert b"Traceback" not in output, output.decode(errors="replace")[-2000:]
