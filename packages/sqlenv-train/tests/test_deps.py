"""The advice printed when an optional dependency is missing works where it is printed."""

from __future__ import annotations

import importlib.metadata

import pytest

from sqlenv_train import _deps


def test_in_the_checkout_the_advice_is_the_uv_command_that_adds_the_extra() -> None:
    assert _deps.checkout_root() is not None  # these tests run from the repository
    hint = _deps.install_hint("train")
    assert "uv run --package sqlenv-train --extra train" in hint
    assert "uv run nox -s smoke_train" in hint
    assert "uv run --package sqlenv-train --extra plots" in _deps.install_hint("plots")


def test_an_installed_package_names_the_extras_own_requirements(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_deps, "checkout_root", lambda: None)
    hint = _deps.install_hint("train")
    requires = importlib.metadata.requires("sqlenv-train") or []
    trl = next(r.split(";")[0].strip() for r in requires if r.startswith("trl"))
    assert hint.startswith("pip install ") and f"'{trl}'" in hint
    assert "download.pytorch.org/whl/cpu" in hint  # the CPU torch, before PyPI's CUDA build
    assert "peft" not in hint and "sqlenv-train[" not in hint  # works before the first release too
    assert _deps.install_hint("lora").startswith("pip install 'peft")


def test_a_missing_module_raises_with_the_hint() -> None:
    with pytest.raises(_deps.MissingDependencyError, match="no_such_module_xyz is not installed: pip install"):
        _deps.require("no_such_module_xyz")
