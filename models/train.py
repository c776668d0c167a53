"""`make train`: K-fold training of registry models on the feature cache, with OOF and test predictions.

    artifacts/runs/<model>/<run_id>/     <run_id> = hash of model, params, settings, features, folds
      params.json                        everything that made this run (written first)
      fold_<k>/model.keras               the inference model of fold k (normalisation included)
      fold_<k>/history.csv               per-epoch loss and validation metrics
      fold_<k>/oof.npy, test.npy         fold k's predictions (its held-out clips; the test set)
      oof.npy   (train clips, 12)        each clip predicted by the fold model that did not see it
      test.npy  (test clips, 12)         mean over the folds' models
      cv.json                            accuracy, log loss, per-class accuracy per fold and overall

A fold folder appears only when the fold is finished (written beside, then renamed), so a
rerun skips finished folds and restarts an interrupted one from scratch. Other settings give
another run_id, hence another folder: nothing is overwritten.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from competition import features
from competition.cli import run_stage
from competition.files import atomic_dir, clean_stale, read_json, save_npy, short_hash, write_json
from competition.labels import COMMANDS, LABEL_INDEX, LABELS, UNKNOWN, word_to_label
from competition.layout import LayoutError
from folds.make_folds import FoldsError, FoldSettings, load_folds
from models.augment import NO_AUG, AugSettings, shift_frames  # noqa: F401  (shift_frames used by TTA)

RUNS_DIR = Path("artifacts/runs")
TUNE_DIR = Path("artifacts/tune")


@dataclass(frozen=True)
class TrainSettings:
    """How a model is trained. Every field is part of the run's identity."""

    epochs: int = 40
    batch_size: int = 0  # 0: 512 on a GPU, 64 on a CPU
    lr: float = 2e-3  # peak of a linear warm-up then cosine decay to zero
    warmup_epochs: float = 1.0
    weight_decay: float = 1e-2  # AdamW, decoupled
    label_smoothing: float = 0.1
    balance: str = "balanced"  # balanced | subsample (only unknown) | weights (class weights) | none
    unknown_per_epoch: float = 1.0  # subsample: unknown clips per epoch = this x mean command-word count
    targets: str = "labels"  # labels: the 12 outputs | words: every word + silence, summed back to 12
    tta: int = 3  # views averaged at inference: 1 (none), 3 (0, +-tta_frames), 5 (and +-2 tta_frames)
    tta_frames: int = 4
    keep: str = "best"  # best (the epoch with the best validation accuracy) | last
    seed: int = 0
    aug: AugSettings = field(default_factory=AugSettings)


class TrainError(Exception):
    """A user-fixable problem (missing cache, bad setting); the message says what to do."""


# --- device ---------------------------------------------------------------------------------


