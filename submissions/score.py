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
from competition.data import read_manifest
from competition.labels import LABELS
from submissions.submission import SUBMISSIONS_DIR, SubmissionError, format_score, newest, score


def default_solution(data_dir: Path) -> Path:
    try:
        manifest = read_manifest(data_dir)
    except layout.LayoutError as e:
        raise SubmissionError(f"no answer key given and {e}") from None
    if not manifest.get("solution"):
        raise SubmissionError(f"the {manifest.get('source')} data in {data_dir}/raw has no answer key "
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
    parser = argparse.ArgumentParser(prog="make score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", type=Path, default=None)
    parser.add_argument("--solution", type=Path, default=None)
    parser.add_argument("--submissions-dir", type=Path, default=SUBMISSIONS_DIR)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    args = parser.parse_args(argv)
    try:
        sub = args.submission or newest(args.submissions_dir)
        sol = args.solution or default_solution(args.data_dir)
        result = score(sub, sol)
    except SubmissionError as e:
        print(f"make score: error: {e}", file=sys.stderr)
        return 2
    print(f"{sub} on {sol}:")
    print(format_score(result))
    if args.confusion:
        print(format_confusion(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
