"""`make bench-features`: the feature cache's build against the loop a competitor writes first.

The naive loop, one file at a time:

    y, _ = librosa.load(path, sr=16000)
    y = fit_length(y, pad=s.pad)           # the same 1 s centring and padding as the harness
    S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, win_length=480, ...)
    D = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None)

against `competition.features.compute_files` (batched FFT, one process per core, float16
output), on the same clips. Prints clips per second for each, the ratio, and the largest
difference between the two spectrograms (the harness stores float16: about 0.03 dB at 0 dB,
0.06 dB at -100 dB).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from competition import features, layout
from competition.audio import fit_length
from competition.workspace import Workspace

TOLERANCE_DB = 0.1  # float16 rounding of values in [-100, 40] dB is below 0.04 dB


def naive_loop(paths: list[str], s: features.FeatureSettings) -> np.ndarray:
    import librosa

    out = []
    for path in paths:
        y, _ = librosa.load(path, sr=s.sample_rate)
        y = fit_length(y, s.sample_rate, s.pad)
        S = librosa.feature.melspectrogram(
            y=y, sr=s.sample_rate, n_fft=features.n_fft(s), hop_length=features.hop_length(s),
            win_length=features.win_length(s), n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax)
        out.append(librosa.power_to_db(S, ref=1.0, amin=s.amin, top_db=None).T)
    return np.stack(out)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4000, help="how many train clips to time (default 4000)")
    parser.add_argument("--workspace", type=Path, default=Path("."))
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    ws = Workspace(args.workspace)
    manifest = ws.read_manifest()
    current = ws.current(manifest["fingerprint"]).get("features")
    s = features.from_json(current["settings"]) if current else features.FeatureSettings()  # what make features uses
    root = Path(manifest["root"])
    index = features.train_index(root)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(index), size=min(args.clips, len(index)), replace=False))
    paths = [str(layout.train_dir(root) / f) for f in index["fname"].iloc[pick]]
    import librosa  # warm both paths up (imports, filter banks), so neither pays a first-call cost

    naive_loop(paths[:20], s)
    features.compute_files(paths[:20], s, workers=1, progress=False)
    for p in paths:  # and the file cache: both read the same files from memory
        with open(p, "rb") as f:
            f.read()

    t0 = time.perf_counter()
    naive = naive_loop(paths, s)
    t_naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    cached, good, bad = features.compute_files(paths, s, workers=args.workers, progress=False)
    t_cache = time.perf_counter() - t0
    assert not bad and len(good) == len(paths)
    diff = np.abs(cached.astype(np.float32) - naive)
    workers = args.workers or features.default_workers()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; librosa {librosa.__version__}; {len(paths)} clips from {root}; "
          f"{'the current' if current else 'default'} feature settings ({s.n_mels} mels, {s.hop_ms:g} ms hop)")
    print(f"naive librosa loop (1 process):      {len(paths) / t_naive:8.0f} clips/s")
    print(f"harness cache build ({workers} processes):  {len(paths) / t_cache:8.0f} clips/s")
    print(f"speed-up: {t_naive / t_cache:.1f}x")
    print(f"largest difference: {diff.max():.4f} dB (mean {diff.mean():.5f} dB; tolerance {TOLERANCE_DB} dB)")
    if diff.max() > TOLERANCE_DB:
        print("FAIL: the spectrograms differ by more than the tolerance")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
