"""`make pseudo`: the test clips an ensemble is sure of, labelled by it, for a second round of training.

    SUBMISSION=...   the ensemble whose test probabilities label the clips (default: the newest);
                     they are its calibrated, prior-corrected probabilities (<name>.npy)
    THRESHOLD=auto   a clip is used when its top probability reaches the threshold. auto: the
                     lowest threshold at which the ensemble's honest OOF predictions (<name>.oof.npy,
                     each train clip predicted by models that never saw it, calibrated like the test
                     ones) that reach it are right at least PRECISION of the time, counted for the
                     test distribution (every label weighing the same); a number: that threshold
    PRECISION=0.97   the precision auto aims for
    SOFT=1           targets are the ensemble's probabilities (distillation); 0: its top label
    NAME=...         name of the set (default: <submission>-t<threshold>[-soft])

Per-label caps keep the set at the estimated test priors (the ensemble's `priors.test_priors`): with
n_c clips of label c above the threshold and prior pi_c, the set holds m * pi_c clips of each
label (the most confident ones), m = min_c n_c / pi_c over the labels with any clip above it, so
no label is over-represented because the ensemble is surer of it. Clips labelled `silence` are also offered to the noise bank: a run
trained on the set mixes their spectrograms into training clips like the background recordings.

Writes artifacts/pseudo/<name>/{pseudo.csv, pseudo.json}: fname, label, confidence and the 12
probabilities of every chosen clip; the provenance (which submission, its runs, its data and
feature cache, the threshold and how it was chosen, counts per label, the round). A run trained
with `make train PSEUDO=<name>` records the set in its params.json (inputs.pseudo) and is
round (the set's round + 1); `make ensemble` says the round of every run it blends.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from competition import metrics
from competition.cli import run_stage
from competition.files import atomic_dir, short_hash, write_json
from competition.labels import LABEL_INDEX, LABELS, SILENCE
from competition.provenance import RecordError, RunRecord, now
from competition.pseudo import PseudoError, run_round
from competition.settings import check_number
from competition.workspace import Workspace
from submissions import submission

PRECISION = 0.97


def auto_threshold(oof: np.ndarray, y: np.ndarray, precision: float = PRECISION) -> float:
    """The lowest top-probability threshold at which the OOF rows reaching it are right at least
    `precision` of the time, counted for the test distribution (`metrics.test_weights`); 1.0
    when no threshold reaches it."""
    conf, right = oof.max(axis=1), oof.argmax(axis=1) == y
    w = metrics.test_weights(y, n_classes=oof.shape[1])
    order = np.argsort(-conf)
    cum_right, cum_w = np.cumsum((w * right)[order]), np.cumsum(w[order])
    ok = np.flatnonzero(cum_right / cum_w >= precision)
    if not len(ok):
        return 1.0
    # the longest prefix (most confident rows first) that keeps the precision; ties: all of them
    return float(conf[order][ok[-1]])


def capped(labels: np.ndarray, conf: np.ndarray, chosen: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Indices of the chosen rows after the per-label caps: m * priors[c] of each label c (the
    most confident), m = min over the labels with a prior and at least one chosen row of
    (chosen rows of c) / priors[c] (a label with none is missing from the set, not a reason
    to leave every other label out)."""
    counts = np.bincount(labels[chosen], minlength=len(priors))
    live = (priors > 0) & (counts > 0)
    m = float(np.min(counts[live] / priors[live])) if live.any() else 0.0
    keep = []
    for c in np.flatnonzero(live):
        rows = chosen[labels[chosen] == c]
        cap = int(np.floor(m * priors[c] + 1e-9))
        keep.append(rows[np.argsort(-conf[rows], kind="stable")[:cap]])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, int)


