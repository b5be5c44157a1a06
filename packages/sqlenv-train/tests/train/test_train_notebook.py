"""notebooks/train_grpo.ipynb runs end to end in smoke mode (the tiny model on CPU), as CI runs it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="needs the training stack (trl): run `uv run nox -s train`")
nbclient = pytest.importorskip("nbclient", reason="needs nbclient (the notebook group): run `uv run nox -s train`")
nbformat = pytest.importorskip("nbformat", reason="needs nbformat (the notebook group): run `uv run nox -s train`")

NOTEBOOK = Path(__file__).resolve().parents[4] / "notebooks" / "train_grpo.ipynb"


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = json.loads(NOTEBOOK.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)


def test_the_notebook_runs_in_smoke_mode(
    tmp_path: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("SQLENV_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("SQLENV_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("SQLENV_CACHE_DIR", str(tiny_model_path.parent))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=dict(os.environ))
    text = "\n".join(
        str(output.get("text", "")) + json.dumps(output.get("data", {}).get("text/markdown", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "smoke=True space=local" in text
    assert "ready: sqlenv_train, trl" in text  # the install cell checks what it needs, without pip off Colab
    assert "Answer correct" in text
    assert "oracle: solve rate 100%" in text
    assert "solve rate before" in text and "environment share" in text
    images = [
        o
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 4  # solve rate, by difficulty, steps, learning curve
    assert (tmp_path / "out" / "grpo" / "final" / "config.json").is_file()
