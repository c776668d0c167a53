"""Augmentation layers: identity at inference, and each does what it says in training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models import augment


def spectrograms(n=8, frames=101, mels=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-80, 0, size=(n, frames, mels)).astype("float32")


def bank(n=4, frames=101, mels=40, seed=1):
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=(n, frames, mels)).astype("float32")


def all_layers():
    return [augment.TimeShift(10, seed=1), augment.Gain(6.0, seed=1),
            augment.NoiseMix(bank(), 1.0, (0.0, 10.0), seed=1), augment.SpecAugment(2, 10, 2, 5, seed=1),
            augment.TimeStretch(0.15, seed=1)]


@pytest.mark.parametrize("layer", all_layers(), ids=lambda layer: type(layer).__name__)
def test_inactive_at_inference(layer):
    x = spectrograms()
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


@pytest.mark.parametrize("layer", all_layers(), ids=lambda layer: type(layer).__name__)
def test_active_in_training_keeps_shape_and_finiteness(layer):
    x = spectrograms()
    y = np.asarray(layer(x, training=True))
    assert y.shape == x.shape and np.isfinite(y).all()
    assert not np.array_equal(y, x)


def test_augmenter_inside_a_model_is_off_in_predict():
    x = spectrograms()
    inp = keras.Input(x.shape[1:])
    out = inp
    for layer in augment.augmenter(augment.AugSettings(), bank(), seed=0):
        out = layer(out)
    model = keras.Model(inp, out)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.array_equal(np.asarray(model(x, training=True)), x)


def test_shift_frames_moves_content_and_fills_with_the_floor():
    x = spectrograms(n=2)
    y = np.asarray(augment.shift_frames(x, np.array([3, -2]), 5))
    np.testing.assert_array_equal(y[0, 3:], x[0, :-3])
    np.testing.assert_array_equal(y[0, :3], augment.DB_FLOOR)
    np.testing.assert_array_equal(y[1, :-2], x[1, 2:])
    np.testing.assert_array_equal(y[1, -2:], augment.DB_FLOOR)


def test_noise_is_mixed_at_the_requested_snr():
    x = spectrograms(n=64)
    noise = bank(n=3)
    y = np.asarray(augment.NoiseMix(noise, 1.0, (10.0, 10.0), seed=3)(x, training=True))
    added = 10 ** (y / 10) - 10 ** (x / 10)
    snr = 10 * np.log10((10 ** (x / 10)).sum(axis=(1, 2)) / added.sum(axis=(1, 2)))
    np.testing.assert_allclose(snr, 10.0, atol=0.05)


def test_noise_probability_zero_and_empty_bank_do_nothing():
    x = spectrograms()
    for layer in (augment.NoiseMix(bank(), 0.0, (0, 10)), augment.NoiseMix(np.zeros((0, 101, 40), "float32"), 1.0, (0, 10))):
        np.testing.assert_array_equal(np.asarray(layer(x, training=True)), x)


def test_gain_shifts_each_clip_by_one_amount_within_range():
    x = spectrograms(n=32)
    y = np.asarray(augment.Gain(6.0, seed=2)(x, training=True))
    d = y - x
    assert np.allclose(d, d[:, :1, :1], atol=1e-4)  # one gain per clip
    assert np.abs(d).max() <= 6.0 + 1e-4 and d.std() > 0.5


def test_gain_keeps_digital_silence_at_the_floor():
    x = np.full((4, 101, 40), augment.DB_FLOOR, "float32")
    np.testing.assert_array_equal(np.asarray(augment.Gain(6.0, seed=2)(x, training=True)), x)


def test_specaugment_masks_bands_with_the_clip_mean():
    x = spectrograms(n=16)
    y = np.asarray(augment.SpecAugment(1, 10, 1, 5, seed=4)(x, training=True))
    changed = y != x
    assert changed.any()
    share = changed.mean()
    assert share < 0.4  # at most 10/101 of the frames plus 5/40 of the mels
    means = x.mean(axis=(1, 2))
    for i in range(len(x)):
        np.testing.assert_allclose(y[i][changed[i]], means[i], rtol=1e-5)


def test_stretch_resamples_frames_about_the_centre_without_floor_frames():
    frames = 101
    ramp = np.tile(np.arange(frames, dtype="float32")[None, :, None], (3, 1, 2))  # frame t holds value t
    out = np.asarray(augment.stretch_frames(ramp, np.array([[1.0], [1.2], [0.8]], "float32")))
    np.testing.assert_allclose(out[0], ramp[0], atol=1e-4)  # rate 1: unchanged
    centre = (frames - 1) / 2
    t = np.arange(frames)
    np.testing.assert_allclose(out[1, :, 0], np.clip(centre + (t - centre) * 1.2, 0, frames - 1), atol=1e-3)
    np.testing.assert_allclose(out[2, :, 0], centre + (t - centre) * 0.8, atol=1e-3)  # slower: the middle spreads
    assert out[1, 0, 0] == 0 and out[1, -1, 0] == frames - 1  # beyond the clip: its edge frames, never a floor
    x = spectrograms(seed=3)
    y = np.asarray(augment.TimeStretch(0.15, seed=2)(x, training=True))
    assert y.min() >= x.min() - 1e-4 and y.max() <= x.max() + 1e-4  # interpolation only, nothing new


def test_synthetic_unknowns_replace_only_command_rows_and_relabel_them():
    from competition.labels import LABEL_INDEX, LABELS
    from models.fold import synthetic_unknowns

    rng = np.random.default_rng(0)
    labels = np.array([LABEL_INDEX["yes"]] * 40 + [LABEL_INDEX["silence"]] * 20 + [LABEL_INDEX["unknown"]] * 4)
    x = spectrograms(len(labels), seed=4)
    y = np.eye(len(LABELS), dtype="float32")[labels]
    target = np.eye(len(LABELS), dtype="float32")[LABEL_INDEX["unknown"]]
    xs, ys = synthetic_unknowns(x, y, labels, target, 0.25, 0.25, rng)
    changed = np.flatnonzero(np.any(xs != x, axis=(1, 2)))
    assert 8 <= len(changed) <= 32 and (labels[changed] == LABEL_INDEX["yes"]).all()
    np.testing.assert_array_equal(ys[changed], np.tile(target, (len(changed), 1)))
    same = np.setdiff1d(np.arange(len(labels)), changed)
    np.testing.assert_array_equal(ys[same], y[same])
    reversed_rows = [i for i in changed if np.array_equal(xs[i], x[i, ::-1])]
    assert reversed_rows and len(reversed_rows) < len(changed)  # both kinds made
    np.testing.assert_array_equal(x, spectrograms(len(labels), seed=4))  # the inputs are not touched