def accelerator() -> str:
    """'gpu' when the Keras backend sees a GPU, else 'cpu'."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
        if backend == "torch":
            import torch

            return "gpu" if torch.cuda.is_available() else "cpu"
        if backend == "jax":
            import jax

            return "gpu" if jax.devices()[0].platform == "gpu" else "cpu"
    except Exception:  # noqa: BLE001 - a broken GPU stack means we train on the CPU
        pass
    return "cpu"


def gpu_supports_bf16() -> bool:
    """bfloat16 needs compute capability 8.0 (Ampere) or newer; older cards get float16."""
    import keras

    try:
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            gpu = tf.config.list_physical_devices("GPU")[0]
            return tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))[0] >= 8
        if keras.backend.backend() == "torch":
            import torch

            return torch.cuda.get_device_capability()[0] >= 8
    except Exception:  # noqa: BLE001 - unknown: take the safe choice
        return False
    return True  # JAX picks what the card supports


def configure_device(device: str) -> dict:
    """Mixed precision and compiled steps on a GPU; float32 and the backend default on a CPU
    (where XLA-compiled steps measured 2x to 15x slower with TensorFlow)."""
    import keras

    if device == "gpu":
        policy = "mixed_bfloat16" if gpu_supports_bf16() else "mixed_float16"
        keras.mixed_precision.set_global_policy(policy)
        return {"precision": policy, "jit_compile": True}
    keras.mixed_precision.set_global_policy("float32")
    return {"precision": "float32", "jit_compile": "auto"}


# --- targets and sampling --------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """What the network outputs and how that maps back to the 12 labels."""

    names: tuple[str, ...]  # output names, in order
    to_labels: np.ndarray  # (outputs, 12) 0/1: output i counts towards label j


def make_targets(index: pd.DataFrame, kind: str) -> Targets:
    if kind == "labels":
        return Targets(LABELS, np.eye(len(LABELS), dtype=np.float32))
    if kind == "words":
        words = tuple(sorted(index["word"].unique()))
        m = np.zeros((len(words), len(LABELS)), np.float32)
        for i, w in enumerate(words):
            m[i, LABEL_INDEX[word_to_label(w)]] = 1
        return Targets(words, m)
    raise TrainError(f"unknown targets {kind!r}; use labels or words")


def target_ids(index: pd.DataFrame, t: Targets) -> np.ndarray:
    col = index["label"] if t.names == LABELS else index["word"]
    lookup = {n: i for i, n in enumerate(t.names)}
    return col.map(lookup).to_numpy(np.int64)


def epoch_rows(labels: np.ndarray, rows: np.ndarray, s: TrainSettings, rng: np.random.Generator) -> np.ndarray:
    """The training rows of one epoch, shuffled.

    `unknown` is most of Kaggle's train clips but a twelfth of its test clips, and some
    commands have fewer clips than others (on/off in Speech Commands v2):
    - `balanced`: every label gets the median label count each epoch (big labels drawn
      afresh without replacement, small ones repeated): the epoch looks like the test set;
    - `subsample`: only `unknown` is cut, to `unknown_per_epoch` x the mean command count;
    - `weights` and `none`: every row once (`weights` reweights the loss instead)."""
    if s.balance == "balanced":
        labs = labels[rows]
        present, counts = np.unique(labs, return_counts=True)
        per = int(np.median(counts))
        picked = []
        for lab, count in zip(present, counts):
            mine = rows[labs == lab]
            if count >= per:
                picked.append(rng.choice(mine, size=per, replace=False))
            else:  # every clip once, the rest drawn again
                picked.append(np.concatenate([mine, rng.choice(mine, size=per - count, replace=True)]))
        return rng.permutation(np.concatenate(picked))
    if s.balance == "subsample":
        is_unknown = labels[rows] == LABEL_INDEX[UNKNOWN]
        command_counts = [np.sum(labels[rows] == LABEL_INDEX[c]) for c in COMMANDS]
        keep = int(round(s.unknown_per_epoch * np.mean(command_counts)))
        unknown = rows[is_unknown]
        if keep < len(unknown):
            unknown = rng.choice(unknown, size=keep, replace=False)
        rows = np.concatenate([rows[~is_unknown], unknown])
    return rng.permutation(rows)


def class_weights(labels: np.ndarray, n: int) -> np.ndarray:
    """Inverse-frequency weights per label, mean 1 over the clips."""
    counts = np.bincount(labels, minlength=n).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (n * np.maximum(counts, 1)), 0.0)
    return (w / (w[labels].mean())).astype(np.float32)


# --- the feeder -------------------------------------------------------------------------------


def make_feeder(x: np.ndarray, y: np.ndarray, labels12: np.ndarray, rows: np.ndarray, n_out: int,
                s: TrainSettings, batch_size: int, seed: int):
    """A `keras.utils.PyDataset` that only slices arrays: `(x, one-hot y, sample weight)` batches.
    Augmentation happens on the accelerator inside the model; mixup (if on) mixes pairs here."""
    import keras

    class Feeder(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.weights = class_weights(labels12[rows], len(LABELS)) if s.balance == "weights" else None
            self.order = epoch_rows(labels12, rows, s, self.rng)

        def __len__(self):
            return math.ceil(len(self.order) / batch_size)

        def __getitem__(self, i):
            idx = np.sort(self.order[i * batch_size : (i + 1) * batch_size])
            xb = np.asarray(x[idx], dtype=np.float32)
            yb = np.eye(n_out, dtype=np.float32)[y[idx]]
            wb = self.weights[labels12[idx]] if self.weights is not None else np.ones(len(idx), np.float32)
            if s.aug.mixup_alpha > 0:
                lam = self.rng.beta(s.aug.mixup_alpha, s.aug.mixup_alpha, size=(len(idx), 1)).astype(np.float32)
                perm = self.rng.permutation(len(idx))
                xb = lam[:, :, None] * xb + (1 - lam[:, :, None]) * xb[perm]
                yb = lam * yb + (1 - lam) * yb[perm]
                wb = lam[:, 0] * wb + (1 - lam[:, 0]) * wb[perm]
            return xb, yb, wb

        def on_epoch_end(self):
            self.order = epoch_rows(labels12, rows, s, self.rng)

    return Feeder()


# --- model assembly ----------------------------------------------------------------------------


def inference_model(body, mean: float, std: float):
    """Normalisation (fixed, from the training fold) + the registry model: what is saved."""
    import keras

    inp = keras.Input(body.input_shape[1:])
    x = keras.layers.Normalization(mean=mean, variance=std**2, name="normalise")(inp)
    return keras.Model(inp, body(x), name=f"{body.name}_inference")


def training_model(model, aug: AugSettings, noise_bank: np.ndarray | None, seed: int):
    """Augmentation layers (active only in training) in front of the inference model."""
    import keras

    from models.augment import augmenter

    inp = keras.Input(model.input_shape[1:])
    x = inp
    for layer in augmenter(aug, noise_bank, seed):
        x = layer(x)
    return keras.Model(inp, model(x), name="train")


def predict(model, x: np.ndarray, s: TrainSettings, t: Targets, batch_size: int = 512) -> np.ndarray:
    """12-label probabilities `(clips, 12)`, averaged over `s.tta` time-shifted views."""
    shifts = [0, s.tta_frames, -s.tta_frames, 2 * s.tta_frames, -2 * s.tta_frames][: max(1, s.tta)]
    total = np.zeros((len(x), len(LABELS)), np.float64)
    max_shift = max(abs(v) for v in shifts) or 1
    for shift in shifts:
        view = x if shift == 0 else np.asarray(shift_frames(x, np.full(len(x), shift), max_shift))
        total += model.predict(view, batch_size=batch_size, verbose=0).astype(np.float64) @ t.to_labels
    p = total / len(shifts)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, log loss and per-class accuracy of `(clips, 12)` probabilities against label ids."""
    pred = probs.argmax(1)
    eps = 1e-7
    ll = float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], eps, 1))))
    per = {LABELS[k]: float(np.mean(pred[labels == k] == k)) for k in range(len(LABELS)) if np.any(labels == k)}
    return {"accuracy": float(np.mean(pred == labels)), "log_loss": ll, "n": int(len(labels)), "per_class": per}


