"""Training one fold: targets, the epoch's rows, the feeder, the models around the registry
model, prediction with TTA, and `train_fold`, which `make train` and `make tune` both call.

Shapes: `x` `(clips, frames, mels)` float32 dB; labels `(clips,)` int indices into LABELS;
probabilities `(clips, 12)` float32 rows that sum to 1.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from competition import metrics
from competition.features import Cache, silence_segment
from competition.labels import COMMANDS, LABEL_INDEX, LABELS, SILENCE, UNKNOWN, word_to_label
from competition.pseudo import PseudoError, PseudoSet
from models import frontend, registry
from models.augment import NoiseMix, augmenter, db_to_power, shift_frames
from models.device import configure_device
from models.settings import AugSettings, TrainSettings

# --- targets and sampling --------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """What the network outputs and how that maps back to the 12 labels."""

    names: tuple[str, ...]  # output names, in order
    to_labels: np.ndarray  # (outputs, 12) 0/1: output i counts towards label j


def make_targets(index: pd.DataFrame, kind: str) -> Targets:
    """`labels`: the 12 labels; `words`: every word of the index (and silence), summed back to 12."""
    if kind == "labels":
        return Targets(LABELS, np.eye(len(LABELS), dtype=np.float32))
    words = tuple(sorted(index["word"].unique()))
    m = np.zeros((len(words), len(LABELS)), np.float32)
    for i, w in enumerate(words):
        m[i, LABEL_INDEX[word_to_label(w)]] = 1
    return Targets(words, m)


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


class Feeder(keras.utils.PyDataset):
    """`(x, one-hot y, sample weight)` batches that only slice arrays: augmentation happens on
    the accelerator inside the model. Here only what changes targets: mixup (if on) mixes
    pairs, and synthetic unknowns (if on) replace a share of the command-word rows with
    `unknown` clips made from them (`synthetic_unknowns`). `unknown_target` `(n_out,)` is the
    target of such a clip (the unknown output, or with word targets an equal share of every
    word that counts as unknown)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, labels12: np.ndarray, rows: np.ndarray, n_out: int,
                 s: TrainSettings, batch_size: int, seed: int, unknown_target: np.ndarray | None = None,
                 soft: np.ndarray | None = None, soft_from: int = 0):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.labels12, self.rows, self.n_out = x, y, labels12, rows, n_out
        self.soft, self.soft_from = soft, soft_from  # rows >= soft_from take their target from soft (pseudo-labels)
        if unknown_target is None:
            unknown_target = np.eye(n_out, dtype=np.float32)[LABEL_INDEX[UNKNOWN]]
        self.unknown_target = np.asarray(unknown_target, np.float32)
        self.s, self.batch_size = s, batch_size
        self.rng = np.random.default_rng(seed)
        self.weights = class_weights(labels12[rows], len(LABELS)) if s.balance == "weights" else None
        self.order = epoch_rows(labels12, rows, s, self.rng)

    def __len__(self):
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, i):
        idx = np.sort(self.order[i * self.batch_size : (i + 1) * self.batch_size])
        xb = np.asarray(self.x[idx], dtype=np.float32)
        yb = np.eye(self.n_out, dtype=np.float32)[self.y[idx]]
        if self.soft is not None:
            own = idx >= self.soft_from
            yb[own] = self.soft[idx[own] - self.soft_from]
        wb = self.weights[self.labels12[idx]] if self.weights is not None else np.ones(len(idx), np.float32)
        a = self.s.aug
        if a.spliced_unknown or a.reversed_unknown:
            xb, yb = synthetic_unknowns(xb, yb, self.labels12[idx], self.unknown_target, a.spliced_unknown,
                                        a.reversed_unknown, self.rng)
        alpha = self.s.aug.mixup_alpha
        if alpha > 0:
            lam = self.rng.beta(alpha, alpha, size=(len(idx), 1)).astype(np.float32)
            perm = self.rng.permutation(len(idx))
            xb = lam[:, :, None] * xb + (1 - lam[:, :, None]) * xb[perm]
            yb = lam * yb + (1 - lam) * yb[perm]
            wb = lam[:, 0] * wb + (1 - lam[:, 0]) * wb[perm]
        return xb, yb, wb

    def on_epoch_end(self):
        self.order = epoch_rows(self.labels12, self.rows, self.s, self.rng)


