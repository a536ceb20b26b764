"""The objective comparison: its table, its parameters, and a run on the smoke env (rows, MLflow runs)."""

from __future__ import annotations

import json

import mlflow
import pytest
from pydantic import ValidationError

from cemap.evaluation.comparison import comparison_summary, render_comparison
from cemap.joint.objectives import OBJECTIVES
from cemap.pipelines.joint_latent.params import JointLatentParams
from cemap.pipelines.objective_comparison.params import ObjectiveComparisonParams
from tests.conftest import run_kedro


def _run(t2i: float, seconds: float, alignment: float | None = None) -> dict[str, float]:
    run = {"coherence/text_to_image/test/strict": t2i, "train/seconds": seconds}
    if alignment is not None:
        run["alignment/symmetric_kl/mean/test"] = alignment
    return run


def test_summary_is_mean_and_sample_std_over_seeds():
    summary = comparison_summary({"a": [_run(0.5, 10), _run(0.7, 14)], "b": [_run(0.2, 3)]})
    stats = summary["a"]["coherence/text_to_image/test/strict"]
    assert stats["mean"] == pytest.approx(0.6)
    assert stats["std"] == pytest.approx(0.1414213, rel=1e-5)  # sqrt(((.1)² + (.1)²) / 1)
    assert summary["b"]["train/seconds"] == {"mean": 3.0, "std": 0.0, "n": 1.0}


def test_table_has_a_row_per_objective_marks_the_best_and_dashes_the_undefined():
    summary = comparison_summary(
        {
            "proxy_variable": [_run(0.9, 10, 0.5)],
            "mvae": [_run(0.6, 20, 0.2)],
            "regression": [_run(0.95, 5)],
        }
    )
    markdown = render_comparison(summary, seeds=[0], hardware="2 CPU cores")
    test_table = markdown.split("## Strict coherence, test (%)")[1].split("##")[0]
    rows = [line for line in test_table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split("|")[1].strip() for row in rows[1:]] == [
        "proxy_variable",
        "mvae",
        "regression",
    ]
    assert "| regression | **95.0** |" in markdown  # best text→image; one seed: no ± std
    last = markdown.split("## Alignment")[1]
    assert "| mvae | **0.20** |" in last  # lowest D is best
    assert "| regression | — |" in last  # no posterior, no distance
    assert "Hardware: 2 CPU cores." in markdown


def test_one_coherence_table_per_evaluation_split_that_is_reported():
    runs = [{f"coherence/text_to_image/{split}/strict": 0.5 for split in ("test", "heldout_pairs")}]
    markdown = render_comparison(comparison_summary({"mvae": runs}), seeds=[0])
    titles = [line for line in markdown.splitlines() if line.startswith("## Strict coherence")]
    assert titles == [
        "## Strict coherence, test (%)",
        "## Strict coherence, held-out pairs — a digit in a colour never trained on (%)",
    ]


def test_cells_show_the_spread_of_several_seeds():
    summary = comparison_summary({"mvae": [_run(0.5, 10), _run(0.7, 14)]})
    assert "| mvae | **60.0 ± 14.1** |" in render_comparison(summary, seeds=[0, 1])


def test_an_objective_without_runs_is_an_error():
    with pytest.raises(ValueError, match="'mvae' has no runs"):
        comparison_summary({"mvae": []})


def test_defaults_list_every_objective_and_run_params_apply_overrides():
    params = ObjectiveComparisonParams(training={"epochs": 7})
    assert set(params.objectives) == set(OBJECTIVES) and params.seeds == [0, 1, 2]
    params = params.model_copy(
        update={
            "objectives": {**params.objectives, "jmvae_kl": {"objective": "jmvae_kl", "alpha": 0.1}}
        }
    )
    run = params.run_params(JointLatentParams(), "jmvae_kl", seed=2)
    assert (run.model.objective, run.model.alpha) == ("jmvae_kl", 0.1)
    assert (run.training.seed, run.training.epochs) == (2, 7)
    assert run.model.distance == JointLatentParams().model.distance  # the rest as tuned


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"seeds": [0, 0]}, r"objective_comparison.seeds=\[0, 0\] repeats a seed"),
        ({"seeds": []}, "seeds"),
        ({"training": {"epoch": 3}}, r"objective_comparison.training has \['epoch'\]"),
        (
            {"objectives": {name: {"objective": name} for name in OBJECTIVES if name != "mvae"}},
            "it needs one entry",
        ),
        (
            {"objectives": {name: {"objective": "mvae"} for name in OBJECTIVES}},
            r"objective_comparison.objectives.proxy_variable has objective='mvae'",
        ),
        (
            {"objectives": {name: {"objective": name, "alfa": 1} for name in OBJECTIVES}},
            r"has \['alfa'\], which joint_latent.model does not",
        ),
    ],
)
def test_bad_parameters_name_the_key_and_the_fix(settings, match):
    with pytest.raises(ValidationError, match=match):
        ObjectiveComparisonParams(**settings)


