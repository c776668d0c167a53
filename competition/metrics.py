"""The competition metric and the numbers around it, on plain arrays: the one implementation
used by training (cv.json, the per-epoch validation), tuning and blending.

`probs` are `(n, 12)` probabilities with columns in `competition.labels.LABELS` order,
`y` and `pred` are `(n,)` integer class indices into the same order.
"""

from __future__ import annotations

import numpy as np

from competition.labels import LABELS

EPS = 1e-15  # probability floor for the log loss, as scikit-learn's log_loss uses for float64


def normalise(probs: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1: `(n, C)` float64 (float32 files sum to 1 only within ~1e-6)."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs / probs.sum(axis=-1, keepdims=True)


def test_weights(y: np.ndarray, priors: np.ndarray | None = None, n_classes: int = len(LABELS)) -> np.ndarray:
    """Row weights `(n,)` under which the rows' labels `y` have the class distribution `priors`
    `(C,)` (None: equal over the classes, as Kaggle's test set has them): a row of class c
    weighs priors[c] / (share of c in y). Mean 1. A class with no rows gets none of the weight
    (the others' shares are renormalised).

    Every choice made on validation or OOF rows scores with these weights, so it is made for the
    test distribution rather than the training one (`unknown` is ~61% of Kaggle's train clips
    and ~1/12 of its test clips)."""
    y = np.asarray(y)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    target = np.full(n_classes, 1.0 / n_classes) if priors is None else np.asarray(priors, dtype=np.float64)
    target = np.where(counts > 0, target, 0.0)
    per_class = np.where(counts > 0, target / np.maximum(counts, 1), 0.0)
    w = per_class[y]
    return w / w.mean() if len(w) and w.sum() > 0 else np.ones(len(y))


def accuracy(probs: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Share of rows whose most probable class is `y` (Kaggle's metric); with `weights` `(n,)`
    the weighted share (see `test_weights`)."""
    hit = np.argmax(probs, axis=-1) == y
    return float(np.mean(hit) if weights is None else np.sum(weights * hit) / np.sum(weights))


def log_loss(probs: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean negative log probability of the true class, after normalising rows, floored at EPS
    (weighted by `weights` `(n,)` when given)."""
    p = normalise(probs)[np.arange(len(y)), y]
    nll = -np.log(np.clip(p, EPS, None))
    return float(np.mean(nll) if weights is None else np.sum(weights * nll) / np.sum(weights))


def test_distribution_accuracy(probs: np.ndarray, y: np.ndarray, priors: np.ndarray | None = None) -> float:
    """Accuracy the rows would have if their labels were distributed as the test set's
    (`priors`; None: balanced over the classes)."""
    return accuracy(probs, y, test_weights(y, priors, np.shape(probs)[-1]))


def expected_accuracy(oof: np.ndarray, y: np.ndarray, w: np.ndarray | None, test: np.ndarray) -> dict:
    """The test accuracy expected from calibrated honest OOF probabilities `oof` (labels `y`, row
    weights `w`) and calibrated test probabilities `test`: the OOF accuracy plus the test's mean
    confidence minus the OOF rows' ("difference of confidences", Guillory et al. 2021). A test
    the models are surer of is expected to be easier, whatever made it so (cleaner recordings,
    the averaging of fold models); one they are less sure of (noise, unseen words), harder."""
    weights = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    acc = accuracy(oof, y, weights)
    conf_oof = float(np.sum(weights * oof.max(axis=1)) / np.sum(weights))
    conf_test = float(np.mean(test.max(axis=1)))
    return {"expected_test_accuracy": float(np.clip(acc + conf_test - conf_oof, 0.0, 1.0)),
            "oof_accuracy": acc, "oof_confidence": conf_oof, "test_confidence": conf_test}


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int = len(LABELS)) -> np.ndarray:
    """`(C, C)` int64 counts: row = true class, column = predicted class."""
    return np.bincount(np.asarray(y) * n_classes + np.asarray(pred),
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(y: np.ndarray, pred: np.ndarray, labels=LABELS) -> dict[str, float | None]:
    """Recall of each class (None for a class with no rows), keyed by label."""
    cm = confusion(y, pred, len(labels))
    totals = cm.sum(axis=1)
    return {label: (float(cm[i, i] / totals[i]) if totals[i] else None) for i, label in enumerate(labels)}


def summary(probs: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy, log loss, per-class accuracy and confusion of one set of predictions."""
    pred = np.argmax(probs, axis=-1)
    return {"accuracy": accuracy(probs, y), "test_distribution_accuracy": test_distribution_accuracy(probs, y),
            "log_loss": log_loss(probs, y), "n": int(len(y)),
            "per_class": per_class_accuracy(y, pred), "confusion": confusion(y, pred).tolist()}