def make(submission_name: str | None = None, threshold: float | None = None, precision: float = PRECISION,
         soft: bool = True, name: str | None = None, *, ws: Workspace | None = None, log=print) -> Path:
    """Choose and write a pseudo-label set; return its folder."""
    ws = ws or Workspace()
    check_number("PRECISION", precision, 0, 1, lo_open=True)
    if threshold is not None:
        check_number("THRESHOLD", threshold, 0, 1)
    csv = ws.submissions / f"{submission_name}.csv" if submission_name else submission.newest(ws.submissions)
    stem = csv.with_suffix("")
    try:
        info = json.loads(stem.with_suffix(".json").read_text())
        probs = np.load(stem.with_suffix(".npy"))
    except (OSError, ValueError):
        raise PseudoError(f"submission {stem.name} has no readable .json and .npy in {csv.parent}; "
                          "give SUBMISSION=<name> of a `make ensemble` submission") from None
    oof_path = Path(f"{stem}.oof.npy")
    if threshold is None and not oof_path.is_file():
        raise PseudoError(f"{oof_path.name} is missing (submission made before it was written): rerun make ensemble, "
                          "or give THRESHOLD=<number>")
    frame = pd.read_csv(csv, keep_default_na=False)
    runs = [RunRecord.read(Path(r["path"]) / "params.json") for r in info["runs"]]
    rounds = [run_round(r) for r in runs]
    folds = pd.read_csv(ws.root / info["folds"], keep_default_na=False)  # an absolute path stays as it is
    y = folds["label"].map(LABEL_INDEX).to_numpy()
    how = f"THRESHOLD={threshold}" if threshold is not None else ""
    if threshold is None:
        threshold = auto_threshold(np.load(oof_path), y, precision)
        how = (f"auto: the lowest threshold at which the ensemble's honest OOF predictions reaching it are right "
               f"{precision:.0%} of the time (test distribution)")
    conf, labels = probs.max(axis=1), probs.argmax(axis=1)
    filled = set(info.get("filled_clips") or [])
    chosen = np.flatnonzero((conf >= threshold) & ~frame["fname"].isin(filled).to_numpy())
    given = (info.get("priors") or {}).get("test_priors")
    test_priors = (np.array([given[lab] for lab in LABELS], dtype=np.float64) if isinstance(given, dict)
                   else np.full(len(LABELS), 1 / len(LABELS)))
    keep = capped(labels, conf, chosen, test_priors)
    counts = {lab: int(np.sum(labels[keep] == i)) for i, lab in enumerate(LABELS)}
    name = name or f"{stem.name}-t{threshold:.3f}{'-soft' if soft else ''}"
    submission.check_name(name)
    out = pd.DataFrame({"fname": frame["fname"].to_numpy()[keep], "label": np.asarray(LABELS)[labels[keep]],
                        "confidence": conf[keep], **{lab: probs[keep, i] for i, lab in enumerate(LABELS)}})
    record = {
        "name": name, "created": now(), "submission": stem.name, "submission_path": str(csv),
        "runs": [{"name": r["name"], "path": r["path"]} for r in info["runs"]],
        "round": max(rounds) if rounds else 1, "data": info["data"]["fingerprint"],
        "features": Path(info["features"]).name, "threshold": threshold, "threshold_rule": how,
        "precision": precision, "soft": soft, "test_priors": dict(zip(LABELS, test_priors.round(4).tolist(), strict=True)),
        "above_threshold": int(len(chosen)), "clips": int(len(keep)), "counts": counts,
        "noise_bank": counts[SILENCE],
    }
    record["key"] = short_hash({k: record[k] for k in ("submission", "data", "features", "threshold", "soft")}
                               | {"fnames": out["fname"].tolist()}, 10)
    path = ws.pseudo / name
    with atomic_dir(path) as tmp:
        out.to_csv(tmp / "pseudo.csv", index=False)
        write_json(tmp / "pseudo.json", record)
    log(f"pseudo-labels from {stem.name} (round {record['round']} runs): threshold {threshold:.4f} ({how}); "
        f"{len(chosen)} of {len(frame)} test clips above it, {len(keep)} kept after the per-label caps "
        f"({', '.join(f'{k} {v}' for k, v in counts.items())}); {counts[SILENCE]} silence clips offered to the noise bank")
    log(f"written to {path}; train on it with: make train PSEUDO={name}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m submissions.pseudo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", default=None)
    parser.add_argument("--threshold", default="auto")
    parser.add_argument("--precision", type=float, default=PRECISION)
    parser.add_argument("--soft", type=int, choices=[0, 1], default=1)
    parser.add_argument("--name", default=None)
    parser.add_argument("--workspace", type=Path, default=Path("."))
    args = parser.parse_args(argv)

    def body() -> None:
        threshold = None
        if args.threshold != "auto":
            try:
                threshold = float(args.threshold)
            except ValueError:
                raise PseudoError(f"THRESHOLD must be auto or a number in [0, 1], not {args.threshold!r}") from None
        try:
            make(args.submission, threshold, args.precision, bool(args.soft), args.name, ws=Workspace(args.workspace))
        except RecordError as e:
            raise PseudoError(f"a run of that submission cannot be read: {e}") from None

    return run_stage("pseudo", body, "nothing half-written was kept")


if __name__ == "__main__":
    sys.exit(main())
