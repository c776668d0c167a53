"""`make bench-stretch`: three ways to time-stretch a batch of log-mel spectrograms, clips per second.

    opencv (feeder)     cv2.resize of each clip's frame axis on the CPU, then the centre cut or
                        edge-padded back to the clip's length (what a numpy feeder would do)
    image.resize        keras.ops.image.resize of the whole batch, one rate per batch (the op
                        takes one output size), then the same cut
    TimeStretch layer   models/augment.py: a rate per clip, linear interpolation by gathers,
                        inside the model on the device

Each is timed on the same batch (64 clips of 101 x 40) after one warm-up call.
    make bench-stretch                    # on this machine's backend (KERAS_BACKEND)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _cut(x: np.ndarray, frames: int) -> np.ndarray:
    """Centre `frames` of `x` `(n, mels)`, edge-padded when shorter."""
    n = len(x)
    if n >= frames:
        start = (n - frames) // 2
        return x[start : start + frames]
    before = (frames - n) // 2
    return np.pad(x, ((before, frames - n - before), (0, 0)), mode="edge")


def opencv_stretch(xb: np.ndarray, rates: np.ndarray) -> np.ndarray:
    import cv2

    frames, mels = xb.shape[1:]
    return np.stack([_cut(cv2.resize(x, (mels, max(2, round(frames / r))), interpolation=cv2.INTER_LINEAR), frames)
                     for x, r in zip(xb, rates, strict=True)])


def resize_stretch(xb, rate: float):
    from keras import ops

    frames, mels = xb.shape[1:]
    new = max(2, round(frames / rate))
    out = ops.image.resize(ops.expand_dims(xb, -1), (new, mels), interpolation="bilinear", data_format="channels_last")
    out = ops.squeeze(out, -1)
    if new >= frames:
        start = (new - frames) // 2
        return out[:, start : start + frames]
    before = (frames - new) // 2
    return ops.concatenate([ops.repeat(out[:, :1], before, axis=1), out,
                            ops.repeat(out[:, -1:], frames - new - before, axis=1)], axis=1)


def timed(fn, seconds: float) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    import keras
    from keras import ops

    from benchmarks.bench_features import cpu_name
    from models.augment import stretch_frames

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    xb = rng.normal(-50, 10, (args.batch, 101, 40)).astype(np.float32)
    rates = rng.uniform(0.85, 1.15, args.batch).astype(np.float32)
    xt = ops.convert_to_tensor(xb)
    rt = ops.convert_to_tensor(rates[:, None])
    rows = [("opencv (feeder), a rate per clip", lambda: opencv_stretch(xb, rates)),
            ("keras.ops.image.resize, a rate per batch", lambda: ops.convert_to_numpy(resize_stretch(xt, 1.1))),
            ("TimeStretch layer, a rate per clip", lambda: ops.convert_to_numpy(stretch_frames(xt, rt)))]
    print(f"{cpu_name()}, {os.cpu_count()} cores, Keras {keras.__version__} on {keras.backend.backend()}; "
          f"batch {args.batch} x 101 x 40")
    for name, fn in rows:
        print(f"  {name:44s} {timed(fn, args.seconds) * args.batch:12,.0f} clips/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
