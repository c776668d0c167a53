"""Writing, validating and scoring submission files.

    artifacts/submissions/<name>.csv    fname,label: one row per test clip, what Kaggle accepts
    artifacts/submissions/<name>.npy    (rows, 12) float32 blended test probabilities, row i =
                                        row i of the CSV (after prior correction)
    artifacts/submissions/<name>.json   runs, method, weights, priors, honest CV score

A submission is validated before it is written and again as the file on disk, and the
three files appear together only when all are complete: a failure leaves an earlier
submission of the same name as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from competition import metrics
from competition.errors import UserError
from competition.files import atomic_path
from competition.labels import LABEL_INDEX, LABELS

HEADER = ["fname", "label"]
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
LOG_NAME = "leaderboard"  # artifacts/submissions/leaderboard.csv is the log of sent submissions, not one
SHOWN = 3  # examples shown per kind of problem: enough to see the pattern, short enough to read


class SubmissionError(UserError):
    """A submission or answer key that is not what Kaggle expects; the message lists the first problems."""


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or name.endswith((".csv", ".json", ".npy")):
        raise SubmissionError(f"submission name {name!r}: use letters, digits, '.', '_' or '-', without an extension")
    if name == LOG_NAME:
        raise SubmissionError(f"submission name {name!r} is taken by the leaderboard log; choose another NAME")
    return name


def _examples(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def problems(frame: pd.DataFrame, test_fnames) -> list[str]:
    """What is wrong with `frame` (columns fname, label) as a submission for `test_fnames`; [] if nothing."""
    if list(frame.columns) != HEADER:
        return [f"the header is {','.join(map(str, frame.columns))!r}, it must be 'fname,label'"]
    out = []
    names = frame["fname"].astype(str).tolist()
    expected = set(test_fnames)
    counts = Counter(names)
    dups = [f"{n} ({c} times)" for n, c in counts.items() if c > 1]
    if dups:
        out.append(f"{len(dups)} clip(s) appear more than once: {_examples(dups)}")
    extra = [n for n in counts if n not in expected]
    if extra:
        out.append(f"{len(extra)} name(s) are not test clips: {_examples(extra)}")
    missing = sorted(expected - counts.keys())
    if missing:
        out.append(f"{len(missing)} of the {len(expected)} test clips are missing: {_examples(missing)}")
    labels = frame["label"].astype(str)
    bad = labels[~labels.isin(LABELS)]
    if len(bad):
        shown = [f"{v!r} (row {i + 2})" for i, v in bad.items()]
        out.append(f"{len(bad)} label(s) are not among the 12 ({', '.join(LABELS)}): {_examples(shown)}")
    return out


def read_csv(path: Path, what: str = "submission") -> pd.DataFrame:
    """A CSV read as text (no NA guessing: a label 'NA' stays 'NA'), or a SubmissionError."""
    path = Path(path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise SubmissionError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise SubmissionError(f"{what} {path} is a folder; give the CSV file inside it") from None
    except PermissionError:
        raise SubmissionError(f"{what} {path} cannot be read (permission denied)") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise SubmissionError(f"{what} {path} is not a readable CSV ({str(e).splitlines()[0]})") from None


def validate(path: Path, test_fnames) -> pd.DataFrame:
    """The submission at `path`, read, if it lists every clip of `test_fnames` once with one of
    the 12 labels under the header `fname,label`; else a SubmissionError naming the first problems."""
    frame = read_csv(path)
    found = problems(frame, test_fnames)
    if found:
        raise SubmissionError(f"{path} is not a valid submission: " + "; ".join(found))
    return frame


def to_frame(fnames, probs: np.ndarray) -> pd.DataFrame:
    """The submission rows for `fnames` `(m,)` and probabilities `probs` `(m, 12)`: the most probable label."""
    return pd.DataFrame({"fname": list(fnames), "label": np.asarray(LABELS)[np.argmax(probs, axis=1)]})


def write(name: str, fnames, probs: np.ndarray, info: dict, test_fnames=None, *, out_dir: Path,
          oof: np.ndarray | None = None) -> dict[str, Path]:
    """Write `<name>.csv`, `.npy` and `.json` under `out_dir` (and `<name>.oof.npy`, the blend's
    honest, calibrated OOF probabilities `(train clips, 12)`, when `oof` is given: what
    `make pseudo` chooses its threshold by); return their paths.

    `fnames` `(m,)` and `probs` `(m, 12)` are the rows; the CSV is checked against
    `test_fnames` (default `fnames`) before anything is written and re-read from disk
    before it replaces anything.
    """
    check_name(name)
    test_fnames = list(fnames) if test_fnames is None else list(test_fnames)
    probs = np.asarray(probs)
    if probs.shape != (len(fnames), len(LABELS)):
        raise ValueError(f"probs has shape {probs.shape}, expected ({len(fnames)}, {len(LABELS)})")
    frame = to_frame(fnames, probs)
    found = problems(frame, test_fnames)
    if found:
        raise SubmissionError(f"refusing to write submission {name!r}: " + "; ".join(found))
    paths = {ext: Path(out_dir) / f"{name}.{ext}" for ext in ("csv", "npy", "json", *(("oof.npy",) if oof is not None else ()))}
    # the CSV's rename comes last (ExitStack unwinds in reverse), so "the newest CSV" always has its .npy and .json
    with contextlib.ExitStack() as stack:
        tmp = {ext: stack.enter_context(atomic_path(path)) for ext, path in paths.items()}

        frame.to_csv(tmp["csv"], index=False)
        validate(tmp["csv"], test_fnames)
        with open(tmp["npy"], "wb") as f:
            np.save(f, probs.astype(np.float32))
        tmp["json"].write_text(json.dumps({**info, "csv": str(paths["csv"]), "rows": len(frame)},
                                          indent=2, default=str) + "\n")
        if oof is not None:  # through bytes: a short write raises OSError with its errno (numpy's tofile has none)
            buf = io.BytesIO()
            np.save(buf, np.asarray(oof, dtype=np.float32))
            tmp["oof.npy"].write_bytes(buf.getvalue())
    return paths


def newest(out_dir: Path) -> Path:
    """The most recently written submission CSV in `out_dir`."""
    found = [p for p in Path(out_dir).glob("*.csv") if not p.name.startswith(".") and p.stem != LOG_NAME]
    if not found:
        raise SubmissionError(f"no submission in {out_dir}: run `make ensemble` first")
    return max(found, key=lambda p: (p.stat().st_mtime, p.name))


def read_info(csv_path: Path) -> dict:
    """The `<name>.json` beside a submission CSV, or {} when there is none."""
    path = Path(csv_path).with_suffix(".json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def read_solution(path: Path) -> pd.DataFrame:
    """An answer key (`fname,label[,Usage]`), checked: unique names, labels among the 12."""
    frame = read_csv(path, "answer key")
    if list(frame.columns[:2]) != HEADER:
        raise SubmissionError(f"answer key {path} has columns {list(frame.columns)}; it must start with fname,label")
    dups = frame["fname"][frame["fname"].duplicated()].tolist()
    bad = sorted(set(frame["label"]) - set(LABELS))
    if dups or bad:
        raise SubmissionError(f"answer key {path} is broken: " + "; ".join(
            ([f"{len(dups)} duplicate name(s): {_examples(dups)}"] if dups else [])
            + ([f"labels outside the 12: {_examples(bad)}"] if bad else [])))
    return frame


def score_frames(submission: pd.DataFrame, solution: pd.DataFrame) -> dict:
    """Accuracy, per-class accuracy (recall) and confusion of `submission` against `solution` (same clips)."""
    merged = solution.merge(submission[HEADER], on="fname", suffixes=("_true", "_pred"), validate="1:1")
    y = merged["label_true"].map(LABEL_INDEX).to_numpy()
    pred = merged["label_pred"].map(LABEL_INDEX).to_numpy()
    out = {"accuracy": float(np.mean(y == pred)), "n": len(merged), "labels": list(LABELS),
           "per_class": metrics.per_class_accuracy(y, pred), "confusion": metrics.confusion(y, pred).tolist()}
    if "Usage" in merged.columns:  # Kaggle's keys mark the public/private leaderboard rows
        out["usage"] = {u: float(np.mean((y == pred)[merged["Usage"].to_numpy() == u]))
                        for u in sorted(merged["Usage"].unique())}
    return out


def score(submission_csv: Path, solution_csv: Path) -> dict:
    """Score a submission file against an answer key file; see `score_frames`."""
    solution = read_solution(solution_csv)
    frame = read_csv(submission_csv)
    found = problems(frame, solution["fname"])
    if found:
        raise SubmissionError(f"{submission_csv} does not match the answer key {solution_csv}: " + "; ".join(found))
    return score_frames(frame, solution)


def format_score(result: dict) -> str:
    """A few lines: overall accuracy, then per-class accuracy."""
    lines = [f"accuracy {result['accuracy']:.4f} on {result['n']} clips"]
    for usage, acc in (result.get("usage") or {}).items():
        lines.append(f"  {usage}: {acc:.4f}")
    lines.append("  per class: " + "  ".join(
        f"{lab} {acc:.3f}" if acc is not None else f"{lab} -" for lab, acc in result["per_class"].items()))
    return "\n".join(lines)
