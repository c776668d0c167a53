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


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose most probable class is `y` (Kaggle's metric)."""
    return float(np.mean(np.argmax(probs, axis=-1) == y))


def log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log probability of the true class, after normalising rows, floored at EPS."""
    p = normalise(probs)[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(p, EPS, None))))


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
    return {"accuracy": accuracy(probs, y), "log_loss": log_loss(probs, y), "n": int(len(y)),
            "per_class": per_class_accuracy(y, pred), "confusion": confusion(y, pred).tolist()}
