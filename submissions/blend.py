"""Blending K runs' probabilities into one, and scoring each way of blending honestly.

Shapes: `P` is `(K, n, 12)` probabilities (K runs, n clips, columns in LABELS order),
`y` `(n,)` int class indices, `fold` `(n,)` int fold of each clip (speaker-grouped).

    mean      arithmetic mean of the probabilities                      fits nothing
    logmean   geometric mean (mean of log-probabilities, renormalised)  fits nothing
    weights   simplex weights minimising the log loss of the weighted mean (SLSQP)
    caruana   greedy forward selection with replacement (Caruana et al., 2004), bagged
    stack     multinomial logistic regression on the K*12 log-probabilities

`weights` and `caruana` first calibrate each run by temperature scaling (one temperature
per run, fitted by log loss on the same rows as the weights). Without it the log loss that
chooses the weights rewards confidence, not accuracy: a run trained with label smoothing
is underconfident (its temperature comes out near 0.5), one trained without it
overconfident, and the weights went to the worse but more confident run (dev data:
honest accuracy 90.8% with raw probabilities, 93.5% calibrated, best single run 93.0%).

Honest scoring: a method that fits anything on out-of-fold (OOF) rows is scored on each
fold by a blender fitted on the *other* folds' rows only (`honest_predictions`); scoring
it on the rows it was fitted on would flatter it, most of all `stack` with many runs.
`mean` and `logmean` fit nothing, so their OOF score is honest as is. The best method
by honest accuracy (ties: log loss, then the simpler method) is refitted on all rows.
Choosing among five methods by CV is itself a small selection; it is the only one made.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from competition import metrics
from competition.calibration import fit_calibration, temper
from submissions.runs import BlendError

LOG_FLOOR = 1e-7  # log-probabilities below log(1e-7) carry no more evidence, only float noise


@dataclass(frozen=True)
class BlendSettings:
    caruana_bags: int = 20
    caruana_fraction: float = 0.5  # share of the runs each bag may choose from
    caruana_steps: int = 25  # picks per bag (with replacement); the best prefix is kept
    caruana_metric: str = "log_loss"  # or "accuracy" (ties broken by log loss)
    stack_c: float = 1.0  # inverse L2 strength of the logistic regression (on standardised inputs)
    seed: int = 0


DEFAULTS = BlendSettings()


@dataclass(frozen=True, eq=False)
class Blender:
    """A fitted way of turning K runs' probabilities into one.

    `combine` is "linear" (weighted mean of probabilities), "log" (weighted geometric mean)
    or "stack" (`model` maps the K*12 log-probabilities to 12 probabilities).
    `weights` `(K,)` sum to 1 (None for stack).
    """

    method: str
    combine: str
    weights: np.ndarray | None = field(default=None, repr=False)
    model: Any = field(default=None, repr=False)
    temperatures: np.ndarray | None = field(default=None, repr=False)  # (K,): runs calibrated first

    def weight_list(self) -> list[float] | None:
        return None if self.weights is None else [round(float(w), 6) for w in self.weights]

    def temperature_list(self) -> list[float] | None:
        return None if self.temperatures is None else [round(float(t), 4) for t in self.temperatures]


def fit_temperatures(P: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """One temperature per run `(K,)` minimising that run's (row-weighted) log loss on the rows `y` labels."""
    return np.array([fit_calibration(p, y, bias=False, weights=w).temperature for p in P])


def _tempered(P: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    return np.stack([temper(p, t) for p, t in zip(P, temperatures, strict=True)])


def _log(P: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(P, dtype=np.float64), LOG_FLOOR, None))


def _stack_features(P: np.ndarray) -> np.ndarray:
    """`(K, n, C)` -> `(n, K*C)` log-probabilities, run by run."""
    K, n, C = P.shape
    return _log(P).transpose(1, 0, 2).reshape(n, K * C)


