"""`make score`: the accuracy of a submission on an answer key, overall and per class.

    SUBMISSION=...   a submission CSV (default: the newest in artifacts/submissions)
    SOLUTION=...     an answer key fname,label[,Usage] (default: the data's test_solution.csv)

Kaggle's own download has no answer key; the dev and demo data do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from competition import layout
from competition.cli import run_stage
from competition.labels import LABELS
from competition.workspace import Workspace
from submissions.submission import SubmissionError, format_score, newest, score


def default_solution(ws: Workspace) -> Path:
    try:
        manifest = ws.read_manifest()
    except layout.LayoutError as e:
        raise SubmissionError(f"no answer key given and {e}") from None
    if not manifest.get("solution"):
        raise SubmissionError(f"the {manifest.get('source')} data in {ws.raw} has no answer key "
                              "(test_solution.csv); pass SOLUTION=..., or score on Kaggle with `make submit`")
    return Path(manifest["solution"])


def format_confusion(result: dict) -> str:
    """The confusion matrix as text: one row per true label, columns = predicted labels."""
    short = [lab[:5] for lab in LABELS]
    lines = ["confusion (rows: true, columns: predicted):", " " * 9 + "".join(f"{s:>7}" for s in short)]
    for lab, row in zip(LABELS, result["confusion"], strict=True):
        lines.append(f"  {lab:<7}" + "".join(f"{n:>7}" for n in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m submissions.score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", type=Path, default=None)
    parser.add_argument("--solution", type=Path, default=None)
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    parser.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    args = parser.parse_args(argv)

    def body() -> None:
        ws = Workspace(args.workspace)
        sub = args.submission or newest(ws.submissions)
        sol = args.solution or default_solution(ws)
        result = score(sub, sol)
        print(f"{sub} on {sol}:")
        print(format_score(result))
        if args.confusion:
            print(format_confusion(result))

    return run_stage("score", body, "nothing was written")


if __name__ == "__main__":
    sys.exit(main())
