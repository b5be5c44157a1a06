"""Optional heavy dependencies, imported on first use with a clear message when missing.

``import sqlenv_train`` never imports torch: the training stack (torch, transformers, trl, ...)
is loaded here, by the functions that need it, and typed ``Any`` since it may not be installed.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MissingDependencyError", "require"]

_EXTRA_OF = {
    "torch": "train",
    "transformers": "train",
    "tokenizers": "train",
    "trl": "train",
    "datasets": "train",
    "accelerate": "train",
    "matplotlib": "plots",
    "peft": "lora",
    "vllm": "vllm",
    "skyrl_gym": "skyrl",
    "pandas": "skyrl",
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message has the command that installs it."""


def require(module: str) -> Any:
    """Import ``module`` (e.g. ``"trl"`` or ``"matplotlib.pyplot"``) or say how to install it.

    Raises:
        MissingDependencyError: it is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = _EXTRA_OF.get(top)
        if extra == "vllm":
            hint = "pip install 'trl[vllm]' (on a machine with a GPU)"
        elif extra is not None:
            hint = f"pip install 'sqlenv-train[{extra}]'"
        else:
            hint = f"pip install {top}"
        raise MissingDependencyError(f"{top} is not installed: {hint}  ({exc})") from exc
