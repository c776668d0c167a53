"""`make bench-speed`: training speed of every model on this machine's accelerator, with
whichever Keras backend `KERAS_BACKEND` names (tensorflow, jax or torch).

Feeds random spectrograms shaped like the cache's (101 frames x 40 mels) through the same
training model `make train` builds (augmentation layers, mixed precision and compiled steps
on a GPU), and prints clips per second per model and the time of one epoch over CLIPS
clips (default 60,000: about the size of Kaggle's train set).

    KERAS_BACKEND=jax make bench-speed PROFILE=full
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import keras

    from competition.labels import LABELS
    from models import fold, registry
    from models.device import accelerator, configure_device
    from models.plan import GPU_BATCH, policy
    from models.settings import AugSettings, TrainSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=registry.default_models())
    parser.add_argument("--clips", type=int, default=60_000)
    parser.add_argument("--profile", default="auto")
    parser.add_argument("--batch-size", type=int, default=0)
    args = parser.parse_args(argv)
    device = accelerator()
    profile = policy({}, device)[0] if args.profile == "auto" else args.profile
    dev = configure_device(device)
    batch = args.batch_size or (GPU_BATCH if device == "gpu" else TrainSettings().batch_size)
    rng = np.random.default_rng(0)
    n = max(batch * 4, min(args.clips, 8192))  # one in-memory block, cycled to reach --clips
    x = rng.uniform(-90, 0, (n, 101, 40)).astype("float32")
    y = np.eye(len(LABELS), dtype="float32")[rng.integers(0, len(LABELS), n)]
    noise = rng.uniform(0.0, 1e-3, (64, 101, 40)).astype("float32")
    print(f"backend {keras.backend.backend()}, {device.upper()}, {dev['precision']}, jit {dev['jit_compile']}, "
          f"profile {profile}, batch {batch}")
    for name in args.models:
        keras.utils.set_random_seed(0)
        body = registry.get(name).build(registry.params_for(name, profile), (101, 40), len(LABELS))
        model = fold.training_model(fold.inference_model(body, -50.0, 20.0), AugSettings(), noise, seed=0)
        model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="categorical_crossentropy",
                      jit_compile=dev["jit_compile"])
        model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, epochs=1, verbose=0)  # compile, warm up
        steps = max(1, args.clips // batch)
        per_block = n // batch
        t0 = time.perf_counter()
        done = 0
        while done < steps:
            k = min(per_block, steps - done)
            model.fit(x[: k * batch], y[: k * batch], batch_size=batch, epochs=1, verbose=0, shuffle=False)
            done += k
        seconds = time.perf_counter() - t0
        rate = steps * batch / seconds
        print(f"{name:16s} {rate:9.0f} clips/s   one epoch of {args.clips:,} clips: {args.clips / rate:7.1f} s"
              f"   ({body.count_params():,} parameters)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

