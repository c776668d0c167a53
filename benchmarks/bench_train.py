"""`make bench-train`: accuracy and time of every model on the data in data/raw (the dev data
for the README figures), and the training loop's throughput against a plain `model.fit`.

For each model: 5-fold CV through `make train`'s own code (resumable: finished folds are
kept in artifacts/runs/), then
- OOF accuracy (every train clip predicted by the fold model that did not see it);
- test accuracy of the fold-0 model alone and of the mean of the 5 fold models, scored
  against the answer key (test_solution.csv), which no choice in the harness looks at;
- wall time of the 5 folds.
Baselines (tutorial_cnn, crnn_plain) train as a competitor would first: no augmentation,
no class balancing, no label smoothing, no TTA.

Throughput: the same model and arrays through (a) `model.fit(x, y)` on in-memory arrays,
(b) the harness's feeder + augmentation layers + validation callback, (c) the same without
augmentation. Clips per second of the second epoch (the first pays for tracing).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.bench_features import cpu_name  # noqa: E402
from competition import features  # noqa: E402
from competition.data import read_manifest  # noqa: E402
from competition.files import write_json, write_text  # noqa: E402
from competition.labels import LABEL_INDEX, LABELS  # noqa: E402
from folds.make_folds import FoldSettings, default_n_folds, folds_path, load_folds  # noqa: E402
from models import registry, train  # noqa: E402
from models.augment import NO_AUG  # noqa: E402

OUT = Path("artifacts/bench")
BASELINE_SETTINGS = {"aug": NO_AUG, "balance": "none", "label_smoothing": 0.0, "tta": 1}


@dataclasses.dataclass(frozen=True)
class BenchData:
    """What every training benchmark reads: the data in data/raw, its feature cache and folds."""

    manifest: dict
    cache: features.Cache
    fold_settings: FoldSettings
    folds: pd.DataFrame
    folds_file: Path
    device: str
    profile: str
    solution: Path | None

    def train_run(self, name: str, s: train.TrainSettings, **kw) -> Path:
        return train.train_run(name, s, self.cache, self.folds, self.folds_file, self.fold_settings.n_folds,
                               profile=self.profile, device=self.device, **kw)

    def test_accuracy(self, probs: np.ndarray) -> float | None:
        return test_accuracy(probs, self.cache.test_index["fname"], self.solution) if self.solution else None


def load_bench_data(data_dir: Path, profile: str = "auto") -> BenchData:
    manifest = read_manifest(data_dir)
    cache = features.load(features.cache_dir(features.FeatureSettings(), manifest))
    fs = FoldSettings(default_n_folds(manifest))
    device = train.accelerator()
    return BenchData(manifest, cache, fs, load_folds(cache.train_index, fs), folds_path(cache.train_index, fs), device,
                     train.choose_profile(profile, device, manifest["source"]),
                     Path(manifest["solution"]) if manifest.get("solution") else None)


def settings_for(name: str, epochs: int) -> train.TrainSettings:
    s = dataclasses.replace(train.TrainSettings(), epochs=epochs)
    if getattr(registry.get(name), "BASELINE", False):
        s = dataclasses.replace(s, **BASELINE_SETTINGS)
    return s


def test_accuracy(probs: np.ndarray, fnames: pd.Series, solution: Path) -> float:
    key = pd.read_csv(solution).set_index("fname")["label"]
    truth = key.loc[fnames].to_numpy()
    return float(np.mean(np.array(LABELS)[probs.argmax(1)] == truth))


def bench_model(name: str, epochs: int, d: BenchData) -> dict:
    t0 = time.time()
    out = d.train_run(name, settings_for(name, epochs), param_source="default", verbose=0)
    cv = json.loads((out / "cv.json").read_text())
    seconds = sum(json.loads((out / f"fold_{k}" / "metrics.json").read_text())["seconds"]
                  for k in range(d.fold_settings.n_folds))
    row = {"model": name, "run": str(out), "params": json.loads((out / "params.json").read_text())["params"],
           "oof_accuracy": cv["overall"]["accuracy"], "train_seconds": round(seconds),
           "wall_seconds_this_call": round(time.time() - t0)}
    if d.solution:
        row["test_accuracy_fold0"] = d.test_accuracy(np.load(out / "fold_0" / "test.npy"))
        row["test_accuracy_5folds"] = d.test_accuracy(np.load(out / "test.npy"))
    return row


def throughput(name: str, cache, folds, profile: str, batch: int = 64, device: str = "cpu") -> dict:
    """Clips/s of one epoch over the fold-0 training rows, three ways (see module doc)."""
    import keras

    data = train.load_fold_data(cache, folds)
    rows = np.flatnonzero(data.fold != 0)
    val = np.flatnonzero(data.fold == 0)
    labels = data.index["label"].map(LABEL_INDEX).to_numpy()
    y = np.eye(len(LABELS), dtype=np.float32)[labels]
    params = registry.params_for(name, profile)
    result = {}

    def timed_fit(model, inputs, **kw) -> float:
        model.fit(*inputs, epochs=1, verbose=0, **kw)  # tracing, warm caches
        t0 = time.perf_counter()
        model.fit(*inputs, epochs=1, verbose=0, **kw)
        return len(rows) / (time.perf_counter() - t0)

    def fresh():
        keras.utils.set_random_seed(0)
        m = train.inference_model(registry.get(name).build(params, data.x.shape[1:], len(LABELS)), -50.0, 20.0)
        return m

    def compile_(m):
        m.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
        return m

    result["plain_fit"] = timed_fit(compile_(fresh()), (data.x[rows], y[rows]), batch_size=batch, shuffle=True)
    for label, aug in (("harness_no_aug", NO_AUG), ("harness", train.AugSettings())):
        s = dataclasses.replace(train.TrainSettings(), aug=aug, balance="none", tta=1)
        model = fresh()
        trainer = compile_(train.training_model(model, aug, data.noise, seed=0))
        feeder = train.make_feeder(data.x, labels, labels, rows, len(LABELS), s, batch, seed=0)
        cb = train.make_validation_callback(model, data.x[val], labels[val], s,
                                            train.make_targets(data.index, "labels"))
        result[label] = timed_fit(trainer, (feeder,), callbacks=[cb])
    return {k: round(v, 1) for k, v in result.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["tutorial_cnn", "crnn_plain", *registry.default_models()])
    parser.add_argument("--epochs", type=int, default=None, help="default: make train's default")
    parser.add_argument("--profile", default="auto")
    parser.add_argument("--throughput-model", default="crnn_resnet")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)

    d = load_bench_data(args.data_dir, args.profile)
    manifest, cache, profile, device, solution = d.manifest, d.cache, d.profile, d.device, d.solution
    epochs = args.epochs or train.TrainSettings().epochs
    import keras

    machine = (f"{cpu_name()}, {os.cpu_count()} cores, {device.upper()}; Keras {keras.__version__} "
               f"({keras.backend.backend()}), Python {platform.python_version()}")
    print(f"machine: {machine}\ndata: {manifest['root']} ({manifest['source']}), {len(cache.train_index)} train "
          f"clips, {len(cache.test_index)} test clips; profile {profile}, {epochs} epochs, {d.fold_settings.n_folds} folds")
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.models:
        row = bench_model(name, epochs, d)
        rows.append(row)
        print(json.dumps(row))
        write_json(OUT / "train.json", {"machine": machine, "epochs": epochs, "profile": profile, "models": rows})
    table = pd.DataFrame(rows)[["model", "oof_accuracy", *([c for c in ("test_accuracy_fold0", "test_accuracy_5folds")
                                                          if solution]), "train_seconds"]]
    md = table.to_markdown(index=False, floatfmt=".4f") if _has_tabulate() else table.to_string(index=False)
    print(md)
    report = {"machine": machine, "epochs": epochs, "profile": profile, "models": rows}
    if not args.skip_throughput:
        tp = throughput(args.throughput_model, cache, d.folds, profile, device=device)
        report["throughput"] = {"model": args.throughput_model, **tp,
                                "ratio_no_aug": round(tp["harness_no_aug"] / tp["plain_fit"], 3),
                                "ratio_with_aug": round(tp["harness"] / tp["plain_fit"], 3)}
        print(f"throughput ({args.throughput_model}, clips/s): plain model.fit {tp['plain_fit']}, "
              f"harness without augmentation {tp['harness_no_aug']} ({report['throughput']['ratio_no_aug']:.2f}x), "
              f"harness with augmentation {tp['harness']} ({report['throughput']['ratio_with_aug']:.2f}x)")
    write_json(OUT / "train.json", report)
    write_text(OUT / "train.md", f"machine: {machine}\n\n{md}\n")
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
