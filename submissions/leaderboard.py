"""`make leaderboard`: every submission sent to Kaggle, its honest CV beside Kaggle's scores.

    artifacts/submissions/leaderboard.csv   one row per `make submit`: name, time, ref, runs,
                                            honest_cv, test_cv, expected, public, private, status

`honest_cv` is the blend's nested-CV accuracy from the submission's .json; `test_cv` the same
scored for the test set's class distribution where the ensemble recorded one
(`honest_cv.test_distribution_accuracy`), else empty; `expected` the test accuracy the ensemble
expected from its honest CV and its confidence on the test clips (`honest_cv.expected_test_accuracy`),
the figure to hold against Kaggle's. `make submit` appends the row and keeps
Kaggle's answer in the submission's .json too (`kaggle`: a list, one entry per time it was sent).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from competition.cli import run_stage
from competition.files import locked, write_json, write_text
from competition.kaggle_api import Submitted
from competition.provenance import now
from competition.workspace import Workspace
from submissions.submission import LOG_NAME, read_info

COLUMNS = ("name", "time", "ref", "runs", "honest_cv", "test_cv", "expected", "public", "private", "status")
SCORES = ("honest_cv", "test_cv", "expected", "public", "private")


def path(ws: Workspace) -> Path:
    return ws.submissions / f"{LOG_NAME}.csv"


def test_cv(info: dict) -> float | None:
    """The blend's honest CV accuracy for the test's class distribution, when the ensemble recorded it."""
    value = (info.get("honest_cv") or {}).get("test_distribution_accuracy")
    return None if value is None else float(value)


def read(ws: Workspace) -> pd.DataFrame:
    """The leaderboard log (every column of COLUMNS; scores as floats, NaN where there is none)."""
    p = path(ws)
    frame = pd.read_csv(p, dtype=str, keep_default_na=False) if p.is_file() else pd.DataFrame(columns=COLUMNS)
    for c in COLUMNS:
        if c not in frame:
            frame[c] = ""
    frame = frame[list(COLUMNS)]
    for c in SCORES:
        frame[c] = pd.to_numeric(frame[c].replace("", None), errors="coerce")
    return frame


def record(ws: Workspace, csv_path: Path, sub: Submitted, message: str) -> dict:
    """Keep Kaggle's answer about `csv_path`: appended to the `kaggle` list of its .json and as
    a row of the leaderboard log (both written atomically, the log under a lock). Returns the row."""
    info = read_info(csv_path)
    entry = {"ref": sub.ref, "time": now(), "message": message, "status": sub.status, "public": sub.public,
             "private": sub.private}
    row = {"name": Path(csv_path).stem, "time": entry["time"], "ref": sub.ref,
           "runs": " ".join(r.get("name", "") for r in info.get("runs") or []),
           "honest_cv": (info.get("honest_cv") or {}).get("accuracy"), "test_cv": test_cv(info),
           "expected": (info.get("honest_cv") or {}).get("expected_test_accuracy"),
           "public": sub.public, "private": sub.private, "status": sub.status}
    json_path = Path(csv_path).with_suffix(".json")
    if json_path.is_file():
        write_json(json_path, {**info, "kaggle": [*(info.get("kaggle") or []), entry]})
    with locked(path(ws)):
        frame = read(ws)
        frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True) if len(frame) else pd.DataFrame([row])
        write_text(path(ws), frame[list(COLUMNS)].to_csv(index=False))
    return row


def past(ws: Workspace) -> pd.DataFrame:
    """Scored rows only (honest CV and a Kaggle score), for the report's CV-against-leaderboard plot."""
    frame = read(ws)
    return frame[frame["honest_cv"].notna() & (frame["public"].notna() | frame["private"].notna())]


def show(ws: Workspace, log=print) -> pd.DataFrame:
    frame = read(ws)
    if not len(frame):
        log(f"no submission sent yet ({path(ws)} is missing): `make ensemble submit` sends one")
        return frame
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
        log(frame.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.5f}"))
    log(f"({path(ws)}; honest_cv: nested CV accuracy of the blend, test_cv: the same for the test's "
        "class distribution, expected: the test accuracy the ensemble expected; public/private: Kaggle's accuracy)")
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m submissions.leaderboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    args = parser.parse_args(argv)

    def body() -> None:
        show(Workspace(args.workspace))

    return run_stage("leaderboard", body, "nothing was changed")


if __name__ == "__main__":
    sys.exit(main())
