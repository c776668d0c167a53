"""What made an artifact: typed records of runs and tuned parameters, and the one definition
of a run's identity. Free of TensorFlow: the ensemble reads them without importing models.

    artifacts/runs/<model>/<run_id>/params.json   a RunRecord
    artifacts/tune/<model>/best.json              a TunedRecord

Both carry a schema version, the code version (a hash of the training code's sources, and
the git commit when there is one) and the versions of the packages that ran. `identity()`
is the single list of what a result depends on: run folders, Optuna studies and the
ensemble's compatibility checks all build on it, so they cannot disagree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import platform
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from competition.errors import UserError
from competition.files import digest, read_json, short_hash, write_json
from competition.labels import LABELS

SCHEMA = 2
REPO = Path(__file__).resolve().parents[1]
# The code whose change changes what a training run produces (features have their own key).
TRAINING_CODE = ("models", "competition/labels.py", "competition/metrics.py", "competition/calibration.py",
                 "competition/settings.py")
PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "keras", "tensorflow", "tensorflow-cpu", "jax", "torch",
            "librosa", "optuna", "kaggle")


class RecordError(UserError):
    """A params.json or best.json that is missing, unreadable, or of another schema; the message says what to do."""


# --- code and package versions ---------------------------------------------------------------


def source_hash(paths: tuple[str, ...], root: Path = REPO) -> str:
    """A hash of the Python sources under `paths` (folders or files, relative to `root`)."""
    files = [f for rel in paths for f in (sorted((root / rel).rglob("*.py")) if (root / rel).is_dir()
                                           else [root / rel]) if f.is_file()]
    return digest((part for f in files for part in (f.relative_to(root).as_posix().encode(), f.read_bytes())), 12)


@dataclass(frozen=True)
class CodeVersion:
    """`sources`: hash of the code that makes the result (part of its identity);
    `commit` and `dirty`: where it came from, for people (None without git)."""

    sources: str
    commit: str | None = None
    dirty: bool | None = None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=4)
def code_version(paths: tuple[str, ...] = TRAINING_CODE) -> CodeVersion:
    commit = _git("rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git("status", "--porcelain", "--", *paths))
    return CodeVersion(source_hash(paths), commit, dirty)


def package_versions(**extra: str) -> dict[str, str]:
    """Python and the installed versions of the packages that matter (read from their
    metadata, so nothing is imported), plus `extra` (e.g. the Keras backend)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return {**out, **extra}


