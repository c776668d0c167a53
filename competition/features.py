"""`make features`: log-mel spectrograms of every clip, cached so training never touches audio.

    artifacts/features/<key>/        <key> = hash of the settings, the data fingerprint and this code
      settings.json                  the settings, the data manifest, counts, bad files
      train_index.csv                fname, word, label, speaker, source (row i = train.npy[i])
      train.npy                      (clips, frames, mels) float16, dB (10*log10 of mel power)
      test_index.csv, test.npy       the same for test/audio
      noise.npy, noise_index.csv     (windows, frames, mels) float32 mel *power* of the
                                     background recordings in 1 s windows, for mixing noise
                                     into spectrograms during training
      bad_files.csv                  path, reason: files the reader could not use (left out)

The spectrogram is librosa's: the same Hann window, centred frames with zero padding and
`librosa.filters.mel`, and `power_to_db(ref=1, top_db=None)`. It is computed for a whole
batch of clips at once (one FFT call, one matrix product) in one process per core, which
is what makes it several times faster than the per-file librosa loop; the benchmark
(`make bench-features`) checks that both give the same numbers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from competition import layout
from competition.audio import CLIP_SAMPLES, AudioError, read_audio, read_clip
from competition.cli import run_stage
from competition.files import (
    atomic_dir,
    clean_stale,
    locked,
    npy_rows,
    read_json,
    short_hash,
    write_csv,
    write_json,
)
from competition.labels import (
    BACKGROUND_DIR,
    COMMANDS,
    SILENCE,
    SILENCE_WORD,
    is_word_folder,
    word_to_label,
)
from competition.provenance import source_hash
from competition.settings import (
    check_choice,
    check_number,
    check_range_pair,
    flatten,
    parse_items,
    resolve,
)
from competition.workspace import Workspace

FEATURE_CODE = ("competition/features.py", "competition/audio.py")  # what makes the numbers in a cache
CHUNK = 256  # clips per task: big enough for one efficient FFT call, small enough for a smooth progress bar


@dataclass(frozen=True)
class FeatureSettings:
    """How clips become spectrograms, and how silence clips are made. Part of the cache key."""

    sample_rate: int = 16_000
    win_ms: float = 30.0
    hop_ms: float = 10.0
    # 64, not 40: on the Kaggle-like benchmark (README) crnn_vgg and crnn_resnet were better with 64
    # bands on every fold's OOF, the noisy OOF copies and both tests, and so was the ensemble of the
    # three default models, though cnn_resnet alone was worse; ~30% more time per fold (2 CPU cores)
    n_mels: int = 64
    fmin: float = 20.0
    fmax: float = 8_000.0
    amin: float = 1e-10  # power floor before the log: -100 dB, the level of digital silence
    silence_clips: int = 0  # 0 = as many as the average command word has
    digital_silence: float = 0.1  # share of silence clips that are exact zeros
    # silence clips are scaled to an RMS level drawn log-uniformly from this range: real
    # silence clips (Speech Commands v2 test set) go from 2e-4 to 0.33, louder than most words
    silence_rms: tuple[float, float] = (1e-4, 0.4)
    silence_seed: int = 0  # the random cuts and gains of the silence clips
    # each recording is cut into segments of this many seconds, and a silence clip's "speaker"
    # is its segment: folds split a recording's silence by segment, so every fold model trains
    # on (and mixes noise from) every recording, and validates on segments it never heard;
    # 0: a recording is one speaker (every fold model misses the noise types of its validation)
    silence_segment_s: float = 10.0
    pad: str = "noise"  # short clips padded with "noise" at their own background level, or "zeros" (audio.fit_length)

    def __post_init__(self):
        check_number("sample_rate", self.sample_rate, 8_000, 96_000, integer=True)
        check_number("win_ms", self.win_ms, 1, 500)
        check_number("hop_ms", self.hop_ms, 1, 500)
        check_number("n_mels", self.n_mels, 1, n_fft(self) // 2 + 1, integer=True)
        check_number("fmin", self.fmin, 0, self.sample_rate / 2, hi_open=True)
        check_number("fmax", self.fmax, self.fmin, self.sample_rate / 2, lo_open=True)
        check_number("amin", self.amin, 0, 1, lo_open=True, hi_open=True)
        check_number("silence_clips", self.silence_clips, 0, integer=True)
        check_number("digital_silence", self.digital_silence, 0, 1)
        check_range_pair("silence_rms", self.silence_rms, 1e-8, 1)
        check_number("silence_seed", self.silence_seed, 0, integer=True)
        check_number("silence_segment_s", self.silence_segment_s, 0, 3600)
        check_choice("pad", self.pad, ("noise", "zeros"))


def win_length(s: FeatureSettings) -> int:
    return round(s.sample_rate * s.win_ms / 1000)


def hop_length(s: FeatureSettings) -> int:
    return round(s.sample_rate * s.hop_ms / 1000)


def n_fft(s: FeatureSettings) -> int:
    """The FFT size: the smallest power of two that holds a window (30 ms at 16 kHz: 512)."""
    return 1 << (win_length(s) - 1).bit_length()


def n_frames(s: FeatureSettings, n_samples: int = CLIP_SAMPLES) -> int:
    """Frames of a centred STFT of `n_samples` (one second at 10 ms: 101)."""
    return 1 + n_samples // hop_length(s)


def input_shape(s: FeatureSettings) -> tuple[int, int]:
    """(frames, mels) of one clip's spectrogram."""
    return (n_frames(s), s.n_mels)