def test_a_bad_override_value_is_rejected_by_the_joint_latent_schema():
    objectives = {name: {"objective": name} for name in OBJECTIVES}
    objectives["jmvae_kl"]["alpha"] = -1.0
    with pytest.raises(ValidationError, match="alpha"):
        ObjectiveComparisonParams(objectives=objectives).run_params(
            JointLatentParams(), "jmvae_kl", 0
        )


def test_kedro_run_leaves_the_objective_comparison_out():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    from tests.conftest import PROJECT_ROOT

    bootstrap_project(PROJECT_ROOT)
    default = {node.name for node in pipelines["__default__"].nodes}
    assert not default & {node.name for node in pipelines["objective_comparison"].nodes}
    assert {node.name for node in pipelines["evaluation"].nodes} <= default


@pytest.mark.e2e
def test_smoke_objective_comparison_writes_one_row_per_objective_and_child_runs(
    smoke_evaluated_project,
):
    project = smoke_evaluated_project
    run_kedro(project, "run", "--env", "smoke", "--pipelines=objective_comparison")
    reporting = project / "data/smoke/08_reporting"

    markdown = (reporting / "objective_comparison.md").read_text()
    for section in markdown.split("\n## ")[1:]:
        rows = [
            line.split("|")[1].strip() for line in section.splitlines()[4:] if line.startswith("| ")
        ]
        assert rows == list(OBJECTIVES), section
    results = json.loads((reporting / "objective_comparison/objective_comparison.json").read_text())
    for objective in OBJECTIVES:
        seeds = [run["seed"] for run in results["runs"][objective]]
        assert seeds == [0.0, 1.0]
        for split in ("heldout_tuples", "heldout_pairs"):
            strict = results["summary"][objective][f"coherence/speech_to_text/{split}/strict"]
            assert 0.0 <= strict["mean"] <= 1.0 and strict["n"] == 2
    assert "## Strict coherence, held-out pairs" in markdown
    assert "alignment/symmetric_kl/mean/test" in results["summary"]["mvae"]
    assert "alignment/symmetric_kl/mean/test" not in results["summary"]["regression"]

    mlflow.set_tracking_uri(f"sqlite:///{project}/mlflow.db")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("cemap")
    (parent,) = client.search_runs(
        [experiment.experiment_id], "attributes.run_name LIKE 'objective_comparison · %'"
    )
    assert parent.info.status == "FINISHED"
    assert (
        "objective_comparison/mmvae/coherence/text_to_image/test/strict/mean" in parent.data.metrics
    )
    assert "objective_comparison.md" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    names = sorted(run.info.run_name for run in children)
    assert names == sorted(f"{o}/seed_{s}" for o in OBJECTIVES for s in (0, 1))
    child = next(run for run in children if run.info.run_name == "mvae/seed_1")
    assert child.data.params["joint_latent.model.objective"] == "mvae"
    assert child.data.params["joint_latent.training.seed"] == "1"
    assert "coherence/text_to_image/heldout_tuples/strict" in child.data.metrics
    assert "coherence/text_to_image/heldout_pairs/strict" in child.data.metrics
    assert [a.path for a in client.list_artifacts(child.info.run_id, "model")] == [
        "model/joint_model.pt"
    ]


def test_the_caption_names_the_device_the_runs_trained_on():
    import torch

    from cemap.pipelines.objective_comparison.nodes import _hardware

    caption = _hardware(torch.device("cpu"))
    assert "trained on cpu" in caption and f"torch {torch.__version__}" in caption
