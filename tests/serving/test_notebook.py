"""notebooks/walkthrough.ipynb runs top to bottom on the smoke env's outputs."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.e2e

NOTEBOOK = PROJECT_ROOT / "notebooks" / "walkthrough.ipynb"


def _outputs(cell, kind: str) -> list:
    return [o for o in cell.outputs if kind in o.get("data", {}) or o.output_type == kind]


def test_walkthrough_runs_on_the_smoke_outputs(smoke_trained_project, monkeypatch):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = f'env = "smoke"\nproject_path = {str(smoke_trained_project)!r}'
    # The kernel inherits the environment: MLflow (opened by the Kedro session) logs in the copy.
    monkeypatch.setenv("CEMAP_MLFLOW_TRACKING_URI", f"sqlite:///{smoke_trained_project}/mlflow.db")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(smoke_trained_project)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails

    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not _outputs(c, "error") for c in code)
    assert all(c.outputs for c in code[2:]), "every cell after the parameters shows something"
    figures = sum(len(_outputs(c, "image/png")) for c in code)
    assert figures >= 3  # data samples, spectrogram, generated images
    html = "".join(o["data"]["text/html"] for c in code for o in _outputs(c, "text/html"))
    assert "<audio" in html
    # The metrics table: the evaluation's metrics when another test has evaluated this project
    # already (the session fixtures share it), else the joint model's alignment report.
    evaluated = (smoke_trained_project / "data/smoke/08_reporting/metrics.json").exists()
    assert ("alignment/symmetric_kl/" if evaluated else "probe/") in html