def make_validation_callback(model, x_val, labels_val, s: TrainSettings, t: Targets):
    """After each epoch: 12-label accuracy and log loss on the held-out fold, into the logs
    (`val_accuracy`, `val_loss`), where EarlyStopping, CSVLogger, the progress line and an
    Optuna pruner read them. No TTA here: it would triple the cost of every epoch."""
    import keras

    plain = dataclasses.replace(s, tta=1)

    class Validation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                m = metrics(predict(model, x_val, plain, t), labels_val)
                logs["val_accuracy"], logs["val_loss"] = m["accuracy"], m["log_loss"]

    return Validation()


# --- one fold ----------------------------------------------------------------------------------


@dataclass
class FoldData:
    """Everything a fold needs, in memory: `x` `(clips, frames, mels)` float32 dB."""

    x: np.ndarray
    index: pd.DataFrame
    fold: np.ndarray
    x_test: np.ndarray
    noise: np.ndarray
    noise_index: pd.DataFrame


def load_fold_data(cache: features.Cache, folds: pd.DataFrame) -> FoldData:
    return FoldData(
        x=np.asarray(cache.train, dtype=np.float32),
        index=cache.train_index,
        fold=folds["fold"].to_numpy(),
        x_test=np.asarray(cache.test, dtype=np.float32),
        noise=np.asarray(cache.noise, dtype=np.float32),
        noise_index=cache.noise_index,
    )


