"""The built-in pack passes its own validator: every question fair, every oracle episode solved."""

from __future__ import annotations

import subprocess
import sys

from sqlenv_core.datasets import builtin
from sqlenv_core.validate import validate_dataset


def test_builtin_pack_has_no_validation_problems() -> None:
    report = validate_dataset(builtin())
    assert [(p.question_id, p.code, p.message) for p in report.errors] == []
    assert [(p.question_id, p.code, p.message) for p in report.warnings] == []
    assert report.checked == report.oracle_solved == 320


def test_sqlenv_data_validate_builtin_command_succeeds() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sqlenv_core", "data", "validate", "builtin"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "320 without errors + 0 with errors" in out.stdout and "oracle solved 320/320" in out.stdout
