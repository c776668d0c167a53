"""`make folds`: speaker-grouped, label-stratified cross-validation folds.

    artifacts/folds/<key>.csv     fname, speaker, label, fold   (rows in train_index order)

No speaker's clips are in two folds (a model must be judged on voices it has not heard),
and every silence clip cut from one background recording shares that recording's
`speaker` (`noise-<name>`), so it stays in one fold too. The key covers the clip list, the
number of folds and the seed, so other data or settings never read a stale file. The folds
made are recorded as current (artifacts/current.json) for the stages after.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from competition import features
from competition.cli import run_stage
from competition.files import write_csv
from competition.inputs import current_features
from competition.settings import resolve
from competition.workspace import Workspace
from folds.contract import FoldsError, FoldSettings, default_n_folds


def assign_folds(index: pd.DataFrame, s: FoldSettings) -> np.ndarray:
    """The fold (0..n_folds-1) of every row: StratifiedGroupKFold by label, grouped by speaker."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = index["speaker"].nunique()
    if n_groups < s.n_folds:
        raise FoldsError(f"only {n_groups} speakers for {s.n_folds} folds; use fewer folds (N_FOLDS=...)")
    fold = np.full(len(index), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=s.n_folds, shuffle=True, random_state=s.seed)
    for k, (_, val) in enumerate(splitter.split(np.zeros(len(index)), index["label"], groups=index["speaker"])):
        fold[val] = k
    return fold


def make_folds(index: pd.DataFrame, s: FoldSettings, ws: Workspace | None = None, log=print) -> Path:
    """Write the folds file for `index` (or find it written); return its path."""
    ws = ws or Workspace()
    path = ws.folds_file(features.clips_hash(index), s.n_folds, s.seed)
    if path.is_file():
        log(f"folds up to date in {path}")
        return path
    folds = index[["fname", "speaker", "label"]].copy()
    folds["fold"] = assign_folds(index, s)
    write_csv(path, folds)
    shares = pd.crosstab(folds["fold"], folds["label"], normalize="index")
    log(f"{s.n_folds} folds over {folds['speaker'].nunique()} speakers -> {path}")
    log("  clips per fold: " + ", ".join(str(n) for n in folds["fold"].value_counts().sort_index()))
    log(f"  largest gap between a fold's label share and the overall share: "
        f"{(shares - folds['label'].value_counts(normalize=True)).abs().max().max():.3f}")
    return path


def make_current_folds(typed: dict, ws: Workspace | None = None, log=print) -> Path:
    """Folds for the current feature cache with the defaults and `typed` ({"n_folds", "seed"});
    recorded as the current folds of the data."""
    ws = ws or Workspace()
    manifest, _, cache = current_features(ws, {}, log)
    base = FoldSettings(default_n_folds(manifest))
    s = resolve(base, [("typed", typed)])[0]
    if "n_folds" not in typed and s.n_folds != FoldSettings.n_folds:
        log(f"demo data: {s.n_folds} folds instead of {FoldSettings.n_folds}, to keep the demo quick "
            "(N_FOLDS=... to choose)")
    path = make_folds(features.load(cache).train_index, s, ws, log)
    ws.set_current(manifest["fingerprint"], folds={"n_folds": s.n_folds, "seed": s.seed})
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m folds.make_folds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-folds", type=int, default=None, help="default 5 (3 on the demo data)")
    parser.add_argument("--fold-seed", type=int, default=None)
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    args = parser.parse_args(argv)
    typed = {k: v for k, v in (("n_folds", args.n_folds), ("seed", args.fold_seed)) if v is not None}
    return run_stage("folds", lambda: make_current_folds(typed, Workspace(args.workspace)) and None,
                     "no partial folds file was kept, rerun to make it")


if __name__ == "__main__":
    sys.exit(main())