def fold_noise(data: FoldData, val_rows: np.ndarray) -> np.ndarray:
    """Background-noise windows for augmentation, without the recordings whose silence clips
    are in the validation fold (mixing those in would leak the validation silence)."""
    held_out = {sp[len("noise-"):] for sp in data.index["speaker"].iloc[val_rows] if sp.startswith("noise-")}
    keep = ~data.noise_index["source"].isin(held_out).to_numpy()
    return data.noise[keep]


def train_fold(name: str, params, s: TrainSettings, data: FoldData, k: int, *, device: str = "cpu",
               callbacks: tuple = (), verbose: int = 2, predict_test: bool = True) -> dict:
    """Train `name` on every fold but `k`, validate on `k`. Returns the inference model, its
    history, `val_rows`, `oof` `(len(val_rows), 12)` and `test` `(test clips, 12)` probabilities."""
    import keras

    from models import registry

    keras.utils.set_random_seed(s.seed * 1000 + k)
    dev = configure_device(device)
    t = make_targets(data.index, s.targets)
    y = target_ids(data.index, t)
    labels12 = data.index["label"].map(LABEL_INDEX).to_numpy(np.int64)
    train_rows = np.flatnonzero(data.fold != k)
    val_rows = np.flatnonzero(data.fold == k)
    sample = data.x[train_rows[:: max(1, len(train_rows) // 2000)]]
    mean, std = float(sample.mean()), float(sample.std() + 1e-6)

    body = registry.get(name).build(params, data.x.shape[1:], len(t.names))
    model = inference_model(body, mean, std)
    trainer = training_model(model, s.aug, fold_noise(data, val_rows), seed=s.seed * 1000 + k)
    batch = s.batch_size or (512 if device == "gpu" else 64)
    feeder = make_feeder(data.x, y, labels12, train_rows, len(t.names), s, batch, seed=s.seed * 1000 + k)
    steps = len(feeder) * s.epochs
    warmup = int(len(feeder) * s.warmup_epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        s.lr * 0.05, decay_steps=max(1, steps - warmup), alpha=0.0, warmup_target=s.lr, warmup_steps=warmup)
    trainer.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=s.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=s.label_smoothing),
        metrics=["accuracy"], jit_compile=dev["jit_compile"])
    cbs = [make_validation_callback(model, data.x[val_rows], labels12[val_rows], s, t)]
    if s.keep == "best":
        cbs.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=s.epochs + 1,
                                                 restore_best_weights=True, verbose=0))
    history = trainer.fit(feeder, epochs=s.epochs, callbacks=[*cbs, *callbacks], verbose=verbose)
    hist = pd.DataFrame(history.history)
    hist.insert(0, "epoch", np.arange(1, len(hist) + 1))
    return {
        "model": model, "history": hist, "val_rows": val_rows, "device": dev,
        "oof": predict(model, data.x[val_rows], s, t),
        "test": predict(model, data.x_test, s, t) if predict_test else None,
    }


# --- a run: all folds ------------------------------------------------------------------------------


def run_dir(name: str, params, s: TrainSettings, cache: features.Cache, folds_path: Path,
            root: Path = RUNS_DIR) -> Path:
    ident = {"model": name, "params": asdict(params), "train": asdict(s),
             "features": cache.path.name, "folds": folds_path.name}
    return root / name / short_hash(ident)


def combine(out: Path, n_train: int, n_test: int, folds: pd.DataFrame, n_folds: int) -> dict:
    """Gather finished folds into oof.npy, test.npy and cv.json; return cv."""
    labels = folds["label"].map(LABEL_INDEX).to_numpy()
    oof = np.full((n_train, len(LABELS)), np.nan, np.float32)
    tests, per_fold = [], {}
    for k in range(n_folds):
        fdir = out / f"fold_{k}"
        if not fdir.is_dir():
            continue
        rows = np.flatnonzero(folds["fold"].to_numpy() == k)
        oof[rows] = np.load(fdir / "oof.npy")
        tests.append(np.load(fdir / "test.npy"))
        per_fold[str(k)] = metrics(oof[rows], labels[rows])
    done = ~np.isnan(oof[:, 0])
    cv = {"complete": len(per_fold) == n_folds, "folds_trained": sorted(int(k) for k in per_fold),
          "folds": per_fold, "overall": metrics(oof[done], labels[done]) if done.any() else None}
    save_npy(out / "oof.npy", oof)
    if tests:
        save_npy(out / "test.npy", np.mean(tests, axis=0).astype(np.float32))
    write_json(out / "cv.json", cv)
    return cv


