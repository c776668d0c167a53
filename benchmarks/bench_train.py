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
from competition.files import write_json, write_text  # noqa: E402
from competition.inputs import Inputs, resolve  # noqa: E402
from competition.labels import LABELS  # noqa: E402
from competition.settings import flatten  # noqa: E402
from competition.workspace import Workspace  # noqa: E402
from models import fold, registry  # noqa: E402
from models.device import accelerator  # noqa: E402
from models.plan import Plan, Typed, plan_run  # noqa: E402
from models.run import train_run  # noqa: E402
from models.settings import NO_AUG, AugSettings, TrainSettings  # noqa: E402

# Baselines train as a competitor would first: no augmentation, balancing, label smoothing or TTA.
BASELINE_SETTINGS = {**{f"aug.{k}": v for k, v in flatten(NO_AUG).items()},
                     "balance": "none", "label_smoothing": 0.0, "tta": 1}


@dataclasses.dataclass(frozen=True)
class BenchData:
    """What every training benchmark reads: the current inputs of the workspace (the data in
    data/raw, the current feature cache and folds), the device and the answer key."""

    inputs: Inputs
    cache: features.Cache
    device: str
    profile: str | None
    solution: Path | None

    @property
    def ws(self) -> Workspace:
        return self.inputs.ws

    def plan(self, name: str, values: dict | None = None, *, epochs: int | None = None, label: str = "benchmark",
             use_tuned: bool = False) -> Plan:
        return plan_run(name, self.inputs, self.device,
                        Typed(values or {}, label, epochs, self.profile, use_tuned), self.ws)

    def train_run(self, plan: Plan, **kw) -> Path:
        return train_run(plan, self.inputs, device=self.device, **kw)

    def test_accuracy(self, probs: np.ndarray) -> float | None:
        return test_accuracy(probs, self.cache.test_index["fname"], self.solution) if self.solution else None


def load_bench_data(ws: Workspace, profile: str = "auto") -> BenchData:
    inputs = resolve(ws)
    manifest = inputs.manifest
    return BenchData(inputs, features.load(inputs.cache_path), accelerator(), None if profile == "auto" else profile,
                     Path(manifest["solution"]) if manifest.get("solution") else None)


def bench_plan(name: str, epochs: int, d: BenchData) -> Plan:
    """Default settings (never tuned ones), `epochs`; the baselines as a competitor trains them first."""
    baseline = getattr(registry.get(name), "BASELINE", False)
    return d.plan(name, BASELINE_SETTINGS if baseline else {}, epochs=epochs,
                  label="bench-train baseline" if baseline else "benchmark")


def test_accuracy(probs: np.ndarray, fnames: pd.Series, solution: Path) -> float:
    key = pd.read_csv(solution).set_index("fname")["label"]
    truth = key.loc[fnames].to_numpy()
    return float(np.mean(np.array(LABELS)[probs.argmax(1)] == truth))


def bench_model(name: str, epochs: int, d: BenchData) -> dict:
    t0 = time.time()
    out = d.train_run(bench_plan(name, epochs, d), verbose=0)
    cv = json.loads((out / "cv.json").read_text())
    seconds = sum(json.loads((out / f"fold_{k}" / "metrics.json").read_text())["seconds"]
                  for k in range(d.inputs.folds.n_folds))
    row = {"model": name, "run": str(out), "params": json.loads((out / "params.json").read_text())["params"],
           "oof_accuracy": cv["overall"]["accuracy"], "train_seconds": round(seconds),
           "wall_seconds_this_call": round(time.time() - t0)}
    if d.solution:
        row["test_accuracy_fold0"] = d.test_accuracy(np.load(out / "fold_0" / "test.npy"))
        row["test_accuracy_5folds"] = d.test_accuracy(np.load(out / "test.npy"))
    return row


