"""Write a ready-to-push HuggingFace Space folder for the SQLEnv server.

A Docker Space builds the ``Dockerfile`` at the root of its repository. This script writes such a
repository: the ``Dockerfile`` at its root, the Space card (``README.md``), ``openenv.yaml``, and
exactly the files the Dockerfile copies (the workspace manifest, ``uv.lock``, sqlenv-core and
sqlenv-server, and the other members' manifests so that the lockfile's workspace is complete), plus
the ``__init__.py`` and ``client.py`` that ``openenv push`` expects.

Usage (from a clone of the repository)::

    uv run python apps/space/make_space.py                 # writes dist/space
    uv run python apps/space/make_space.py --to /tmp/space --force

Then deploy it with ``openenv push`` or plain git (the steps are printed at the end, and in
docs/server.md).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPACE_SOURCES = Path(__file__).resolve().parent
#: Never copied into the Space, wherever they occur under a copied folder.
SKIPPED = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".DS_Store"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".sqlite-journal")

OPENENV_INIT = '''"""SQLEnv as an OpenEnv environment (this folder is its HuggingFace Space).

The client is published as ``sqlenv-client``: ``pip install sqlenv-client``, then
``SQLEnvClient("https://<user>-<space>.hf.space")``. The server runs from the Dockerfile.
"""

from .client import AsyncSQLEnvClient, SQLEnvClient

__all__ = ["AsyncSQLEnvClient", "SQLEnvClient"]
'''

OPENENV_CLIENT = '''"""The SQLEnv client, as OpenEnv's layout expects it (``client.py`` at the environment's root).

It lives in the ``sqlenv-client`` package (``pip install sqlenv-client``); this module re-exports it.
"""

from sqlenv_client import AsyncSQLEnvClient, SQLEnvClient

__all__ = ["AsyncSQLEnvClient", "SQLEnvClient"]
'''


class SpaceError(Exception):
    """The Space folder cannot be written; the message says why."""


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Dockerfile: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs: list[tuple[str, str]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def copied_sources(dockerfile: str) -> list[str]:
    """The build-context paths the Dockerfile's ``COPY`` instructions read (``--from=`` excluded)."""
    sources: list[str] = []
    for word, args in dockerfile_instructions(dockerfile):
        if word != "COPY" or any(p.startswith("--from=") for p in args.split()):
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        sources.extend(parts[:-1])
    return sources


def _copy(source: Path, target: Path) -> int:
    """Copy a file or a folder (without caches and bytecode); return the number of files copied."""
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        return 1
    count = 0
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(part in SKIPPED for part in relative.parts) or path.name.endswith(SKIPPED_SUFFIXES):
            continue
        if path.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
            count += 1
    return count


def make_space(to: Path, *, force: bool = False, repo: Path = REPO) -> list[Path]:
    """Write the Space folder at ``to``; return the files written (relative to ``to``).

    Raises:
        SpaceError: ``to`` exists and is not empty (without ``force``), lies inside a copied
            folder or holds one (or the repository), or the Dockerfile copies something the
            repository does not have.
    """
    to = to.resolve()
    space = repo / "apps" / "space"
    dockerfile = (space / "Dockerfile").read_text(encoding="utf-8")
    sources = copied_sources(dockerfile)
    missing = [s for s in sources if not (repo / s).exists()]
    if missing:
        raise SpaceError(f"the Dockerfile copies {', '.join(missing)}, which {repo} does not have")
    for source in sources:
        if (repo / source).is_dir() and to.is_relative_to((repo / source).resolve()):
            raise SpaceError(f"{to} lies inside {source}, which the Space copies: choose another folder")
    # --force empties the folder first: never one that holds what the Space is made from.
    for needed in (repo, space, *(repo / s for s in sources)):
        if needed.resolve().is_relative_to(to):
            raise SpaceError(f"{to} holds {needed.resolve()}, which the Space is made from: choose another folder")
    if to.exists() and any(to.iterdir()):
        if not force:
            raise SpaceError(f"{to} exists and is not empty (pass --force to replace it)")
        shutil.rmtree(to)
    to.mkdir(parents=True, exist_ok=True)

    shutil.copy2(space / "Dockerfile", to / "Dockerfile")
    shutil.copy2(space / "README.md", to / "README.md")
    shutil.copy2(space / "openenv.yaml", to / "openenv.yaml")
    (to / "__init__.py").write_text(OPENENV_INIT, encoding="utf-8")
    (to / "client.py").write_text(OPENENV_CLIENT, encoding="utf-8")
    for source in sources:
        _copy(repo / source, to / source)
    return sorted(p.relative_to(to) for p in to.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    """Write the folder and print how to deploy it."""
    parser = argparse.ArgumentParser(
        prog="make_space.py", description="Write a ready-to-push HuggingFace Space folder for the SQLEnv server."
    )
    parser.add_argument(
        "--to", type=Path, default=REPO / "dist" / "space", help="folder to write (default: dist/space)"
    )
    parser.add_argument("--force", action="store_true", help="replace the folder if it exists")
    args = parser.parse_args(argv)
    try:
        files = make_space(args.to, force=args.force)
    except SpaceError as exc:
        print(f"make_space: error: {exc}", file=sys.stderr)
        return 2
    to = args.to.resolve()
    size = sum((to / f).stat().st_size for f in files)
    print(f"wrote {to}: {len(files)} files, {size / 1e6:.1f} MB (Dockerfile at the root, README.md card, openenv.yaml)")
    print(
        "\nDeploy it (see docs/server.md, 'The HuggingFace Space'):\n"
        f"  with OpenEnv:  cd {to} && openenv push --repo-id <user>/sqlenv\n"
        "                 (pip install openenv; huggingface-cli login first)\n"
        f"  with git:      cd {to} && git init -b main && git add -A && git commit -m 'SQLEnv Space'\n"
        "                 git push https://huggingface.co/spaces/<user>/sqlenv main\n"
        "                 (create the Space first, SDK 'Docker', on huggingface.co/new-space)\n"
        f"  locally:       docker build -t sqlenv-space {to} && docker run -p 7860:7860 sqlenv-space"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
