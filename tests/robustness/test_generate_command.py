"""`cemap generate` given hostile arguments: bounded output, a one-line summary, no traceback,
and no file of the user's replaced without --overwrite."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from cemap.cli import generate
from cemap.generate import MAX_OUTPUTS
from tests.robustness.conftest import assert_clean_error, tree_hashes

SENTENCE = "red three and blue seven"


def invoke(project, *args: str):
    return CliRunner().invoke(
        generate, ["--project-path", str(project), "--env", "smoke", "--text", SENTENCE, *args]
    )


def test_n_beyond_the_cap_is_refused_before_any_work(robust_project, tmp_path):
    out = tmp_path / "many"
    result = invoke(robust_project, "-n", "100000", "--out", str(out))
    assert result.exit_code == 2
    assert "100000" in result.output and f"1 to {MAX_OUTPUTS}" in result.output
    assert not out.exists()


def test_n_zero_is_refused(robust_project, tmp_path):
    result = invoke(robust_project, "-n", "0", "--out", str(tmp_path / "none"))
    assert result.exit_code == 2 and "0 outputs" in result.output


def test_many_outputs_are_written_in_batches_and_summarised(robust_project, tmp_path):
    out = tmp_path / "draws"
    result = invoke(robust_project, "-n", "100", "--out", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("image_*.png"), key=lambda p: int(p.stem.split("_")[1]))
    assert len(files) == 100
    assert f"Wrote 100 files to {out} (image_0.png … image_99.png)." in result.output
    assert len(result.output.splitlines()) <= 3  # a summary, not a 100-path line
    # Batches of 64 draw independently: the two batches are not copies of each other.
    first, later = (
        np.asarray(__import__("PIL.Image").Image.open(f)) for f in (files[0], files[64])
    )
    assert first.shape == later.shape == (28, 56, 3)


def test_text_outputs_are_summarised_too(robust_project, tmp_path):
    out = tmp_path / "many.txt"
    result = invoke(robust_project, "--to", "text", "-n", "30", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 30
    assert "… and 20 more" in result.output


def test_an_existing_text_file_is_not_replaced(robust_project, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("the user's own notes\n")
    result = invoke(robust_project, "--to", "text", "--out", str(notes))
    assert_clean_error(result, 1, str(notes), "--overwrite")
    assert notes.read_text() == "the user's own notes\n"


def test_overwrite_replaces_it(robust_project, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("old\n")
    result = invoke(robust_project, "--to", "text", "--out", str(notes), "--overwrite")
    assert result.exit_code == 0, result.output
    assert notes.read_text() != "old\n"


def test_one_existing_image_among_many_stops_all_writes(robust_project, tmp_path):
    (tmp_path / "image_1.png").write_bytes(b"keep me")
    before = tree_hashes(tmp_path)
    result = invoke(robust_project, "-n", "3", "--out", str(tmp_path))
    assert_clean_error(result, 1, "image_1.png", "--overwrite")
    assert tree_hashes(tmp_path) == before  # image_0.png was not written either


def test_out_is_an_existing_file_where_a_folder_is_meant(robust_project, tmp_path):
    target = tmp_path / "results"
    target.write_text("a file")
    assert_clean_error(invoke(robust_project, "--out", str(target)), 1, str(target), "folder")
    assert target.read_text() == "a file"


def test_out_inside_a_file(robust_project, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    out = blocker / "sub"
    assert_clean_error(invoke(robust_project, "--out", str(out)), 1, str(blocker), "is a file")


def test_out_png_that_is_a_folder(robust_project, tmp_path):
    (tmp_path / "pair.png").mkdir()
    assert_clean_error(
        invoke(robust_project, "--out", str(tmp_path / "pair.png")), 1, "pair.png", "is a folder"
    )


def test_out_of_the_wrong_kind(robust_project, tmp_path):
    assert_clean_error(
        invoke(robust_project, "--out", str(tmp_path / "x.wav")), 1, "'.wav'", ".png"
    )


def test_out_in_a_folder_nobody_can_write(robust_project):
    # /sys refuses new entries even to root; others are refused by its permissions.
    result = invoke(robust_project, "--out", "/sys/cemap-generated")
    assert_clean_error(result, 1, "/sys", "a folder you can write to")


def test_unknown_env_lists_the_envs(robust_project, tmp_path):
    result = CliRunner().invoke(
        generate,
        ["--project-path", str(robust_project), "--env", "nosuch", "--text", SENTENCE],
    )
    assert_clean_error(result, 1, "'nosuch'", "smoke", "base")


def test_a_bad_model_uri(robust_project, tmp_path, monkeypatch):
    monkeypatch.setenv("CEMAP_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/empty.db")
    result = CliRunner().invoke(
        generate,
        ["--project-path", str(robust_project), "--model", "models:/nosuch@champion"],
        catch_exceptions=True,
    )
    assert result.exit_code == 2  # no --text/--audio: usage first
    result = CliRunner().invoke(
        generate,
        [
            "--project-path",
            str(robust_project),
            "--model",
            "models:/nosuch@champion",
            "--text",
            SENTENCE,
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert_clean_error(result, 1, "models:/nosuch@champion", "@champion")


def test_a_recording_with_nan_samples(robust_project, tmp_path):
    clip = tmp_path / "nan.wav"
    samples = np.full(8000, np.nan, dtype=np.float32)
    sf.write(str(clip), samples, 16000, subtype="FLOAT")
    result = CliRunner().invoke(
        generate,
        ["--project-path", str(robust_project), "--env", "smoke", "--audio", str(clip)],
    )
    assert_clean_error(result, 1, "nan.wav", "contains NaN")


@pytest.mark.parametrize("n", ["1", "65"])
def test_outputs_land_where_planned(robust_project, tmp_path, n):
    out = tmp_path / "pair.png"
    result = invoke(robust_project, "-n", n, "--out", str(out))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.iterdir())
    expected = ["pair.png"] if n == "1" else sorted(f"pair_{k}.png" for k in range(int(n)))
    assert written == expected
