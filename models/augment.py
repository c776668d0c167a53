"""Augmentation as Keras layers, active only in training (`training=False` is the identity).

Inputs are log-mel spectrograms `(batch, frames, mels)` float32 in dB (10*log10 of mel
power, floor -100 dB). Everything runs on the accelerator inside the training step, with
`keras.ops` and `keras.random` only, so the same code runs on TensorFlow, JAX and PyTorch.

- `TimeShift`: move the clip up to `max_frames` earlier or later, filling with the floor;
- `Gain` and `NoiseMix` work in the power domain: mel power is additive for independent
  sources, so mixing a cached background-noise spectrogram at a random SNR is what mixing
  the audio would give, without touching audio;
- `TimeStretch`: speak faster or slower: each clip's frame axis resampled by its own random
  rate (linear interpolation about the clip's centre, edge frames repeated);
- `SpecAugment`: time and frequency masks (Park et al., 2019), filled with the clip's mean.

Synthetic `unknown` clips (a word spoken backwards, two half-words joined) change the target,
so they are made in the feeder (models/fold.py), not here.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from models.settings import AugSettings

DB_FLOOR = -100.0
_LN10_10 = math.log(10.0) / 10.0


def db_to_power(x):
    return ops.exp(x * _LN10_10)


def power_to_db(p):
    return ops.log(ops.maximum(p, 10.0 ** (DB_FLOOR / 10.0))) / _LN10_10




class TimeShift(layers.Layer):
    """Shift each clip by a random number of frames in [-max_frames, max_frames]."""

    def __init__(self, max_frames: int, fill: float = DB_FLOOR, seed=None, **kw):
        super().__init__(**{"dtype": "float32", **kw})  # exp/log of dB powers need float32, also under mixed precision
        self.max_frames, self.fill = int(max_frames), float(fill)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.max_frames == 0:
            return x
        return shift_frames(x, keras.random.randint((ops.shape(x)[0],), -self.max_frames, self.max_frames + 1,
                                                     seed=self.seed_generator), self.max_frames, self.fill)

    def get_config(self):
        return {**super().get_config(), "max_frames": self.max_frames, "fill": self.fill, "seed": self.seed}


def shift_frames(x, shifts, max_frames: int, fill: float = DB_FLOOR):
    """`x` `(batch, frames, mels)` moved by `shifts` `(batch,)` int frames (positive: later)."""
    frames = ops.shape(x)[1]
    padded = ops.pad(x, ((0, 0), (max_frames, max_frames), (0, 0)), constant_values=fill)
    idx = ops.arange(frames)[None, :] + max_frames - ops.cast(shifts, "int32")[:, None]
    return ops.take_along_axis(padded, ops.expand_dims(idx, -1), axis=1)


class Gain(layers.Layer):
    """Scale each clip's power by a random gain of +-`max_db`."""

    def __init__(self, max_db: float, seed=None, **kw):
        super().__init__(**{"dtype": "float32", **kw})  # exp/log of dB powers need float32, also under mixed precision
        self.max_db, self.seed = float(max_db), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.max_db == 0:
            return x
        g = keras.random.uniform((ops.shape(x)[0], 1, 1), -self.max_db, self.max_db, seed=self.seed_generator)
        # adding dB is scaling power; keep digital silence at the floor
        return ops.where(x <= DB_FLOOR + 1e-3, x, ops.maximum(x + g, DB_FLOOR))

    def get_config(self):
        return {**super().get_config(), "max_db": self.max_db, "seed": self.seed}