def installed_versions() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name (what `pip freeze` lists,
    read from the metadata): enough to rebuild the environment a run was made in
    (`pip install -c <(...)`), beside the few of `package_versions` a person reads."""
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower().replace("_", "-")] = dist.version
    return dict(sorted(found.items()))


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --- what a result read ------------------------------------------------------------------------


@dataclass(frozen=True)
class InputsRecord:
    """The current inputs a run or study read (see competition.workspace): the data, the
    feature cache and the folds file."""

    data_fingerprint: str
    data_source: str
    features_key: str
    features_path: str
    folds_path: str
    n_folds: int
    fold_seed: int
    # the pseudo-label set added to the training rows (make pseudo): {"name", "key", "round", "submission"}
    pseudo: dict | None = None

    def identity(self) -> dict:
        """What the results depend on (not where the files happen to lie)."""
        out = {"data": self.data_fingerprint, "features": self.features_key, "folds": Path(self.folds_path).name}
        return out | ({"pseudo": self.pseudo["key"]} if self.pseudo else {})


def identity(*, model: str, inputs: InputsRecord, train: dict, **more: Any) -> dict:
    """The one definition of what a result depends on: the model, its inputs, its training
    settings and anything more the kind of result adds (a run: its parameters and code; a
    study: its profile, tuning folds and fixed parameters). Hash it with `key()`. As JSON sees
    it (tuples are lists), so an identity read back from a file compares equal."""
    return json.loads(json.dumps({"model": model, "inputs": inputs.identity(), "train": train, **more}, default=str))


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """`name: old -> new` for every leaf that differs between two identities (nested keys dotted)."""
    out = []
    for k in sorted(set(old) | set(new), key=str):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a} -> {b}")
    return out


def key(ident: dict, n: int = 10) -> str:
    return short_hash(ident, n)


# --- records -----------------------------------------------------------------------------------


def _from_json(cls, data: dict, path: Path):
    """Build record `cls` from its JSON, refusing other schemas with a line that says what to do."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise RecordError(f"{path} has schema {found}, this code reads schema {SCHEMA}: it was written by "
                          "other code; retrain that run (or rerun `make tune`)")
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    missing = sorted(f.name for f in dataclasses.fields(cls)
                     if f.name not in values and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if missing:
        raise RecordError(f"{path} lacks {', '.join(missing)}; it was not written by this code")
    try:
        values["inputs"] = InputsRecord(**values["inputs"])
        values["code"] = CodeVersion(**values["code"])
    except (TypeError, KeyError) as e:
        raise RecordError(f"{path} is malformed ({e}); retrain that run (or rerun `make tune`)") from None
    return cls(**values)


def _read(cls, path: Path):
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise RecordError(f"{path} is missing") from None
    except (OSError, ValueError) as e:
        raise RecordError(f"{path} is not readable JSON ({e})") from None
    return _from_json(cls, data, path)


@dataclass(frozen=True)
class RunRecord:
    """params.json: everything that made one training run (all folds of one model).

    `params` and `train` are the model's Params and the TrainSettings as JSON; `sources`
    maps every setting (`train.lr`, `params.dropout`, ...) to where its value came from
    (default, policy, tuned, typed)."""

    model: str
    profile: str
    params: dict
    train: dict
    inputs: InputsRecord
    code: CodeVersion
    sources: dict[str, str] = field(default_factory=dict)
    tuned: dict | None = None  # {"path", "trial", "value"} when tuned values were used
    device: str = "cpu"
    versions: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)  # how it ran, not what it is: CPU kernels, allocator
    installed: dict = field(default_factory=dict)  # every installed distribution: installed_versions()
    labels: list = field(default_factory=lambda: list(LABELS))
    created: str = field(default_factory=now)
    schema: int = SCHEMA

    def identity(self) -> dict:
        return identity(model=self.model, inputs=self.inputs, train=self.train, params=self.params,
                        code=self.code.sources)

    @property
    def run_id(self) -> str:
        return key(self.identity())

    def to_json(self) -> dict:
        return {"schema": self.schema, "model": self.model, "run_id": self.run_id,
                **{k: v for k, v in dataclasses.asdict(self).items() if k not in ("schema", "model")}}

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        return _read(cls, Path(path))


@dataclass(frozen=True)
class TunedRecord:
    """best.json: the best trial of a study, and what it was tuned on. `make train` uses it
    only for runs on the same data, profile and batch size (see `mismatch`)."""

    model: str
    trial: int
    value: float
    params: dict  # the model's Params, as JSON
    train: dict  # the training settings the study searched (lr, label_smoothing)
    search: dict  # the trial's raw search-space values
    profile: str
    batch_size: int
    epochs: int
    tune_folds: list
    fixed: dict
    inputs: InputsRecord
    code: CodeVersion
    study: str = ""
    storage: str = ""
    trials: dict = field(default_factory=dict)
    created: str = field(default_factory=now)
    schema: int = SCHEMA

    def mismatch(self, data_fingerprint: str, profile: str, batch_size: int) -> str | None:
        """Why these values do not apply to a run with these, or None when they do."""
        diffs = [f"{what} {mine} here, {theirs} when tuned" for what, mine, theirs in (
            ("data", data_fingerprint, self.inputs.data_fingerprint), ("profile", profile, self.profile),
            ("batch size", batch_size, self.batch_size)) if mine != theirs]
        return "; ".join(diffs) or None

    def write(self, path: Path) -> None:
        write_json(path, dataclasses.asdict(self))

    @classmethod
    def read(cls, path: Path) -> TunedRecord:
        return _read(cls, Path(path))
