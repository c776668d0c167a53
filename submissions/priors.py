"""Correcting test probabilities for a change of class priors between train and test.

With `q(c|x)` probabilities that are calibrated under priors `pi_train`, the probabilities
under test priors `pi_test` are (Bayes, assuming p(x|c) is the same in both)

    p(c|x) ∝ q(c|x) * pi_test(c) / pi_train(c).

    PRIORS=em       estimate pi_test from the unlabelled test probabilities by EM
                    (Saerens, Latinne & Decaestecker, 2002), then reweight
    PRIORS=uniform  assume equal test priors: reweight by 1 / pi_train
    PRIORS=none     leave the probabilities as they are

`pi_train` here is the label shares of the OOF rows (`unknown` is about 60% of Kaggle's
train clips). But a model's outputs are rarely calibrated under those shares: training
that subsamples `unknown` or weights classes makes them calibrated under other priors,
label smoothing and averaging make them underconfident, a blend of runs more so. EM on
such probabilities over-shoots (a class's prior driven towards 0). So first the
probabilities are calibrated on held-out rows whose labels are known, the honest OOF
predictions: bias-corrected temperature scaling (BCTS), `softmax(log q / T + b)` with one
temperature T and a bias per class b (Alexandari, Kundaje & Shrikumar, 2020: calibration
of this kind followed by EM is hard to beat for label shift). After it, the probabilities
are calibrated under the OOF label shares, which is what the reweighting assumes.

Shapes: `probs` `(n, C)`, priors and biases `(C,)`, float64; probabilities sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from competition import metrics
from competition.calibration import IDENTITY, Calibration, calibrate

MODES = ("em", "uniform", "none")
FLOOR = 1e-6  # a prior never reaches 0: a class EM has written off could otherwise never come back




@dataclass(frozen=True, eq=False)
class PriorShift:
    """What a correction did: the mode, both priors `(C,)`, the calibration, and for EM how it converged."""

    mode: str
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)
    iterations: int = 0
    converged: bool = True
    calibration: Calibration = IDENTITY

    def to_json(self, labels) -> dict:
        return {"mode": self.mode, "calibration": self.calibration.to_json(labels),
                "iterations": self.iterations, "converged": self.converged,
                "train_priors": {lab: round(float(p), 6) for lab, p in zip(labels, self.train, strict=True)},
                "test_priors": {lab: round(float(p), 6) for lab, p in zip(labels, self.test, strict=True)}}


def train_priors(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class frequencies of the training labels `y` `(n,)`, with half a count added so none is 0."""
    counts = np.bincount(np.asarray(y), minlength=n_classes).astype(np.float64) + 0.5
    return counts / counts.sum()


def _positive(p: np.ndarray) -> np.ndarray:
    p = np.maximum(np.asarray(p, dtype=np.float64), FLOOR)
    return p / p.sum()


def reweight(probs: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """`probs` `(n, C)` made under priors `train`, moved to priors `test`; rows renormalised."""
    return metrics.normalise(np.asarray(probs, dtype=np.float64) * (_positive(test) / _positive(train)))


def em_priors(probs: np.ndarray, train: np.ndarray, max_iter: int = 1000,
              tol: float = 1e-6) -> tuple[np.ndarray, int, bool]:
    """EM estimate of the test priors: (priors `(C,)`, iterations, converged).

    E step: reweight `probs` to the current priors; M step: the priors become the mean of
    the reweighted probabilities. Each step does not lower the test likelihood; it stops
    when no prior moves by more than `tol`.
    """
    train = _positive(train)
    probs = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
    current = train.copy()
    for it in range(1, max_iter + 1):
        new = _positive(reweight(probs, train, current).mean(axis=0))
        done = np.max(np.abs(new - current)) < tol
        current = new
        if done:
            return current, it, True
    return current, max_iter, False


def correct(probs: np.ndarray, train: np.ndarray, mode: str = "em", calibration: Calibration = IDENTITY,
            **em_args) -> tuple[np.ndarray, PriorShift]:
    """Apply PRIORS=`mode` to `probs` `(n, C)`: (corrected probabilities `(n, C)`, what was done).

    `calibration` (from `fit_calibration` on held-out rows with priors `train`) is applied
    first; "none" ignores it and returns the probabilities as they are.
    """
    train = _positive(train)
    if mode == "none":
        return np.asarray(probs, dtype=np.float64), PriorShift("none", train, train.copy())
    if mode not in MODES:
        raise ValueError(f"unknown prior correction {mode!r}; choose one of {', '.join(MODES)}")
    probs = calibrate(probs, calibration)
    if mode == "uniform":
        test = np.full_like(train, 1.0 / len(train))
        return reweight(probs, train, test), PriorShift("uniform", train, test, calibration=calibration)
    test, iterations, converged = em_priors(probs, train, **em_args)
    return reweight(probs, train, test), PriorShift("em", train, test, iterations, converged, calibration)
