"""What a reader sees in a browser after ``kedro run --env smoke``: the report, and the MLflow UI.

The report is opened from disk in headless Chromium (Debian's ``chromium``; ``.ci/run`` installs
it when missing); the MLflow check starts ``mlflow server`` on a free local port over the smoke
run's store and reads the run through the REST API the UI itself calls.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from cemap.hooks import DESCRIPTION_TAG, EXPERIMENT_KIND, EXPERIMENT_KIND_TAG

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Appended to a copy of the report: once every image has loaded (or failed), write each
# <img>'s natural width into the DOM, where --dump-dom prints it.
_PROBE = """<script>
window.addEventListener("load", () => {
  const widths = Array.from(document.images, (img) => img.naturalWidth);
  const pre = document.createElement("pre");
  pre.id = "image-probe";
  pre.textContent = JSON.stringify(widths);
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str:
    """The Chromium executable; the suite needs it (``apt-get install chromium``)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        "No Chromium found on PATH: install Debian's `chromium` (`apt-get install -y chromium`; "
        "`.ci/run` does it when missing)."
    )


def dump_dom(page: Path, profile: Path) -> str:
    result = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_report_renders_every_figure_and_the_headline_table(smoke_evaluated_project, tmp_path):
    report = smoke_evaluated_project / "data/smoke/08_reporting/report.html"
    text = report.read_text()
    assert 'src="figures/' not in text, "figures must be embedded, not linked"
    page = tmp_path / "report.html"  # alone in its folder: nothing relative could resolve
    page.write_text(text.replace("</body>", _PROBE + "</body>"))
    dom = dump_dom(page, tmp_path / "profile")

    probe = dom.split('<pre id="image-probe">', 1)[1].split("</pre>", 1)[0]
    widths = json.loads(probe)
    assert len(widths) >= 8  # prompt grids, confusion, projection, curves, three reconstructions
    assert all(width > 0 for width in widths), widths
    assert '<table class="headline">' in dom
    assert "Strict coherence by split" in dom and "run id" in dom and "environment" in dom


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(base: str, path: str, **query: str) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def mlflow_ui(smoke_evaluated_project, tmp_path):
    """``mlflow server`` on 127.0.0.1 over the smoke run's store; its base URL. Stopped by PID."""
    port = _free_port()
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{smoke_evaluated_project}/mlflow.db",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers share the server's process group
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise AssertionError(
                    "mlflow server did not come up:\n"
                    + (tmp_path / "mlflow-server.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_mlflow_ui_opens_on_a_named_described_run_with_summary_metrics(mlflow_ui):
    experiment = _get(mlflow_ui, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="cemap")
    tags = {t["key"]: t["value"] for t in experiment["experiment"].get("tags", [])}
    assert tags.get(EXPERIMENT_KIND_TAG) == EXPERIMENT_KIND  # the runs table, not GenAI traces

    found = _post(
        mlflow_ui,
        "/api/2.0/mlflow/runs/search",
        {
            "experiment_ids": [experiment["experiment"]["experiment_id"]],
            "filter": "tags.mlflow.runName LIKE 'evaluation · smoke · %'",
        },
    )
    (run,) = found["runs"]
    run_tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert run["info"]["run_name"].startswith("evaluation · smoke · 20")
    description = run_tags[DESCRIPTION_TAG]
    assert "| direction | test |" in description and "| text_to_image |" in description
    assert run_tags["kedro_command"].startswith("kedro run --env=smoke --pipelines=evaluation")
    assert run_tags["runner"] == "SequentialRunner"
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    summary = {k: v for k, v in metrics.items() if k.startswith("summary/")}
    assert "summary/coherence_text_to_image_test" in summary
    assert "summary/judge_image_test" in summary
    assert len(summary) >= 10
    assert all(0.0 <= v <= 1.0 for k, v in summary.items() if "coherence" in k)
    params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
    assert "evaluation" not in params  # no repr of the whole parameter object
    assert params["evaluation.image_judge.epochs"] == "1"
