"""experiments/data_seed_spread.py: the table it writes, and the whole chain over two data seeds."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from cemap.concepts import EVALUATION_SPLITS
from cemap.evaluation.metrics import DIRECTIONS
from tests.conftest import PROJECT_ROOT, make_project_copy

SCRIPT = PROJECT_ROOT / "experiments" / "data_seed_spread.py"
_spec = importlib.util.spec_from_file_location("data_seed_spread", SCRIPT)
spread = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spread)

ARROWS = [f"{s}→{t}" for s, t in DIRECTIONS]


def _rows(table: str, heading: str) -> dict[str, list[str]]:
    """``{first cell: other cells}`` of the markdown table that follows ``heading``."""
    section = table.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines[1:])
    }


def _metrics(value: float) -> dict[str, float]:
    # unseen_voices is scored for speech sources only, as in a real run
    return {
        spread.metric(d, s): value
        for d in DIRECTIONS
        for s in EVALUATION_SPLITS
        if s != "unseen_voices" or d[0] == "speech"
    }


def test_table_is_mean_and_sample_std_per_direction_and_split_then_every_seed():
    runs = {7: _metrics(0.5), 42: _metrics(0.7), 1234: _metrics(0.9)}
    runs[42][spread.metric(("text", "image"), "heldout_pairs")] = 0.1
    table = spread.spread_table(runs)
    head = table.split("## Per seed")[0]
    assert "| direction | test | heldout_tuples | heldout_pairs | unseen_voices |" in head
    rows = _rows(table, "# Strict coherence over data seeds (%)")
    assert list(rows) == ARROWS
    assert rows["image→text"] == ["70.0 ± 20.0"] * 3 + ["—"]  # sample std of 50, 70, 90
    assert rows["speech→text"] == ["70.0 ± 20.0"] * 4
    assert rows["text→image"][2] == "50.0 ± 40.0"  # 50, 10, 90
    per_seed = _rows(table, "## Per seed (%)")
    assert list(per_seed) == ARROWS
    pairs = EVALUATION_SPLITS.index("heldout_pairs") * 3  # three seeds per split
    assert per_seed["text→image"][pairs : pairs + 3] == ["50.0", "10.0", "90.0"]
    assert per_seed["text→image"][-3:] == ["—"] * 3  # unseen_voices: speech sources only


def test_one_seed_has_no_spread_and_no_run_is_an_error():
    assert "| text→image | 50.0 | 50.0 | 50.0 |" in spread.spread_table({3: _metrics(0.5)})
    with pytest.raises(ValueError, match="no run to tabulate"):
        spread.spread_table({})


def test_generated_conf_points_data_root_at_the_seed_and_copies_the_env(tmp_path):
    project = make_project_copy(tmp_path / "project")
    conf = spread.write_conf(project, "smoke", tmp_path / "seed_3")
    overlay = conf / spread.RUN_ENV
    assert (conf / "base" / "catalog.yml").is_file()
    assert (overlay / "parameters_data_generation.yml").read_text() == (
        project / "conf/smoke/parameters_data_generation.yml"
    ).read_text()
    assert f"data_root: {tmp_path / 'seed_3' / 'data'}" in (overlay / "globals.yml").read_text()
    base = spread.write_conf(project, "base", tmp_path / "seed_4") / spread.RUN_ENV
    assert [p.name for p in base.iterdir()] == ["globals.yml"]


def test_bad_arguments_are_refused_before_any_run(tmp_path):
    with pytest.raises(SystemExit, match="repeats a seed"):
        spread.main(["--seeds", "1", "1", "--work-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"--env 'smok'.*use one of \[.*'smoke'"):
        spread.main(["--env", "smok", "--work-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())


@pytest.mark.e2e
def test_two_data_seeds_on_the_smoke_env_give_one_row_per_direction_from_both_runs(tmp_path):
    project = make_project_copy(tmp_path / "project")
    out = tmp_path / "spread.md"
    command = [sys.executable, str(SCRIPT), "--project", str(project), "--env", "smoke"]
    result = subprocess.run(
        [*command, "--seeds", "3", "5", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    work = project / "data" / "seed_spread" / "smoke"
    runs = {
        seed: json.loads((work / f"seed_{seed}/data/08_reporting/metrics.json").read_text())
        for seed in (3, 5)
    }
    # Two different data sets, neither written to the project's own data root.
    metadata = [(work / f"seed_{seed}/data/03_primary/metadata.parquet") for seed in (3, 5)]
    assert metadata[0].read_bytes() != metadata[1].read_bytes()
    assert not (project / "data" / "smoke").exists()
    assert (work / "mlflow.db").is_file() and not (project / "mlflow.db").exists()

    table = out.read_text()
    assert list(_rows(table, "# Strict coherence over data seeds (%)")) == ARROWS
    per_seed = _rows(table, "## Per seed (%)")
    assert list(per_seed) == ARROWS
    header = table.split("## Per seed (%)")[1].splitlines()[2]
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    assert columns == [f"{split} seed {seed}" for split in EVALUATION_SPLITS for seed in (3, 5)]
    for (source, target), arrow in zip(DIRECTIONS, ARROWS, strict=True):
        # unseen_voices scores speech sources only: other directions show a dash there.
        names = [
            (f"coherence/{source}_to_{target}/{split}/strict", seed)
            for split in EVALUATION_SPLITS
            for seed in (3, 5)
        ]
        expected = [
            f"{100 * runs[seed][name]:.1f}" if name in runs[seed] else "—" for name, seed in names
        ]
        assert per_seed[arrow] == expected
        assert expected.count("—") == (0 if source == "speech" else 2)
    # A rerun with --reuse tabulates the same runs without running kedro again.
    again = subprocess.run(
        [*command, "--seeds", "3", "5", "--out", str(tmp_path / "again.md"), "--reuse"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "kedro run" not in again.stdout
    assert (tmp_path / "again.md").read_text() == table
