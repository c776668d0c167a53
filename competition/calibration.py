"""Calibrating probabilities by temperature (and a bias per class): the one calibrator that
training, blending and the prior correction use.

    calibrated = softmax(log q / T + b)

T > 1 flattens overconfident outputs, T < 1 sharpens underconfident ones (label smoothing
and averaging make a model underconfident); the bias `b` (bias-corrected temperature scaling,
BCTS: Alexandari, Kundaje & Shrikumar, 2020) moves a model's outputs to the class priors of
the rows it is fitted on. Fitted by log loss on held-out rows whose labels are known.

Shapes: `probs` `(n, C)` probabilities, `y` `(n,)` class indices, `bias` `(C,)`; float64 out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from competition import metrics

T_BOUNDS = (0.05, 20.0)  # beyond these a temperature only chases noise


@dataclass(frozen=True, eq=False)
class Calibration:
    """`softmax(log q / temperature + bias)`; the identity is T = 1 and no bias."""

    temperature: float = 1.0
    bias: np.ndarray | None = field(default=None, repr=False)

    def to_json(self, labels) -> dict:
        bias = None if self.bias is None else {lab: round(float(b), 4) for lab, b in zip(labels, self.bias, strict=True)}
        return {"temperature": round(self.temperature, 4), "bias": bias}


IDENTITY = Calibration()


def log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), metrics.EPS, None))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)  # exp of large values overflows without this
    return metrics.normalise(np.exp(z))


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """`probs` `(..., C)` raised to 1/T and renormalised (T < 1 sharpens, T > 1 flattens; argmax kept)."""
    return softmax(log_probs(probs) / temperature)


def calibrate(probs: np.ndarray, cal: Calibration) -> np.ndarray:
    """`probs` `(n, C)` through `cal`: `softmax(log probs / T + bias)`."""
    if cal.temperature == 1.0 and cal.bias is None:
        return np.asarray(probs, dtype=np.float64)
    z = log_probs(probs) / cal.temperature
    return softmax(z if cal.bias is None else z + cal.bias)


def fit_calibration(probs: np.ndarray, y: np.ndarray, bias: bool = True, weights: np.ndarray | None = None) -> Calibration:
    """The BCTS (or, with `bias=False`, plain temperature) calibration that minimises the log
    loss of `probs` `(n, C)` on held-out rows with labels `y` `(n,)`.

    C + 1 parameters fitted by L-BFGS on thousands of rows: no room to overfit. The bias is
    centred (softmax ignores a constant) and T is kept within `T_BOUNDS`. `weights` `(n,)`
    weigh the rows' log losses (`metrics.test_weights`: fitted for the test distribution).
    """
    from scipy.optimize import minimize

    logp = log_probs(probs)
    n, C = logp.shape
    y = np.asarray(y)
    onehot = np.eye(C)[y]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64) * n / np.sum(weights)

    def loss(theta):
        T = np.exp(theta[0])
        z = logp / T + (theta[1:] if bias else 0.0)
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        p = np.exp(z - lse[:, None])
        g = w[:, None] * (p - onehot) / n  # d loss / d z
        grad_t = np.sum(g * (-logp / T))  # d z / d log T = -log q / T
        return -np.mean(w * (z[np.arange(n), y] - lse)), np.concatenate([[grad_t], g.sum(axis=0) if bias else []])

    x0 = np.zeros(1 + (C if bias else 0))
    bounds = [tuple(np.log(T_BOUNDS))] + [(None, None)] * (C if bias else 0)
    res = minimize(loss, x0, jac=True, method="L-BFGS-B", bounds=bounds)
    b = res.x[1:] - res.x[1:].mean() if bias else None
    return Calibration(float(np.exp(res.x[0])), b)
