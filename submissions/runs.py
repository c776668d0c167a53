"""Finding and loading finished training runs, and refusing to mix incompatible ones.

    artifacts/runs/<model>/<run_id>/
      params.json   model, run_id, features {key, path}, folds {path, n_folds, seed}, labels, data {fingerprint}
      cv.json       complete, folds_trained, per-fold and overall scores
      oof.npy       (n_train, 12) float32: row i = clip i of the folds CSV, predicted by the
                    model of the fold that held it out
      test.npy      (n_test, 12) float32: row i = clip i of <features>/test_index.csv

A run is finished when cv.json says `complete: true`. Runs can be blended only when they
share one folds file (else a blender fitted on one run's out-of-fold rows would see
clips another run trained on: a leak), one data fingerprint and one test clip list
(else the rows would not line up).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from competition.labels import LABEL_INDEX, LABELS

RUNS_DIR = Path("artifacts/runs")
ACCURACY_TOLERANCE = 0.005  # cv.json vs recomputed OOF accuracy; a bigger gap means misaligned rows


class BlendError(Exception):
    """Runs that cannot be blended, or none to blend; the message says what to do."""


@dataclass(frozen=True, eq=False)
class Run:
    """One finished run, loaded. `oof` is `(n_train, 12)` and `test` `(n_test, 12)` float32."""

    name: str  # "<model>/<run_id>"
    path: Path
    params: dict
    cv: dict
    oof: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)

    @property
    def model(self) -> str:
        return self.params.get("model", self.path.parent.name)


@dataclass(frozen=True, eq=False)
class RunSet:
    """Compatible runs and what they share.

    `y` `(n_train,)` int64 class indices and `fold` `(n_train,)` int64 come from the folds
    CSV, row for row with every run's `oof`; `test_fnames` `(n_test,)` names the rows of
    every run's `test`.
    """

    runs: tuple[Run, ...]
    y: np.ndarray = field(repr=False)
    fold: np.ndarray = field(repr=False)
    test_fnames: tuple[str, ...] = field(repr=False)
    folds_path: Path
    features_path: Path
    fingerprint: str
    notes: tuple[str, ...] = ()  # things worth printing that are not errors

    @property
    def oof(self) -> np.ndarray:
        """`(K, n_train, 12)` float32."""
        return np.stack([r.oof for r in self.runs])

    @property
    def test(self) -> np.ndarray:
        """`(K, n_test, 12)` float32."""
        return np.stack([r.test for r in self.runs])


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BlendError(f"{path} is missing: the run folder is incomplete; rerun `make train`") from None
    except ValueError as e:
        raise BlendError(f"{path} is not valid JSON ({e}); rerun `make train` for that run") from None


def is_finished(run_dir: Path) -> bool:
    """True when `run_dir` has a cv.json that says `complete: true` (a crash mid-training leaves it false)."""
    try:
        return bool(json.loads((run_dir / "cv.json").read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def finished_runs(root: Path = RUNS_DIR) -> list[Path]:
    """Every finished run folder under `root` (`<model>/<run_id>`), oldest first."""
    found = [p.parent for p in Path(root).glob("*/*/cv.json") if is_finished(p.parent)]
    return sorted(found, key=lambda p: ((p / "cv.json").stat().st_mtime, str(p)))


def _no_runs_message(root: Path) -> str:
    return f"no finished training runs in {root}: run `make train` first (a run is finished when its cv.json says complete)"


def resolve(specs: list[str] | None = None, root: Path = RUNS_DIR) -> list[Path]:
    """The run folders named by `specs`, or every finished run when `specs` is empty.

    A spec is a run folder (`artifacts/runs/crnn_resnet/20250101-1200`), a `<model>/<run_id>`
    under `root`, or a model name meaning that model's latest finished run. Duplicates are dropped.
    """
    root = Path(root)
    specs = [s for spec in specs or [] for s in spec.replace(",", " ").split()]
    if not specs:
        runs = finished_runs(root)
        if not runs:
            raise BlendError(_no_runs_message(root))
        return runs
    out: list[Path] = []
    for spec in specs:
        path = root / spec if (root / spec).is_dir() else Path(spec)
        if (path / "params.json").is_file() or (path / "cv.json").is_file():
            if not is_finished(path):
                raise BlendError(f"run {path} is not finished (its cv.json is missing or says complete: false); "
                                 "finish it with `make train` or leave it out of RUNS")
        elif path.is_dir() and path.parent.resolve() == root.resolve():
            latest = [p for p in finished_runs(root) if p.parent.name == path.name]
            if not latest:
                raise BlendError(f"model {spec!r} has no finished run in {root}; run `make train MODEL={spec}`")
            path = latest[-1]
        else:
            known = sorted({p.parent.name for p in finished_runs(root)})
            raise BlendError(f"RUNS: {spec!r} is neither a run folder nor a model with runs in {root} "
                             f"(models with finished runs: {', '.join(known) or 'none; run `make train`'})")
        if path.resolve() not in [p.resolve() for p in out]:
            out.append(path)
    return out


def _load_array(path: Path, rows: int | None, what: str) -> np.ndarray:
    try:
        a = np.load(path)
    except FileNotFoundError:
        raise BlendError(f"{path} is missing: the run folder is incomplete; rerun `make train`") from None
    except ValueError as e:
        raise BlendError(f"{path} is not a readable .npy file ({e}); rerun `make train` for that run") from None
    if a.ndim != 2 or a.shape[1] != len(LABELS) or (rows is not None and a.shape[0] != rows):
        want = f"({rows if rows is not None else 'n'}, {len(LABELS)})"
        raise BlendError(f"{path} has shape {a.shape}, expected {want} {what}; rerun `make train` for that run")
    if not np.isfinite(a).all() or (a < 0).any():
        raise BlendError(f"{path} holds NaN, infinite or negative values, not probabilities")
    return a.astype(np.float32, copy=False)


def load_run(path: Path) -> Run:
    """Read one finished run folder (arrays checked for shape, labels for order)."""
    path = Path(path)
    params, cv = _read_json(path / "params.json"), _read_json(path / "cv.json")
    if not cv.get("complete"):
        raise BlendError(f"run {path} is not finished (cv.json says complete: false)")
    labels = params.get("labels")
    if labels is not None and list(labels) != list(LABELS):
        raise BlendError(f"run {path} has its columns in the order {labels}, not {list(LABELS)}; "
                         "its probabilities cannot be blended column by column")
    for section, key in (("folds", "path"), ("features", "path"), ("data", "fingerprint")):
        if not isinstance(params.get(section), dict) or not params[section].get(key):
            raise BlendError(f"{path / 'params.json'} lacks {section}.{key}; it was not written by `make train`")
    name = f"{params.get('model', path.parent.name)}/{params.get('run_id', path.name)}"
    return Run(name=name, path=path, params=params, cv=cv,
               oof=_load_array(path / "oof.npy", None, "(one row per training clip)"),
               test=_load_array(path / "test.npy", None, "(one row per test clip)"))


def _resolve_path(p: str, base: Path) -> Path:
    path = Path(p)
    return path if path.is_absolute() else base / path


def _differ(runs: list[Run], key) -> dict[str, list[str]]:
    """The runs grouped by `key(run)`, when there is more than one group."""
    groups: dict[str, list[str]] = {}
    for r in runs:
        groups.setdefault(str(key(r)), []).append(r.name)
    return groups if len(groups) > 1 else {}


def _describe(groups: dict[str, list[str]]) -> str:
    return "; ".join(f"{v} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})" for v, names in groups.items())


def check_compatible(runs: list[Run], base: Path = Path(".")) -> None:
    """Raise BlendError unless all runs share one folds file and one data fingerprint."""
    checks = [
        ("folds files", lambda r: _resolve_path(str(r.params["folds"].get("path")), base).resolve(),
         "a blender fitted on one run's out-of-fold rows would see clips that another run trained on"),
        ("data", lambda r: r.params["data"].get("fingerprint"), "their rows describe different clips"),
    ]
    for what, key, why in checks:
        groups = _differ(runs, key)
        if groups:
            raise BlendError(f"cannot blend runs made on different {what}: {_describe(groups)}; {why}. "
                             "Pick runs of one `make features` (RUNS=...) or retrain the others")


def load_runs(paths: list[Path], base: Path = Path(".")) -> RunSet:
    """Load and cross-check the runs at `paths`; relative paths inside params.json are under `base`."""
    if not paths:
        raise BlendError(_no_runs_message(RUNS_DIR))
    runs = [load_run(p) for p in paths]
    check_compatible(runs, base)
    first = runs[0].params
    folds_path = _resolve_path(first["folds"]["path"], base)
    try:
        folds = pd.read_csv(folds_path, keep_default_na=False)
    except FileNotFoundError:
        raise BlendError(f"the folds file {folds_path} of the runs is missing; rerun `make features` "
                         "(it rebuilds the same file) or retrain") from None
    if list(folds.columns[:4]) != ["fname", "speaker", "label", "fold"]:
        raise BlendError(f"{folds_path} is not a folds file (columns {list(folds.columns)})")
    bad = sorted(set(folds["label"]) - set(LABELS))
    if bad:
        raise BlendError(f"{folds_path} has labels outside the 12: {bad[:5]}")
    y = folds["label"].map(LABEL_INDEX).to_numpy(np.int64)
    fold = folds["fold"].to_numpy(np.int64)

    test_lists: dict[str, tuple[str, ...]] = {}
    for r in runs:
        fpath = _resolve_path(r.params["features"]["path"], base)
        if str(fpath) not in test_lists:
            try:
                test_lists[str(fpath)] = tuple(pd.read_csv(fpath / "test_index.csv", keep_default_na=False)["fname"])
            except FileNotFoundError:
                raise BlendError(f"{fpath / 'test_index.csv'} (the test clips of run {r.name}) is missing; "
                                 "rerun `make features` with the settings of that run") from None
    if len(set(test_lists.values())) > 1:
        raise BlendError("cannot blend runs whose test predictions cover different clip lists: "
                         + "; ".join(f"{p} ({len(v)} clips)" for p, v in test_lists.items()))
    test_fnames = next(iter(test_lists.values()))

    notes = []
    for r in runs:
        if len(r.oof) != len(folds):
            raise BlendError(f"{r.path / 'oof.npy'} has {len(r.oof)} rows but the folds file {folds_path} "
                             f"has {len(folds)} clips; the run does not belong to these folds")
        if len(r.test) != len(test_fnames):
            raise BlendError(f"{r.path / 'test.npy'} has {len(r.test)} rows but test_index.csv lists "
                             f"{len(test_fnames)} clips; rerun `make train` for that run")
        claimed = (r.cv.get("overall") or {}).get("accuracy")
        actual = float(np.mean(np.argmax(r.oof, axis=1) == y))
        if isinstance(claimed, (int, float)) and abs(claimed - actual) > ACCURACY_TOLERANCE:
            notes.append(f"warning: {r.name}: cv.json says OOF accuracy {claimed:.4f} but oof.npy scored "
                         f"against {folds_path.name} gives {actual:.4f}; are the rows in folds order?")
    return RunSet(runs=tuple(runs), y=y, fold=fold, test_fnames=test_fnames, folds_path=folds_path,
                  features_path=_resolve_path(first["features"]["path"], base),
                  fingerprint=str(first["data"].get("fingerprint")), notes=tuple(notes))


def gather(specs: list[str] | None = None, root: Path = RUNS_DIR, base: Path = Path("."),
           fingerprint: str | None = None, log=print) -> RunSet:
    """Resolve `specs` (see `resolve`) under `root` and load the runs.

    Without `specs`, and with the `fingerprint` of the data now in data/raw, only the
    finished runs made on that data and on the newest of their folds files are taken (runs
    of the demo and of the real data can live side by side); the others are named as left out.
    """
    paths = resolve(specs, root)
    if not specs and fingerprint:
        params = {p: _read_json(p / "params.json") for p in paths}
        same = [p for p in paths if params[p].get("data", {}).get("fingerprint") == fingerprint]
        if not same:
            raise BlendError(f"none of the finished runs in {root} was made on the data now in data/raw "
                             f"({fingerprint}): run `make train` first, or name runs with RUNS=...")
        folds = params[same[-1]].get("folds", {}).get("path")  # paths are oldest first
        keep = [p for p in same if params[p].get("folds", {}).get("path") == folds]
        left = [p for p in paths if p not in keep]
        if left:
            log(f"blending the {len(keep)} finished run(s) made on the current data and folds; left out "
                f"{len(left)} made on other data or folds: " + ", ".join(f"{p.parent.name}/{p.name}" for p in left))
        paths = keep
    return load_runs(paths, base)
