"""docs/integrations.md's TRL blocks (marked ``docs-test: needs trl``) run as written, here on CPU.

The repository's docs test runs every other block; it runs in an environment without the
training stack, so the train session runs these.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="needs the training stack (trl): run `uv run nox -s train`")

DOC = Path(__file__).resolve().parents[4] / "docs" / "integrations.md"
MARKED = re.compile(r"<!--\s*docs-test:\s*needs\s+trl\s*-->\s*\n```python\n(?P<code>.*?)\n```", re.DOTALL)
BLOCKS = [m["code"] for m in MARKED.finditer(DOC.read_text(encoding="utf-8"))] if DOC.is_file() else []


def test_the_page_has_trl_blocks() -> None:
    assert len(BLOCKS) >= 2, f"no `docs-test: needs trl` python blocks found in {DOC}"


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_trl_block_runs(code: str, tmp_path: Path, tiny_model_path: Path) -> None:
    (tmp_path / "block.py").write_text(code, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    result = subprocess.run(
        [sys.executable, "block.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "Traceback" not in result.stderr