class NoiseMix(layers.Layer):
    """Add a random background-noise window to a share of the clips, at a random SNR.

    `bank`: `(windows, frames, mels)` float32 mel *power* of one-second noise windows.
    The SNR is the ratio of the clip's total power to the added noise's, in dB.
    """

    def __init__(self, bank: np.ndarray, prob: float, snr_db: tuple[float, float], seed=None, **kw):
        super().__init__(**{"dtype": "float32", **kw})  # exp/log of dB powers need float32, also under mixed precision
        self.bank = ops.convert_to_tensor(np.asarray(bank, dtype="float32"))
        self.n_windows = int(np.shape(bank)[0])
        self.prob, self.snr_db, self.seed = float(prob), tuple(float(v) for v in snr_db), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.prob == 0 or self.n_windows == 0:
            return x
        batch = ops.shape(x)[0]
        pick = keras.random.randint((batch,), 0, self.n_windows, seed=self.seed_generator)
        noise = ops.take(self.bank, pick, axis=0)
        power = db_to_power(x)
        snr = keras.random.uniform((batch, 1, 1), *self.snr_db, seed=self.seed_generator)
        ratio = ops.sum(power, axis=(1, 2), keepdims=True) / (ops.sum(noise, axis=(1, 2), keepdims=True) + 1e-12)
        on = ops.cast(keras.random.uniform((batch, 1, 1), seed=self.seed_generator) < self.prob, x.dtype)
        return power_to_db(power + on * ratio * ops.exp(-snr * _LN10_10) * noise)

    def get_config(self):  # the bank is data, not configuration: a loaded layer gets an empty one
        return {**super().get_config(), "prob": self.prob, "snr_db": self.snr_db, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(bank=np.zeros((0, 1, 1), "float32"), **config)


class TimeStretch(layers.Layer):
    """Resample each clip's frames at a random rate in [1 - max_rate, 1 + max_rate] about its
    centre: rate 1.15 plays the clip 15% faster (the word gets shorter). Output frame t reads
    input position c + (t - c) * rate (c the centre), linearly interpolated between the two
    nearest frames; positions beyond the clip repeat its first or last frame, so no
    floor-level frames appear that real clips never have."""

    def __init__(self, max_rate: float, seed=None, **kw):
        super().__init__(**{"dtype": "float32", **kw})
        self.max_rate, self.seed = float(max_rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.max_rate == 0:
            return x
        return stretch_frames(x, keras.random.uniform((ops.shape(x)[0], 1), 1 - self.max_rate, 1 + self.max_rate,
                                                      seed=self.seed_generator))

    def get_config(self):
        return {**super().get_config(), "max_rate": self.max_rate, "seed": self.seed}


def stretch_frames(x, rates):
    """`x` `(batch, frames, mels)` resampled along frames at `rates` `(batch, 1)` (see TimeStretch)."""
    frames = x.shape[1]
    centre = (frames - 1) / 2.0
    t = ops.arange(frames, dtype="float32")[None, :]
    pos = ops.clip(centre + (t - centre) * ops.cast(rates, "float32"), 0.0, frames - 1.0)
    lo = ops.floor(pos)
    frac = ops.expand_dims(pos - lo, -1)
    lo_i = ops.cast(lo, "int32")
    hi_i = ops.minimum(lo_i + 1, frames - 1)
    a = ops.take_along_axis(x, ops.expand_dims(lo_i, -1), axis=1)
    b = ops.take_along_axis(x, ops.expand_dims(hi_i, -1), axis=1)
    return a + frac * (b - a)


class SpecAugment(layers.Layer):
    """`time_masks` masks of up to `time_width` frames and `freq_masks` of up to `freq_width`
    mel bands, each filled with the clip's mean value."""

    def __init__(self, time_masks: int, time_width: int, freq_masks: int, freq_width: int, seed=None, **kw):
        super().__init__(**{"dtype": "float32", **kw})  # exp/log of dB powers need float32, also under mixed precision
        self.time_masks, self.time_width = int(time_masks), int(time_width)
        self.freq_masks, self.freq_width = int(freq_masks), int(freq_width)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _mask(self, batch, size, count, width):
        pos = ops.arange(size)[None, :]
        masked = ops.zeros((batch, size), dtype="bool")
        for _ in range(count):
            w = keras.random.randint((batch, 1), 0, width + 1, seed=self.seed_generator)
            start = keras.random.randint((batch, 1), 0, max(1, size - width), seed=self.seed_generator)
            masked = ops.logical_or(masked, ops.logical_and(pos >= start, pos < start + w))
        return masked

    def call(self, x, training=False):
        if not training or (self.time_masks == 0 and self.freq_masks == 0):
            return x
        batch, frames, mels = ops.shape(x)[0], x.shape[1], x.shape[2]
        t = self._mask(batch, frames, self.time_masks, self.time_width)[:, :, None]
        f = self._mask(batch, mels, self.freq_masks, self.freq_width)[:, None, :]
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        return ops.where(ops.logical_or(t, f), mean, x)

    def get_config(self):
        return {**super().get_config(), "time_masks": self.time_masks, "time_width": self.time_width,
                "freq_masks": self.freq_masks, "freq_width": self.freq_width, "seed": self.seed}


def augmenter(a: AugSettings, noise_bank: np.ndarray | None, seed: int = 0) -> list[layers.Layer]:
    """The augmentation layers of `a`, in the order they apply: stretch, shift, gain, noise, masks."""
    out: list[layers.Layer] = []
    if a.stretch:
        out.append(TimeStretch(a.stretch, seed=seed + 4))
    if a.shift_frames:
        out.append(TimeShift(a.shift_frames, seed=seed))
    if a.gain_db:
        out.append(Gain(a.gain_db, seed=seed + 1))
    if a.noise_prob and noise_bank is not None and len(noise_bank):
        out.append(NoiseMix(noise_bank, a.noise_prob, a.snr_db, seed=seed + 2))
    if a.time_masks or a.freq_masks:
        out.append(SpecAugment(a.time_masks, a.time_mask_frames, a.freq_masks, a.freq_mask_mels, seed=seed + 3))
    return out
