"""A Kaggle-like data folder made from a data folder in the Kaggle layout (the dev data by default).

The dev data's test set is clean and holds only words that training has; Kaggle's is noisier
and holds words no training clip has ("unknown unknowns"). This makes a folder that has both
tests, so one training run is scored on each:

- `train/audio/<word>/`: every train clip of the source except those of HELD_WORDS, which no
  model ever sees (the five words Speech Commands v0.02 added, which Kaggle's train set
  lacks, and three v0.01 words, `tree` among them, which sounds like `three`);
- `train/audio/_background_noise_/`: every recording but HELD_NOISE: those two are never
  silence nor augmentation noise in training;
- `test/audio/clip_<id>.wav`, the **plain test**: the source's test clips, unchanged;
- `test/audio/clip_k<id>.wav`, the **Kaggle-like test**: balanced over the 12 labels (the
  median label count of the plain test per label), every clip mixed with a random window of a
  HELD_NOISE recording at a random SNR of 0-20 dB (uniform); `unknown` drawn from the held-out
  words' clips and the plain test's unknown clips together, so about half of its unknowns are
  words that training never has;
- `test_solution.csv` answers both; `benchmark_sets.csv` says which set each clip is in, the
  source file it was made from, and the held-out word and SNR of the Kaggle-like clips.

A source without an answer key (the real competition) gets its plain test carved from train:
the clips of a tenth of the speakers (chosen by a hash of the name), which then leave training.
Held-out word clips come from speakers that train has (with other words): the dev data has no
unseen-speaker clips of those words. The folder is built once per source and seed and reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from competition import layout
from competition.labels import BACKGROUND_DIR, LABELS, UNKNOWN, word_to_label

HELD_WORDS = ("backward", "follow", "forward", "learn", "visual", "tree", "wow", "bird")
HELD_NOISE = ("doing_the_dishes.wav", "running_tap.wav")
SNR_DB = (0.0, 20.0)
SR = 16_000
CARVE_SHARE = 0.1  # of the speakers, when the source has no answer key


def _link(src: Path, dst: Path) -> None:
    """A hard link where the file system allows one (no copy of the source's audio), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _speaker_share(speaker: str) -> float:
    return int(hashlib.sha1(speaker.encode()).hexdigest()[:8], 16) / 16**8


def _train_clips(root: Path) -> pd.DataFrame:
    rows = []
    for wdir in sorted(p for p in (root / "train" / "audio").iterdir() if p.is_dir()):
        if wdir.name == BACKGROUND_DIR:
            continue
        for f in sorted(wdir.glob("*.wav")):
            rows.append((wdir.name, f, layout.speaker_of(f.name)))
    return pd.DataFrame(rows, columns=["word", "path", "speaker"])


def _mix(y: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """`y` plus a random window of `noise` scaled to `snr_db` below the clip's power."""
    start = int(rng.integers(0, len(noise) - len(y) + 1))
    n = noise[start : start + len(y)]
    gain = np.sqrt((np.mean(y**2) + 1e-10) / (np.mean(n**2) + 1e-10) / 10 ** (snr_db / 10))
    return np.clip(y + gain * n, -1.0, 1.0)


def _carved_silence(noise_dir: Path, held_noise, out: Path, n: int, rng: np.random.Generator) -> list[tuple[Path, str]]:
    """`n` one-second silence clips cut from the held-out noise recordings at random levels
    (RMS log-uniform in 1e-3..0.1): (path, what it was cut from)."""
    import soundfile as sf

    out.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(max(1, n)):
        name = held_noise[i % len(held_noise)]
        rec = sf.read(noise_dir / name, dtype="float32")[0]
        start = int(rng.integers(0, max(1, len(rec) - SR)))
        y = rec[start : start + SR]
        y = y * (np.exp(rng.uniform(np.log(1e-3), np.log(0.1))) / max(float(np.sqrt(np.mean(y**2))), 1e-8))
        path = out / f"clip_s{i:08x}.wav"
        sf.write(path, np.clip(y, -1, 1), SR, subtype="PCM_16")
        made.append((path, f"noise:{name}@{start / SR:.2f}s"))
    return made


def build(source: Path, dest: Path, *, seed: int = 0, held_words=HELD_WORDS, held_noise=HELD_NOISE,
          log=print) -> Path:
    """Make (or reuse) the Kaggle-like folder of `source` in `dest`; return `dest`."""
    import soundfile as sf
    from tqdm import tqdm

    from competition.files import atomic_dir

    if (dest / "benchmark_sets.csv").is_file():
        return dest
    source = Path(source).resolve()
    noise_dir = source / "train" / "audio" / BACKGROUND_DIR
    recordings = sorted(p.name for p in noise_dir.glob("*.wav"))
    missing = [n for n in held_noise if n not in recordings]
    if missing or len(recordings) - len(held_noise) < 1:
        raise SystemExit(f"bench-kaggle-like: {noise_dir} must hold {', '.join(held_noise)} and at least one more "
                         f"recording (it has {', '.join(recordings) or 'none'})")
    train = _train_clips(source)
    held = train["word"].isin(held_words)
    solution_path = source / "test_solution.csv"
    rng = np.random.default_rng(seed)
    with atomic_dir(dest) as tmp:
        if solution_path.is_file():
            solution = pd.read_csv(solution_path)
            plain = [(source / "test" / "audio" / f, f, lab) for f, lab in zip(solution["fname"], solution["label"])]
            made = []
        else:  # the real competition: carve the plain test from a tenth of the speakers
            speakers = sorted(train.loc[~held, "speaker"].unique(), key=_speaker_share)
            carved = set(speakers[: max(1, round(CARVE_SHARE * len(speakers)))])
            out = ~held & train["speaker"].isin(carved)
            plain = [(r.path, f"clip_p{i:08x}.wav", word_to_label(r.word))
                     for i, r in enumerate(train[out].itertuples())]
            train = train[~out]
            held = held[~out]
            made = _carved_silence(noise_dir, held_noise, tmp / "test" / "audio", len(plain) // 11, rng)
        for r in train[~held].itertuples():
            _link(r.path, tmp / "train" / "audio" / r.word / r.path.name)
        for name in recordings:
            if name not in held_noise:
                _link(noise_dir / name, tmp / "train" / "audio" / BACKGROUND_DIR / name)
        rows = []
        for path, fname, label in plain:
            _link(path, tmp / "test" / "audio" / fname)
            rows.append({"fname": fname, "label": label, "set": "plain", "word": "", "snr_db": np.nan,
                         "source": str(Path(path).relative_to(source))})
        for path, what in made:  # silence for a carved test: cut from the held-out noise
            plain.append((path, path.name, "silence"))
            rows.append({"fname": path.name, "label": "silence", "set": "plain", "word": "", "snr_db": np.nan,
                         "source": what})

        # the Kaggle-like test: balanced, unknown unknowns, unseen noise
        by_label = {lab: [(p, lab, "") for p, _, l2 in plain if l2 == lab] for lab in LABELS}
        by_label[UNKNOWN] += [(r.path, UNKNOWN, r.word) for r in train[held].itertuples()]
        per_label = int(np.median([len(by_label[lab]) for lab in LABELS if lab != UNKNOWN]))
        noises = [sf.read(noise_dir / n, dtype="float32")[0] for n in held_noise]
        picked = []
        for lab in LABELS:
            pool = by_label[lab]
            take = rng.choice(len(pool), size=min(per_label, len(pool)), replace=False) if pool else []
            picked += [pool[i] for i in sorted(take)]
        for i, (path, label, word) in enumerate(tqdm(picked, desc="Kaggle-like test", unit="clip", mininterval=2)):
            y, sr = sf.read(path, dtype="float32")
            if y.ndim > 1:
                y = y.mean(axis=1)
            snr = float(rng.uniform(*SNR_DB))
            noise = noises[int(rng.integers(len(noises)))]
            fname = f"clip_k{i:08x}.wav"
            sf.write(tmp / "test" / "audio" / fname, _mix(y, noise, snr, rng), sr, subtype="PCM_16")
            rows.append({"fname": fname, "label": label, "set": "kaggle_like", "word": word, "snr_db": round(snr, 2),
                         "source": str(Path(path).relative_to(source)) if Path(path).is_relative_to(source)
                         else f"test/audio/{Path(path).name}"})
        sets = pd.DataFrame(rows)
        sets[["fname", "label"]].to_csv(tmp / "test_solution.csv", index=False)
        sets.to_csv(tmp / "benchmark_sets.csv", index=False)
        kl = sets[sets["set"] == "kaggle_like"]
        (tmp / "README.txt").write_text(
            f"Kaggle-like benchmark folder made from {source} (seed {seed}) by benchmarks/kaggle_like.py.\n"
            f"Held-out words (never in train/): {', '.join(held_words)}\n"
            f"Held-out noise (never in train/): {', '.join(held_noise)}\n"
            f"plain test: {int((sets['set'] == 'plain').sum())} clips; Kaggle-like test: {len(kl)} clips, "
            f"{per_label} per label, {int((kl['word'] != '').sum())} of held-out words, SNR {SNR_DB[0]:g}-{SNR_DB[1]:g} dB\n")
    log(f"Kaggle-like data: {dest} ({int(held.sum())} held-out word clips and {len(held_noise)} noise recordings "
        f"kept out of train/; {len(kl)} Kaggle-like test clips beside {len(plain)} plain ones)")
    return dest


def scores(probs: np.ndarray, fnames, sets: pd.DataFrame) -> dict[str, float]:
    """Accuracy of `probs` `(clips, 12)` (rows in `fnames` order) on each benchmark set."""
    pred = pd.Series(np.asarray(LABELS)[np.argmax(probs, axis=1)], index=list(fnames))
    out = {}
    for name, part in sets.groupby("set"):
        out[name] = float((pred.reindex(part["fname"]).to_numpy() == part["label"].to_numpy()).mean())
    held = sets[(sets["set"] == "kaggle_like") & (sets["word"].fillna("") != "")]
    if len(held):
        out["unknown_unknowns"] = float((pred.reindex(held["fname"]).to_numpy() == UNKNOWN).mean())
    return out


