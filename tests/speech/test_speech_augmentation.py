"""Log-mel perturbations for a speaker-robust speech embedding: shapes, seeding, each effect."""

from __future__ import annotations

import math

import pytest
import torch

from cemap.speech.augmentation import LogMelAugmentation

RATE, HOP = 16000, 400
EVERYTHING = LogMelAugmentation(
    warp=(0.85, 1.15),
    gain_db=6,
    snr_db=(10, 30),
    reverb=(0.0, 0.3),
    freq_masks=2,
    time_masks=2,
    probability=1.0,
)


def _clips(n: int = 6, n_mels: int = 64, n_frames: int = 48) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(n, n_mels, n_frames) * 2 - 4


def _apply(augmentation: LogMelAugmentation, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return augmentation(x, sample_rate=RATE, hop_length=HOP, generator=generator)


def test_every_perturbation_keeps_shape_dtype_and_finiteness():
    x = _clips()
    y = _apply(EVERYTHING, x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert not torch.allclose(y, x)


def test_the_same_seed_gives_the_same_perturbations_and_another_seed_others():
    x = _clips()
    assert torch.equal(_apply(EVERYTHING, x, seed=3), _apply(EVERYTHING, x, seed=3))
    assert not torch.equal(_apply(EVERYTHING, x, seed=3), _apply(EVERYTHING, x, seed=4))
    torch.manual_seed(5)  # without a generator: torch's global one, which fit seeds
    first = EVERYTHING(x, sample_rate=RATE, hop_length=HOP)
    torch.manual_seed(5)
    assert torch.equal(first, EVERYTHING(x, sample_rate=RATE, hop_length=HOP))


def test_defaults_and_probability_zero_leave_the_clips_alone():
    x = _clips()
    assert LogMelAugmentation().is_identity
    assert torch.equal(_apply(LogMelAugmentation(), x), x)
    never = LogMelAugmentation(**{**EVERYTHING.to_dict(), "probability": 0.0})
    assert torch.allclose(_apply(never, x), x, atol=1e-5)


def test_gain_adds_one_constant_per_clip_in_log_power():
    x = _clips()
    shift = _apply(LogMelAugmentation(gain_db=6, probability=1.0), x) - x
    per_clip = shift.flatten(1)
    assert torch.allclose(per_clip, per_clip[:, :1].expand_as(per_clip), atol=1e-5)
    assert per_clip.abs().max() <= 6 * math.log(10) / 10 + 1e-5
    assert per_clip[:, 0].std() > 0  # drawn per clip


def test_reverb_spreads_a_click_into_a_decaying_tail():
    x = torch.full((1, 4, 30), -13.8)
    x[:, :, 10] = 2.0
    y = _apply(LogMelAugmentation(reverb=(0.1, 0.1), probability=1.0), x)
    decay_frames = 0.1 * RATE / HOP  # 4 frames
    assert torch.allclose(y[0, 0, 10:14], 2.0 - torch.arange(4.0) / decay_frames, atol=1e-4)
    assert (y[:, :, :10] < -12).all()  # before the click only the silence's own tail


def test_noise_lifts_silence_to_the_drawn_level_below_the_peak():
    x = torch.full((2, 8, 20), -13.8)
    x[:, :, 5] = 4.0
    y = _apply(LogMelAugmentation(snr_db=(20, 20), probability=1.0), x)
    floor = 4.0 - 20 * math.log(10) / 10
    quiet = y[:, :, 10:]
    assert abs(float(quiet.mean()) - floor) < 0.5
    assert torch.allclose(y[:, :, 5], x[:, :, 5], atol=0.05)  # the loud frame stays


def test_warp_moves_energy_along_the_frequency_axis():
    x = torch.full((2, 64, 10), -10.0)
    x[:, 30] = 0.0  # one band lit
    up = _apply(LogMelAugmentation(warp=(1.15, 1.15), probability=1.0), x)
    down = _apply(LogMelAugmentation(warp=(0.87, 0.87), probability=1.0), x)
    # A longer vocal tract (factor < 1) lowers every formant: the lit band moves down.
    assert int(up[0, :, 0].argmax()) > 30 > int(down[0, :, 0].argmax())


def test_masks_blank_bands_and_spans_with_the_clip_mean():
    x = _clips(n=4)
    masks = LogMelAugmentation(freq_masks=1, freq_mask_width=6, time_masks=1, probability=1.0)
    y = _apply(masks, x, seed=1)
    changed = y != x
    assert changed.any()
    for clip in range(4):
        filled = y[clip][changed[clip]]
        assert torch.allclose(filled, filled[:1].expand_as(filled))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"warp": (1.2, 0.9)}, r"warp is a range"),
        ({"warp": (0.2, 1.0)}, r"within \[0.5, 2.0\]"),
        ({"gain_db": -1}, r"gain_db >= 0"),
        ({"probability": 1.5}, r"probability=1.5"),
        ({"time_masks": -2}, r"time_masks must be >= 0"),
    ],
)
def test_settings_that_make_no_sense_are_refused_by_name(settings, message):
    with pytest.raises(ValueError, match=message):
        LogMelAugmentation(**settings)
