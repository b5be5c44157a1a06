"""One version for every published package (scripts/version.py, which the release workflow runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "version.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_packages_the_changelog_and_the_installed_metadata_agree() -> None:
    import importlib.metadata as md

    done = run()
    assert done.returncode == 0, done.stderr
    version = done.stdout.strip()
    assert run("check", "--tag", f"v{version}").returncode == 0
    for name in ("sqlenv-core", "sqlenv-client", "sqlenv-server", "sqlenv-train"):
        assert md.version(name) == version


def test_a_tag_that_is_not_the_version_is_refused() -> None:
    done = run("check", "--tag", "v99.0.0")
    assert done.returncode == 1
    assert "the tag 'v99.0.0' is not v" in done.stderr


def test_set_writes_every_package(tmp_path: Path) -> None:
    # A copy of the script and the four pyproject files: the checkout is never changed.
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "version.py").write_text(SCRIPT.read_text())
    for name in ("sqlenv-core", "sqlenv-client", "sqlenv-server", "sqlenv-train"):
        folder = tmp_path / "packages" / name
        folder.mkdir(parents=True)
        (folder / "pyproject.toml").write_text((REPO / "packages" / name / "pyproject.toml").read_text())
    copy = [sys.executable, str(tmp_path / "scripts" / "version.py")]
    assert subprocess.run([*copy, "set", "0.2.0rc1"], capture_output=True, timeout=60, check=False).returncode == 0
    done = subprocess.run(copy, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip() == "0.2.0rc1"
    bad = subprocess.run([*copy, "set", "two"], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode != 0 and "not a release version" in bad.stderr
    # One package behind: the check names every package and version.
    core = tmp_path / "packages" / "sqlenv-core" / "pyproject.toml"
    core.write_text(core.read_text().replace('version = "0.2.0rc1"', 'version = "0.1.9"'))
    done = subprocess.run(copy, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "sqlenv-core 0.1.9" in done.stderr
