"""What a folds file is: its settings, its columns, and the check that it belongs to a clip list.

    artifacts/folds/<key>.csv     fname, speaker, label, fold   (rows in train_index order)

Light on purpose (no scikit-learn): the workspace and every stage that reads folds use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from competition.errors import UserError
from competition.settings import check_number

COLUMNS = ["fname", "speaker", "label", "fold"]
DEMO_FOLDS = 3


@dataclass(frozen=True)
class FoldSettings:
    n_folds: int = 5
    seed: int = 0

    def __post_init__(self):
        check_number("n_folds", self.n_folds, 2, 100, integer=True)
        check_number("fold seed", self.seed, 0, integer=True)


def default_n_folds(manifest: dict) -> int:
    """5 folds; 3 on the embedded demo data, so the demo pipeline fits in minutes on a CPU."""
    return DEMO_FOLDS if manifest.get("source") == "demo" else FoldSettings.n_folds


class FoldsError(UserError):
    """Folds that do not belong to the clips at hand; the message says what to do."""


def check_folds(folds: pd.DataFrame, index: pd.DataFrame, path: Path | str = "folds") -> pd.DataFrame:
    """`folds` when it lists exactly the clips of `index`, in order; a FoldsError otherwise."""
    if list(folds.columns[:4]) != COLUMNS:
        raise FoldsError(f"{path} is not a folds file (columns {list(folds.columns)}, expected {COLUMNS})")
    if len(folds) != len(index) or not (folds["fname"].to_numpy() == index["fname"].to_numpy()).all():
        raise FoldsError(f"{path} was made for other data ({len(folds)} clips, the features have {len(index)}); "
                         "rerun `make features` to make folds for the current data")
    return folds


def read_folds(path: Path, index: pd.DataFrame) -> pd.DataFrame:
    """The folds file at `path`, checked against `index`."""
    try:
        folds = pd.read_csv(path, keep_default_na=False)
    except FileNotFoundError:
        raise FoldsError(f"the folds file {path} is missing: run `make folds`") from None
    return check_folds(folds, index, path)