def tuned_params(name: str, tune_dir: Path = TUNE_DIR) -> tuple[dict, dict] | None:
    """(params, best.json) from `make tune` for `name`, or None."""
    path = tune_dir / name / "best.json"
    if not path.is_file():
        return None
    best = read_json(path)
    return best["params"], best


def train_run(name: str, s: TrainSettings, cache: features.Cache, folds: pd.DataFrame, folds_path: Path,
              n_folds: int, *, profile: str, param_source: str = "auto", only_folds: list[int] | None = None,
              device: str = "cpu", root: Path = RUNS_DIR, log=print, verbose: int = 2) -> Path:
    """Train every fold of one model (skipping finished ones); return the run folder."""
    from models import registry

    overrides, tuned = {}, None
    if param_source == "auto" and (found := tuned_params(name)):
        overrides, tuned = found
    params = registry.params_for(name, profile, overrides)
    if tuned and tuned.get("train"):
        s = dataclasses.replace(s, **tuned["train"])
    out = run_dir(name, params, s, cache, folds_path, root)
    if tuned:
        log(f"{name}: using tuned parameters from {TUNE_DIR / name / 'best.json'} "
            f"(trial {tuned.get('trial')}, accuracy {tuned.get('value', float('nan')):.4f} on its tuning folds); "
            "PARAMS=default ignores them")
    write_json(out / "params.json", {
        "model": name, "run_id": out.name, "profile": profile, "params": asdict(params),
        "params_source": f"tuned: {TUNE_DIR / name / 'best.json'} (trial {tuned.get('trial')})" if tuned else "defaults",
        "train": asdict(s), "labels": list(LABELS),
        "features": {"key": cache.path.name, "path": str(cache.path), "settings": cache.settings["settings"]},
        "folds": {"path": str(folds_path), "n_folds": n_folds},
        "data": {"fingerprint": cache.settings["data"]["fingerprint"], "source": cache.settings["data"]["source"]},
        "device": device, "seed": s.seed,
        "versions": _versions(),
    })
    data = load_fold_data(cache, folds)
    todo = [k for k in (only_folds if only_folds is not None else range(n_folds))]
    for k in todo:
        fdir = out / f"fold_{k}"
        clean_stale(fdir)
        if fdir.is_dir():
            log(f"{name} fold {k + 1}/{n_folds}: finished earlier, skipped")
            continue
        log(f"{name} fold {k + 1}/{n_folds}: training on {np.sum(data.fold != k)} clips, "
            f"validating on {np.sum(data.fold == k)} ({out})")
        t0 = time.time()
        result = train_fold(name, params, s, data, k, device=device, verbose=verbose)
        with atomic_dir(fdir) as tmp:
            result["model"].save(tmp / "model.keras")
            result["history"].to_csv(tmp / "history.csv", index=False)
            np.save(tmp / "oof.npy", result["oof"])
            np.save(tmp / "test.npy", result["test"])
            m = metrics(result["oof"], data.index["label"].map(LABEL_INDEX).to_numpy()[result["val_rows"]])
            write_json(tmp / "metrics.json", {**m, "seconds": time.time() - t0, **result["device"]})
        log(f"{name} fold {k + 1}/{n_folds}: accuracy {m['accuracy']:.4f}, log loss {m['log_loss']:.4f} "
            f"({time.time() - t0:.0f} s)")
    cv = combine(out, len(data.x), len(data.x_test), folds, n_folds)
    if cv["overall"]:
        log(f"{name}: {'CV' if cv['complete'] else 'partial CV'} accuracy {cv['overall']['accuracy']:.4f} "
            f"over folds {cv['folds_trained']} -> {out}")
    return out


def _versions() -> dict:
    import keras

    out = {"keras": keras.__version__, "backend": keras.backend.backend()}
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return out


# --- command line ------------------------------------------------------------------------------------


def choose_profile(profile: str, device: str, source: str) -> str:
    if profile != "auto":
        return profile
    return "full" if device == "gpu" else "cpu"


