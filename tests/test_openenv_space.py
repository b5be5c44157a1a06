"""``openenv push`` (openenv 0.10.0) accepts the Space folder and stages it as Hugging Face builds it.

Everything ``openenv push`` does before its upload is run here for real: it validates the folder's
structure, reads ``openenv.yaml`` and stages the files it would upload (its ignore patterns
applied, the Dockerfile rewritten for a Space). The upload itself needs a Hugging Face account
and the network, so it is the one step not run. Run with ``uv run nox -s openenv_compat``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openenv.cli", reason="openenv is not installed here; run `uv run nox -s openenv_compat`")

from openenv.cli._cli_utils import validate_env_structure
from openenv.cli.commands.push import (
    _load_ignore_patterns,  # pyright: ignore[reportPrivateUsage]
    _prepare_staging_directory,  # pyright: ignore[reportPrivateUsage]
    _validate_openenv_directory,  # pyright: ignore[reportPrivateUsage]
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


def test_openenv_push_stages_a_space_whose_dockerfile_finds_everything(tmp_path: Path) -> None:
    space = tmp_path / "space"
    made = subprocess.run(
        [sys.executable, str(REPO / "apps/space/make_space.py"), "--to", str(space)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr

    assert validate_env_structure(space) is not None  # raises when a required file is missing
    name, manifest = _validate_openenv_directory(space)
    assert name == "sql_env" and manifest["port"] == 7860

    staged = tmp_path / "staged"
    _prepare_staging_directory(space, name, staged, ignore_patterns=_load_ignore_patterns(space, None))
    dockerfile = (staged / "Dockerfile").read_text(encoding="utf-8")
    assert 'CMD ["sqlenv-server"]' in dockerfile
    joined = re.sub(r"\\\n", " ", dockerfile)
    for line in joined.splitlines():
        words = line.split()
        if words and words[0] == "COPY" and not any(w.startswith("--from=") for w in words):
            for source in words[1:-1]:
                assert (staged / source).exists(), f"openenv push would upload no {source}"
    card = (staged / "README.md").read_text(encoding="utf-8")
    assert "sdk: docker" in card and "app_port: 7860" in card and "base_path: /web" in card