@lru_cache(maxsize=8)
def _filters(s: FeatureSettings) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    window = librosa.filters.get_window("hann", win_length(s), fftbins=True)
    window = librosa.util.pad_center(window, size=n_fft(s)).astype(np.float32)
    mel = librosa.filters.mel(sr=s.sample_rate, n_fft=n_fft(s), n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax)
    return window, np.ascontiguousarray(mel.T, dtype=np.float32)


BLOCK = 32  # clips per FFT call: the frames of 32 clips (6.6 MB) stay in cache; 256 run half as fast


def mel_power(y: np.ndarray, s: FeatureSettings) -> np.ndarray:
    """Mel power spectrogram of a batch: `(batch, samples)` float32 -> `(batch, frames, mels)` float32.

    Equal to `librosa.feature.melspectrogram(y=..., center=True, pad_mode='constant')`
    (transposed), computed `BLOCK` clips per FFT call.
    """
    y = np.asarray(y, dtype=np.float32)
    if len(y) > BLOCK:
        return np.concatenate([_mel_power_block(y[i : i + BLOCK], s) for i in range(0, len(y), BLOCK)])
    return _mel_power_block(y, s)


def _mel_power_block(y: np.ndarray, s: FeatureSettings) -> np.ndarray:
    import scipy.fft

    window, mel_t = _filters(s)
    nfft, hop = n_fft(s), hop_length(s)
    padded = np.pad(y, ((0, 0), (nfft // 2, nfft // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, nfft, axis=1)[:, ::hop]
    spec = scipy.fft.rfft(frames * window, axis=-1)
    power = spec.real**2 + spec.imag**2
    return power @ mel_t


def to_db(power: np.ndarray, s: FeatureSettings) -> np.ndarray:
    """`librosa.power_to_db(power, ref=1.0, amin=s.amin, top_db=None)`, float32."""
    return (10.0 * np.log10(np.maximum(power, np.float32(s.amin)))).astype(np.float32)


def log_mel(y: np.ndarray, s: FeatureSettings) -> np.ndarray:
    """`(batch, samples)` audio -> `(batch, frames, mels)` float32 dB."""
    return to_db(mel_power(y, s), s)


# --- the clip index ----------------------------------------------------------------------


def train_index(root: Path) -> pd.DataFrame:
    """Every train clip: fname (`<word>/<file>.wav`, as in Kaggle's lists), word, label, speaker, source."""
    rows = []
    tdir = layout.train_dir(root)
    for word in sorted(os.listdir(tdir)):
        if not is_word_folder(word) or not (tdir / word).is_dir():
            continue
        for name in sorted(os.listdir(tdir / word)):
            if name.endswith(".wav"):
                rows.append((f"{word}/{name}", word, word_to_label(word), layout.speaker_of(name), "train"))
    return pd.DataFrame(rows, columns=["fname", "word", "label", "speaker", "source"])


def test_index(root: Path) -> pd.DataFrame:
    return pd.DataFrame({"fname": layout.test_clips(root)})


def clips_hash(index: pd.DataFrame) -> str:
    """A hash of a clip index (fname, speaker, label, in order): what a folds file is made for."""
    return short_hash(index[["fname", "speaker", "label"]].to_numpy().tolist(), 16)


def background_recordings(root: Path) -> tuple[list[str], list[np.ndarray], list[tuple[str, str]]]:
    """Names and audio of the readable background recordings, and the (path, reason) of the rest."""
    names, audio, bad = [], [], []
    for path in sorted((layout.train_dir(root) / BACKGROUND_DIR).glob("*.wav")):
        try:
            y = read_audio(path)
        except AudioError as e:
            bad.append((str(path), e.reason))
            continue
        if len(y) < CLIP_SAMPLES:
            bad.append((str(path), "shorter than one second"))
            continue
        names.append(path.stem)
        audio.append(y)
    return names, audio, bad


def silence_count(index: pd.DataFrame, s: FeatureSettings) -> int:
    """How many silence clips: as many as the average command word has, unless set."""
    if s.silence_clips:
        return s.silence_clips
    counts = index[index["word"].isin(COMMANDS)]["word"].value_counts()
    return max(1, int(round(counts.mean()))) if len(counts) else 100


def make_silence(names: list[str], recordings: list[np.ndarray], n: int,
                 s: FeatureSettings) -> tuple[pd.DataFrame, np.ndarray]:
    """`n` one-second silence clips: windows of the background recordings scaled to a random
    RMS level (log-uniform in `silence_rms`, clipped to [-1, 1]), plus a share of exact zeros.

    Each clip is tagged with its source recording and the segment of it that it was cut from
    (its `speaker` is `noise-<name>@<start>-<end>` in seconds; `silence_segment_s`), so folds
    keep every clip of one segment together. Returns (index rows, `(n, samples)` audio).
    """
    rng = np.random.default_rng([s.silence_seed, 7])
    n_zero = int(round(n * s.digital_silence)) if recordings else n
    n_noise = n - n_zero
    audio = np.zeros((n, CLIP_SAMPLES), dtype=np.float32)
    rows = []
    per = np.full(len(recordings), n_noise // max(1, len(recordings)))
    per[: n_noise - per.sum()] += 1 if recordings else 0
    k = 0
    for name, rec, count in zip(names, recordings, per):
        segments = recording_segments(len(rec), s.silence_segment_s)
        for j in range(count):
            lo, hi = segments[int(rng.integers(len(segments)))]
            start = int(rng.integers(lo, max(lo, hi - CLIP_SAMPLES) + 1))
            window = rec[start : start + CLIP_SAMPLES]
            level = float(np.exp(rng.uniform(*np.log(s.silence_rms))))
            audio[k, : len(window)] = np.clip(window * (level / max(float(np.sqrt(np.mean(window**2))), 1e-8)), -1, 1)
            rows.append((f"{SILENCE_WORD}/{name}_{j:04d}.wav", SILENCE_WORD, SILENCE,
                         f"noise-{name}@{lo / CLIP_SAMPLES:g}-{hi / CLIP_SAMPLES:g}", f"noise:{name}"))
            k += 1
    for j in range(n_zero):
        rows.append((f"{SILENCE_WORD}/digital_silence_{j:04d}.wav", SILENCE_WORD, SILENCE,
                     "noise-digital_silence", "digital_silence"))
    return pd.DataFrame(rows, columns=["fname", "word", "label", "speaker", "source"]), audio


def recording_segments(samples: int, segment_s: float) -> list[tuple[int, int]]:
    """`[(start, end), ...]` sample ranges of a recording cut into `segment_s`-second segments
    (a last piece shorter than a segment joins the one before; 0: the whole recording)."""
    size = int(round(segment_s * CLIP_SAMPLES))
    n = samples // size if size > 0 else 1
    if n < 2:
        return [(0, samples)]
    edges = [i * size for i in range(n)] + [samples]
    return list(zip(edges[:-1], edges[1:], strict=True))


def silence_segment(speaker: str) -> tuple[str, float, float] | None:
    """(recording, start s, end s) of a silence clip's speaker `noise-<name>@<start>-<end>`;
    an old-style `noise-<name>` is the whole recording; None for a speaker that is not noise."""
    if not speaker.startswith("noise-"):
        return None
    name, at, span = speaker[len("noise-"):].rpartition("@") if "@" in speaker else (speaker[len("noise-"):], "", "")
    if not at:
        return name, 0.0, float("inf")
    start, _, end = span.partition("-")
    return name, float(start), float(end)


def noise_windows(names: list[str], recordings: list[np.ndarray], hop_s: float = 0.5) -> tuple[pd.DataFrame, np.ndarray]:
    """Every recording cut into one-second windows every `hop_s` seconds: (index, `(windows, samples)`)."""
    rows, clips = [], []
    hop = int(hop_s * CLIP_SAMPLES)
    for name, rec in zip(names, recordings):
        for start in range(0, len(rec) - CLIP_SAMPLES + 1, hop):
            rows.append((name, start / CLIP_SAMPLES))
            clips.append(rec[start : start + CLIP_SAMPLES])
    audio = np.stack(clips) if clips else np.zeros((0, CLIP_SAMPLES), np.float32)
    return pd.DataFrame(rows, columns=["source", "start_s"]), audio


# --- computing many files in parallel --------------------------------------------------------


def _chunk_features(paths: list[str], s: FeatureSettings) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Worker: read and transform one chunk. Returns float16 spectrograms of the good files
    (in order) and (position, reason) of the bad ones."""
    clips, bad = [], []
    for i, path in enumerate(paths):
        try:
            clips.append(read_clip(path, s.sample_rate, s.pad))
        except AudioError as e:
            bad.append((i, e.reason))
    if not clips:
        return np.zeros((0, *input_shape(s)), np.float16), bad
    return log_mel(np.stack(clips), s).astype(np.float16), bad


def _one_blas_thread() -> None:
    """In a worker process: one BLAS thread, since the workers already use every core (with
    the default of one BLAS thread per core in each of them, 2 workers on 2 cores ran slower
    than 1 process)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def pool_context():
    """How feature workers start: `fork`, so they inherit the imported modules and start at once
    (forkserver's fresh imports cost more than the whole 4,000-clip benchmark), unless an ML
    framework with thread pools of its own is imported (TensorFlow, as in a test session or a
    notebook; JAX; PyTorch): a child forked from such a process can deadlock on a lock one of
    its threads held at the fork, so then `forkserver`."""
    if not any(name in sys.modules for name in ("tensorflow", "jax", "torch")):
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["competition.features"])
    return ctx


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def compute_files(paths: list[str], s: FeatureSettings, out: Path | None = None, *,
                  workers: int | None = None, desc: str = "clips",
                  progress: bool = True) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Spectrograms of `paths`, in order, computed on `workers` processes.

    Writes a float16 `(good, frames, mels)` .npy at `out` (through ordinary writes, chunk by
    chunk; see files.npy_rows) and returns it memory-mapped, or returns it in memory. Returns
    (array, positions of the good files, [(path, reason)] of the bad)."""
    from tqdm import tqdm

    workers = workers or default_workers()
    good: list[int] = []
    bad: list[tuple[str, str]] = []
    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    blocks: list[np.ndarray] = []
    bar = tqdm(total=len(paths), desc=desc, unit="clip", disable=not progress, mininterval=0.5)

    def results():
        if workers <= 1 or len(chunks) <= 1:
            yield from (_chunk_features(chunk, s) for chunk in chunks)
            return
        with ProcessPoolExecutor(max_workers=workers, mp_context=pool_context(), initializer=_one_blas_thread) as pool:
            yield from pool.map(_chunk_features, chunks, [s] * len(chunks))

    def take(k: int, result, append) -> None:
        array, bad_here = result
        bad_pos = {i for i, _ in bad_here}
        append(array)
        good.extend(k * CHUNK + i for i in range(len(chunks[k])) if i not in bad_pos)
        bad.extend((paths[k * CHUNK + i], reason) for i, reason in bad_here)
        bar.update(len(chunks[k]))

    with bar:  # closed (its line ended) however the loop ends, so an error line starts on a line of its own
        if out is None:
            for k, result in enumerate(results()):
                take(k, result, blocks.append)
            shape = (0, *input_shape(s))
            return (np.concatenate(blocks) if blocks else np.zeros(shape, np.float16)), good, bad
        with npy_rows(out, np.float16, input_shape(s)) as append:
            for k, result in enumerate(results()):
                take(k, result, append)
    return np.load(out, mmap_mode="r"), good, bad


def bytes_needed(n_clips: int, s: FeatureSettings) -> int:
    """Disk space a cache of `n_clips` spectrograms needs while it is built (the rows are written,
    then copied once into the .npy: twice the float16 array)."""
    frames, mels = input_shape(s)
    return 2 * n_clips * frames * mels * 2


# --- the cache -------------------------------------------------------------------------------


def cache_key(s: FeatureSettings, manifest: dict) -> str:
    """Short hash of the settings, the data (its fingerprint) and the feature code, naming the cache folder."""
    return short_hash({"settings": asdict(s), "data": manifest["fingerprint"], "code": source_hash(FEATURE_CODE)})


def build(s: FeatureSettings, ws: Workspace | None = None, *, workers: int | None = None, progress: bool = True,
          log=print) -> Path:
    """Build the cache for the data in data/raw (or find it built), record it as current; return its folder.
    A second process building the same cache waits for the first and then finds it built."""
    ws = ws or Workspace()
    manifest = ws.read_manifest()
    dest = ws.feature_cache(cache_key(s, manifest))
    with locked(dest, log, "building"):
        clean_stale(dest)  # safe under the lock: only a killed builder of this cache left these
        if (dest / "settings.json").is_file():
            log(f"features up to date in {dest}")
        else:
            _build(s, manifest, dest, workers, progress, log)
    ws.set_current(manifest["fingerprint"], features={"key": dest.name, "settings": asdict(s)})
    return dest


def check_space(folder: Path, needed: int) -> None:
    """A LayoutError when `folder`'s disk has less than `needed` bytes free (checked before any work)."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise layout.LayoutError(f"the feature cache needs about {needed / 1e9:.2f} GB in {folder} but only "
                                 f"{free / 1e9:.2f} GB is free: free some space and rerun `make features`")


def _build(s: FeatureSettings, manifest: dict, dest: Path, workers: int | None, progress: bool, log) -> None:
    root = Path(manifest["root"])
    layout.verify(root, all_words=False)
    check_space(dest.parent, bytes_needed(manifest["train_clips"] + manifest["test_clips"], s))
    log(f"building features in {dest} from {root} ...")
    with atomic_dir(dest) as tmp:
        train = train_index(root)
        tdir = layout.train_dir(root)
        _, good, bad = compute_files([str(tdir / f) for f in train["fname"]], s, tmp / "train_words.npy",
                                     workers=workers, desc="train", progress=progress)
        train = train.iloc[good].reset_index(drop=True)
        names, recordings, bad_noise = background_recordings(root)
        bad += bad_noise
        silence, silence_audio = make_silence(names, recordings, silence_count(train, s), s)
        _join_with_silence(tmp, train, silence, log_mel(silence_audio, s).astype(np.float16))

        test = test_index(root)
        _, good, bad_test = compute_files([str(layout.test_dir(root) / f) for f in test["fname"]], s,
                                          tmp / "test.npy", workers=workers, desc="test", progress=progress)
        bad += bad_test
        write_csv(tmp / "test_index.csv", test.iloc[good].reset_index(drop=True))

        noise_idx, noise_audio = noise_windows(names, recordings)
        np.save(tmp / "noise.npy", mel_power(noise_audio, s) if len(noise_audio) else
                np.zeros((0, *input_shape(s)), np.float32))
        write_csv(tmp / "noise_index.csv", noise_idx)
        write_csv(tmp / "bad_files.csv", pd.DataFrame(bad, columns=["path", "reason"]))
        write_json(tmp / "settings.json", {
            "key": dest.name, "settings": asdict(s), "input_shape": list(input_shape(s)),
            "code": source_hash(FEATURE_CODE), "clips": clips_hash(pd.concat([train, silence], ignore_index=True)),
            "data": manifest, "train_clips": int(len(train) + len(silence)), "silence_clips": int(len(silence)),
            "test_clips": int(len(good)), "noise_windows": int(len(noise_idx)), "bad_files": len(bad),
        })
    for path, reason in bad:
        log(f"  left out {path}: {reason}")
    log(f"features: {len(train)} word clips + {len(silence)} silence clips, {len(good)} test clips, "
        f"{len(bad)} bad file(s) left out -> {dest}")


def _join_with_silence(tmp: Path, words: pd.DataFrame, silence: pd.DataFrame, silence_db: np.ndarray) -> None:
    """train.npy = word clips then silence clips, index rows in the same order."""
    word_db = np.load(tmp / "train_words.npy", mmap_mode="r")
    with npy_rows(tmp / "train.npy", np.float16, word_db.shape[1:]) as append:
        for i in range(0, len(word_db), 4096):
            append(word_db[i : i + 4096])
        append(silence_db)
    del word_db
    (tmp / "train_words.npy").unlink()
    write_csv(tmp / "train_index.csv", pd.concat([words, silence], ignore_index=True))


@dataclass(frozen=True)
class Cache:
    """A built feature cache, loaded: arrays are memory-mapped."""

    path: Path
    settings: dict
    train_index: pd.DataFrame
    train: np.ndarray  # (clips, frames, mels) float16 dB
    test_index: pd.DataFrame
    test: np.ndarray
    noise: np.ndarray  # (windows, frames, mels) float32 power
    noise_index: pd.DataFrame


def load(path: Path) -> Cache:
    """Open a cache folder; a missing or incomplete one says to run `make features`."""
    path = Path(path)
    if not (path / "settings.json").is_file():
        raise FileNotFoundError(f"no feature cache at {path}: run `make features` first")
    return Cache(
        path=path,
        settings=read_json(path / "settings.json"),
        train_index=pd.read_csv(path / "train_index.csv", keep_default_na=False),
        train=np.load(path / "train.npy", mmap_mode="r"),
        test_index=pd.read_csv(path / "test_index.csv", keep_default_na=False),
        test=np.load(path / "test.npy", mmap_mode="r"),
        noise=np.load(path / "noise.npy", mmap_mode="r"),
        noise_index=pd.read_csv(path / "noise_index.csv", keep_default_na=False),
    )


def add_setting_args(parser: argparse.ArgumentParser) -> None:
    """One --option per FeatureSettings field (e.g. --n-mels 64); unset options stay None, so
    only what the user typed is applied (see `typed_settings`)."""
    for f in fields(FeatureSettings):
        option, dest = f"--{f.name.replace('_', '-')}", f"feat_{f.name}"
        if isinstance(f.default, tuple):
            parser.add_argument(option, type=float, nargs=len(f.default), default=None, dest=dest)
        else:
            parser.add_argument(option, type=type(f.default), default=None, dest=dest)
    parser.add_argument("--feat", nargs="*", action="extend", default=[], metavar="NAME=VALUE", dest="feat_items",
                        help="feature settings by field name (FEAT=\"n_mels=64 hop_ms=15\"); an --option of "
                             "the same field wins")


def typed_settings(args: argparse.Namespace) -> dict:
    """The feature settings given on the command line (FEAT=NAME=VALUE pairs, then the
    --options), as flat overrides; names and values are checked when they are applied."""
    return {**parse_items(getattr(args, "feat_items", None) or [], "FEAT"),
            **{f.name: getattr(args, f"feat_{f.name}") for f in fields(FeatureSettings)
               if getattr(args, f"feat_{f.name}", None) is not None}}


def settings_with(typed: dict, base: FeatureSettings | None = None) -> FeatureSettings:
    """`base` (default: the defaults) with `typed` applied; a SettingsError for a bad value."""
    return resolve(base or FeatureSettings(), [("typed", typed)])[0]


def from_json(values: dict) -> FeatureSettings:
    """FeatureSettings from their JSON (lists back to tuples), as recorded in settings.json or current.json."""
    return settings_with({k: v for k, v in values.items() if k in flatten(FeatureSettings())})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m competition.features", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setting_args(parser)
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)

    def body() -> None:
        if args.workers is not None:
            check_number("WORKERS", args.workers, 1, integer=True)
        build(settings_with(typed_settings(args)), Workspace(args.workspace), workers=args.workers)

    return run_stage("features", body, "no partial cache was kept, rerun to build it")


if __name__ == "__main__":
    sys.exit(main())
