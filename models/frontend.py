"""What a model sees of the cached log-mel spectrogram: the front-end of the inference model,
after augmentation (which works on dB and mel power) and before the registry model.

- `logmel`: the dB values, normalised by the training fold's mean and standard deviation;
- `pcen`: per-channel energy normalisation (Wang et al., 2017, "Trainable frontend for robust
  and far-field keyword spotting"), then the same normalisation. Each mel band's power is
  divided by a running average of itself (an automatic gain control, time constant 0.4 s) and
  compressed by a root instead of a log: a stationary background sinks towards zero while
  onsets stand out, whatever the level. The same formula as `librosa.pcen` (a test compares
  them), written with `keras.ops` so it runs inside the model on every backend;
- `pcen_learned`: the same, with each band's gain, bias and power trained with the model
  (from librosa's values; the smoother stays fixed).

A run's front-end is the training setting `frontend` (`pcen` by default, `SET="frontend=logmel"`
for the dB values): part of its identity, saved inside `model.keras`, so prediction needs
nothing but the model.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from models.augment import db_to_power
from models.settings import FRONTENDS


@keras.saving.register_keras_serializable(package="kws")
class PCEN(layers.Layer):
    """`(batch, frames, mels)` dB -> `(batch, frames, mels)` PCEN of the mel power.

    out = (E * (eps + M)^-gain + bias)^power - bias^power, with M the first-order IIR smoothing
    of E along time, M[t] = s E[t] + (1 - s) M[t-1], started at E[0] as if it had lasted
    forever (librosa with `zi=lfilter_zi(...) * E[0]`; its default state, 1.0, would depend on
    the clip's level). The smoother is a fixed lower-triangular `(frames, frames)`
    matrix, so it is one matmul on any backend instead of a sequential scan."""

    def __init__(self, frames: int, hop_ms: float = 10.0, time_constant: float = 0.4, gain: float = 0.98,
                 bias: float = 2.0, power: float = 0.5, eps: float = 1e-6, learn: bool = False, **kw):
        super().__init__(**{"dtype": "float32", **kw})  # powers of 1e-10 are 0 in bfloat16
        self.frames, self.hop_ms, self.time_constant = int(frames), float(hop_ms), float(time_constant)
        self.gain, self.bias, self.power, self.eps = float(gain), float(bias), float(power), float(eps)
        self.learn = bool(learn)
        self.smoother = ops.convert_to_tensor(smoothing_matrix(self.frames, smoothing_coefficient(
            self.time_constant, self.hop_ms)))

    def build(self, input_shape):
        if self.learn:  # per-band gain, bias and power, trained in the log domain (Wang et al.), from librosa's values
            mels = input_shape[-1]
            self.log_gain, self.log_bias, self.log_power = (
                self.add_weight(name=name, shape=(mels,), initializer=keras.initializers.Constant(math.log(value)))
                for name, value in (("log_gain", self.gain), ("log_bias", self.bias), ("log_power", self.power)))

    def call(self, x):
        e = db_to_power(ops.cast(x, "float32"))
        m = ops.einsum("tj,bjm->btm", self.smoother, e)
        if self.learn:
            gain, bias, power = ops.exp(self.log_gain), ops.exp(self.log_bias), ops.exp(self.log_power)
        else:
            gain, bias, power = self.gain, self.bias, self.power
        agc = ops.exp(-gain * ops.log(self.eps + m))
        return ops.power(e * agc + bias, power) - ops.power(bias, power)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "frames": self.frames, "hop_ms": self.hop_ms,
                "time_constant": self.time_constant, "gain": self.gain, "bias": self.bias,
                "power": self.power, "eps": self.eps, "learn": self.learn}


def smoothing_coefficient(time_constant: float, hop_ms: float) -> float:
    """librosa.pcen's `b` for a time constant in seconds at a hop in milliseconds."""
    t_frames = time_constant * 1000.0 / hop_ms
    return (math.sqrt(1 + 4 * t_frames**2) - 1) / (2 * t_frames**2)


def smoothing_matrix(frames: int, s: float) -> np.ndarray:
    """`(frames, frames)` float32 A with M = A @ E: A[t, j] = s (1-s)^(t-j) for j <= t, and
    column 0 also carries (1-s)^(t+1), the state before the clip (E[0] held forever)."""
    t = np.arange(frames)
    lag = t[:, None] - t[None, :]
    a = np.where(lag >= 0, s * (1.0 - s) ** np.maximum(lag, 0), 0.0)
    a[:, 0] += (1.0 - s) ** (t + 1)
    return a.astype(np.float32)


def front(kind: str, frames: int, hop_ms: float) -> layers.Layer | None:
    """The layer of front-end `kind` before the normalisation, or None for `logmel`."""
    if kind in ("pcen", "pcen_learned"):
        return PCEN(frames, hop_ms, learn=kind == "pcen_learned", name="pcen")
    if kind != "logmel":
        raise ValueError(f"unknown front-end {kind!r}; known: {', '.join(FRONTENDS)}")
    return None


def statistics(kind: str, sample: np.ndarray, hop_ms: float) -> tuple[float, float]:
    """Mean and standard deviation of what the normalisation sees: `sample` `(clips, frames,
    mels)` dB of training rows through front-end `kind`."""
    layer = front(kind, sample.shape[1], hop_ms)
    values = sample if layer is None else np.asarray(ops.convert_to_numpy(layer(sample)))
    return float(values.mean()), float(values.std() + 1e-6)