def apply(blender: Blender, P: np.ndarray) -> np.ndarray:
    """Blend `P` `(K, n, C)` into `(n, C)` float64 probabilities (rows sum to 1)."""
    P = np.asarray(P)
    if blender.combine == "stack":
        model = blender.model
        proba = model.predict_proba(_stack_features(P))
        out = np.zeros((P.shape[1], P.shape[2]))
        out[:, model.classes_] = proba  # a class absent from the fitted rows keeps probability 0
        return out
    if blender.weights is None or len(blender.weights) != len(P):
        raise ValueError(f"blender for {0 if blender.weights is None else len(blender.weights)} runs given {len(P)}")
    if blender.temperatures is not None:
        P = _tempered(P, blender.temperatures)
    w = blender.weights[:, None, None]
    if blender.combine == "linear":
        return metrics.normalise(np.sum(w * P, axis=0))
    logp = np.sum(w * _log(P), axis=0)
    logp -= logp.max(axis=1, keepdims=True)  # exp of large negatives underflows to 0 without this
    return metrics.normalise(np.exp(logp))


# --- fitters: (P, y, settings) -> Blender -------------------------------------------------


def fit_mean(P: np.ndarray, y: np.ndarray, s: BlendSettings, w: np.ndarray | None = None) -> Blender:
    return Blender("mean", "linear", np.full(len(P), 1.0 / len(P)))


def fit_logmean(P: np.ndarray, y: np.ndarray, s: BlendSettings, w: np.ndarray | None = None) -> Blender:
    return Blender("logmean", "log", np.full(len(P), 1.0 / len(P)))


