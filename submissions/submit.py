"""`make submit`: validate a submission against the test clips, then send it to Kaggle.

    SUBMISSION=...   a submission CSV (default: the newest in artifacts/submissions)
    MESSAGE=...      the submission's description on Kaggle (default: method, runs, honest CV score)
    WAIT=...         seconds to wait for Kaggle's scores (default 600; 0: do not wait)

Kaggle's public and private scores are printed, added to the submission's .json and to the
leaderboard log (artifacts/submissions/leaderboard.csv; `make leaderboard` prints it).

Nothing is sent unless the file lists every clip of data/raw/test/audio exactly once with
one of the 12 labels, and data/raw is Kaggle's data (a demo or dev test set has other
clips, which Kaggle would reject; `FORCE=1` sends anyway).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from competition import kaggle_api, layout
from competition.cli import run_stage
from competition.settings import check_number
from competition.workspace import Workspace
from submissions import leaderboard
from submissions.submission import SubmissionError, newest, read_info, validate

DEFAULT_WAIT = 600.0  # seconds; Kaggle scores a submission of this competition within about a minute


def test_clips(csv_path: Path, ws: Workspace) -> tuple[list[str], dict]:
    """The clip names a submission must cover, and the manifest they come from ({} if none).

    From data/raw/test/audio when there is data; otherwise from the feature cache the
    submission was made from (its test_index.csv plus the clips it filled in).
    """
    info = read_info(csv_path)
    manifest = ws.read_manifest() if ws.manifest_path.is_file() else None
    if manifest is not None:
        made_on = (info.get("data") or {}).get("fingerprint")
        if made_on and made_on != manifest.get("fingerprint"):
            raise SubmissionError(f"{csv_path} was made on data {made_on}, but {ws.raw} holds "
                                  f"{manifest.get('source')} data {manifest.get('fingerprint')}; "
                                  "blend runs of the current data with `make ensemble`")
        root = Path(manifest["root"])
        if layout.test_dir(root).is_dir():
            return layout.test_clips(root), manifest
    index = Path(info.get("features", "")) / "test_index.csv"
    if info.get("features") and index.is_file():
        names = pd.read_csv(index, keep_default_na=False)["fname"].tolist()
        return names + list(info.get("filled_clips") or []), {"source": (info.get("data") or {}).get("source")}
    raise SubmissionError(f"cannot tell which test clips {csv_path} must cover: no data in {ws.raw} "
                          "(run `make data`) and no feature cache named in its .json")


def default_message(csv_path: Path) -> str:
    info = read_info(csv_path)
    if not info:
        return Path(csv_path).stem
    cv = info.get("honest_cv") or {}
    return (f"{Path(csv_path).stem}: {info.get('method')} blend of {len(info.get('runs') or [])} run(s), "
            f"honest CV accuracy {cv.get('accuracy', float('nan')):.4f}, priors {(info.get('priors') or {}).get('mode')}")


def submit(csv_path: Path | None = None, message: str = "", *, client: kaggle_api.KaggleClient | None = None,
           ws: Workspace | None = None, force: bool = False, wait: float = DEFAULT_WAIT, log=print,
           sleep=None) -> kaggle_api.Submitted:
    """Validate `csv_path` (default: the newest submission), submit it, wait up to `wait`
    seconds for its scores and record them (the .json, the leaderboard log); return Kaggle's answer."""
    ws = ws or Workspace()
    csv_path = Path(csv_path) if csv_path else newest(ws.submissions)
    names, manifest = test_clips(csv_path, ws)
    source = manifest.get("source")
    if source == "local" and len(names) == kaggle_api.KAGGLE_TEST_CLIPS:
        source = "kaggle"  # DATA=<a folder> holding an earlier download of the competition
    if source != "kaggle" and not force:
        raise SubmissionError(f"{ws.raw} holds {source or 'unknown'} data, not Kaggle's test set, so Kaggle "
                              f"would reject {csv_path}; run `make data DATA=kaggle`, `make features train "
                              "ensemble`, then submit (or `make submit FORCE=1`)")
    validate(csv_path, names)  # before credentials: an invalid file is never sent
    creds = kaggle_api.require_credentials()
    message = message.strip() or default_message(csv_path)
    log(f"submitting {csv_path} ({len(names)} clips) to {kaggle_api.COMPETITION} with the {creds}: {message!r}")
    if client is None:
        client = kaggle_api.make_client(creds)
    with kaggle_api.kaggle_errors("submitting", creds):
        ref = client.submit(csv_path, message)
    log(f"submitted as ref {ref}; waiting up to {wait:.0f} s for Kaggle to score it")
    with kaggle_api.kaggle_errors(f"asking Kaggle about submission {ref}", creds):
        try:
            sub = kaggle_api.wait_for_score(client, ref, wait, log=log, sleep=sleep)
        except kaggle_api.KaggleError:
            leaderboard.record(ws, csv_path, kaggle_api.Submitted(ref, "error"), message)
            raise
    row = leaderboard.record(ws, csv_path, sub, message)
    if sub.scored:
        log(f"scored: public {sub.public or '-'}, private {sub.private or '-'} (honest CV "
            f"{_fmt(row['honest_cv'])}); recorded in {leaderboard.path(ws)}")
    else:
        log(f"Kaggle has not scored submission {ref} after {wait:.0f} s: see {kaggle_api.COMPETITION_URL}/submissions "
            f"(recorded as {sub.status} in {leaderboard.path(ws)})")
    return sub


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m submissions.submit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", type=Path, default=None)
    parser.add_argument("--message", default="")
    parser.add_argument("--force", action="store_true", help="submit even when data/raw is not Kaggle's data")
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT, help="seconds to wait for the scores")
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    args = parser.parse_args(argv)
    def body() -> None:
        check_number("WAIT", args.wait, 0)
        submit(args.submission, args.message, ws=Workspace(args.workspace), force=args.force, wait=args.wait)

    return run_stage("submit", body, "what Kaggle answered so far is recorded")


if __name__ == "__main__":
    sys.exit(main())
