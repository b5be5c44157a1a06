"""apps/space: what the container runs, checked without Docker."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from live_helpers import LOOPBACK, wait_healthy

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "apps" / "space"
DOCKERFILE = SPACE / "Dockerfile"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    pairs: list[tuple[str, str]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_every_file_the_dockerfile_copies_exists() -> None:
    copies = [args for word, args in dockerfile_instructions() if word == "COPY" and "--from=" not in args]
    assert copies, "the Dockerfile copies nothing?"
    for args in copies:
        sources = args.split()[:-1]
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def test_the_image_installs_only_the_server_side_and_runs_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and "slim" in instructions[0][1]
    assert "--package sqlenv-server" in text and "--no-dev" in text
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(word == "HEALTHCHECK" and "/health" in args for word, args in instructions)
    assert any(word == "ARG" and args.startswith("DOWNLOAD_SPIDER") for word, args in instructions)
    assert "sqlenv data download spider" in text


def test_the_space_card_and_openenv_manifest() -> None:
    card = (SPACE / "README.md").read_text(encoding="utf-8")
    front = card.split("---")[1]
    assert re.search(r"^sdk: docker$", front, re.M)
    assert re.search(r"^app_port: 7860$", front, re.M)
    manifest = dict(
        line.split(": ", 1)
        for line in (SPACE / "openenv.yaml").read_text(encoding="utf-8").splitlines()
        if ": " in line
    )
    assert manifest["spec_version"] == "1"
    assert manifest["name"] == "sql_env"
    assert manifest["type"] == "space"
    assert manifest["runtime"] == "fastapi"
    assert manifest["port"] == "7860"
    module, _, factory = manifest["app"].partition(":")
    assert (REPO / "packages/sqlenv-server/src" / (module.replace(".", "/") + ".py")).is_file()
    assert f"def {factory}(" in (REPO / "packages/sqlenv-server/src" / (module.replace(".", "/") + ".py")).read_text()


def test_what_the_image_installs_has_no_training_stack() -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--package", "sqlenv-server", "--no-hashes"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    names = {line.split("==")[0].strip().lower() for line in exported.splitlines() if "==" in line}
    assert {"fastapi", "uvicorn", "pydantic"} <= names
    assert not names & {"torch", "transformers", "trl", "datasets", "matplotlib"}


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((LOOPBACK, port)) != 0


@pytest.mark.integration
def test_the_container_start_command_serves_on_port_7860() -> None:
    cmd = json.loads(next(args for word, args in dockerfile_instructions() if word == "CMD"))
    executable = shutil.which(cmd[0], path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.skip(f"{cmd[0]} is not installed next to {sys.executable} (uv sync installs it)")
    if not port_is_free(7860):
        pytest.skip("port 7860 is in use on this machine")
    # The image sets SQLENV_HOST=0.0.0.0; here the same command binds loopback only.
    env = {**os.environ, "PORT": "7860", "SQLENV_HOST": LOOPBACK}
    env.pop("SQLENV_PORT", None)
    env.pop("SQLENV_DATASET", None)
    process = subprocess.Popen([executable, *cmd[1:]], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://{LOOPBACK}:7860", timeout_s=60)
        metadata = httpx.get(f"http://{LOOPBACK}:7860/metadata", timeout=5).json()
        assert "'builtin'" in metadata["description"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert b"Traceback" not in output, output.decode(errors="replace")[-2000:]
