"""Every code block in the READMEs and docs runs as written, and the examples that play solve their question.

Blocks are found by their fences and run according to their language:

* ``python`` runs in a fresh interpreter of this environment, in an empty temporary folder.
* ``bash`` runs under ``bash -euo pipefail`` in the same way, with two stand-ins defined first so
  that nothing is downloaded or installed: ``uv run [--package P] CMD`` runs ``CMD`` from this
  environment (which has every package installed), and ``pip install NAME`` checks that ``NAME``
  is the name of a package installed here.
* ``json`` and ``yaml`` must parse; ``text`` (listings, formulas, output) is not run.

An HTML comment on the line before a fence changes that (it does not show on GitHub or PyPI):

* ``<!-- docs-test: server -->``: the block talks to a server. The test starts a real one on the
  built-in dataset on a free loopback port and points the block's ``127.0.0.1:8000`` /
  ``localhost:8000`` at it.
* ``<!-- docs-test: serves -->``: the block starts a server that runs until stopped. It is run
  with ``SQLENV_PORT`` set to a free loopback port, must answer ``/health``, and is then stopped.
* ``<!-- docs-test: repo -->``: the block uses the repository's files; it runs in the checkout
  (only what it writes is left there, e.g. under the ignored ``dist/``).
* ``<!-- docs-test: skip REASON -->``: not run; the reason shows in pytest's summary.
* ``<!-- docs-test: needs MODULE ... -->``: run only where those modules import (an integration's
  framework: trl, verifiers, skyrl_gym); elsewhere skipped with the reason. The nox session of
  each integration runs its blocks (``train``, ``verifiers``, ``skyrl``).

A python block that takes actions must show ``.error`` (a reader must see why an action failed),
and one that ANSWERs must print a verdict that says ``'correct': True``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from live_helpers import LOOPBACK, free_port, interrupt_group, run_uvicorn, wait_healthy

from sqlenv_server import Settings, create_app

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    REPO / "README.md",
    *sorted(REPO.glob("packages/*/README.md")),
    *sorted(REPO.glob("docs/*.md")),
    REPO / "apps" / "space" / "README.md",
]
LANGUAGES = {"python", "bash", "json", "yaml", "text"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[A-Za-z0-9_+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<mode>server|serves|skip|repo|needs)\b\s*(?P<reason>.*?)\s*-->\s*$")
DOCS_URLS = ("http://127.0.0.1:8000", "http://localhost:8000", "127.0.0.1:8000", "localhost:8000")
BLOCK_TIMEOUT_S = 240

# `uv run` and `pip install` as the blocks use them, without touching the network or any environment.
BASH_PRELUDE = r"""
uv() {
  if [ "${1:-}" != run ]; then echo "docs test: only 'uv run' is understood here, not 'uv $*'" >&2; return 2; fi
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --package) shift 2 ;;
      --package=*) shift ;;
      *) break ;;
    esac
  done
  "$@"
}
pip() {
  if [ "${1:-}" != install ]; then echo "docs test: only 'pip install' is understood here" >&2; return 2; fi
  shift
  for name in "$@"; do
    python -c 'import importlib.metadata as m, sys; print(sys.argv[1], m.version(sys.argv[1]), "is here")' "$name"
  done
}
"""


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    path: Path
    line: int
    lang: str
    code: str
    mode: str
    reason: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}-{self.lang or 'untagged'}"


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent = len(opening["indent"])
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not re.match(r"^ *```\s*$", lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1  # the closing fence
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous)
        found.append(
            Block(
                path=path,
                line=start + 1,
                lang=opening["lang"].lower(),
                code="\n".join(body) + "\n",
                mode=marker["mode"] if marker else "",
                reason=marker["reason"] if marker else "",
            )
        )
    return found


ALL_BLOCKS = [block for path in DOCS if path.is_file() for block in blocks_of(path)]
RUNNABLE = [block for block in ALL_BLOCKS if block.lang in LANGUAGES - {"text"}]


def test_every_code_block_says_its_language() -> None:
    assert len(ALL_BLOCKS) > 20, "no code blocks found: did the documents move?"
    unknown = [f"{b.id} ({b.lang or 'no language'})" for b in ALL_BLOCKS if b.lang not in LANGUAGES]
    assert unknown == [], f"tag each fence with one of {sorted(LANGUAGES)} (text for listings): {unknown}"


@pytest.fixture(scope="module")
def docs_server() -> Iterator[str]:
    """The server the documentation's examples talk to: the built-in dataset, as `sqlenv-server` serves it."""
    with run_uvicorn(create_app(Settings(max_sessions=64))) as url:
        yield url


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sqlenv-cache")


