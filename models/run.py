"""A training run: one model trained on every fold, in its own folder.

    artifacts/runs/<model>/<run_id>/     <run_id>: competition.provenance.RunRecord.run_id
      params.json                        the RunRecord: settings and their sources, inputs, code (written first)
      fold_<k>/model.keras               the inference model of fold k (normalisation included)
      fold_<k>/history.csv               per-epoch loss and validation metrics
      fold_<k>.history.csv               the same, written epoch by epoch while fold k trains
                                         (kept when it is interrupted; deleted when it finishes)
      tensorboard/fold_<k>/              TensorBoard logs (TENSORBOARD=1)
      fold_<k>/oof.npy, test.npy         fold k's predictions (its held-out clips; the test set)
      fold_<k>/oof_noisy.npy             its held-out clips again, with background noise the fold
                                         model never heard mixed in at 0-20 dB (models.fold.noisy_oof;
                                         `make noisy-oof` adds it to runs trained without it)
      fold_<k>/metrics.json              fold k's scores, time, precision
      oof.npy   (train clips, 12)        each clip predicted by the fold model that did not see it
      oof_noisy.npy  (train clips, 12)   the same from the noisy copies, when every fold has them
      test.npy  (test clips, 12)         mean over the folds' models
      cv.json                            accuracy, log loss, per-class accuracy per fold and overall

A fold folder appears only when the fold is finished (written beside, then renamed), and a
fold counts as finished only when all its files are there and its predictions have the
right shape: anything else is trained again, with a line saying why. Other settings or other
training code give another run_id, hence another folder: nothing is overwritten.

Each fold is trained under a lock: a second `make train` of the same run (on this machine, or
another one sharing the folder) skips the folds the first is training and takes the others,
so several processes split a run's folds between them; whoever finishes last combines them.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from competition import metrics
from competition.files import (
    atomic_dir,
    clean_stale,
    lock_or_holder,
    locked,
    read_json,
    save_npy,
    write_json,
)
from competition.inputs import Inputs
from competition.labels import LABELS
from competition.provenance import RunRecord, code_version, installed_versions, package_versions
from models import kernels
from models.fold import load_fold_data, train_fold
from models.plan import Plan

FOLD_FILES = ("model.keras", "history.csv", "oof.npy", "test.npy", "metrics.json")
NOISY = "oof_noisy.npy"  # optional: runs trained before it existed lack it (make noisy-oof)


def run_record(plan: Plan, inputs: Inputs, device: str) -> RunRecord:
    return RunRecord(model=plan.model, profile=plan.profile, params=dataclasses.asdict(plan.params),
                     train=dataclasses.asdict(plan.train), inputs=inputs.record(), code=code_version(),
                     sources=plan.sources, tuned=plan.tuned, device=device,
                     versions=package_versions(keras_backend=keras.backend.backend()), installed=installed_versions(),
                     runtime=kernels.current())


def run_dir(plan: Plan, inputs: Inputs, device: str) -> Path:
    """The folder of the run of `plan` (its id hashes the training code as it is now)."""
    return inputs.ws.run_dir(plan.model, run_record(plan, inputs, device).run_id)


def summary(model: str, out: Path) -> str:
    """One line on the run of `model` in `out`: its CV from cv.json (as written by whichever
    process finished last), or that it has none yet."""
    try:
        cv = read_json(out / "cv.json")
    except (OSError, ValueError):
        return f"{model}: no finished fold in {out}"
    if not cv.get("overall"):
        return f"{model}: no finished fold in {out}"
    td = cv["overall"].get("test_distribution_accuracy")
    return (f"{model}: {'CV' if cv['complete'] else 'partial CV'} accuracy {cv['overall']['accuracy']:.4f}"
            + (f" ({td:.4f} for the test distribution)" if td is not None else "")
            + f" over folds {cv['folds_trained']} -> {out}")


def unfinished(fdir: Path, n_val: int, n_test: int) -> str | None:
    """Why fold folder `fdir` cannot be used as a finished fold, or None when it can."""
    if not fdir.is_dir():
        return "not trained yet"
    missing = [f for f in FOLD_FILES if not (fdir / f).is_file()]
    if missing:
        return f"{', '.join(missing)} missing"
    for name, rows in (("oof.npy", n_val), ("test.npy", n_test)):
        try:
            a = np.load(fdir / name)
        except (OSError, ValueError, EOFError) as e:
            return f"{name} unreadable ({type(e).__name__})"
        if a.shape != (rows, len(LABELS)) or not np.isfinite(a).all():
            return f"{name} has shape {a.shape} or non-finite values, expected ({rows}, {len(LABELS)})"
    return None


def combine(out: Path, n_train: int, n_test: int, folds: pd.DataFrame, n_folds: int) -> dict:
    """Gather the finished folds into oof.npy, test.npy and cv.json; return cv."""
    labels = folds["label"].map({lab: i for i, lab in enumerate(LABELS)}).to_numpy()
    oof = np.full((n_train, len(LABELS)), np.nan, np.float32)
    noisy = np.full((n_train, len(LABELS)), np.nan, np.float32)
    tests, per_fold = [], {}
    for k in range(n_folds):
        fdir = out / f"fold_{k}"
        rows = np.flatnonzero(folds["fold"].to_numpy() == k)
        if unfinished(fdir, len(rows), n_test) is not None:
            continue
        oof[rows] = np.load(fdir / "oof.npy")
        if (fdir / NOISY).is_file():
            fold_noisy = np.load(fdir / NOISY)
            if fold_noisy.shape == (len(rows), len(LABELS)):
                noisy[rows] = fold_noisy
        tests.append(np.load(fdir / "test.npy"))
        per_fold[str(k)] = metrics.summary(oof[rows], labels[rows])
    done = ~np.isnan(oof[:, 0])
    cv = {"complete": len(per_fold) == n_folds, "folds_trained": sorted(int(k) for k in per_fold),
          "folds": per_fold, "overall": metrics.summary(oof[done], labels[done]) if done.any() else None}
    save_npy(out / "oof.npy", oof)
    if cv["complete"] and np.isfinite(noisy).all():
        save_npy(out / NOISY, noisy)
        cv["noisy_overall"] = metrics.summary(noisy, labels)
    else:  # a stale one from before a fold was retrained would not match oof.npy
        (out / NOISY).unlink(missing_ok=True)
    if tests:
        save_npy(out / "test.npy", np.mean(tests, axis=0).astype(np.float32))
    write_json(out / "cv.json", cv)
    return cv


def live_history(fdir: Path) -> Path:
    """Where fold `fdir`'s per-epoch curves are written while it trains (Keras CSVLogger, a row
    per epoch): beside the fold folder, which appears only when the fold is finished, so an
    interrupted fold keeps its curves. Deleted once the fold folder (with its history.csv) is in place."""
    return fdir.with_name(f"{fdir.name}.history.csv")


def fold_callbacks(fdir: Path, tensorboard: bool) -> list:
    """The callbacks of a `make train` fold: the live history and, with TENSORBOARD=1,
    TensorBoard logs in <run>/tensorboard/fold_<k>/ (`tensorboard --logdir <run>/tensorboard`)."""
    callbacks = [keras.callbacks.CSVLogger(str(live_history(fdir)))]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(fdir.parent / "tensorboard" / fdir.name)))
    return callbacks


def train_one(plan: Plan, data, k: int, fdir: Path, device: str, log, verbose: int, tensorboard: bool = False) -> None:
    """Train fold `k` into `fdir` unless it is finished (the caller holds the fold's lock)."""
    n_folds = int(data.fold.max()) + 1
    val_rows = np.flatnonzero(data.fold == k)
    why = unfinished(fdir, len(val_rows), len(data.x_test))
    if why is None:
        log(f"{plan.model} fold {k + 1}/{n_folds}: finished earlier, skipped")
        return
    if fdir.is_dir():
        log(f"{plan.model} fold {k + 1}/{n_folds}: {why}; training it again")
    log(f"{plan.model} fold {k + 1}/{n_folds}: training on {len(data.x) - len(val_rows)} clips, "
        f"validating on {len(val_rows)} ({fdir.parent})")
    t0 = time.time()
    result = train_fold(plan.model, plan.params, plan.train, data, k, device=device, verbose=verbose,
                        callbacks=tuple(fold_callbacks(fdir, tensorboard)))
    m = metrics.summary(result["oof"], data.labels[result["val_rows"]])
    with atomic_dir(fdir) as tmp:
        result["model"].save(tmp / "model.keras")
        result["history"].to_csv(tmp / "history.csv", index=False)
        np.save(tmp / "oof.npy", result["oof"])
        np.save(tmp / "test.npy", result["test"])
        if result.get("oof_noisy") is not None:
            np.save(tmp / NOISY, result["oof_noisy"])
        write_json(tmp / "metrics.json", {**m, "seconds": time.time() - t0, **result["device"]})
    live_history(fdir).unlink(missing_ok=True)
    log(f"{plan.model} fold {k + 1}/{n_folds}: accuracy {m['accuracy']:.4f}, log loss {m['log_loss']:.4f} "
        f"({time.time() - t0:.0f} s)")


def train_run(plan: Plan, inputs: Inputs, *, only_folds: list[int] | None = None, device: str = "cpu",
              log=print, verbose: int = 2, tensorboard: bool = False) -> Path:
    """Train every fold of `plan.model` on `inputs` (skipping finished ones); return the run folder."""
    record = run_record(plan, inputs, device)
    out = inputs.ws.run_dir(plan.model, record.run_id)
    if not (out / "params.json").is_file():
        record.write(out / "params.json")
    cache, folds = inputs.load()
    data = load_fold_data(cache, folds, inputs.pseudo)
    n_folds = inputs.folds.n_folds
    for k in range(n_folds) if only_folds is None else only_folds:
        fdir = out / f"fold_{k}"
        with lock_or_holder(fdir) as holder:
            if holder is not None:
                log(f"{plan.model} fold {k + 1}/{n_folds}: {holder} is training it; left to that process")
                continue
            clean_stale(fdir)  # safe under the lock: only a killed trainer of this fold left these
            train_one(plan, data, k, fdir, device, log, verbose, tensorboard)
    with locked(out / "cv.json"):
        combine(out, len(data.x), len(data.x_test), folds, n_folds)
    log(summary(plan.model, out))
    return out