def _true_class(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`(K, n)` float64: each run's probability of each clip's true class (all a linear blend's log loss needs)."""
    n = P.shape[1]
    return np.clip(np.asarray(P[:, np.arange(n), y], dtype=np.float64), metrics.EPS, None)


def simplex_weights(Q: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Weights `(K,)` >= 0 summing to 1 that minimise -mean(log(w @ Q)), for `Q` `(K, n)`
    (the mean weighted by `rows` `(n,)` when given).

    The objective is convex in w, so SLSQP from the uniform start finds the optimum;
    a run that only adds noise ends at (numerically) zero weight.
    """
    from scipy.optimize import minimize

    K = len(Q)
    if K == 1:
        return np.ones(1)
    r = np.ones(Q.shape[1]) if rows is None else np.asarray(rows, dtype=np.float64) / np.mean(rows)

    def loss(w):
        mix = np.clip(w @ Q, metrics.EPS, None)
        return -np.mean(r * np.log(mix)), -np.mean(r * Q / mix, axis=1)

    res = minimize(loss, np.full(K, 1.0 / K), jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * K,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(K)}],
                   options={"maxiter": 500, "ftol": 1e-10})
    w = np.clip(res.x, 0.0, None)
    w[w < 1e-6] = 0.0  # SLSQP leaves ~1e-12 where the bound is active; show it as the zero it is
    return w / w.sum()


def fit_weights(P: np.ndarray, y: np.ndarray, s: BlendSettings, w: np.ndarray | None = None) -> Blender:
    t = fit_temperatures(P, y, w)
    return Blender("weights", "linear", simplex_weights(_true_class(_tempered(P, t), y), w), temperatures=t)


def _greedy(P: np.ndarray, y: np.ndarray, steps: int, metric: str, w: np.ndarray | None = None) -> np.ndarray:
    """Caruana's forward selection with replacement over `P` `(k, n, C)`: pick counts `(k,)`.

    Each step adds the run whose inclusion scores best; the counts of the best-scoring
    prefix are returned, so late steps that only hurt are undone. `w` `(n,)` weighs the rows.
    """
    k, n, _ = P.shape
    counts = np.zeros(k)
    best, best_counts = None, None
    if metric == "log_loss":
        Q = _true_class(P, y)
        r = np.ones(n) if w is None else np.asarray(w, dtype=np.float64) / np.mean(w)
        running = np.zeros(n)
        for step in range(1, steps + 1):
            scores = -np.mean(r * np.log((running[None, :] + Q) / step), axis=1)
            j = int(np.argmin(scores))
            running += Q[j]
            counts[j] += 1
            if best is None or scores[j] < best:
                best, best_counts = scores[j], counts.copy()
        return best_counts
    running = np.zeros(P.shape[1:])
    for step in range(1, steps + 1):
        keys = []
        for j in range(k):
            mix = (running + P[j]) / step
            keys.append((-metrics.accuracy(mix, y, w), metrics.log_loss(mix, y, w)))
        j = min(range(k), key=lambda i: keys[i])
        running += P[j]
        counts[j] += 1
        if best is None or keys[j] < best:
            best, best_counts = keys[j], counts.copy()
    return best_counts


def fit_caruana(P: np.ndarray, y: np.ndarray, s: BlendSettings, w: np.ndarray | None = None) -> Blender:
    """Bagged Caruana selection: each of `caruana_bags` bags runs the greedy selection on a
    random `caruana_fraction` of the runs (at least 2, so a bag can always prefer one run
    over another); the weights are the bags' pick shares averaged."""
    if s.caruana_metric not in ("log_loss", "accuracy"):
        raise ValueError(f"caruana_metric must be log_loss or accuracy, not {s.caruana_metric!r}")
    K = len(P)
    t = fit_temperatures(P, y, w)
    P = _tempered(P, t)
    rng = np.random.default_rng(s.seed)
    size = min(K, max(2, math.ceil(s.caruana_fraction * K)))
    total = np.zeros(K)
    for _ in range(s.caruana_bags):
        subset = np.sort(rng.choice(K, size=size, replace=False))
        counts = _greedy(P[subset], y, s.caruana_steps, s.caruana_metric, w)
        total[subset] += counts / counts.sum()
    return Blender("caruana", "linear", total / total.sum(), temperatures=t)


def fit_stack(P: np.ndarray, y: np.ndarray, s: BlendSettings, w: np.ndarray | None = None) -> Blender:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=s.stack_c, max_iter=500))
    with warnings.catch_warnings():
        # lbfgs may stop a little short of its tolerance; the honest CV score says whether that matters
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(_stack_features(P), y, logisticregression__sample_weight=w)
    return Blender("stack", "stack", model=model)


@dataclass(frozen=True)
class Method:
    """A way of blending, as every stage that shows or scores one needs to know it.

    `fits`: learns anything from OOF rows (so it is scored by nested CV); `weighted`: its
    blender has one weight per run (shown as weights; otherwise a model such as stacking's)."""

    name: str
    fit: Callable[[np.ndarray, np.ndarray, BlendSettings, np.ndarray | None], Blender]  # (P, y, settings, row weights)
    fits: bool
    weighted: bool
    summary: str


REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("mean", fit_mean, False, True, "arithmetic mean of the probabilities"),
    Method("logmean", fit_logmean, False, True, "geometric mean (mean of log-probabilities)"),
    Method("weights", fit_weights, True, True, "simplex weights minimising log loss, runs calibrated first"),
    Method("caruana", fit_caruana, True, True, "bagged greedy forward selection (Caruana et al., 2004)"),
    Method("stack", fit_stack, True, False, "logistic regression on every run's log-probabilities"),
)}
METHODS: tuple[str, ...] = tuple(REGISTRY)  # the built-in ones, for command-line choices


def get_method(name: str) -> Method:
    """The method called `name`, or a BlendError listing the known ones."""
    if name not in REGISTRY:
        raise BlendError(f"unknown blending method {name!r}; choose one of auto, {', '.join(REGISTRY)}")
    return REGISTRY[name]


def fit(name: str, P: np.ndarray, y: np.ndarray, s: BlendSettings = DEFAULTS, w: np.ndarray | None = None) -> Blender:
    """Fit method `name` on all rows of `P` `(K, n, C)` with labels `y` `(n,)` and row weights
    `w` `(n,)` (`metrics.test_weights`; None: every row the same)."""
    return get_method(name).fit(np.asarray(P), np.asarray(y), s, w)


