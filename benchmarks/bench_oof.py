"""`make bench-oof`: how honest a project's OOF predictions are, from its finished runs' files.

Selection leak: each fold's history holds the validation accuracy of every epoch on the whole
fold and on each half of its speakers (`val_accuracy_a`, `_b`; models/fold.Validation). Per
fold and run:
    best      the best epoch's accuracy on the fold: what keeping the best epoch reports
    self      mean over the halves of each half's best epoch scored on that half (the same
              selection, on half the rows)
    cross     each half's best epoch scored on the *other* half: the honest score of choosing
              the epoch on validation rows (split-half)
    last      the last epoch on each half: no selection at all
`self - cross` is the optimism of choosing the epoch on the rows that are then reported.

Calibration: a run's test.npy is the mean of its fold models' test predictions, which is
flatter than any one of them, while the temperature and bias (and the prior correction after
them) are fitted on the run's OOF rows, each predicted by a single fold model. Two ways, both
scored on the answer key (plain and, where the data has one, Kaggle-like test):
    mean, then calibrate      calibration fitted on all OOF rows, applied to the mean (today)
    calibrate, then mean      each fold model's test predictions calibrated by the calibration
                              fitted on its own OOF rows, prior-corrected, then averaged

    make bench-oof                                       # the Kaggle-like benchmark's project
    make bench-oof PROJECT=.                             # this project (needs an answer key)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from competition import metrics
from competition.calibration import fit_calibration
from competition.labels import LABEL_INDEX, LABELS
from competition.provenance import RunRecord
from competition.workspace import Workspace
from submissions import priors


def selection(run: Path) -> pd.DataFrame:
    """One row per fold of `run`: best, self, cross, last (see the module doc)."""
    rows = []
    for hist in sorted(run.glob("fold_*/history.csv")):
        h = pd.read_csv(hist)
        if not {"val_accuracy_a", "val_accuracy_b"} <= set(h.columns):
            continue
        a, b = h["val_accuracy_a"].to_numpy(), h["val_accuracy_b"].to_numpy()
        rows.append({"run": run.parent.name, "fold": hist.parent.name, "epochs": len(h),
                     "best": float(h["val_accuracy"].max()),
                     "self": (a.max() + b.max()) / 2, "cross": (b[a.argmax()] + a[b.argmax()]) / 2,
                     "last": (a[-1] + b[-1]) / 2})
    return pd.DataFrame(rows)


def _answer_key(project: Path) -> tuple[pd.Series, pd.DataFrame | None]:
    manifest = json.loads((project / "data" / "manifest.json").read_text())
    root = Path(manifest["root"])
    truth = pd.read_csv(manifest["solution"]).set_index("fname")["label"]
    sets = root / "benchmark_sets.csv"
    return truth, pd.read_csv(sets, keep_default_na=False) if sets.is_file() else None


def calibration(run: Path, project: Path, mode: str = "uniform") -> list[dict]:
    """Accuracy and log loss on the answer key of the two ways (see the module doc)."""
    record = RunRecord.read(run / "params.json")
    folds = pd.read_csv(project / record.inputs.folds_path, keep_default_na=False)
    y = folds["label"].map(LABEL_INDEX).to_numpy()
    fold = folds["fold"].to_numpy()
    fnames = pd.read_csv(project / record.inputs.features_path / "test_index.csv", keep_default_na=False)["fname"]
    truth, sets = _answer_key(project)
    parts = {"test": np.ones(len(fnames), bool)} if sets is None else {
        name: fnames.isin(set(part["fname"])).to_numpy() for name, part in sets.groupby("set")}
    y_test = fnames.map(truth).map(LABEL_INDEX).to_numpy()
    train = priors.train_priors(y, len(LABELS))
    oof, test = np.load(run / "oof.npy"), np.load(run / "test.npy")
    ways = {"mean, then calibrate": priors.correct(test, train, mode, fit_calibration(oof, y))[0]}
    per_fold = []
    for k in np.unique(fold):
        fdir = run / f"fold_{k}"
        cal = fit_calibration(np.load(fdir / "oof.npy"), y[fold == k])
        per_fold.append(priors.correct(np.load(fdir / "test.npy"), train, mode, cal)[0])
    ways["calibrate, then mean"] = np.mean(per_fold, axis=0)
    ways["no calibration, mean"] = priors.correct(test, train, mode)[0]
    out = []
    for way, p in ways.items():
        row = {"run": run.parent.name, "way": way}
        for name, rows in parts.items():
            row[f"{name} acc"] = metrics.accuracy(p[rows], y_test[rows])
            row[f"{name} log loss"] = metrics.log_loss(p[rows], y_test[rows])
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=None,
                        help="a project folder (default: the Kaggle-like benchmark's, artifacts/bench/kaggle-like/project)")
    parser.add_argument("--priors", default="uniform", choices=["uniform", "em", "none"])
    args = parser.parse_args(argv)
    args.project = args.project or Workspace().bench / "kaggle-like" / "project"
    runs = sorted(p.parent for p in (args.project / "artifacts" / "runs").glob("*/*/cv.json"))
    if not runs:
        raise SystemExit(f"bench-oof: no finished run in {args.project}/artifacts/runs; run make bench-kaggle-like first")
    pd.set_option("display.width", 200)
    sel = pd.concat([selection(r) for r in runs], ignore_index=True)
    if len(sel):
        print("Selection leak (test-distribution accuracy of the validation folds, no TTA):")
        print(sel.to_string(index=False, float_format="%.4f"))
        m = sel[["best", "self", "cross", "last"]].mean()
        print(f"mean over {len(sel)} folds: best {m['best']:.4f}, self {m['self']:.4f}, cross {m['cross']:.4f}, "
              f"last {m['last']:.4f}; optimism of choosing the epoch (self - cross) {m['self'] - m['cross']:+.4f}, "
              f"last - cross {m['last'] - m['cross']:+.4f}\n")
    else:
        print("Selection leak: no fold history with per-half accuracies (runs made before they were logged)\n")
    print(f"Calibration before or after averaging the fold models (PRIORS={args.priors}):")
    cal = pd.DataFrame([row for r in runs for row in calibration(r, args.project, args.priors)])
    print(cal.to_string(index=False, float_format="%.4f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
