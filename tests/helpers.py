"""Small builders shared by the tests: Kaggle-layout folders of noise clips, the two
Kaggle archives made from them, and a stand-in for the Kaggle client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from competition.audio import SAMPLE_RATE, write_wav
from competition.labels import BACKGROUND_DIR, WORDS


def write_noise(path: Path, seconds: float, rng: np.random.Generator) -> Path:
    """A clip of quiet uniform noise, `seconds` long, as 16-bit PCM at 16 kHz."""
    n = max(1, int(seconds * SAMPLE_RATE))
    write_wav(path, rng.uniform(-0.1, 0.1, n).astype(np.float32))
    return path


def make_kaggle_tree(root: Path, *, words: Iterable[str] = WORDS, seed: int = 0,
                     test_clips: int = 3, background: int = 1) -> Path:
    """A folder in the Kaggle layout: 1-2 clips of 0.1-1 s noise per word folder,
    `background` noise files and `test_clips` test clips. Returns `root`."""
    rng = np.random.default_rng(seed)
    audio = root / "train" / "audio"
    for i, word in enumerate(words):
        for n in range(int(rng.integers(1, 3))):
            write_noise(audio / word / f"{i:04x}beef_nohash_{n}.wav", rng.uniform(0.1, 1.0), rng)
    for n in range(background):
        write_noise(audio / BACKGROUND_DIR / f"noise_{n}.wav", 1.5, rng)
    for n in range(test_clips):
        write_noise(root / "test" / "audio" / f"clip_{n:09x}.wav", 1.0, rng)
    return root


def make_archives(tree: Path, out_dir: Path) -> dict[str, Path]:
    """train.7z holding train/audio/... and test.7z holding test/audio/..., as Kaggle serves them."""
    import py7zr

    out_dir.mkdir(parents=True, exist_ok=True)
    archives = {}
    for part in ("train", "test"):
        path = out_dir / f"{part}.7z"
        with py7zr.SevenZipFile(path, "w") as z:
            z.writeall(tree / part, arcname=part)
        archives[path.name] = path
    return archives


def make_unsafe_archive(path: Path, members: dict[str, bytes], monkeypatch) -> Path:
    """A 7z archive whose member names py7zr would normally refuse to write (`../x`, `/x`)."""
    import py7zr

    path.parent.mkdir(parents=True, exist_ok=True)
    with monkeypatch.context() as m:
        m.setattr(py7zr.py7zr, "check_archive_path", lambda arcname: True)
        with py7zr.SevenZipFile(path, "w") as z:
            for name, data in members.items():
                z.writestr(data, name)
    return path


class StandinClient:
    """A `KaggleClient` that serves local archives instead of reaching Kaggle.

    `archives` maps a Kaggle file name to a local file; `error` (an exception) is raised
    by every download instead. `calls` records each requested file name.
    """

    def __init__(self, archives: dict[str, Path] | None = None, error: BaseException | None = None):
        self.archives = archives or {}
        self.error = error
        self.calls: list[str] = []

    def download(self, file_name: str, dest_dir: Path) -> Path:
        self.calls.append(file_name)
        if self.error is not None:
            raise self.error
        dest_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(self.archives[file_name], dest_dir / file_name))

    def submit(self, path: Path, message: str) -> int:
        raise AssertionError("the tests never submit through this client")

    def submission(self, ref: int):
        raise AssertionError("the tests never submit through this client")


def entries(folder: Path) -> list[str]:
    """The names in `folder`, sorted, without lock files (`.<name>.lock`, kept so that a second
    process waits for the first; they hold no data)."""
    return sorted(n for n in os.listdir(folder) if not n.endswith(".lock"))


def tree_files(root: Path) -> set[str]:
    """Every path under `root` (files, folders, links), relative, as POSIX strings."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def make_tone_tree(root: Path, *, speakers: int = 12, words: Iterable[str] = (*WORDS[:10], "bed", "cat", "dog"),
                   test_speakers: int = 3, seed: int = 0, background: int = 2) -> Path:
    """A small *learnable* Kaggle-layout folder: each word is a chord of two tones at
    word-specific pitches, each speaker shifts the pitch a little, placed at a random
    offset with a random gain. Speakers are 8-hex-digit hashes as on Kaggle; test clips
    come from other speakers and include silence. Writes test_solution.csv. Returns `root`."""
    from competition.labels import word_to_label

    rng = np.random.default_rng(seed)
    words = list(words)
    t = np.arange(int(0.4 * SAMPLE_RATE)) / SAMPLE_RATE
    audio = root / "train" / "audio"

    def clip(word_i: int, pitch: float) -> np.ndarray:
        f1, f2 = 200 + 110 * word_i, 900 + 170 * (word_i % 5)
        tone = (np.sin(2 * np.pi * f1 * pitch * t) + 0.5 * np.sin(2 * np.pi * f2 * pitch * t)) * np.hanning(len(t))
        y = rng.normal(0, 0.002, SAMPLE_RATE)
        start = int(rng.integers(0, SAMPLE_RATE - len(t)))
        y[start : start + len(t)] += tone * rng.uniform(0.1, 0.5)
        return y.astype(np.float32)

    solution = []
    for s in range(speakers + test_speakers):
        speaker = f"{rng.integers(0, 2**32):08x}"
        pitch = rng.uniform(0.95, 1.05)
        for i, word in enumerate(words):
            if s < speakers:
                write_wav(audio / word / f"{speaker}_nohash_0.wav", clip(i, pitch))
            else:
                name = f"clip_{rng.integers(0, 16**9):09x}.wav"
                write_wav(root / "test" / "audio" / name, clip(i, pitch))
                solution.append((name, word_to_label(word)))
    for n in range(background):
        write_wav(audio / BACKGROUND_DIR / f"noise_{n}.wav", rng.normal(0, 0.05, 3 * SAMPLE_RATE).astype(np.float32))
    for _ in range(test_speakers):
        name = f"clip_{rng.integers(0, 16**9):09x}.wav"
        write_wav(root / "test" / "audio" / name, rng.normal(0, 0.01, SAMPLE_RATE).astype(np.float32))
        solution.append((name, "silence"))
    lines = ["fname,label"] + [f"{n},{lab}" for n, lab in sorted(solution)]
    (root / "test_solution.csv").write_text("\n".join(lines) + "\n")
    return root


