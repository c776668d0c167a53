"""Reading and writing one-second clips.

Every stage reads audio through `read_clip`, so every stage sees the same thing:
float32 mono at 16 kHz, exactly one second long, whatever the file held.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE  # one second


class AudioError(Exception):
    """A file that cannot be read as audio: empty, truncated, not audio, or holding NaN.

    Callers collect these into a list of bad files and go on; the message names the file.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def fit_length(y: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    """Pad with zeros or trim to `n` samples, keeping the clip centred.

    Short Speech Commands clips are words cut off at one end; centring them keeps the
    word away from the edge, and training shifts clips in time anyway.
    """
    if len(y) == n:
        return y
    if len(y) > n:
        start = (len(y) - n) // 2
        return y[start : start + n]
    before = (n - len(y)) // 2
    return np.pad(y, (before, n - len(y) - before))


def read_audio(path: str | os.PathLike, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A whole file as float32 mono at `sr` Hz in [-1, 1], any length.

    Raises AudioError for an empty, truncated or non-audio file.
    """
    try:
        if os.path.getsize(path) == 0:
            raise AudioError(path, "empty file (0 bytes)")
        y, file_sr = sf.read(path, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        raise AudioError(path, f"not readable as audio ({str(e).splitlines()[0][:120]})") from None
    except OSError as e:
        raise AudioError(path, f"cannot open ({e.strerror or e})") from None
    if y.shape[0] == 0:
        raise AudioError(path, "no audio samples (truncated or empty data chunk)")
    y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if not np.isfinite(y).all():
        raise AudioError(path, "contains NaN or infinite samples")
    if file_sr != sr:
        import librosa  # only for the rare file at another rate; librosa import is slow

        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def read_clip(path: str | os.PathLike, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One clip as `(sr,)` float32: mono, resampled to `sr`, centred and padded or trimmed to 1 s."""
    return fit_length(read_audio(path, sr), sr)


def write_wav(path: str | os.PathLike, y: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write float audio in [-1, 1] as 16-bit PCM, atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        sf.write(tmp, np.clip(y, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
