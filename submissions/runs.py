"""Finding and loading finished training runs, and refusing to mix incompatible ones.

    artifacts/runs/<model>/<run_id>/
      params.json   a RunRecord (competition.provenance): model, settings, inputs (data, features, folds), code
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

from competition.errors import UserError
from competition.labels import LABEL_INDEX, LABELS
from competition.provenance import RecordError, RunRecord
from competition.workspace import Workspace
from folds.contract import COLUMNS

ACCURACY_TOLERANCE = 0.005  # cv.json vs recomputed OOF accuracy; a bigger gap means misaligned rows
NOISY = "oof_noisy.npy"  # models.run.NOISY (submissions does not import the training code)
ROW_SUM_TOLERANCE = 1e-3  # float32 probabilities sum to 1 within ~1e-6; more means not probabilities


class BlendError(UserError):
    """Runs that cannot be blended, or none to blend; the message says what to do."""


@dataclass(frozen=True, eq=False)
class Run:
    """One finished run, loaded. `oof` is `(n_train, 12)` and `test` `(n_test, 12)` float32."""

    name: str  # "<model>/<run_id>"
    path: Path
    record: RunRecord
    cv: dict
    oof: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)
    # the same rows predicted with background noise mixed in (models.fold.noisy_oof); None for a
    # run trained before train wrote it (make noisy-oof adds it)
    oof_noisy: np.ndarray | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        return self.record.model


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

    @property
    def without_noisy(self) -> list[str]:
        """Names of the runs that have no noisy OOF predictions."""
        return [r.name for r in self.runs if r.oof_noisy is None or r.oof_noisy.shape != r.oof.shape]

    @property
    def oof_noisy(self) -> np.ndarray | None:
        """`(K, n_train, 12)` float32 when every run has noisy OOF predictions, else None."""
        return None if self.without_noisy else np.stack([r.oof_noisy for r in self.runs])


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


def finished_runs(root: Path) -> list[Path]:
    """Every finished run folder under `root` (`<model>/<run_id>`), oldest first."""
    found = [p.parent for p in Path(root).glob("*/*/cv.json") if is_finished(p.parent)]
    return sorted(found, key=lambda p: ((p / "cv.json").stat().st_mtime, str(p)))


def _no_runs_message(root: Path) -> str:
    return f"no finished training runs in {root}: run `make train` first (a run is finished when its cv.json says complete)"


def resolve(specs: list[str] | None, root: Path) -> list[Path]:
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
                raise BlendError(f"model {spec!r} has no finished run in {root}; run `make train MODELS={spec}`")
            path = latest[-1]
        else:
            known = sorted({p.parent.name for p in finished_runs(root)})
            raise BlendError(f"RUNS: {spec!r} is neither a run folder nor a model with runs in {root} "
                             f"(models with finished runs: {', '.join(known) or 'none; run `make train`'})")
        if path.resolve() not in [p.resolve() for p in out]:
            out.append(path)
    return out


def _load_array(path: Path, rows: int | None, what: str) -> np.ndarray:
    """A run's `(rows, 12)` probabilities, checked: readable, the right shape, finite, in [0, 1],
    rows summing to 1 (an all-zero or all-5.0 file is refused, not blended)."""
    redo = "rerun `make train` for that run (its folds are kept; broken ones are retrained)"
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BlendError(f"{path} is missing: the run folder is incomplete; {redo}") from None
    except (ValueError, EOFError, OSError) as e:
        raise BlendError(f"{path} is not a readable .npy file ({type(e).__name__}); {redo}") from None
    if a.ndim != 2 or a.shape[1] != len(LABELS) or (rows is not None and a.shape[0] != rows):
        want = f"({rows if rows is not None else 'n'}, {len(LABELS)})"
        raise BlendError(f"{path} has shape {a.shape}, expected {want} {what}; {redo}")
    if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
        raise BlendError(f"{path} holds NaN, infinite or non-float values, not probabilities; {redo}")
    if (a < -1e-6).any() or (a > 1 + 1e-6).any() or (np.abs(a.sum(axis=1) - 1) > ROW_SUM_TOLERANCE).any():
        raise BlendError(f"{path} holds values outside [0, 1] or rows that do not sum to 1, not probabilities; {redo}")
    return a.astype(np.float32, copy=False)


def load_run(path: Path) -> Run:
    """Read one finished run folder (record, scores and arrays checked)."""
    path = Path(path)
    try:
        record = RunRecord.read(path / "params.json")
    except RecordError as e:
        raise BlendError(f"run {path}: {e}") from None
    cv = _read_json(path / "cv.json")
    if not cv.get("complete"):
        raise BlendError(f"run {path} is not finished (cv.json says complete: false)")
    if list(record.labels) != list(LABELS):
        raise BlendError(f"run {path} has its columns in the order {record.labels}, not {list(LABELS)}; "
                         "its probabilities cannot be blended column by column")
    return Run(name=f"{record.model}/{path.name}", path=path, record=record, cv=cv,
               oof=_load_array(path / "oof.npy", None, "(one row per training clip)"),
               test=_load_array(path / "test.npy", None, "(one row per test clip)"),
               oof_noisy=(_load_array(path / NOISY, None, "(one row per training clip)")
                          if (path / NOISY).is_file() else None))


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


def check_compatible(runs: list[Run]) -> None:
    """Raise BlendError unless all runs share one folds file and one data fingerprint (the
    parts of their identity that make rows line up: competition.provenance.InputsRecord)."""
    checks = [
        ("folds files", lambda r: r.record.inputs.identity()["folds"],
         "a blender fitted on one run's out-of-fold rows would see clips that another run trained on"),
        ("data", lambda r: r.record.inputs.identity()["data"], "their rows describe different clips"),
    ]
    for what, key, why in checks:
        groups = _differ(runs, key)
        if groups:
            raise BlendError(f"cannot blend runs made on different {what}: {_describe(groups)}; {why}. "
                             "Pick runs of one `make features` (RUNS=...) or retrain the others")


def load_runs(paths: list[Path], ws: Workspace) -> RunSet:
    """Load and cross-check the runs at `paths`; relative paths inside params.json are under the workspace."""
    if not paths:
        raise BlendError(_no_runs_message(ws.runs))
    runs = [load_run(p) for p in paths]
    check_compatible(runs)
    first = runs[0].record.inputs
    folds_path = _resolve_path(first.folds_path, ws.root)
    try:
        folds = pd.read_csv(folds_path, keep_default_na=False)
    except FileNotFoundError:
        raise BlendError(f"the folds file {folds_path} of the runs is missing; rerun `make features` "
                         "(it rebuilds the same file) or retrain") from None
    if list(folds.columns[:4]) != COLUMNS:
        raise BlendError(f"{folds_path} is not a folds file (columns {list(folds.columns)})")
    bad = sorted(set(folds["label"]) - set(LABELS))
    if bad:
        raise BlendError(f"{folds_path} has labels outside the 12: {bad[:5]}")
    y = folds["label"].map(LABEL_INDEX).to_numpy(np.int64)
    fold = folds["fold"].to_numpy(np.int64)

    test_lists: dict[str, tuple[str, ...]] = {}
    for r in runs:
        fpath = _resolve_path(r.record.inputs.features_path, ws.root)
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
        tuned = r.record.tuned or {}
        if tuned:
            on = f"fold(s) {', '.join(map(str, tuned['folds']))}" if tuned.get("folds") else "its tuning folds"
            notes.append(f"note: {r.name} uses parameters tuned on {on} (trial {tuned.get('trial')}): those "
                         "folds' OOF rows chose them, so its OOF score there is optimistic (README, \"Selection leak\")")
        claimed = (r.cv.get("overall") or {}).get("accuracy")
        actual = float(np.mean(np.argmax(r.oof, axis=1) == y))
        if isinstance(claimed, (int, float)) and abs(claimed - actual) > ACCURACY_TOLERANCE:
            notes.append(f"warning: {r.name}: cv.json says OOF accuracy {claimed:.4f} but oof.npy scored "
                         f"against {folds_path.name} gives {actual:.4f}; are the rows in folds order?")
    return RunSet(runs=tuple(runs), y=y, fold=fold, test_fnames=test_fnames, folds_path=folds_path,
                  features_path=_resolve_path(first.features_path, ws.root),
                  fingerprint=first.data_fingerprint, notes=tuple(notes))


def _inputs_of(path: Path) -> dict:
    """The inputs section of a run's params.json (raw: a run of another schema is named, not fatal here)."""
    return _read_json(path / "params.json").get("inputs") or {}