def throughput(name: str, d: BenchData, batch: int = 64) -> dict:
    """Clips/s of one epoch over the fold-0 training rows, three ways (see module doc)."""
    import keras

    cache, folds = d.inputs.load()
    data = fold.load_fold_data(cache, folds)
    rows = np.flatnonzero(data.fold != 0)
    val = np.flatnonzero(data.fold == 0)
    labels = data.labels
    y = np.eye(len(LABELS), dtype=np.float32)[labels]
    params = d.plan(name).params
    result = {}

    def timed_fit(model, inputs, **kw) -> float:
        model.fit(*inputs, epochs=1, verbose=0, **kw)  # tracing, warm caches
        t0 = time.perf_counter()
        model.fit(*inputs, epochs=1, verbose=0, **kw)
        return len(rows) / (time.perf_counter() - t0)

    def fresh():
        keras.utils.set_random_seed(0)
        return fold.inference_model(registry.get(name).build(params, data.x.shape[1:], len(LABELS)), -50.0, 20.0)

    def compile_(m):
        m.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
        return m

    result["plain_fit"] = timed_fit(compile_(fresh()), (data.x[rows], y[rows]), batch_size=batch, shuffle=True)
    for label, aug in (("harness_no_aug", NO_AUG), ("harness", AugSettings())):
        s = TrainSettings(aug=aug, balance="none", tta=1, batch_size=batch)
        model = fresh()
        trainer = compile_(fold.training_model(model, aug, data.noise, seed=0))
        feeder = fold.Feeder(data.x, labels, labels, rows, len(LABELS), s, batch, seed=0)
        cb = fold.Validation(model, data.x[val], labels[val], s, fold.make_targets(data.index, "labels"))
        result[label] = timed_fit(trainer, (feeder,), callbacks=[cb])
    return {k: round(v, 1) for k, v in result.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=[*registry.baselines(), *registry.default_models()])
    parser.add_argument("--epochs", type=int, default=None, help="default: make train's default")
    parser.add_argument("--profile", default="auto")
    parser.add_argument("--throughput-model", default="crnn_resnet")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--workspace", type=Path, default=Path("."))
    args = parser.parse_args(argv)

    d = load_bench_data(Workspace(args.workspace), args.profile)
    manifest, cache, device, solution = d.inputs.manifest, d.cache, d.device, d.solution
    epochs = args.epochs or TrainSettings().epochs
    profile = d.plan(args.models[0]).profile
    import keras

    machine = (f"{cpu_name()}, {os.cpu_count()} cores, {device.upper()}; Keras {keras.__version__} "
               f"({keras.backend.backend()}), Python {platform.python_version()}")
    print(f"machine: {machine}\ndata: {manifest['root']} ({manifest['source']}), {len(cache.train_index)} train "
          f"clips, {len(cache.test_index)} test clips; profile {profile}, {epochs} epochs, {d.inputs.folds.n_folds} folds")
    out_dir = d.ws.bench
    rows = []
    for name in args.models:
        row = bench_model(name, epochs, d)
        rows.append(row)
        print(json.dumps(row))
        write_json(out_dir / "train.json", {"machine": machine, "epochs": epochs, "profile": profile, "models": rows})
    table = pd.DataFrame(rows)[["model", "oof_accuracy", *([c for c in ("test_accuracy_fold0", "test_accuracy_5folds")
                                                          if solution]), "train_seconds"]]
    md = table.to_markdown(index=False, floatfmt=".4f") if _has_tabulate() else table.to_string(index=False)
    print(md)
    report = {"machine": machine, "epochs": epochs, "profile": profile, "models": rows}
    if not args.skip_throughput:
        tp = throughput(args.throughput_model, d)
        report["throughput"] = {"model": args.throughput_model, **tp,
                                "ratio_no_aug": round(tp["harness_no_aug"] / tp["plain_fit"], 3),
                                "ratio_with_aug": round(tp["harness"] / tp["plain_fit"], 3)}
        print(f"throughput ({args.throughput_model}, clips/s): plain model.fit {tp['plain_fit']}, "
              f"harness without augmentation {tp['harness_no_aug']} ({report['throughput']['ratio_no_aug']:.2f}x), "
              f"harness with augmentation {tp['harness']} ({report['throughput']['ratio_with_aug']:.2f}x)")
    write_json(out_dir / "train.json", report)
    write_text(out_dir / "train.md", f"machine: {machine}\n\n{md}\n")
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