def honest_predictions(method: str, P: np.ndarray, y: np.ndarray, fold: np.ndarray,
                       s: BlendSettings = DEFAULTS, w: np.ndarray | None = None) -> np.ndarray:
    """`(n, C)` blended probabilities where each fold's rows come from a blender fitted on the other folds."""
    if not REGISTRY[method].fits:
        return apply(fit(method, P, y, s, w), P)
    folds = np.unique(fold)
    if len(folds) < 2:
        raise BlendError("honest scoring needs at least 2 folds; the folds file has one")
    out = np.zeros(P.shape[1:])
    for k in folds:
        held = fold == k
        out[held] = apply(fit(method, P[:, ~held], y[~held], s, None if w is None else w[~held]), P[:, held])
    return out


@dataclass(frozen=True, eq=False)
class MethodScore:
    """A method's honest CV score: `accuracy` and `log_loss` over the OOF rows as they are,
    `test_accuracy` and `test_log_loss` weighted for the test distribution (what is chosen by);
    `oof` `(n, C)` holds its honest predictions."""

    method: str
    accuracy: float
    log_loss: float
    fold_accuracy: dict[int, float]
    oof: np.ndarray = field(repr=False)
    test_accuracy: float = float("nan")
    test_log_loss: float = float("nan")


def evaluate(P: np.ndarray, y: np.ndarray, fold: np.ndarray, methods=None,
             s: BlendSettings = DEFAULTS, w: np.ndarray | None = None) -> list[MethodScore]:
    """Score each method (default: every one in REGISTRY) honestly on the OOF rows; the ones
    that fit anything are fitted with row weights `w` (None: every row the same)."""
    scores = []
    methods = tuple(REGISTRY) if methods is None else methods
    for m in methods:
        pred = honest_predictions(m, P, y, fold, s, w)
        per_fold = {int(k): metrics.accuracy(pred[fold == k], y[fold == k]) for k in np.unique(fold)}
        scores.append(MethodScore(m, metrics.accuracy(pred, y), metrics.log_loss(pred, y), per_fold, pred,
                                  metrics.accuracy(pred, y, w), metrics.log_loss(pred, y, w)))
    return scores


def choose(scores: list[MethodScore], method: str = "auto") -> MethodScore:
    """The named method's score, or for "auto" the best honest accuracy for the test distribution
    (ties: its log loss, then list order)."""
    if method != "auto":
        for sc in scores:
            if sc.method == method:
                return sc
        raise BlendError(f"method {method!r} was not scored; scored: {', '.join(sc.method for sc in scores)}")
    order = {sc.method: i for i, sc in enumerate(scores)}
    return min(scores, key=lambda sc: (-round(sc.test_accuracy, 12), round(sc.test_log_loss, 12), order[sc.method]))


@dataclass(frozen=True, eq=False)
class BlendResult:
    """All methods' honest scores, the chosen one refitted on every OOF row, and its test blend.

    `oof` `(n, C)`: the chosen method's honest predictions; `test` `(m, C)`: its test blend.
    """

    scores: tuple[MethodScore, ...]
    chosen: MethodScore
    blender: Blender
    oof: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)


def blend(P: np.ndarray, y: np.ndarray, fold: np.ndarray, T: np.ndarray, method: str = "auto",
          methods=None, s: BlendSettings = DEFAULTS, w: np.ndarray | None = None) -> BlendResult:
    """Score `methods` (default: all) honestly on `P` `(K, n, C)`, pick one, refit it on all rows, blend `T` `(K, m, C)`.
    `w` `(n,)`: row weights for the test distribution (`metrics.test_weights`) that every fit
    and the choice use; None scores and fits every row the same."""
    methods = tuple(REGISTRY) if methods is None else methods
    if method != "auto" and get_method(method).name not in methods:
        methods = (*methods, method)
    scores = evaluate(P, y, fold, methods, s, w)
    chosen = choose(scores, method)
    blender = fit(chosen.method, P, y, s, w)
    return BlendResult(tuple(scores), chosen, blender, chosen.oof, apply(blender, T))