class FakeKaggleApi:
    """A stand-in for `kaggle.api.kaggle_api_extended.KaggleApi` of kaggle 1.8, the object the
    harness's adapter (`competition.kaggle_api.RealKaggleClient`) drives: the same method names,
    arguments and return types (kagglesdk's own response classes), serving local files.

    Configure the class before the adapter builds one: `archives` (file name -> local path),
    `upload_fails` (competition_submit answers as kaggle does when the upload fails: a response
    whose message says so, without a ref), `scores` (what successive polls of the new submission
    report: a (public, private) pair, None while Kaggle is still scoring, or "error"); `calls`
    records every call. Kaggle 1.8 has no call for one submission: the adapter finds it in
    `competition_submissions`, which also lists an older, scored submission."""

    archives: dict[str, Path] = {}
    scores: list = []
    upload_fails = False
    error: BaseException | None = None  # raised by competition_submit (an HTTP error, say)
    calls: list[tuple] = []
    NEW_REF, OLD_REF = 51234, 50001

    def __init__(self, enable_oauth: bool = False):
        self.enable_oauth = enable_oauth

    def authenticate(self) -> None:
        self.calls.append(("authenticate",))

    def competition_download_file(self, competition: str, file_name: str, path: str | None = None,
                                  force: bool = False, quiet: bool = False) -> None:
        self.calls.append(("competition_download_file", competition, file_name))
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.archives[file_name], Path(path) / file_name)

    def competition_submit(self, file_name: str, message: str, competition: str, quiet: bool = False):
        from kagglesdk.competitions.types.competition_api_service import ApiCreateSubmissionResponse

        self.calls.append(("competition_submit", competition, Path(file_name).name, message))
        if self.error is not None:
            raise self.error
        response = ApiCreateSubmissionResponse()
        if self.upload_fails:
            response.message = "Could not submit to competition"
        else:
            response.message, response.ref = "Successfully submitted to TensorFlow Speech Recognition Challenge", \
                self.NEW_REF
        return response

    def _new_submission(self):
        from kagglesdk.competitions.types.competition_api_service import ApiSubmission
        from kagglesdk.competitions.types.submission_status import SubmissionStatus

        score = self.scores.pop(0) if self.scores else None
        sub = ApiSubmission()
        sub.ref, sub.description = self.NEW_REF, "blend"
        if score == "error":
            sub.status, sub.error_description = SubmissionStatus.ERROR, "Submission must have 158538 rows"
        elif score is None:
            sub.status = SubmissionStatus.PENDING
        else:
            sub.status, (sub.public_score, sub.private_score) = SubmissionStatus.COMPLETE, score
        return sub

    def competition_submissions(self, competition: str, group=None, sort=None, page_number: int = -1,
                                page_token: str = "", page_size: int = 20):
        from kagglesdk.competitions.types.competition_api_service import ApiSubmission
        from kagglesdk.competitions.types.submission_status import SubmissionStatus

        self.calls.append(("competition_submissions", competition))
        old = ApiSubmission()
        old.ref, old.status, old.public_score, old.private_score = \
            self.OLD_REF, SubmissionStatus.COMPLETE, "0.70000", "0.69000"
        submitted = any(c[0] == "competition_submit" for c in self.calls) and not self.upload_fails
        return [self._new_submission(), old] if submitted else [old]


class FakeKaggleApi2(FakeKaggleApi):
    """The same for kaggle 2.x, which also fetches one submission by its ref (`get_submission`)
    and whose constructor takes no arguments."""

    def __init__(self):
        super().__init__()

    def get_submission(self, submission_ref: int):
        self.calls.append(("get_submission", submission_ref))
        if submission_ref != self.NEW_REF:
            raise AssertionError(f"asked for submission {submission_ref}, which was not just made")
        return self._new_submission()


def install_fake_kaggle(monkeypatch, api: type[FakeKaggleApi] = FakeKaggleApi) -> type[FakeKaggleApi]:
    """Put `api` (FakeKaggleApi or FakeKaggleApi2) where the adapter imports it from
    (`kaggle.api.kaggle_api_extended`), without importing the real package (whose import
    authenticates against Kaggle)."""
    import sys
    import types

    api.archives, api.scores, api.calls, api.upload_fails, api.error = {}, [], [], False, None
    extended = types.ModuleType("kaggle.api.kaggle_api_extended")
    extended.KaggleApi = api
    api_module = types.ModuleType("kaggle.api")
    api_module.kaggle_api_extended = extended
    package = types.ModuleType("kaggle")
    package.api = api_module
    for name, module in (("kaggle", package), ("kaggle.api", api_module), ("kaggle.api.kaggle_api_extended", extended)):
        monkeypatch.setitem(sys.modules, name, module)
    return api
