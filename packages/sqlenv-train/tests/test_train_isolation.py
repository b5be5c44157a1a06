"""sqlenv-train installs alone with only what it declares."""

from __future__ import annotations

import importlib.util
import os

import pytest

ISOLATED = os.environ.get("SQLENV_ISOLATED_PACKAGE") == "sqlenv-train"
FORBIDDEN = {
    "client": ["fastapi", "uvicorn", "torch", "trl"],
    "server": ["torch", "trl", "transformers"],
    "train": ["fastapi", "uvicorn", "torch", "verifiers", "skyrl_gym"],
}["train"]


@pytest.mark.skipif(not ISOLATED, reason="only meaningful in the sqlenv-train-only nox environment")
@pytest.mark.parametrize("module", FORBIDDEN)
def test_alone_environment_lacks(module: str) -> None:
    assert importlib.util.find_spec(module) is None, f"{module} is installed next to sqlenv-train alone"


def test_package_imports_and_is_typed() -> None:
    import pathlib

    import sqlenv_train

    assert (pathlib.Path(sqlenv_train.__file__).parent / "py.typed").is_file()


def test_import_never_pulls_in_torch_or_trl() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sqlenv_train, sqlenv_train.cli, sqlenv_train.rewards, sqlenv_train.adapter, sqlenv_train.hf;"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'datasets', 'matplotlib', 'verifiers', 'skyrl_gym')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "", f"import sqlenv_train loaded {done.stdout.strip()}"
