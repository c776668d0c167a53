"""Synthetic finished runs with a known answer, for testing the blending stage without training.

A "run" here outputs exactly calibrated probabilities: each clip of class y yields evidence
z = a * onehot(y) + N(0, I), and the run reports the posterior p(c|z) ∝ prior(c) * exp(a * z_c).
`a` (the strength) sets the accuracy; two runs with independent noise make independent
errors; a noise run reports probabilities unrelated to y. `build` writes the files of the
training stage's contract (features index, folds CSV, run folders, optionally a data
folder with an answer key) under one root, paths relative to it as `make train` writes them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from competition import layout, metrics
from competition.labels import LABELS, UNKNOWN
from competition.provenance import CodeVersion, InputsRecord, RunRecord

C = len(LABELS)


def skewed_priors(unknown: float = 0.6) -> np.ndarray:
    """`(12,)` priors with `unknown` at the given share and the rest equal (Kaggle's train set looks like this)."""
    p = np.full(C, (1 - unknown) / (C - 1))
    p[LABELS.index(UNKNOWN)] = unknown
    return p


def calibrated(y: np.ndarray, strength: float, priors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`(n, 12)` float32 probabilities, calibrated for labels drawn from `priors`."""
    z = strength * np.eye(C)[y] + rng.standard_normal((len(y), C))
    logits = strength * z + np.log(priors)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def noise(n: int, rng: np.random.Generator, scale: float = 2.0) -> np.ndarray:
    """`(n, 12)` float32 probabilities that know nothing about the labels."""
    logits = scale * rng.standard_normal((n, C))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Synthetic:
    """What `build` wrote and the truth behind it: `y` `(n_train,)`, `fold` `(n_train,)`, `y_test` `(n_test,)`."""

    root: Path
    y: np.ndarray = field(repr=False)
    fold: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    test_fnames: list[str] = field(repr=False)
    run_dirs: dict[str, Path] = field(default_factory=dict)
    folds_path: str = ""
    features_path: str = ""
    fingerprint: str = ""


def write_run(root: Path, model: str, run_id: str, oof: np.ndarray, test: np.ndarray, y: np.ndarray,
              fold: np.ndarray, *, folds_path: str, features_path: str, fingerprint: str,
              complete: bool = True) -> Path:
    """A run folder in the training stage's format, under `root`/artifacts/runs; returns it."""
    run = root / "artifacts" / "runs" / model / run_id
    run.mkdir(parents=True, exist_ok=True)
    n_folds = int(fold.max()) + 1

    record = RunRecord(
        model=model, profile="synthetic", params={"strength": "synthetic"}, train={"epochs": 0},
        inputs=InputsRecord(data_fingerprint=fingerprint, data_source="synthetic", features_key=Path(features_path).name,
                            features_path=features_path, folds_path=folds_path, n_folds=n_folds, fold_seed=0),
        code=CodeVersion("synthetic"))
    cv = {"complete": complete, "folds_trained": list(range(n_folds)),
          "folds": {str(k): metrics.summary(oof[fold == k], y[fold == k]) for k in range(n_folds)},
          "overall": metrics.summary(oof, y)}
    record.write(run / "params.json")
    (run / "cv.json").write_text(json.dumps(cv, indent=2))
    np.save(run / "oof.npy", oof.astype(np.float32))
    np.save(run / "test.npy", test.astype(np.float32))
    return run


def build(root: Path, strengths: dict[str, float | None], *, n_train: int = 1200, n_test: int = 600,
          n_folds: int = 5, seed: int = 0, train_priors: np.ndarray | None = None,
          test_priors: np.ndarray | None = None, fingerprint: str = "synthfp0001", folds_name: str = "folds0001",
          features_key: str = "feat000001", data: bool = True) -> Synthetic:
    """Write a feature index, a folds CSV and one finished run per `strengths` entry under `root`.

    `strengths` maps a model name to its strength (None = a noise run). Train labels follow
    `train_priors` (default: unknown 60%), test labels `test_priors` (default: uniform).
    With `data`, root/data holds a manifest, test/audio (empty files) and test_solution.csv.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    train_priors = skewed_priors() if train_priors is None else np.asarray(train_priors)
    test_priors = np.full(C, 1 / C) if test_priors is None else np.asarray(test_priors)
    y = rng.choice(C, size=n_train, p=train_priors)
    speakers = rng.integers(0, max(n_folds, n_train // 6), size=n_train)
    fold = np.random.default_rng(seed + 1).permutation(speakers.max() + 1)[speakers] % n_folds
    y_test = rng.choice(C, size=n_test, p=test_priors)
    test_fnames = [f"clip_{i:09x}.wav" for i in range(n_test)]
    fnames = [f"{LABELS[c]}/{s:08x}_nohash_{i}.wav" for i, (c, s) in enumerate(zip(y, speakers, strict=True))]

    features = root / "artifacts" / "features" / features_key
    features.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"fname": fnames, "label": [LABELS[c] for c in y]}).to_csv(features / "train_index.csv", index=False)
    pd.DataFrame({"fname": test_fnames}).to_csv(features / "test_index.csv", index=False)
    folds_csv = root / "artifacts" / "folds" / f"{folds_name}.csv"
    folds_csv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"fname": fnames, "speaker": [f"{s:08x}" for s in speakers], "label": [LABELS[c] for c in y],
                  "fold": fold}).to_csv(folds_csv, index=False)

    rel = {"folds_path": f"artifacts/folds/{folds_name}.csv", "features_path": f"artifacts/features/{features_key}",
           "fingerprint": fingerprint}
    run_dirs = {}
    for i, (model, a) in enumerate(strengths.items()):
        r = np.random.default_rng([seed, i])
        oof = noise(n_train, r) if a is None else calibrated(y, a, train_priors, r)
        # test probabilities are made under the *training* priors: that is the shift to correct
        test = noise(n_test, r) if a is None else calibrated(y_test, a, train_priors, r)
        run_dirs[model] = write_run(root, model, f"run{i:03d}", oof, test, y, fold, **rel)

    if data:
        droot = root / "data" / "synthetic"
        (droot / "test" / "audio").mkdir(parents=True, exist_ok=True)
        for name in test_fnames:
            (droot / "test" / "audio" / name).touch()
        pd.DataFrame({"fname": test_fnames, "label": [LABELS[c] for c in y_test]}).to_csv(
            droot / "test_solution.csv", index=False)
        manifest = {"source": "synthetic", "root": str(droot.resolve()), "test_clips": n_test,
                    "solution": str((droot / "test_solution.csv").resolve()), "fingerprint": fingerprint}
        (root / "data" / "manifest.json").write_text(json.dumps(manifest, indent=2))
        restamp(root)
        raw = root / "data" / "raw"
        if not raw.exists():
            os.symlink("synthetic", raw)
    return Synthetic(root=root, y=y, fold=fold, y_test=y_test, test_fnames=test_fnames, run_dirs=run_dirs, **rel)


def restamp(root: Path) -> None:
    """Record the current state of the synthetic data folder in its manifest, as `make data`
    would after the folder was changed (the fingerprint stays the synthetic one)."""
    path = Path(root) / "data" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["stamp"] = layout.fingerprint(manifest["root"])[1]
    manifest["test_clips"] = len(layout.test_clips(manifest["root"]))
    path.write_text(json.dumps(manifest, indent=2))
