"""SQLEnv core: the episode engine, the SQL sandbox, the answer verifier, rewards and datasets.

Quick start::

    from sqlenv_core import SQLEnvironment, SQLAction

    env = SQLEnvironment("builtin")
    obs = env.reset(seed=0)
    obs = env.step(SQLAction(action_type="QUERY", argument="SELECT 1"))
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from sqlenv_core.protocol import SQLAction, SQLObservation, SQLState

if TYPE_CHECKING:
    from sqlenv_core.datasets import Dataset, DatasetError, Question, builtin, load, load_spider
    from sqlenv_core.environment import SQLEnvironment
    from sqlenv_core.rewards import PROFILES, RewardProfile, get_profile
    from sqlenv_core.sandbox import QueryResult, Sandbox, SandboxError, SandboxLimits
    from sqlenv_core.verifier import GoldResult, Verdict, results_match, verify

# The engine's modules load on first use: a client that only speaks the wire (sqlenv_core.protocol,
# sqlenv_core.wire) never pays for the datasets, the SQL parser or the sandbox.
_LAZY = {
    **dict.fromkeys(("Dataset", "DatasetError", "Question", "builtin", "load", "load_spider"), "datasets"),
    "SQLEnvironment": "environment",
    **dict.fromkeys(("PROFILES", "RewardProfile", "get_profile"), "rewards"),
    **dict.fromkeys(("QueryResult", "Sandbox", "SandboxError", "SandboxLimits"), "sandbox"),
    **dict.fromkeys(("GoldResult", "Verdict", "results_match", "verify"), "verifier"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sqlenv_core.{module}"), name)
    globals()[name] = value
    return value


try:
    __version__ = version("sqlenv-core")
except PackageNotFoundError:  # pragma: no cover - a source tree without installed metadata
    __version__ = "0.0.0"

__all__ = [
    "PROFILES",
    "Dataset",
    "DatasetError",
    "GoldResult",
    "QueryResult",
    "Question",
    "RewardProfile",
    "SQLAction",
    "SQLEnvironment",
    "SQLObservation",
    "SQLState",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "Verdict",
    "__version__",
    "builtin",
    "get_profile",
    "load",
    "load_spider",
    "results_match",
    "verify",
]
