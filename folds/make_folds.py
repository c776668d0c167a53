"""Speaker-grouped, label-stratified cross-validation folds.

    artifacts/folds/<hash>.csv     fname, speaker, label, fold   (rows in train_index order)

No speaker's clips are in two folds (a model must be judged on voices it has not heard),
and every silence clip cut from one background recording shares that recording's
`speaker` (`noise-<name>`), so it stays in one fold too. The hash covers the clip index,
the number of folds and the seed, so other data or settings never read a stale file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from competition.files import short_hash, write_csv

FOLDS_DIR = Path("artifacts/folds")
COLUMNS = ["fname", "speaker", "label", "fold"]


@dataclass(frozen=True)
class FoldSettings:
    n_folds: int = 5
    seed: int = 0


DEMO_FOLDS = 3


def default_n_folds(manifest: dict) -> int:
    """5 folds; 3 on the embedded demo data, so the demo pipeline fits in minutes on a CPU."""
    return DEMO_FOLDS if manifest.get("source") == "demo" else FoldSettings.n_folds


class FoldsError(Exception):
    """Folds that do not belong to the clips at hand; the message says what to do."""


def index_fingerprint(index: pd.DataFrame) -> str:
    """A hash of the clips (fname, speaker, label) in order."""
    blob = index[["fname", "speaker", "label"]].to_csv(index=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def folds_path(index: pd.DataFrame, s: FoldSettings, root: Path = FOLDS_DIR) -> Path:
    return root / f"{short_hash({'clips': index_fingerprint(index), **asdict(s)})}.csv"


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


def make_folds(index: pd.DataFrame, s: FoldSettings, root: Path = FOLDS_DIR, log=print) -> Path:
    """Write the folds file for `index` (or find it written); return its path."""
    path = folds_path(index, s, root)
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


def load_folds(index: pd.DataFrame, s: FoldSettings, root: Path = FOLDS_DIR) -> pd.DataFrame:
    """The folds of `index`, checked to match it row for row."""
    path = folds_path(index, s, root)
    if not path.is_file():
        raise FoldsError(f"no folds for these clips and settings ({path}): run `make features` first")
    return check_folds(pd.read_csv(path, keep_default_na=False), index, path)


def check_folds(folds: pd.DataFrame, index: pd.DataFrame, path: Path | str = "folds") -> pd.DataFrame:
    """Raise FoldsError unless `folds` lists exactly the clips of `index`, in order."""
    if list(folds.columns[:4]) != COLUMNS:
        raise FoldsError(f"{path} is not a folds file (columns {list(folds.columns)}, expected {COLUMNS})")
    if len(folds) != len(index) or not (folds["fname"].to_numpy() == index["fname"].to_numpy()).all():
        raise FoldsError(f"{path} was made for other data ({len(folds)} clips, the features have {len(index)}); "
                         "rerun `make features` to make folds for the current data")
    return folds


def main(argv: list[str] | None = None) -> int:
    from competition import features
    from competition.data import read_manifest
    from competition.layout import LayoutError

    parser = argparse.ArgumentParser(prog="make folds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    features.add_setting_args(parser)
    parser.add_argument("--n-folds", type=int, default=None, help="default 5 (3 on the demo data)")
    parser.add_argument("--fold-seed", type=int, default=FoldSettings.seed)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--features", type=Path, default=features.FEATURES_DIR)
    parser.add_argument("--out", type=Path, default=FOLDS_DIR)
    args = parser.parse_args(argv)
    try:
        manifest = read_manifest(args.data_dir)
        cache = features.cache_dir(features.settings_from_args(args), manifest, args.features)
        index = features.load(cache).train_index
        n_folds = args.n_folds or default_n_folds(manifest)
        if not args.n_folds and n_folds != FoldSettings.n_folds:
            print(f"demo data: {n_folds} folds instead of {FoldSettings.n_folds}, to keep the demo quick (N_FOLDS=... to choose)")
        make_folds(index, FoldSettings(n_folds, args.fold_seed), args.out)
    except (LayoutError, FileNotFoundError, FoldsError) as e:
        print(f"make folds: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
