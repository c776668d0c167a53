"""`make bench-scale`: the pipeline at the competition's size, stage by stage, with wall time
and peak memory (RSS) of each.

Kaggle's data is 64,727 train clips and 158,538 test clips. This builds a dataset of that size
(TRAIN_CLIPS, TEST_CLIPS): the demo generator speaks the train clips (~27 per synthetic
speaker, ~2,400 speakers) and its unseen-speaker test clips; the test set is filled up to its
size with those clips again, each with its own background noise at 0-20 dB SNR (the point is
volume, not new words). Then, in a project folder of its own (artifacts/bench/scale/project,
nothing of the user's data or artifacts is touched), each stage runs as `make` runs it, in a
process of its own:

    data       make data DATA=<the generated folder>   (link, fingerprint every clip)
    features   make features                           (log-mel cache of every clip, 5 folds)
    train      make train MODELS=cnn_resnet FOLDS=0 PROFILE=toy EPOCHS=1
               (one fold of a tiny model: training on ~52,000 clips, then prediction of the
               ~13,000 held-out clips and of all test clips with 3 TTA views, in chunks)
    ensemble   make ensemble of five finished runs with test predictions of the full size
               (their probabilities are drawn, calibrated to the true labels, and written in
               the training stage's format next to the real run: five real runs of this size
               would take a day on 2 cores; the blending, prior correction, report and
               submission that follow are the real stage)

Peak RSS is the largest resident set of the stage's process or any process it started (the
feature workers), from wait4(2). The generated folder is kept and reused by a rerun.

    make bench-scale                          # the competition's size
    make bench-scale TRAIN_CLIPS=6000 TEST_CLIPS=15000   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CLIPS_PER_SPEAKER = 27  # what the demo generator's speakers say on average (competition/demo.py)


def generate(dest: Path, train_clips: int, test_clips: int, seed: int = 0) -> Path:
    """A Kaggle-layout folder of about `train_clips` train and exactly `test_clips` test clips."""
    import soundfile as sf
    from tqdm import tqdm

    from competition.demo import build_demo
    from competition.files import atomic_path

    done = dest / "scale-complete"
    if done.is_file():
        return dest
    build_demo(dest, seed=seed, speakers=max(4, math.ceil(train_clips / CLIPS_PER_SPEAKER)))
    solution = pd.read_csv(dest / "test_solution.csv")
    spoken = [(r.fname, r.label) for r in solution.itertuples()]  # the demo's (replaced only at the end)
    taken = set(solution["fname"])
    noises = [sf.read(f, dtype="float32")[0]
              for f in sorted((dest / "train" / "audio" / "_background_noise_").glob("*.wav"))]
    rng = np.random.default_rng(seed)
    rows = list(spoken)
    for i in tqdm(range(test_clips - len(spoken)), desc="noisy test copies", unit="clip", mininterval=2):
        fname, label = spoken[i % len(spoken)]
        y = sf.read(dest / "test" / "audio" / fname, dtype="float32")[0]
        bank = noises[int(rng.integers(len(noises)))]
        start = int(rng.integers(0, len(bank) - len(y)))
        n = bank[start : start + len(y)]
        gain = np.sqrt((np.mean(y**2) + 1e-10) / (np.mean(n**2) + 1e-10) / 10 ** (rng.uniform(0, 20) / 10))
        name = f"clip_{i:09x}.wav"
        while name in taken:  # the demo's names are random hex
            name = f"clip_{int(rng.integers(16**9)):09x}.wav"
        taken.add(name)
        sf.write(dest / "test" / "audio" / name, np.clip(y + gain * n, -1, 1), 16_000, subtype="PCM_16")
        rows.append((name, label))
    with atomic_path(dest / "test_solution.csv") as tmp:
        pd.DataFrame(rows, columns=["fname", "label"]).to_csv(tmp, index=False)
    done.write_text(f"{len(rows)} test clips\n")
    return dest


def stage(name: str, cmd: list[str], cwd: Path, log, who: str = "bench-scale") -> dict:
    """Run one stage's command; its wall time and the peak RSS of it and its children."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KWS_ARTIFACTS", None)
    log(f"--- {name}: {' '.join(cmd)}")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", *cmd], cwd=cwd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{who}: stage {name} failed (exit {proc.returncode}); see its output above")
    return {"stage": name, "seconds": round(seconds, 1), "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2)}


def fake_runs(project: Path, n_runs: int, log) -> None:
    """`n_runs` finished runs of the full size beside the real one: the real run's inputs record,
    OOF and test probabilities drawn calibrated to the true labels at several strengths."""
    from competition import metrics
    from competition.files import save_npy, write_json
    from competition.labels import LABEL_INDEX, LABELS
    from competition.provenance import RunRecord

    (real,) = [p for p in (project / "artifacts" / "runs").glob("*/*") if (p / "params.json").is_file()]
    record = RunRecord.read(real / "params.json")
    folds = pd.read_csv(project / record.inputs.folds_path, keep_default_na=False)
    y = folds["label"].map(LABEL_INDEX).to_numpy()
    fold = folds["fold"].to_numpy()
    manifest = json.loads((project / "data" / "manifest.json").read_text())
    truth = pd.read_csv(manifest["solution"]).set_index("fname")["label"]
    test_index = pd.read_csv(project / record.inputs.features_path / "test_index.csv", keep_default_na=False)
    y_test = test_index["fname"].map(truth).map(LABEL_INDEX).to_numpy()
    rng = np.random.default_rng(0)

    def draw(labels, strength):
        z = strength * np.eye(len(LABELS))[labels] + rng.standard_normal((len(labels), len(LABELS)))
        p = np.exp(strength * z - (strength * z).max(axis=1, keepdims=True))
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    for i in range(n_runs):
        strength = 1.0 + 0.25 * i
        oof, test = draw(y, strength), draw(y_test, strength)
        out = project / "artifacts" / "runs" / f"scale_{i}" / "drawn"
        out.mkdir(parents=True, exist_ok=True)
        import dataclasses

        dataclasses.replace(record, model=f"scale_{i}").write(out / "params.json")
        save_npy(out / "oof.npy", oof)
        save_npy(out / "test.npy", test)
        write_json(out / "cv.json", {"complete": True, "folds_trained": sorted(set(fold.tolist())),
                                     "folds": {str(k): metrics.summary(oof[fold == k], y[fold == k])
                                               for k in sorted(set(fold.tolist()))},
                                     "overall": metrics.summary(oof, y)})
    log(f"wrote {n_runs} finished runs of {len(y):,} OOF and {len(y_test):,} test rows")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.bench_features import cpu_name
    from competition.workspace import Workspace

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-clips", type=int, default=64_727)
    parser.add_argument("--test-clips", type=int, default=158_538)
    parser.add_argument("--runs", type=int, default=5, help="finished runs the ensemble blends")
    parser.add_argument("--workspace", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    base = Workspace(args.workspace).bench / "scale"
    source = base / f"data-{args.train_clips}-{args.test_clips}"
    project = base / f"project-{args.train_clips}-{args.test_clips}"
    project.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    generate(source.resolve(), args.train_clips, args.test_clips)
    print(f"dataset: {source} ({time.perf_counter() - t0:.0f} s to generate, or reused)", flush=True)
    for old in ("artifacts",):  # every stage measured from nothing
        subprocess.run(["rm", "-rf", str(project / old)], check=True)
    rows = [
        stage("data", ["competition.data", "--source", str(source.resolve())], project, print),
        stage("features", ["competition.features"], project, print),
        stage("folds", ["folds.make_folds"], project, print),
        stage("train (1 fold, toy)", ["models.train", "--models", "cnn_resnet", "--folds", "0", "--profile", "toy",
                                      "--epochs", "1", "--verbose", "0"], project, print),
    ]
    fake_runs(project, args.runs, print)
    rows.append(stage(f"ensemble ({args.runs} runs)", ["submissions.ensemble"], project, print))
    manifest = json.loads((project / "data" / "manifest.json").read_text())
    n_train = len(pd.read_csv(next((project / "artifacts" / "folds").glob("*.csv"))))
    print(f"\nmachine: {cpu_name()}, {os.cpu_count()} cores; {n_train:,} train clips, "
          f"{manifest['test_clips']:,} test clips")
    print(f"{'stage':26s} {'wall':>9s} {'peak RSS':>9s}  rate")
    for r in rows:
        rate = ""
        if r["stage"] == "features":
            rate = f"{(n_train + manifest['test_clips']) / r['seconds']:,.0f} clips/s"
        print(f"{r['stage']:26s} {r['seconds']:8.1f}s {r['peak_rss_gb']:7.2f} GB  {rate}")
    out = base / "scale.json"
    out.write_text(json.dumps({"train_clips": n_train, "test_clips": manifest["test_clips"], "stages": rows,
                               "machine": cpu_name(), "cores": os.cpu_count()}, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