def synthetic_unknowns(xb: np.ndarray, yb: np.ndarray, labels12: np.ndarray, target: np.ndarray, spliced: float,
                       reversed_: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Kaggle's test holds words no train clip has; these teach `unknown` for word-like sounds
    that are no command: a `spliced` share of the batch's command-word rows becomes the middle
    half of that clip joined to the middle half of another command clip of the batch (two
    half-words), a `reversed_` share is played backwards. Their targets become `target`."""
    xb, yb = xb.copy(), yb.copy()
    commands = np.flatnonzero(labels12 < len(COMMANDS))
    if len(commands) < 2:
        return xb, yb
    draw = rng.random(len(commands))
    frames = xb.shape[1]
    q, half = frames // 4, frames // 2
    for i in commands[draw < spliced]:
        j = commands[rng.integers(len(commands))]
        xb[i] = np.concatenate([xb[i, q : q + half], xb[j, q : q + frames - half]])
        yb[i] = target
    for i in commands[(draw >= spliced) & (draw < spliced + reversed_)]:
        xb[i] = xb[i, ::-1]
        yb[i] = target
    return xb, yb


# --- model assembly ----------------------------------------------------------------------------


def inference_model(body, mean: float, std: float, kind: str = "logmel", hop_ms: float = 10.0):
    """Front-end `kind` (models/frontend.py) + normalisation (fixed, from the training fold;
    `mean` and `std` of the front-end's output) + the registry model: what is saved."""
    inp = keras.Input(body.input_shape[1:])
    layer = frontend.front(kind, body.input_shape[1], hop_ms)
    x = inp if layer is None else layer(inp)
    # float32 also under mixed precision: dB values near -60 lose 0.1 dB in bfloat16 before the mean is taken off
    x = keras.layers.Normalization(mean=mean, variance=std**2, name="normalise", dtype="float32")(x)
    return keras.Model(inp, body(x), name=f"{body.name}_inference")


def training_model(model, aug: AugSettings, noise_bank: np.ndarray | None, seed: int):
    """Augmentation layers (active only in training) in front of the inference model."""
    inp = keras.Input(model.input_shape[1:])
    x = inp
    for layer in augmenter(aug, noise_bank, seed):
        x = layer(x)
    return keras.Model(inp, model(x), name="train")


PREDICT_CHUNK = 8192  # clips per chunk: 8192 x 101 x 64 float32 is 212 MB, whatever the test set's size


def predict(model, x: np.ndarray, s: TrainSettings, t: Targets, batch_size: int = 512,
            chunk: int = PREDICT_CHUNK) -> np.ndarray:
    """12-label probabilities `(clips, 12)`, averaged over `s.tta` time-shifted views.

    `x` may be float16 or memory-mapped (the cache's test array): it is read `chunk` clips at a
    time, so Kaggle's 158,538 test clips (2.6 GB as float32) never exist as one float32 copy,
    let alone one per TTA view."""
    shifts = [0, s.tta_frames, -s.tta_frames, 2 * s.tta_frames, -2 * s.tta_frames][: max(1, s.tta)]
    max_shift = max(abs(v) for v in shifts) or 1
    out = np.empty((len(x), len(LABELS)), np.float32)
    for start in range(0, len(x), chunk):
        xc = np.asarray(x[start : start + chunk], dtype=np.float32)
        total = np.zeros((len(xc), len(LABELS)), np.float64)
        for shift in shifts:
            view = xc if shift == 0 else np.asarray(shift_frames(xc, np.full(len(xc), shift), max_shift))
            total += model.predict(view, batch_size=batch_size, verbose=0).astype(np.float64) @ t.to_labels
        out[start : start + len(xc)] = metrics.normalise(total)
    return out


class Validation(keras.callbacks.Callback):
    """After each epoch, on the held-out fold (no TTA here: it would triple the cost of every
    epoch), into the logs where EarlyStopping, the progress line, the history and an Optuna
    pruner read them:

    - `val_accuracy`, `val_loss`: for the test distribution, every label weighing the same
      (`metrics.test_weights`): what the kept epoch and the tuning are chosen by;
    - `val_accuracy_raw`: plain accuracy over the fold's rows as they are;
    - `val_accuracy_a`, `val_accuracy_b`: the same as `val_accuracy` on each half of the fold's
      speakers (`halves`), which measures how optimistic choosing the epoch on the rows whose
      predictions become OOF is (README, "Selection leak")."""

    def __init__(self, model, x_val: np.ndarray, labels_val: np.ndarray, s: TrainSettings, t: Targets,
                 halves: np.ndarray | None = None):
        super().__init__()
        self.inference, self.x_val, self.labels_val, self.t = model, x_val, labels_val, t
        self.plain = dataclasses.replace(s, tta=1)
        self.weights = metrics.test_weights(labels_val)
        self.halves = halves

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        p, y = predict(self.inference, self.x_val, self.plain, self.t), self.labels_val
        logs["val_accuracy"] = metrics.accuracy(p, y, self.weights)
        logs["val_loss"] = metrics.log_loss(p, y, self.weights)
        logs["val_accuracy_raw"] = metrics.accuracy(p, y)
        if self.halves is not None:
            for name, rows in (("a", ~self.halves), ("b", self.halves)):
                logs[f"val_accuracy_{name}"] = metrics.test_distribution_accuracy(p[rows], y[rows])


def speaker_halves(speakers: pd.Series) -> np.ndarray:
    """`(n,)` bool: a fixed split of the speakers in two halves (by a hash of the name), so a
    speaker's clips are all on one side."""
    return (pd.util.hash_array(speakers.to_numpy(dtype=object), categorize=False) % 2).astype(bool)


# --- one fold ----------------------------------------------------------------------------------


@dataclass
class FoldData:
    """Everything a fold needs: `x` `(clips, frames, mels)` dB in memory, float16 as cached (the
    feeder and `predict` convert the rows they use to float32); `x_test` the cache's memory map."""

    x: np.ndarray
    index: pd.DataFrame
    fold: np.ndarray
    x_test: np.ndarray
    noise: np.ndarray
    noise_index: pd.DataFrame
    # pseudo-labelled test clips (make pseudo), added to the training rows of every fold, never
    # to validation: `pseudo_x` `(clips, frames, mels)` float16, `pseudo_targets` `(clips, 12)` float32
    pseudo_x: np.ndarray | None = None
    pseudo_targets: np.ndarray | None = None
    hop_ms: float = 10.0  # the cache's frame hop (the PCEN front-end's time constant is in seconds)

    @property
    def labels(self) -> np.ndarray:
        """`(clips,)` int indices into LABELS."""
        return self.index["label"].map(LABEL_INDEX).to_numpy(np.int64)


def load_fold_data(cache: Cache, folds: pd.DataFrame, pseudo: PseudoSet | None = None) -> FoldData:
    """The arrays of a run. With a pseudo-label set, its clips' spectrograms (rows of the test
    cache) and targets come along, and its `silence` clips join the noise bank (as mel power)."""
    noise, noise_index = np.asarray(cache.noise, dtype=np.float32), cache.noise_index
    pseudo_x = pseudo_targets = None
    if pseudo is not None:
        row_of = pd.Series(np.arange(len(cache.test_index)), index=cache.test_index["fname"])
        rows = row_of.reindex(pseudo.frame["fname"]).to_numpy()
        if np.isnan(rows.astype(float)).any():
            raise PseudoError(f"pseudo-label set {pseudo.name} names test clips this feature cache lacks: "
                              "make pseudo again from an ensemble of this data")
        rows = rows.astype(np.int64)
        pseudo_x = np.asarray(cache.test[np.sort(rows)])[np.argsort(np.argsort(rows))]
        pseudo_targets = pseudo.targets()
        quiet = (pseudo.frame["label"] == SILENCE).to_numpy()
        if quiet.any():
            noise = np.concatenate([noise, np.asarray(db_to_power(pseudo_x[quiet].astype(np.float32)))])
            noise_index = pd.concat([noise_index, pd.DataFrame({"source": "pseudo:" + pseudo.frame["fname"][quiet],
                                                                "start_s": 0.0})], ignore_index=True)
    return FoldData(
        x=np.array(cache.train),  # read into memory: the feeder gathers random rows
        index=cache.train_index,
        fold=folds["fold"].to_numpy(),
        x_test=cache.test,  # read a chunk at a time by `predict`
        noise=noise,
        noise_index=noise_index,
        pseudo_x=pseudo_x,
        pseudo_targets=pseudo_targets,
        hop_ms=float(cache.settings.get("settings", {}).get("hop_ms", 10.0)),
    )


def held_noise(data: FoldData, val_rows: np.ndarray) -> np.ndarray:
    """`(windows,)` bool: the background-noise windows that overlap a recording segment whose
    silence clips are in the validation fold: the fold's model must never hear them."""
    held = [seg for sp in set(data.index["speaker"].iloc[val_rows]) if (seg := silence_segment(sp)) is not None]
    source = data.noise_index["source"].to_numpy()
    start = data.noise_index["start_s"].to_numpy(dtype=np.float64)
    out = np.zeros(len(source), bool)
    for name, lo, hi in held:
        out |= (source == name) & (start < hi) & (start + 1.0 > lo)
    return out


def fold_noise(data: FoldData, val_rows: np.ndarray) -> np.ndarray:
    """Background-noise windows for augmentation, without any window that overlaps a recording
    segment whose silence clips are in the validation fold (mixing those in would leak the
    validation silence). Segments (features `silence_segment_s`) leave every recording's other
    segments in the bank, so every fold model mixes every noise type."""
    return data.noise[~held_noise(data, val_rows)]


# The test the competition has is noisy (README, "Kaggle-like benchmark"): each fold's held-out
# clips are also predicted with background noise mixed in at this SNR range, so the blend can be
# fitted and scored on rows like that test's (make ensemble OOF=noisy|both).
NOISY_SNR_DB = (0.0, 20.0)


def noisy_copy(x: np.ndarray, bank: np.ndarray, seed: int, snr_db: tuple[float, float] = NOISY_SNR_DB,
               chunk: int = PREDICT_CHUNK) -> np.ndarray | None:
    """`x` `(clips, frames, mels)` dB with a window of `bank` (mel power) added to every clip at
    a random SNR in `snr_db`, the same for the same `seed`; None when `bank` is empty."""
    if bank is None or not len(bank):
        return None
    mix = NoiseMix(np.asarray(bank, np.float32), 1.0, snr_db, seed=seed)
    out = np.empty(x.shape, np.float32)
    for start in range(0, len(x), chunk):
        out[start : start + chunk] = np.asarray(mix(np.asarray(x[start : start + chunk], np.float32), training=True))
    return out


def noisy_oof(model, data: FoldData, k: int, s: TrainSettings, t: Targets) -> np.ndarray | None:
    """`(len(val_rows), 12)`: fold `k`'s held-out clips predicted with noise the fold's model never
    heard mixed in (the windows of the validation fold's own silence segments; the augmentation
    bank when the fold has none), or None when the data has no background noise."""
    val_rows = np.flatnonzero(data.fold == k)
    held = held_noise(data, val_rows)
    bank = data.noise[held] if held.any() else data.noise[~held]
    x = noisy_copy(data.x[val_rows], bank, seed=s.seed * 1000 + k + 500)
    return None if x is None else predict(model, x, s, t)


def label_targets_to_outputs(p12: np.ndarray, t: Targets) -> np.ndarray:
    """`(clips, 12)` label probabilities as `(clips, outputs)` targets: a label's probability
    shared equally among the outputs (words) that count towards it."""
    share = t.to_labels / np.maximum(t.to_labels.sum(axis=0, keepdims=True), 1.0)  # (outputs, 12)
    return (np.asarray(p12, np.float32) @ share.T).astype(np.float32)


def train_fold(name: str, params, s: TrainSettings, data: FoldData, k: int, *, device: str = "cpu",
               callbacks: tuple = (), verbose: int = 2, predict_test: bool = True) -> dict:
    """Train `name` on every fold but `k`, validate on `k`. Returns the inference model, its
    history, `val_rows`, `oof` `(len(val_rows), 12)`, `oof_noisy` (the same clips with noise
    mixed in, `noisy_oof`) and `test` `(test clips, 12)` probabilities."""
    keras.utils.set_random_seed(s.seed * 1000 + k)
    dev = configure_device(device)
    t = make_targets(data.index, s.targets)
    y = target_ids(data.index, t)
    labels12 = data.labels
    train_rows = np.flatnonzero(data.fold != k)
    val_rows = np.flatnonzero(data.fold == k)
    sample = np.asarray(data.x[train_rows[:: max(1, len(train_rows) // 2000)]], dtype=np.float32)
    mean, std = frontend.statistics(s.frontend, sample, data.hop_ms)

    body = registry.get(name).build(params, data.x.shape[1:], len(t.names))
    model = inference_model(body, mean, std, s.frontend, data.hop_ms)
    trainer = training_model(model, s.aug, fold_noise(data, val_rows), seed=s.seed * 1000 + k)
    unknown = t.to_labels[:, LABEL_INDEX[UNKNOWN]]
    x_fit, y_fit, labels_fit, rows_fit, soft = data.x, y, labels12, train_rows, None
    if data.pseudo_x is not None and len(data.pseudo_x):  # training rows only: validation and OOF stay train clips
        soft = label_targets_to_outputs(data.pseudo_targets, t)
        x_fit = np.concatenate([data.x, data.pseudo_x])
        y_fit = np.concatenate([y, soft.argmax(axis=1)])
        labels_fit = np.concatenate([labels12, data.pseudo_targets.argmax(axis=1)])
        rows_fit = np.concatenate([train_rows, len(data.x) + np.arange(len(data.pseudo_x))])
    feeder = Feeder(x_fit, y_fit, labels_fit, rows_fit, len(t.names), s, s.batch_size, seed=s.seed * 1000 + k,
                    unknown_target=unknown / max(unknown.sum(), 1.0), soft=soft, soft_from=len(data.x))
    steps = len(feeder) * s.epochs
    warmup = int(len(feeder) * s.warmup_epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        s.lr * 0.05, decay_steps=max(1, steps - warmup), alpha=0.0, warmup_target=s.lr, warmup_steps=warmup)
    trainer.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=s.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=s.label_smoothing),
        metrics=["accuracy"], jit_compile=dev["jit_compile"])
    cbs = [Validation(model, data.x[val_rows], labels12[val_rows], s, t,
                      speaker_halves(data.index["speaker"].iloc[val_rows]))]
    if s.keep == "best":
        cbs.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=s.epochs + 1,
                                                 restore_best_weights=True, verbose=0))
    history = trainer.fit(feeder, epochs=s.epochs, callbacks=[*cbs, *callbacks], verbose=verbose)
    hist = pd.DataFrame(history.history)
    hist.insert(0, "epoch", np.arange(1, len(hist) + 1))
    return {
        "model": model, "history": hist, "val_rows": val_rows, "device": dev,
        "oof": predict(model, data.x[val_rows], s, t),
        "oof_noisy": noisy_oof(model, data, k, s, t) if predict_test else None,  # tuning needs neither
        "test": predict(model, data.x_test, s, t) if predict_test else None,
    }
