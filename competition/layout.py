"""The Kaggle data layout, and checking that a folder follows it.

    <root>/train/audio/<word>/<speaker>_nohash_<n>.wav
    <root>/train/audio/_background_noise_/*.wav
    <root>/test/audio/clip_<id>.wav
    <root>/test_solution.csv            optional answer key (demo and dev data have one)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from competition.errors import UserError
from competition.files import digest
from competition.labels import BACKGROUND_DIR, COMMANDS, WORDS, is_word_folder

SPEAKER_RE = re.compile(r"^(?P<speaker>[0-9a-zA-Z]+)_nohash_(?P<n>\d+)\.wav$")
EXPECTED = (f"Expected train/audio/<word>/*.wav, train/audio/{BACKGROUND_DIR}/*.wav "
            "and test/audio/clip_*.wav")


class LayoutError(UserError):
    """A data folder that is not in the Kaggle layout; the message says what is missing."""


@dataclass
class Layout:
    """What a data folder holds: clip counts per word, noise files, test clips."""

    root: Path
    words: dict[str, int] = field(default_factory=dict)
    background: list[str] = field(default_factory=list)
    test_clips: int = 0
    solution: Path | None = None

    @property
    def train_clips(self) -> int:
        return sum(self.words.values())


def train_dir(root: Path) -> Path:
    return Path(root) / "train" / "audio"


def test_dir(root: Path) -> Path:
    return Path(root) / "test" / "audio"


def speaker_of(fname: str) -> str:
    """The speaker hash of a train file name (`<speaker>_nohash_<n>.wav`); the stem otherwise."""
    m = SPEAKER_RE.match(os.path.basename(fname))
    return m["speaker"] if m else Path(fname).stem


def _count_wavs(folder: Path) -> int:
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.name.endswith(".wav") and e.is_file())


def scan(root: str | os.PathLike) -> Layout:
    """Count what a folder holds, without judging it."""
    root = Path(root)
    layout = Layout(root=root)
    tdir = train_dir(root)
    if tdir.is_dir():
        for e in sorted(os.scandir(tdir), key=lambda e: e.name):
            if e.is_dir() and is_word_folder(e.name):
                layout.words[e.name] = _count_wavs(Path(e.path))
        bdir = tdir / BACKGROUND_DIR
        if bdir.is_dir():
            layout.background = sorted(p.name for p in bdir.glob("*.wav"))
    if test_dir(root).is_dir():
        layout.test_clips = _count_wavs(test_dir(root))
    if (root / "test_solution.csv").is_file():
        layout.solution = root / "test_solution.csv"
    return layout


def problems(layout: Layout, *, all_words: bool = True) -> list[str]:
    """What is missing from a Kaggle-layout folder, one phrase each; empty when it is complete.

    `all_words`: require all 30 Kaggle word folders (a download must have them); otherwise
    only the 10 commands and some other word (a local subset such as the dev data).
    """
    out: list[str] = []
    root = layout.root
    if not train_dir(root).is_dir():
        out.append(f"no train/audio/ folder under {root}")
    else:
        needed = WORDS if all_words else COMMANDS
        missing = [w for w in needed if layout.words.get(w, 0) == 0]
        if missing:
            out.append(f"{len(missing)} word folder(s) missing or empty in train/audio/: {', '.join(missing)}")
        if not all_words and not any(n for w, n in layout.words.items() if w not in COMMANDS):
            out.append("no non-command word folder in train/audio/ (needed for the `unknown` label)")
        if not layout.background:
            out.append(f"no .wav files in train/audio/{BACKGROUND_DIR}/ (needed for `silence`)")
    if layout.test_clips == 0:
        out.append(f"no test clips in {test_dir(root)} (expected clip_<id>.wav files)")
    return out


def verify(root: str | os.PathLike, *, all_words: bool = True) -> Layout:
    """Scan `root` and raise LayoutError naming everything missing, or return its Layout."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise LayoutError(f"{root} is a file, not a data folder. {EXPECTED}")
    if not root.is_dir():
        raise LayoutError(f"data folder {root} does not exist. {EXPECTED}")
    layout = scan(root)
    found = problems(layout, all_words=all_words)
    if found:
        raise LayoutError(
            f"{root} is not in the Kaggle layout: " + "; ".join(found) + f". {EXPECTED}"
        )
    return layout


def test_clips(root: str | os.PathLike) -> list[str]:
    """The file names of every test clip (`test/audio/*.wav`), sorted: the rows a submission must have."""
    with os.scandir(test_dir(root)) as it:
        return sorted(e.name for e in it if e.name.endswith(".wav"))


def _clip_stats(root: str | os.PathLike) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, stat) of every .wav under train/ and test/, in a stable order
    (a link that leads nowhere is left out: it is no clip)."""
    for sub in (train_dir(root), test_dir(root)):
        for dirpath, dirnames, filenames in os.walk(sub):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)  # once a folder: per clip it was most of the time at 223,000 clips
            for name in sorted(filenames):
                if name.endswith(".wav"):
                    try:
                        st = os.stat(os.path.join(dirpath, name))
                    except OSError:
                        continue
                    yield os.path.join(rel, name), st


def fingerprint(root: str | os.PathLike) -> tuple[str, str]:
    """(fingerprint, stamp) of the clips under `root`.

    The fingerprint hashes every clip's relative path and size: it names the data (a copy of
    the same folder has the same one) and changes when clips are added, removed or replaced by
    ones of another length. The stamp adds modification times: it changes whenever a clip is
    touched, and is what stages compare, cheaply, to notice a folder changed after `make data`."""
    stats = list(_clip_stats(root))
    return (digest(f"{rel}:{st.st_size}" for rel, st in stats),
            digest(f"{rel}:{st.st_size}:{st.st_mtime_ns}" for rel, st in stats))