# The demo on a CPU: 3 folds, the cpu sizes, three models, 12 epochs of batch 32. The demo has
# ~70 clips per command word, so a balanced epoch is only ~25 batches of 32; 6 epochs of 64
# (90 steps) left every model near chance on held-out speakers, 12 epochs of 32 reach ~0.67 on
# fold 0 (crnn_vgg). The whole demo pipeline then takes about 11 minutes on 2 cores.
DEMO_EPOCHS = 12
DEMO_BATCH = 32
DEMO_MODELS = ("crnn_vgg", "crnn_resnet", "cnn_resnet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=None, help="registry names (default: all but baselines)")
    parser.add_argument("--folds", nargs="*", type=int, default=None, help="train only these folds (0-based)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--profile", default="auto", choices=["auto", "full", "cpu", "toy"],
                        help="model size: full (GPU default), cpu (no GPU default), toy (tests)")
    parser.add_argument("--params", default="auto", choices=["auto", "default"],
                        help="auto: tuned parameters from make tune when they exist; default: ignore them")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override TrainSettings fields, e.g. lr=0.001 balance=weights aug.noise_prob=0.5")
    parser.add_argument("--n-folds", type=int, default=None, help="default 5 (3 on the demo data)")
    parser.add_argument("--fold-seed", type=int, default=FoldSettings.seed)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--runs", type=Path, default=RUNS_DIR)
    parser.add_argument("--verbose", type=int, default=2)
    features.add_setting_args(parser)
    args = parser.parse_args(argv)
    from models import registry

    return run_stage("train", lambda: _train_main(args),
                     (registry.UnknownModelError, LayoutError, FileNotFoundError, FoldsError, TrainError, ValueError),
                     "finished folds are kept, rerun to resume")


def _train_main(args: argparse.Namespace) -> None:
    from competition.data import read_manifest
    from models import registry

    manifest = read_manifest(args.data_dir)
    device = accelerator()
    demo_cpu = manifest["source"] == "demo" and device == "cpu"
    names = args.models or (list(DEMO_MODELS) if demo_cpu else registry.default_models())
    for n in names:
        registry.get(n)
    cache = features.load(features.cache_dir(features.settings_from_args(args), manifest))
    from folds.make_folds import default_n_folds, folds_path

    fs = FoldSettings(args.n_folds or default_n_folds(manifest), args.fold_seed)
    folds = load_folds(cache.train_index, fs)

    s = apply_overrides(TrainSettings(), args.set)
    profile = choose_profile(args.profile, device, manifest["source"])
    if demo_cpu:
        s = dataclasses.replace(s, epochs=args.epochs or DEMO_EPOCHS, batch_size=s.batch_size or DEMO_BATCH)
        print(f"demo data on a CPU: {s.epochs} epochs of batch {s.batch_size}, the `{profile}` model sizes"
              f"{'' if args.models else ', models ' + ', '.join(DEMO_MODELS)} (EPOCHS, "
              "SET=\"batch_size=...\", PROFILE and MODELS choose)")
    elif args.epochs:
        s = dataclasses.replace(s, epochs=args.epochs)
    print(f"training {', '.join(names)} on {device.upper()} ({profile} profile, {s.epochs} epochs, "
          f"folds {args.folds if args.folds is not None else 'all'} of {fs.n_folds}); features {cache.path}")
    for n in names:
        train_run(n, s, cache, folds, folds_path(cache.train_index, fs), fs.n_folds, profile=profile,
                  param_source=args.params, only_folds=args.folds, device=device, root=args.runs,
                  verbose=args.verbose)


def apply_overrides(s: TrainSettings, items: list[str]) -> TrainSettings:
    """`field=value` (or `aug.field=value`) strings applied to settings, values parsed as JSON."""
    top, aug = {}, {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise TrainError(f"--set needs FIELD=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target, name = (aug, key[4:]) if key.startswith("aug.") else (top, key)
        known = {f.name for f in dataclasses.fields(AugSettings if target is aug else TrainSettings)}
        if name not in known:
            raise TrainError(f"unknown setting {key!r}; known: {sorted(known)}")
        target[name] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(s, **top, aug=dataclasses.replace(s.aug, **aug))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
