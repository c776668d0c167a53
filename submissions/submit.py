"""`make submit`: validate a submission against the test clips, then send it to Kaggle.

    SUBMISSION=...   a submission CSV (default: the newest in artifacts/submissions)
    MESSAGE=...      the submission's description on Kaggle (default: method, runs, honest CV score)

Nothing is sent unless the file lists every clip of data/raw/test/audio exactly once with
one of the 12 labels, and data/raw is Kaggle's data (a demo or dev test set has other
clips, which Kaggle would reject; `FORCE=1` sends anyway).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from competition import kaggle_api, layout
from competition.cli import run_stage
from competition.workspace import Workspace
from submissions.submission import SubmissionError, newest, read_info, validate


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
           ws: Workspace | None = None, force: bool = False, env: Mapping[str, str] | None = None,
           log=print) -> str | None:
    """Validate `csv_path` (default: the newest submission) and submit it; return Kaggle's public score or None."""
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
    creds = kaggle_api.require_credentials(env)
    message = message.strip() or default_message(csv_path)
    log(f"submitting {csv_path} ({len(names)} clips) to {kaggle_api.COMPETITION} with the {creds}: {message!r}")
    if client is None:
        client = kaggle_api.make_client(creds)
    with kaggle_api.kaggle_errors("submitting", creds):
        public = client.submit(csv_path, message)
    if public is None:
        log(f"submitted; Kaggle has not scored it yet: see {kaggle_api.COMPETITION_URL}/submissions")
    else:
        log(f"submitted; public leaderboard score: {public}")
    return public


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m submissions.submit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", type=Path, default=None)
    parser.add_argument("--message", default="")
    parser.add_argument("--force", action="store_true", help="submit even when data/raw is not Kaggle's data")
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    args = parser.parse_args(argv)
    return run_stage("submit", lambda: submit(args.submission, args.message, ws=Workspace(args.workspace),
                                              force=args.force) and None, "nothing was sent")


if __name__ == "__main__":
    sys.exit(main())