def point_at(code: str, url: str) -> str:
    host_port = url.removeprefix("http://")
    for written in DOCS_URLS:
        code = code.replace(written, url if written.startswith("http") else host_port)
    return code


def block_env(cache: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SQLENV_")}
    bin_dir = str(Path(sys.executable).parent)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONIOENCODING="utf-8")
    env["SQLENV_CACHE_DIR"] = str(cache)
    return env


def run_block(block: Block, code: str, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    scripts = Path(tempfile.mkdtemp(prefix="sqlenv-docs-block-"))
    if block.lang == "python":
        script = scripts / "block.py"
        script.write_text(code, encoding="utf-8")
        command = [sys.executable, str(script)]
    else:
        script = scripts / "block.sh"
        script.write_text(BASH_PRELUDE + code, encoding="utf-8")
        command = ["bash", "-euo", "pipefail", str(script)]
    try:
        return subprocess.run(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
    finally:
        shutil.rmtree(scripts, ignore_errors=True)


def serve_block(block: Block, workdir: Path, env: dict[str, str]) -> None:
    """Run a block that starts a server; it must become healthy on the port it was given."""
    port = free_port()
    script = workdir / "block.sh"
    script.write_text(BASH_PRELUDE + block.code, encoding="utf-8")
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", str(script)],
        cwd=workdir,
        env={**env, "SQLENV_PORT": str(port), "SQLENV_HOST": LOOPBACK},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_healthy(f"http://{LOOPBACK}:{port}", timeout_s=90)
    finally:
        output = interrupt_group(process)
    assert b"Traceback" not in output, output.decode(errors="replace")[-3000:]


ACTS = re.compile(r"\.(step|query|describe|sample|answer)\(")


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_code_block_runs(block: Block, request: pytest.FixtureRequest, cache_dir: Path, tmp_path: Path) -> None:
    if block.mode == "skip":
        pytest.skip(f"{block.id}: {block.reason or 'marked skip'}")
    if block.mode == "needs":
        missing = [m for m in block.reason.replace(",", " ").split() if importlib.util.find_spec(m) is None]
        if missing:
            pytest.skip(f"{block.id}: needs {', '.join(missing)} (the nox session of that integration runs it)")
    if block.lang == "json":
        json.loads(block.code)
        return
    if block.lang == "yaml":
        yaml = pytest.importorskip("yaml", reason="PyYAML reads the yaml blocks")
        assert list(yaml.safe_load_all(block.code)), f"{block.id}: an empty YAML block"
        return
    env = block_env(cache_dir)
    if block.mode == "serves":
        serve_block(block, tmp_path, env)
        return
    code = block.code
    if block.mode == "server":
        code = point_at(code, request.getfixturevalue("docs_server"))
    result = run_block(block, code, REPO if block.mode == "repo" else tmp_path, env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{block.id} failed:\n{code}\n--- output ---\n{output[-4000:]}"
    assert "Traceback" not in result.stderr, output[-4000:]
    if block.lang == "python" and ACTS.search(code):
        assert ".error" in code, f"{block.id} takes actions but never shows obs.error"
    if block.lang == "python" and ("ANSWER" in code or ".answer(" in code):
        assert "'correct': True" in result.stdout, (
            f"{block.id} answers but does not solve its question:\n{result.stdout[-3000:]}"
        )
