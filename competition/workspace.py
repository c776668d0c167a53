"""The workspace: where every artifact lives, and which feature cache and folds file are current.

    data/raw -> <folder>               make data: the data (a link; never modified)
    data/manifest.json                 make data: source, counts, fingerprint and stamp of the clips
    artifacts/current.json             make features / make folds: the current cache and folds, per data
    artifacts/features/<key>/          log-mel cache (key: settings, data fingerprint, feature code)
    artifacts/folds/<key>.csv          folds (key: the clip list, n_folds, seed)
    artifacts/runs/<model>/<run_id>/   one training run (run_id: see competition.provenance)
    artifacts/tune/<model>/            an Optuna study, best.json, its report
    artifacts/submissions/<name>.*     submissions; artifacts/reports/<name>/ their reports
    artifacts/bench/                   benchmark outputs

`ARTIFACTS=<folder>` (the environment variable KWS_ARTIFACTS, which the Makefile sets) puts
everything under artifacts/ in that folder instead, e.g. /kaggle/working/artifacts in a
Kaggle Notebook. Every path of the harness comes from here. Stages never find each other's outputs by
recomputing hashes from flags: `make features` and `make folds` record what they made current
(as `make data` records data/raw), and later stages ask `competition.inputs.resolve`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from competition import layout
from competition.files import locked, read_json, short_hash, write_json
from competition.layout import LayoutError

CURRENT_SCHEMA = 1
ARTIFACTS_ENV = "KWS_ARTIFACTS"


def _artifacts_from_env() -> Path | None:
    value = os.environ.get(ARTIFACTS_ENV, "").strip()
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class Workspace:
    """A project folder: `data/` and `artifacts/` under `root` (the working directory by default);
    `artifacts_root` moves artifacts/ elsewhere (default: $KWS_ARTIFACTS when set)."""

    root: Path = Path(".")
    artifacts_root: Path | None = field(default_factory=_artifacts_from_env)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def manifest_path(self) -> Path:
        return self.data / "manifest.json"

    @property
    def artifacts(self) -> Path:
        return self.artifacts_root if self.artifacts_root is not None else self.root / "artifacts"

    @property
    def features(self) -> Path:
        return self.artifacts / "features"

    @property
    def folds(self) -> Path:
        return self.artifacts / "folds"

    @property
    def runs(self) -> Path:
        return self.artifacts / "runs"

    @property
    def tune(self) -> Path:
        return self.artifacts / "tune"

    @property
    def submissions(self) -> Path:
        return self.artifacts / "submissions"

    @property
    def reports(self) -> Path:
        return self.artifacts / "reports"

    @property
    def pseudo(self) -> Path:
        return self.artifacts / "pseudo"

    @property
    def bench(self) -> Path:
        return self.artifacts / "bench"

    @property
    def current_path(self) -> Path:
        return self.artifacts / "current.json"

    def feature_cache(self, key: str) -> Path:
        return self.features / key

    def folds_file(self, clips: str, n_folds: int, seed: int) -> Path:
        """The folds file of the clip list `clips` (a hash of it) with these settings."""
        return self.folds / f"{short_hash({'clips': clips, 'n_folds': n_folds, 'seed': seed})}.csv"

    def run_dir(self, model: str, run_id: str) -> Path:
        return self.runs / model / run_id

    def tune_dir(self, model: str) -> Path:
        return self.tune / model

    # --- the data --------------------------------------------------------------------------

    def read_manifest(self, check: bool = True) -> dict:
        """The manifest of `make data`; with `check`, the clips are first compared (sizes and
        modification times, a stat per file) with what `make data` recorded, and a folder
        changed since says to run `make data` again."""
        if not self.manifest_path.is_file() or not self.raw.exists():
            raise LayoutError(f"no data yet ({self.manifest_path} is missing): run `make data` first")
        manifest = read_json(self.manifest_path)
        if check:
            check_unchanged(manifest)
        return manifest

    # --- what is current -----------------------------------------------------------------------

    def current(self, fingerprint: str) -> dict:
        """`{"features": {...}, "folds": {...}}` recorded for the data `fingerprint` ({} if none)."""
        try:
            data = read_json(self.current_path)
        except (OSError, ValueError):
            return {}
        return dict(data.get("data", {}).get(fingerprint, {})) if data.get("schema") == CURRENT_SCHEMA else {}

    def set_current(self, fingerprint: str, **records: dict) -> None:
        """Record `features=...` and/or `folds=...` as current for the data `fingerprint`
        (a locked read-modify-write, so two stages recording at once both land)."""
        with locked(self.current_path):
            try:
                data = read_json(self.current_path)
            except (OSError, ValueError):
                data = {}
            if data.get("schema") != CURRENT_SCHEMA:
                data = {"schema": CURRENT_SCHEMA, "data": {}}
            data["data"].setdefault(fingerprint, {}).update(records)
            write_json(self.current_path, data)


def check_unchanged(manifest: dict) -> None:
    """Raise LayoutError when the clips under the manifest's root are not the ones `make data`
    recorded (added, removed, resized or touched), saying what changed and to run `make data`."""
    root = Path(manifest["root"])
    if not root.is_dir():
        raise LayoutError(f"the data folder {root} recorded by `make data` is gone: run `make data`")
    fingerprint, stamp = layout.fingerprint(root)
    if stamp == manifest.get("stamp") or ("stamp" not in manifest and fingerprint == manifest.get("fingerprint")):
        return
    raise LayoutError(f"the clips in {root} changed since `make data` ({describe_change(manifest, root)}): "
                      "run `make data` to record them (features are rebuilt for new clips)")


def describe_change(manifest: dict, root: Path) -> str:
    """What changed, in a few words: per-folder clip counts, or 'clips replaced or touched'."""
    now = layout.scan(root)
    before_words, before_test = manifest.get("words", {}), manifest.get("test_clips", 0)
    parts = []
    for word in sorted(set(now.words) | set(before_words)):
        diff = now.words.get(word, 0) - before_words.get(word, 0)
        if diff:
            parts.append(f"train/audio/{word}: {abs(diff)} {'added' if diff > 0 else 'removed'}")
    if now.test_clips != before_test:
        diff = now.test_clips - before_test
        parts.append(f"test/audio: {abs(diff)} {'added' if diff > 0 else 'removed'}")
    if not parts:
        return "the same number of clips, but some replaced, resized or touched"
    return "; ".join(parts[:4]) + (f"; and {len(parts) - 4} more folders" if len(parts) > 4 else "")


def relative(path: Path, ws: Workspace) -> str:
    """`path` as recorded in artifacts: relative to the workspace root when it lies under it."""
    try:
        return os.path.relpath(path, ws.root) if Path(path).resolve().is_relative_to(ws.root.resolve()) else str(path)
    except ValueError:
        return str(path)
