"""`make bench-speed`: training speed of every model on this machine's accelerator, with
whichever Keras backend `KERAS_BACKEND` names (tensorflow, jax or torch).

Random spectrograms shaped like the default cache's (101 frames x 64 mels) go through `make train`'s
own feeder (models.fold.Feeder: a shuffled gather of rows per batch) into the same training
model `make train` builds (augmentation layers; on a GPU the precision and compiled steps
models/device.py chooses per backend).
Printed per row: clips per second and the time of one epoch over CLIPS clips (default 60,000,
about the size of Kaggle's train set). Two rows come first:
- `feed only`: the feeder into a model that does nothing (pooling + one dense layer): the most
  clips per second the input side can deliver, whatever the model;
- `feed + augment`: the same behind the augmentation layers.
A model whose rate is close to `feed only` is fed too slowly, not computed too slowly.

Each row trains for at most SECONDS seconds after a warm-up (compilation) of a few steps.
`--epoch MODEL` also runs one real epoch of CLIPS clips of MODEL, start to end.

On a CPU with the TensorFlow backend, `--compare onednn` measures every model with TensorFlow's
oneDNN kernels on and off (a process each, as the switch is read when TensorFlow is imported)
and writes the choice `make train` then uses on this machine (models/kernels.py);
`--compare allocator` measures the harness's allocator setting against the system's.

    make bench-speed                                  # this machine, every default model
    KERAS_BACKEND=jax make bench-speed PROFILE=full   # on a GPU
    make bench-speed COMPARE=onednn                   # oneDNN on against off, and remember the faster
    make bench-speed COMPARE=allocator                # glibc's default against the harness's setting
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from competition.features import FeatureSettings, input_shape  # noqa: E402

FRAMES, MELS = input_shape(FeatureSettings())  # the default cache's: 40 mels until 2026-11-28, 64 since


def _feed_model(n_out: int):
    """A model that does almost nothing: what is left of a step is the feed."""
    import keras

    inp = keras.Input((FRAMES, MELS))
    out = keras.layers.Dense(n_out, activation="softmax")(keras.layers.GlobalAveragePooling1D()(inp))
    return keras.Model(inp, out, name="feed_only")


def _rate(model, feeder, warm_feeder, seconds: float, jit) -> tuple[float, int]:
    """Clips/s of `model` on `feeder` for at most `seconds` after a warm-up epoch on `warm_feeder`."""
    import keras

    class Budget(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps, self.t0 = 0, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if time.perf_counter() - self.t0 > seconds:
                self.model.stop_training = True

    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="categorical_crossentropy", jit_compile=jit)
    model.fit(warm_feeder, epochs=1, verbose=0)  # compile and warm up
    budget = Budget()
    model.fit(feeder, epochs=1, verbose=0, callbacks=[budget])
    elapsed = time.perf_counter() - budget.t0
    return budget.steps * feeder.batch_size / elapsed, budget.steps


def measure(args) -> list[dict]:
    import keras

    from competition.labels import LABELS
    from models import fold, registry
    from models.device import accelerator, configure_device, gpu_supports_bf16
    from models.plan import GPU_BATCH, policy
    from models.settings import AugSettings, TrainSettings

    device = accelerator()
    profile = policy({}, device)[0] if args.profile == "auto" else args.profile
    dev = configure_device(device)
    if args.precision != "auto":
        mixed = "mixed_float16" if device == "gpu" and not gpu_supports_bf16() else "mixed_bfloat16"
        keras.mixed_precision.set_global_policy("float32" if args.precision == "float32" else mixed)
    precision = keras.mixed_precision.global_policy().name
    jit = {"auto": dev["jit_compile"], "on": True, "off": False}[args.jit]
    batch = args.batch_size or (GPU_BATCH if device == "gpu" else TrainSettings().batch_size)
    rng = np.random.default_rng(0)
    n = max(batch * 8, min(args.clips, 16_384))  # distinct rows in memory; the epoch cycles through them
    x = rng.uniform(-90, 0, (n, FRAMES, MELS)).astype("float32")
    labels = rng.integers(0, len(LABELS), n)
    noise = rng.uniform(0.0, 1e-3, (64, FRAMES, MELS)).astype("float32")
    s = TrainSettings(batch_size=batch, balance="none")

    def feeder(clips: int, seed: int = 0):
        return fold.Feeder(x, labels, labels, np.arange(clips) % n, len(LABELS), s, batch, seed=seed)

    warm = feeder(batch * 3)
    head = (f"backend {keras.backend.backend()}, {device.upper()}, {precision}, jit {jit}, profile {profile}, "
            f"batch {batch}, oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}")
    print(head, flush=True)
    rows = []

    def report(name: str, rate: float, steps: int, params: int | None = None) -> None:
        extra = f"   ({params:,} parameters)" if params else ""
        print(f"{name:16s} {rate:9.0f} clips/s   one epoch of {args.clips:,} clips: {args.clips / rate:7.1f} s"
              f"   [{steps} steps]{extra}", flush=True)
        rows.append({"row": name, "clips_per_s": round(rate, 1), "epoch_s": round(args.clips / rate, 2),
                     "steps": steps, "backend": keras.backend.backend(), "device": device, "precision": precision,
                     "jit": str(jit), "profile": profile, "batch": batch,
                     "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")})
        save(rows[-1])

    def save(row: dict) -> None:  # as each row is measured: a run cut off at its time limit keeps its rows
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            with args.json.open("a") as f:
                f.write(json.dumps(row) + "\n")

    if args.feed:
        keras.utils.set_random_seed(0)
        report("feed only", *_rate(_feed_model(len(LABELS)), feeder(args.clips), warm, args.seconds, jit))
        keras.utils.set_random_seed(0)
        report("feed + augment", *_rate(fold.training_model(_feed_model(len(LABELS)), AugSettings(), noise, seed=0),
                                        feeder(args.clips), warm, args.seconds, jit))
    for name in args.models:
        keras.utils.set_random_seed(0)
        body = registry.get(name).build(registry.params_for(name, profile), (FRAMES, MELS), len(LABELS))
        model = fold.training_model(fold.inference_model(body, -50.0, 20.0), AugSettings(), noise, seed=0)
        report(name, *_rate(model, feeder(args.clips), warm, args.seconds, jit), body.count_params())
    if args.epoch:
        keras.utils.set_random_seed(0)
        body = registry.get(args.epoch).build(registry.params_for(args.epoch, profile), (FRAMES, MELS), len(LABELS))
        model = fold.training_model(fold.inference_model(body, -50.0, 20.0), AugSettings(), noise, seed=0)
        model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="categorical_crossentropy", jit_compile=jit)
        model.fit(warm, epochs=1, verbose=0)
        t0 = time.perf_counter()
        model.fit(feeder(args.clips, seed=1), epochs=1, verbose=0)
        seconds = time.perf_counter() - t0
        print(f"one real epoch of {args.clips:,} clips of {args.epoch}: {seconds:.1f} s", flush=True)
        rows.append({"row": f"epoch {args.epoch}", "epoch_s": round(seconds, 2), "clips": args.clips,
                     "backend": keras.backend.backend(), "device": device, "precision": precision, "jit": str(jit)})
        save(rows[-1])
    return rows


VARIANTS = {  # --compare: the child processes' environments
    "onednn": [("oneDNN off", {"TF_ENABLE_ONEDNN_OPTS": "0"}), ("oneDNN on", {"TF_ENABLE_ONEDNN_OPTS": "1"})],
    "allocator": [("system allocator, oneDNN off", {"KWS_ALLOCATOR": "system", "TF_ENABLE_ONEDNN_OPTS": "0"}),
                  ("harness allocator, oneDNN off", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
                  ("system allocator, oneDNN on", {"KWS_ALLOCATOR": "system", "TF_ENABLE_ONEDNN_OPTS": "1"}),
                  ("harness allocator, oneDNN on", {"TF_ENABLE_ONEDNN_OPTS": "1"})],
}


def compare(args) -> int:
    """The same rows in one child process per variant (each setting is read at start-up), with
    the share of CPU time spent in the kernel and the minor page faults per second of each.
    `onednn` also writes the faster setting per machine for `make train` (models/kernels.py)."""
    import resource

    from competition.workspace import Workspace
    from models import kernels

    ws = Workspace(args.workspace)
    results: dict[str, dict[str, float]] = {}
    for label, env in VARIANTS[args.compare]:
        out = ws.bench / "speed-compare.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "benchmarks.bench_speed", "--profile", args.profile, "--clips", str(args.clips),
               "--seconds", str(args.seconds), "--no-feed", "--json", str(out), "--models", *args.models]
        print(f"--- {label}", flush=True)
        before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        child_env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "KWS_ALLOCATOR")}
        subprocess.run(cmd, env={**child_env, **env}, check=True)
        after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - t0
        user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        print(f"    kernel time {system / max(user + system, 1e-9):.0%} of the CPU time, "
              f"{(after.ru_minflt - before.ru_minflt) / wall:,.0f} minor page faults/s", flush=True)
        for line in out.read_text().splitlines():
            row = json.loads(line)
            results.setdefault(row["row"], {})[label] = row["clips_per_s"]
    labels = [label for label, _ in VARIANTS[args.compare]]
    print("\nclips/s " + "".join(f"| {label:>30s} " for label in labels))
    for name, r in results.items():
        print(f"{name:16s}" + "".join(f"| {r.get(label, float('nan')):30.0f} " for label in labels))
    if args.compare == "onednn":
        rates = {m: {"0": r[labels[0]], "1": r[labels[1]]} for m, r in results.items()}
        where = kernels.save(ws, rates, profile=args.profile)
        value, why = kernels.choose(ws, None)
        print(f"\nmake train on this machine now sets TF_ENABLE_ONEDNN_OPTS={value}: {why}; written to {where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from competition.workspace import Workspace
    from models import kernels

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=None, help="registry names (default: all but baselines)")
    parser.add_argument("--clips", type=int, default=60_000, help="clips of the epoch the time is given for")
    parser.add_argument("--profile", default="auto")
    parser.add_argument("--batch-size", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=20.0, help="longest time per row after its warm-up")
    parser.add_argument("--precision", choices=["auto", "float32", "mixed"], default="auto",
                        help="auto: what make train uses (models/device.py)")
    parser.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="XLA / compiled steps")
    parser.add_argument("--no-feed", dest="feed", action="store_false", help="skip the feed-only rows")
    parser.add_argument("--epoch", default=None, metavar="MODEL", help="also time one real epoch of MODEL")
    parser.add_argument("--json", type=Path, default=None, help="append the rows here as JSON lines")
    parser.add_argument("--compare", choices=sorted(VARIANTS), default=None,
                        help="TensorFlow on a CPU: each setting in its own process; `onednn` remembers the faster")
    parser.add_argument("--workspace", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    if not args.compare:  # as `make train` runs: before TensorFlow starts
        kernels.apply(Workspace(args.workspace), args.models)
    from models import registry

    args.models = registry.default_models() if args.models is None else args.models
    for name in args.models:
        registry.get(name)
    if args.compare:
        return compare(args)
    measure(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