def gather(specs: list[str] | None = None, ws: Workspace | None = None, fingerprint: str | None = None,
           log=print) -> RunSet:
    """Resolve `specs` (see `resolve`) under `root` and load the runs.

    Without `specs`, and with the `fingerprint` of the data now in data/raw, only the
    finished runs made on that data and on the newest of their folds files are taken (runs
    of the demo and of the real data can live side by side); the others are named as left out.
    """
    ws = ws or Workspace()
    root = ws.runs
    paths = resolve(specs, root)
    if not specs and fingerprint:
        inputs = {p: _inputs_of(p) for p in paths}
        same = [p for p in paths if inputs[p].get("data_fingerprint") == fingerprint]
        if not same:
            raise BlendError(f"none of the finished runs in {root} was made on the data now in data/raw "
                             f"({fingerprint}) by this code's schema: run `make train` first, or name runs with RUNS=...")
        folds = inputs[same[-1]].get("folds_path")  # paths are oldest first
        keep = [p for p in same if inputs[p].get("folds_path") == folds]
        left = [p for p in paths if p not in keep]
        if left:
            log(f"blending the {len(keep)} finished run(s) made on the current data and folds; left out "
                f"{len(left)} made on other data or folds: " + ", ".join(f"{p.parent.name}/{p.name}" for p in left))
        paths = keep
    return load_runs(paths, ws)
