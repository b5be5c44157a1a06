"""Optional heavy dependencies, imported on first use with a clear message when missing.

``import sqlenv_train`` never imports torch: the training stack (torch, transformers, trl, ...)
is loaded here, by the functions that need it, and typed ``Any`` since it may not be installed.

The message says how to install what is missing *where it is printed*: in a checkout of the
repository (a uv workspace), the ``uv`` command that adds the extra; in an installed package, a
``pip install`` of the extra's own requirements, read from the installed metadata, which works
whether ``sqlenv-train`` came from PyPI, from the repository or from a local folder.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path
from typing import Any

__all__ = ["MissingDependencyError", "install_hint", "require"]

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
_CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message has the command that installs it."""


def checkout_root() -> Path | None:
    """The root of the repository's uv workspace this package runs from (``None``: an installed package)."""
    here = Path(__file__).resolve()
    if len(here.parents) < 5:
        return None
    root = here.parents[4]  # <root>/packages/sqlenv-train/src/sqlenv_train/_deps.py
    if (root / "uv.lock").is_file() and (root / "noxfile.py").is_file() and here.parents[2].name == "sqlenv-train":
        return root
    return None


def extra_requirements(extra: str) -> list[str]:
    """The requirements of one of ``sqlenv-train``'s extras, as the installed metadata lists them."""
    try:
        requires = importlib.metadata.requires("sqlenv-train") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    return [req.split(";")[0].strip() for req in requires if ";" in req and marker.search(req.split(";", 1)[1])]


def install_hint(extra: str) -> str:
    """The command that installs ``sqlenv-train``'s ``extra`` here (see the module docstring)."""
    if extra == "vllm":
        where = "uv pip install" if checkout_root() is not None else "pip install"
        return f"{where} 'trl[vllm]' (on a machine with a GPU)"
    if checkout_root() is not None:
        hint = f"in this checkout, run the command through `uv run --package sqlenv-train --extra {extra} ...`"
        if extra == "train":
            hint += (
                " (it installs the locked torch: a CUDA build of several GB on Linux); on a machine "
                "without a GPU, `uv run nox -s smoke_train` runs the smoke training with a CPU build of torch"
            )
        return hint
    requirements = extra_requirements(extra)
    command = "pip install " + " ".join(f"'{r}'" for r in requirements) if requirements else ""
    command = command or f"pip install 'sqlenv-train[{extra}]'"
    hint = f"{command} (the `{extra}` extra of sqlenv-train)"
    if extra == "train":
        hint += f"; on a machine without a GPU, first `{_CPU_TORCH}` (PyPI's torch is a CUDA build of several GB)"
    return hint


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
        hint = install_hint(extra) if extra is not None else f"pip install {top}"
        raise MissingDependencyError(f"{top} is not installed: {hint}  ({exc})") from exc
