"""The notebooks run top to bottom on a fresh kernel (the venv's python3), within a bounded time.

The ``python3`` kernel resolves to the interpreter running the tests, so the kernel
sees the venv's ``detector`` and matplotlib.

They are stored without outputs, so a diff shows code changes only; each ends with
assertions, so a notebook that runs but shows the wrong thing fails here too.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.integration
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 240


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01-tour.ipynb", "02-tuning.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs_and_runs(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs before committing"
    started = time.monotonic()
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.parent)}},  # the repo root: ``detector`` imports
        startup_timeout=60,
    ).execute()
    print(f"{path.name} ran in {time.monotonic() - started:.1f} s")
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
