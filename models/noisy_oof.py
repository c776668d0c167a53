"""`make noisy-oof`: add noisy out-of-fold predictions to runs trained before `make train` wrote them.

    make noisy-oof                      every finished run without oof_noisy.npy
    make noisy-oof RUNS="artifacts/runs/crnn_vgg/eaf397c99c cnn_resnet"

Each fold's saved model predicts its held-out clips again with background noise it never heard
mixed in at 0-20 dB (models.fold.noisy_oof, the same seed `make train` uses), into
fold_<k>/oof_noisy.npy; the run's oof_noisy.npy and cv.json are then written again. The run
itself (its weights, OOF and test predictions, its id) is unchanged. `make ensemble OOF=noisy`
or `OOF=both` fits and scores the blend on these rows (README, "Blending for a noisy test").
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

if __name__ == "__main__":  # TensorFlow reads its kernel switch once, on import: decide first
    from models import kernels

    kernels.apply(*kernels.pre_parse(sys.argv[1:]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from competition import features  # noqa: E402
from competition.cli import run_stage  # noqa: E402
from competition.errors import UserError  # noqa: E402
from competition.files import locked, read_json, save_npy  # noqa: E402
from competition.provenance import RunRecord  # noqa: E402
from competition.workspace import Workspace  # noqa: E402
from folds.contract import read_folds  # noqa: E402
from models.fold import load_fold_data, make_targets, noisy_oof  # noqa: E402
from models.run import NOISY, combine  # noqa: E402
from models.settings import TrainSettings  # noqa: E402


def _settings(record: RunRecord) -> TrainSettings:
    """What prediction needs of the run's settings (TTA views, targets, the seed)."""
    t = record.train
    return dataclasses.replace(TrainSettings(), **{k: t[k] for k in ("seed", "tta", "tta_frames", "targets") if k in t})


def finished(ws: Workspace) -> list[Path]:
    return sorted(p.parent for p in ws.runs.glob("*/*/cv.json") if read_json(p).get("complete"))


def pick(specs: list[str] | None, ws: Workspace) -> list[Path]:
    """Run folders from RUNS= (folders, or model names: every finished run of that model); default all finished."""
    runs = finished(ws)
    if not specs:
        return runs
    out = []
    for spec in (x for s in specs for x in s.replace(",", " ").split()):
        path = Path(spec)
        if (path / "params.json").is_file():
            out.append(path)
            continue
        mine = [r for r in runs if r.parent.name == spec]
        if not mine:
            raise UserError(f"RUNS={spec!r} is neither a run folder nor a model with a finished run under "
                            f"{ws.runs}: give a folder like artifacts/runs/<model>/<run_id>")
        out += mine
    return out


def add(run: Path, ws: Workspace, log=print) -> int:
    """Write fold_<k>/oof_noisy.npy for every fold of `run` without one; return how many were written."""
    record = RunRecord.read(run / "params.json")
    cache = features.load(ws.root / record.inputs.features_path)
    folds = read_folds(ws.root / record.inputs.folds_path, cache.train_index)
    data = load_fold_data(cache, folds)
    s = _settings(record)
    t = make_targets(data.index, s.targets)
    n_folds = int(data.fold.max()) + 1
    todo = [k for k in range(n_folds) if not (run / f"fold_{k}" / NOISY).is_file()]
    for k in tqdm(todo, desc=f"{record.model} noisy OOF", unit="fold", disable=not todo):
        fdir = run / f"fold_{k}"
        if not (fdir / "model.keras").is_file():
            log(f"{run}: fold {k} is not finished; skipped")
            continue
        model = keras.saving.load_model(fdir / "model.keras")
        pred = noisy_oof(model, data, k, s, t)
        if pred is None:
            raise UserError(f"{run}: the feature cache has no background-noise windows to mix in")
        save_npy(fdir / NOISY, pred.astype(np.float32))
    with locked(run / "cv.json"):
        cv = combine(run, len(data.x), len(cache.test_index), folds, n_folds)
    noisy = cv.get("noisy_overall")
    log(f"{run}: noisy OOF accuracy {noisy['accuracy']:.4f} (clean {cv['overall']['accuracy']:.4f})"
        if noisy else f"{run}: some folds are unfinished; no run-level {NOISY}")
    return len(todo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.noisy_oof", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="*", default=None, help="run folders or model names (default: all finished)")
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    args = parser.parse_args(argv)

    def body() -> None:
        ws = Workspace(args.workspace)
        runs = pick(args.runs, ws)
        if not runs:
            raise UserError(f"no finished runs under {ws.runs}: run `make train` first")
        for run in runs:
            add(run, ws)

    return run_stage("noisy-oof", body, "folds written so far are kept; run it again to finish")


if __name__ == "__main__":
    raise SystemExit(main())
