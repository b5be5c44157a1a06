"""Tests that need the training stack (torch, transformers, trl): the `train` nox session runs them.

Elsewhere (``tests(sqlenv-train)``, a plain dev environment) each module skips with the reason; in
the train session ``SQLENV_REQUIRE_TRAIN_STACK=1`` turns a missing stack into an error instead.
The tiny model is built once into ``$SQLENV_CACHE_DIR`` (the nox session points it at its cache).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

TRAIN_STACK = ("torch", "transformers", "trl", "datasets", "matplotlib")
MISSING = [m for m in TRAIN_STACK if importlib.util.find_spec(m) is None]
SKIP_REASON = f"needs the training stack ({', '.join(MISSING)} missing): run `uv run nox -s train`"


def pytest_configure(config: pytest.Config) -> None:
    if MISSING and os.environ.get("SQLENV_REQUIRE_TRAIN_STACK") == "1":
        raise pytest.UsageError(f"SQLENV_REQUIRE_TRAIN_STACK=1 but {', '.join(MISSING)} cannot be imported")


def require_train_stack() -> None:
    """Skip the calling module when the training stack is not installed."""
    if MISSING:
        pytest.skip(SKIP_REASON, allow_module_level=True)


@pytest.fixture(scope="session")
def tiny_model_path() -> Path:
    from sqlenv_train.tiny import build_tiny_model

    return build_tiny_model()


# Warnings raised inside the libraries, not by our code, each with why it is ignored here:
KNOWN_LIBRARY_WARNINGS = (
    # TRL 1.16 reads model.is_gradient_checkpointing (and toggles gradient checkpointing around
    # generation), names transformers 5.23 deprecated in favour of activation_checkpointing.
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning",
    "ignore:`gradient_checkpointing_enable` is deprecated:FutureWarning",
    "ignore:`gradient_checkpointing_disable` is deprecated:FutureWarning",
)
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == HERE:
            for spec in KNOWN_LIBRARY_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(spec))


# environment_factory is marked experimental by TRL; the warning says so at every trainer start.
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
