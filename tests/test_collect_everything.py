"""``uv run nox -s spider`` collects ``packages`` and ``tests`` in one pytest run: that must import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_test_module_imports_when_all_folders_are_collected_together() -> None:
    # The `spider` session runs `pytest packages tests -m spider`; a module that imports from
    # `conftest` (ambiguous when several folders have one) or needs a tool its group lacks fails
    # here with the same collection error a user would see.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "packages", "tests"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    tail = (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 0, tail
    assert "error" not in result.stdout.splitlines()[-1].lower(), tail
