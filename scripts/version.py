"""One version for every published package: check that they agree, or set them all at once.

The four packages (``packages/*/pyproject.toml``) are released together under one version, the
version of the git tag ``vX.Y.Z`` that publishes them (``.github/workflows/release.yml``), and
``CHANGELOG.md`` has a section for it.

    python scripts/version.py                  # print the version (fails if the packages disagree)
    python scripts/version.py check --tag v0.2.0   # + the tag and the changelog agree (the release job)
    python scripts/version.py set 0.2.0        # write it into every package, then run `uv lock`

Only the standard library: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sqlenv-core", "sqlenv-client", "sqlenv-server", "sqlenv-train")
CHANGELOG = ROOT / "CHANGELOG.md"
# PEP 440's public versions as this project writes them: 1.2.3, 1.2.3rc1, 1.2.3.post1, 1.2.3.dev4.
VERSION = re.compile(r"^\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
_PROJECT_VERSION = re.compile(r'^(version\s*=\s*)"[^"\n]*"', re.MULTILINE)


def pyproject(package: str) -> Path:
    """The ``pyproject.toml`` of a package."""
    return ROOT / "packages" / package / "pyproject.toml"


def versions() -> dict[str, str]:
    """Each package's ``[project].version``."""
    return {name: str(tomllib.loads(pyproject(name).read_text("utf-8"))["project"]["version"]) for name in PACKAGES}


def problems(tag: str | None = None) -> list[str]:
    """Why the packages, the tag and the changelog do not agree on one version (empty when they do)."""
    found = versions()
    distinct = sorted(set(found.values()))
    if len(distinct) != 1:
        return ["the packages disagree: " + ", ".join(f"{n} {v}" for n, v in found.items())]
    (version,) = distinct
    issues: list[str] = []
    if not VERSION.match(version):
        issues.append(f"{version!r} is not a release version (X.Y.Z, optionally rcN, .postN or .devN)")
    if tag is not None and tag.removeprefix("refs/tags/") != f"v{version}":
        issues.append(f"the tag {tag!r} is not v{version}, the packages' version")
    if tag is not None and not re.search(rf"^## \[?{re.escape(version)}\]?", _changelog(), re.MULTILINE):
        issues.append(f"CHANGELOG.md has no section '## [{version}]'")
    return issues


def _changelog() -> str:
    return CHANGELOG.read_text("utf-8") if CHANGELOG.is_file() else ""


def set_version(version: str) -> None:
    """Write ``version`` into every package's ``pyproject.toml``."""
    if not VERSION.match(version):
        raise SystemExit(f"error: {version!r} is not a release version (X.Y.Z, optionally rcN, .postN or .devN)")
    for name in PACKAGES:
        path = pyproject(name)
        text = path.read_text("utf-8")
        head, sep, tail = text.partition("[project]")
        new_tail, count = _PROJECT_VERSION.subn(rf'\g<1>"{version}"', tail, count=1)
        if not sep or count != 1:
            raise SystemExit(f"error: no [project] version line in {path}")
        path.write_text(head + sep + new_tail, "utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="version.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="the packages (and the tag and the changelog) agree")
    check.add_argument("--tag", help="the git tag being released (vX.Y.Z or refs/tags/vX.Y.Z)")
    setter = sub.add_parser("set", help="write one version into every package")
    setter.add_argument("version")
    args = parser.parse_args(argv)
    if args.command == "set":
        set_version(args.version)
        print(f"every package is now {args.version}; run `uv lock` and add a CHANGELOG.md section")
        return 0
    found = problems(args.tag if args.command == "check" else None)
    if found:
        for problem in found:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    print(next(iter(versions().values())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
