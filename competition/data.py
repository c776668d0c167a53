"""`make data`: put the competition under data/raw/ and describe it in data/manifest.json.

    DATA=auto     Kaggle when credentials exist, otherwise the embedded demo (says which and why)
    DATA=kaggle   download with the Kaggle API into data/kaggle/ (archives in data/downloads/)
    DATA=demo     synthesize the offline demo into data/demo/seed<S>-<N>spk/
    DATA=<path>   use a folder in the Kaggle layout where it is, without copying it or writing
                  into it (a read-only mount is fine); a folder holding Kaggle's train.7z and
                  test.7z instead (a Kaggle Notebook's /kaggle/input/<competition>) is
                  extracted into data/kaggle/

data/raw is a symbolic link to the chosen folder, so switching sources never deletes a
download. The manifest records the source, the folder, clip counts and a fingerprint
of the clips, which later stages use in their cache keys.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from competition import download, kaggle_api, layout
from competition.cli import run_stage
from competition.files import locked, read_json, symlink_atomic, write_json
from competition.kaggle_api import find_credentials
from competition.provenance import now
from competition.workspace import Workspace


def choose_source(source: str, log=print, data_dir: Path = Path("data")) -> str:
    """Resolve DATA=auto to kaggle or demo, saying which and why."""
    if source != "auto":
        return source
    if (data_dir / "kaggle").is_dir():
        log(f"DATA=auto: {data_dir / 'kaggle'} holds a finished download; using it")
        return "kaggle"
    try:
        creds = find_credentials()
    except kaggle_api.KaggleError as e:
        log(f"DATA=auto: Kaggle credentials look broken ({e}); using the embedded demo data")
        return "demo"
    if creds:
        log(f"DATA=auto: found the {creds}; downloading the real competition (DATA=demo to stay offline)")
        return "kaggle"
    log("DATA=auto: no Kaggle credentials found, so using the embedded demo data "
        "(synthesized speech, offline). For the real competition see README, 'Kaggle credentials'.")
    return "demo"


def make_manifest(source: str, root: Path, found: layout.Layout) -> dict:
    fingerprint, stamp = layout.fingerprint(root)
    return {
        "source": source,
        "root": str(root.resolve()),
        "train_clips": found.train_clips,
        "words": found.words,
        "background": found.background,
        "test_clips": found.test_clips,
        "solution": str(found.solution.resolve()) if found.solution else None,
        "fingerprint": fingerprint,
        "stamp": stamp,
        "created": now(),
    }


def prepare(source: str = "auto", ws: Workspace | None = None, *, demo_seed: int = 0,
            demo_speakers: int | None = None, client=None, log=print) -> dict:
    """Make data/raw point at a verified Kaggle-layout folder; return the manifest."""
    ws = ws or Workspace()
    data_dir = ws.data
    source = choose_source(source, log, data_dir)
    if source == "kaggle":
        root = data_dir / "kaggle"
        found = download.download_competition(root, data_dir / "downloads", client=client, log=log)
    elif source == "demo":
        from competition import demo

        speakers = demo_speakers or demo.DEFAULT_SPEAKERS
        root = data_dir / "demo" / f"seed{demo_seed}-{speakers}spk"
        if not root.is_dir():
            log(f"building the demo data in {root} (seed {demo_seed}, {speakers} speakers) ...")
            demo.build_demo(root, seed=demo_seed, speakers=speakers)
        found = layout.verify(root, all_words=True)
    elif not (Path(source).expanduser() / "train").is_dir() and download.archives_in(Path(source).expanduser()):
        archives = download.archives_in(Path(source).expanduser())
        root = data_dir / "kaggle"
        with locked(root, log, "extracting into"):
            if root.is_dir():
                log(f"{root} already holds the extracted competition (from {archives[0].parent})")
                found = layout.verify(root, all_words=True)
            else:
                found = download.extract_competition(archives, root, log=log)
        source = "kaggle"
    else:
        root = Path(source).expanduser()
        found = layout.verify(root, all_words=False)
        missing = [w for w in layout.WORDS if w not in found.words]
        if missing:
            log(f"note: {root} lacks {len(missing)} of the 30 Kaggle words ({', '.join(missing)}); using it anyway")
        source = "local"
    root = root.resolve()
    manifest = make_manifest(source, root, found)
    old = read_json(ws.manifest_path) if ws.manifest_path.is_file() else None
    same = old and old.get("root") == manifest["root"] and old.get("fingerprint") == manifest["fingerprint"] \
        and ws.raw.resolve() == root
    if same and old.get("stamp") == manifest["stamp"]:
        log(f"data/raw already is {root} ({found.train_clips} train clips, {found.test_clips} test clips); nothing to do")
        return old
    if same:
        log(f"data/raw: {root} holds the same clips (names and sizes) with new modification times; recorded. "
            "Feature caches of these clips are kept: if their contents changed, delete artifacts/features")
    symlink_atomic(os.path.relpath(root, data_dir.resolve()) if root.is_relative_to(data_dir.resolve()) else root,
                   ws.raw)
    write_json(ws.manifest_path, manifest)
    log(f"data/raw -> {root}: {found.train_clips} train clips in {len(found.words)} words, "
        f"{len(found.background)} background recordings, {found.test_clips} test clips"
        + (", answer key test_solution.csv" if found.solution else ""))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m competition.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=os.environ.get("DATA", "auto"),
                        help="auto | kaggle | demo | a folder in the Kaggle layout (default: auto)")
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    parser.add_argument("--demo-seed", type=int, default=0)
    parser.add_argument("--demo-speakers", type=int, default=None,
                        help="train speakers of the demo data (its size)")
    args = parser.parse_args(argv)

    def body() -> None:
        prepare(args.source, Workspace(args.workspace), demo_seed=args.demo_seed, demo_speakers=args.demo_speakers)

    return run_stage("data", body, "nothing half-written was kept, rerun to continue")


if __name__ == "__main__":
    sys.exit(main())
