"""`make ensemble`: blend finished runs, correct the test priors, write a submission and a report.

    RUNS=...       run folders or model names (latest finished run of each); default: all finished runs
    METHOD=auto    auto | mean | logmean | weights | caruana | stack (auto: best honest CV accuracy
                   for the test distribution)
    PRIORS=uniform uniform | em | none: the test distribution. Every choice on OOF rows (the
                   method, the weights, the stacker's fit) weighs the rows so their labels are
                   distributed like the test's: equal over the 12 labels (uniform, Kaggle's test
                   set), the EM estimate from the runs' test predictions (em), or as the OOF rows
                   are (none). The test probabilities, calibrated on the blend's honest OOF
                   predictions, are then moved to those priors (see submissions/priors.py).
    OOF=auto       clean | noisy | both | auto: the OOF rows the blend is fitted, chosen and
                   calibrated on: the clips as recorded, the same clips with background noise the
                   fold model never heard mixed in at 0-20 dB (oof_noisy.npy of make train; make
                   noisy-oof adds it to older runs), or both, each half the weight (auto: both
                   when every run has noisy rows, else clean, with a note). The competition's test
                   is noisy: README, "Blending for a noisy test".
    NAME=...       submission name (default: <method>-<priors>-<hash of runs and settings>)

Besides the honest CV it prints the expected test accuracy: the honest CV moved by how much
more (or less) sure the blend is of the test clips than of the OOF rows ("difference of
confidences", Guillory et al. 2021), from calibrated probabilities and no test label. It
follows the test when the test is easier or noisier than the training clips, which the honest
CV cannot see (README, "How far CV is from the test").

Writes artifacts/submissions/<name>.{csv,npy,json} and artifacts/reports/<name>/index.html.
When the data has an answer key (dev and demo data), the test accuracy of the blend and of
each run is printed too, for information: nothing is chosen by it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from competition import layout, metrics
from competition.calibration import IDENTITY, Calibration, calibrate, fit_calibration
from competition.cli import run_stage
from competition.files import short_hash
from competition.labels import LABEL_INDEX, LABELS, SILENCE
from competition.pseudo import run_round
from competition.workspace import Workspace
from submissions import blend as blending
from submissions import leaderboard, priors, report, submission
from submissions.runs import BlendError, RunSet, gather

# A test clip the feature reader could not use (listed in bad_files.csv) has no prediction, but
# Kaggle rejects a file without it; an unreadable or empty clip is most likely silence.
FILL_LABEL = SILENCE


def _current_manifest(ws: Workspace) -> dict | None:
    """The manifest of the data in data/raw (checked unchanged), or None when there is none."""
    try:
        return ws.read_manifest()
    except layout.LayoutError:
        if ws.manifest_path.is_file():
            raise  # data exists but changed since `make data`: its test list cannot be trusted
        return None


def _matching_manifest(rs: RunSet, manifest: dict | None, ws: Workspace, log) -> dict | None:
    """The data manifest when it describes the data the runs were made on, else None (with a note)."""
    if manifest is None:
        return None
    if manifest.get("fingerprint") != rs.fingerprint:
        log(f"note: the runs were made on data {rs.fingerprint}, but {ws.raw} now holds "
            f"{manifest.get('source')} data {manifest.get('fingerprint')}: its test clip list and answer key are not used")
        return None
    return manifest


def _all_test_clips(rs: RunSet, manifest: dict | None) -> list[str]:
    """Every clip of test/audio (the runs' test index plus any the feature reader left out)."""
    if manifest is None:
        return list(rs.test_fnames)
    tdir = layout.test_dir(Path(manifest["root"]))
    try:
        listed = layout.test_clips(Path(manifest["root"]))
    except OSError:
        return list(rs.test_fnames)
    unknown = sorted(set(rs.test_fnames) - set(listed))
    if unknown:
        raise BlendError(f"the runs predict {len(unknown)} clip(s) that are not in {tdir} (e.g. {unknown[0]}); "
                         "rerun `make features` and `make train` for the current data")
    return listed


def _with_fills(fnames: tuple[str, ...], probs: np.ndarray, all_clips: list[str]) -> tuple[list[str], np.ndarray]:
    """Rows for every clip: predicted ones, then one-hot `FILL_LABEL` rows for clips without a prediction."""
    missing = sorted(set(all_clips) - set(fnames))
    fill = np.zeros((len(missing), len(LABELS)))
    fill[:, LABEL_INDEX[FILL_LABEL]] = 1.0
    return [*fnames, *missing], np.concatenate([probs, fill])


def _default_name(chosen: str, mode: str, rs: RunSet, s: blending.BlendSettings, rows: str = "clean") -> str:
    key = short_hash({"runs": [r.name for r in rs.runs], "method": chosen, "priors": mode, "settings": asdict(s),
                      **({} if rows == "clean" else {"oof": rows})}, 6)
    return f"{chosen}-{mode}-{len(rs.runs)}runs-{key}"


def test_distribution(rs: RunSet, mode: str) -> tuple[np.ndarray | None, str]:
    """(row weights `(n,)` for the OOF rows, a phrase saying what they stand for) under PRIORS=`mode`.

    em: the priors EM estimates from the mean of the runs' test predictions, calibrated on the
    mean of their OOF predictions (the blend does not exist yet: it is chosen with these weights)."""
    if mode == "none":
        return None, "the OOF rows as they are (PRIORS=none)"
    if mode == "uniform":
        return metrics.test_weights(rs.y), "equal over the 12 labels (PRIORS=uniform)"
    mean_oof, mean_test = rs.oof.mean(axis=0), rs.test.mean(axis=0)
    _, shift = priors.correct(mean_test, priors.train_priors(rs.y, len(LABELS)), "em", fit_calibration(mean_oof, rs.y))
    return metrics.test_weights(rs.y, shift.test), "the test priors EM estimates from the runs' mean (PRIORS=em)"


OOF_ROWS = ("auto", "clean", "noisy", "both")


@dataclass(frozen=True, eq=False)
class BlendRows:
    """The OOF rows a blend is fitted on: `P` `(K, rows, 12)`, `y`, `fold`, `w` for each row, and
    `parts`: (name, slice of rows) for each kind in it, clean first."""

    what: str
    P: np.ndarray
    y: np.ndarray
    fold: np.ndarray
    w: np.ndarray | None
    parts: tuple[tuple[str, slice], ...]


def blend_rows(rs: RunSet, wanted: str, w: np.ndarray | None, log=print) -> BlendRows:
    """The rows of OOF=`wanted` (see the module doc); a BlendError when noisy rows are asked for
    and a run has none."""
    if wanted not in OOF_ROWS:
        raise BlendError(f"unknown OOF={wanted!r}; choose one of {', '.join(OOF_ROWS)}")
    missing = rs.without_noisy
    if wanted in ("noisy", "both") and missing:
        raise BlendError(f"OOF={wanted}: {len(missing)} run(s) have no noisy OOF predictions "
                         f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): "
                         "`make noisy-oof` adds them, or use OOF=clean")
    if wanted == "auto":
        if missing:
            log(f"note: {len(missing)} run(s) have no noisy OOF predictions (trained before make train wrote "
                f"them: {', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); blending on the clean "
                "OOF rows only. `make noisy-oof` adds them")
        wanted = "clean" if missing else "both"
    n = len(rs.y)
    if wanted == "clean":
        return BlendRows("clean", rs.oof, rs.y, rs.fold, w, (("clean", slice(0, n)),))
    if wanted == "noisy":
        return BlendRows("noisy", rs.oof_noisy, rs.y, rs.fold, w, (("noisy", slice(0, n)),))
    half = None if w is None else np.concatenate([w, w]) / 2
    if half is None:  # equal weights, each copy of a clip counting half
        half = np.full(2 * n, 0.5)
    return BlendRows("both", np.concatenate([rs.oof, rs.oof_noisy], axis=1), np.concatenate([rs.y, rs.y]),
                     np.concatenate([rs.fold, rs.fold]), half, (("clean", slice(0, n)), ("noisy", slice(n, 2 * n))))


def _run_rows(rs: RunSet, weights: np.ndarray | None, w: np.ndarray | None = None) -> list[dict]:
    rows = []
    for i, r in enumerate(rs.runs):
        folds = (r.cv.get("folds") or {})
        fold_acc = {int(k): v.get("accuracy") for k, v in folds.items() if isinstance(v, dict)}
        if not fold_acc:  # cv.json without per-fold entries: recompute from oof.npy
            fold_acc = {int(k): metrics.accuracy(r.oof[rs.fold == k], rs.y[rs.fold == k]) for k in np.unique(rs.fold)}
        rows.append({"name": r.name, "path": str(r.path), "round": run_round(r.record),
                     "pseudo": (r.record.inputs.pseudo or {}).get("name"), "accuracy": metrics.accuracy(r.oof, rs.y),
                     "test_accuracy": metrics.accuracy(r.oof, rs.y, w),
                     "log_loss": metrics.log_loss(r.oof, rs.y), "fold_accuracy": fold_acc,
                     "noisy_test_accuracy": (None if r.oof_noisy is None or r.oof_noisy.shape != r.oof.shape
                                             else metrics.accuracy(r.oof_noisy, rs.y, w)),
                     "weight": None if weights is None else float(weights[i])})
    return rows


def _method_rows(result: blending.BlendResult, br: BlendRows, s: blending.BlendSettings) -> list[dict]:
    rows = []
    for sc in result.scores:
        m = blending.get_method(sc.method)
        weights = result.blender.weights if sc.method == result.chosen.method else None
        if weights is None and m.weighted:
            weights = m.fit(br.P, br.y, s, br.w).weights  # cheap for the weight-based methods
        rows.append({"method": sc.method, "accuracy": sc.accuracy, "log_loss": sc.log_loss,
                     "test_accuracy": sc.test_accuracy, "test_log_loss": sc.test_log_loss,
                     "fits": m.fits, "weighted": m.weighted, "summary": m.summary,
                     "weights": None if weights is None else [float(x) for x in weights]})
    return rows


def _print_tables(rs: RunSet, runs: list[dict], methods: list[dict], chosen: str, auto: bool, target: str,
                  rows: str, log) -> None:
    width = max(len(r["name"]) for r in runs) + 2
    log(f"{len(rs.runs)} run(s), {len(rs.y)} OOF clips in {len(np.unique(rs.fold))} speaker-grouped folds "
        f"({rs.folds_path}), {len(rs.test_fnames)} test clips")
    log(f"test distribution: {target}; 'test-dist' columns weigh the OOF rows to it, 'raw' ones take them as they are")
    log(f"  {'run':<{width}} round  raw OOF acc  test-dist acc  noisy test-dist  log loss")
    for r in runs:
        noisy = "-" if r["noisy_test_accuracy"] is None else f"{r['noisy_test_accuracy']:.4f}"
        log(f"  {r['name']:<{width}} {r['round']:5d}  {r['accuracy']:11.4f}  {r['test_accuracy']:13.4f}  {noisy:>15}"
            f"  {r['log_loss']:8.4f}" + (f"  (trained with pseudo-labels {r['pseudo']})" if r["pseudo"] else ""))
    log(f"  blends fitted and scored on {rows} OOF rows")
    log(f"  {'method':<10} raw CV acc  test-dist CV acc  test-dist log loss  weights (refitted on all OOF rows)")
    for m in methods:
        mark = "*" if m["method"] == chosen else " "
        w = " ".join(f"{x:.3f}" for x in m["weights"]) if m["weights"] else f"({m['summary']})"
        log(f"{mark} {m['method']:<10} {m['accuracy']:10.4f}  {m['test_accuracy']:16.4f}  {m['test_log_loss']:18.4f}  {w}")
    why = "best honest CV accuracy for the test distribution" if auto else "METHOD"
    fit_nothing = [m["method"] for m in methods if not m["fits"]]
    log(f"* chosen by {why}. Methods that fit anything on OOF rows are scored by nested CV: fitted on the other "
        f"folds' OOF rows, scored on the held-out fold; {' and '.join(fit_nothing) or 'none'} fit nothing.")


def _prior_line(shift: priors.PriorShift) -> str:
    if shift.mode == "none":
        return "priors: none (test probabilities used as the models gave them)"
    moves = sorted(range(len(LABELS)), key=lambda i: -abs(shift.test[i] - shift.train[i]))[:3]
    detail = ", ".join(f"{LABELS[i]} {shift.train[i]:.3f} -> {shift.test[i]:.3f}" for i in moves)
    how = (f"EM {'converged' if shift.converged else 'stopped without converging'} after {shift.iterations} "
           "iterations" if shift.mode == "em" else "assumed uniform")
    how += f", after calibration on OOF: temperature {shift.calibration.temperature:.3f}"
    bias = shift.calibration.bias
    if bias is not None:
        how += f", largest bias {LABELS[int(np.argmax(np.abs(bias)))]} {bias[np.argmax(np.abs(bias))]:+.2f}"
    return f"priors: {shift.mode} ({how}); largest changes: {detail}"


def _answer_key_rows(rs: RunSet, result: blending.BlendResult, solution: pd.DataFrame, all_clips: list[str],
                     train: np.ndarray, mode: str, calibration: Calibration) -> tuple[list[dict], np.ndarray]:
    """Test accuracy of the blend and of each run, with and without the prior correction
    (each run calibrated on its own OOF rows, as the blend is on its honest ones)."""
    def acc(probs: np.ndarray) -> dict:
        fnames, rows = _with_fills(rs.test_fnames, probs, all_clips)
        return submission.score_frames(submission.to_frame(fnames, rows), solution)

    out, confusion = [], None
    blended = f"blend ({result.chosen.method})"
    calibrations = {blended: calibration}
    if mode != "none":
        calibrations |= {r.name: fit_calibration(r.oof, rs.y) for r in rs.runs}
    for what, probs in [(blended, result.test), *[(r.name, r.test) for r in rs.runs]]:
        raw = acc(probs)
        fixed = acc(priors.correct(probs, train, mode, calibrations[what])[0]) if mode != "none" else raw
        if confusion is None:
            confusion = np.asarray(fixed["confusion"])
        out.append({"what": what, "accuracy": fixed["accuracy"], "raw": raw["accuracy"]})
    return out, confusion


def _report_data(name: str, rs: RunSet, result: blending.BlendResult, runs: list[dict], methods: list[dict],
                 shift: priors.PriorShift, info: dict, csv: Path, filled: list[str], test_rows: list[dict] | None,
                 test_cm: np.ndarray | None, solution_path: str | None,
                 past_submissions: list[dict] = ()) -> report.ReportData:
    chosen, hcv = result.chosen, info["honest_cv"]
    best = max(runs, key=lambda r: r["accuracy"])
    pred = np.argmax(result.oof[: len(rs.y)], axis=1)  # the first kind of rows the blend used (clean unless OOF=noisy)
    best_pred = np.argmax(rs.runs[runs.index(best)].oof, axis=1)
    return report.ReportData(
        name=name, chosen=chosen.method, priors_mode=shift.mode, runs=runs, methods=methods,
        oof_confusion=metrics.confusion(rs.y, pred),
        per_class={f"blend ({chosen.method})": metrics.per_class_accuracy(rs.y, pred),
                   f"best run ({best['name']})": metrics.per_class_accuracy(rs.y, best_pred)},
        train_priors=shift.train, test_priors=shift.test, calibration=shift.calibration, submission=str(csv),
        facts=[("submission", str(csv)), ("runs", str(len(runs))),
               ("blend", f"{chosen.method} ({info['chosen_by']})"),
               ("honest CV accuracy", f"{hcv['accuracy']:.4f} raw, {hcv['test_distribution_accuracy']:.4f} for the "
                                      f"test distribution (log loss {hcv['log_loss']:.4f}; blend fitted on "
                                      f"{hcv['rows']} OOF rows)"),
               *([("on noisy OOF rows", f"{hcv['noisy_accuracy']:.4f} raw, {hcv['noisy_test_distribution_accuracy']:.4f} "
                                        "for the test distribution")] if "noisy_accuracy" in hcv else []),
               ("expected test accuracy", f"{hcv['expected_test_accuracy']:.4f} (OOF accuracy + test confidence "
                                          "- OOF confidence, calibrated; no test label read)"),
               ("best single run (OOF)", f"{best['name']}: {best['accuracy']:.4f}"),
               ("priors", _prior_line(shift).removeprefix("priors: ")),
               ("clips", f"{len(rs.y)} OOF in {len(np.unique(rs.fold))} folds, {info['rows']} test"),
               ("folds / features", f"{rs.folds_path} / {rs.features_path}"),
               ("written", info["created"])],
        notes=list(rs.notes) + ([f"{len(filled)} test clip(s) without a prediction were labelled "
                                 f"'{FILL_LABEL}'"] if filled else []),
        test=test_rows, test_confusion=test_cm, solution=str(solution_path or ""),
        answer_key_priors=None if test_cm is None else test_cm.sum(axis=1) / test_cm.sum(),
        leaderboard=past_submissions)


def _print_answer_key(rows: list[dict], solution_path: str, mode: str, log) -> None:
    log(f"answer key {solution_path} (for information only; nothing above was chosen by it):")
    head = f"PRIORS={mode}" if mode != "none" else ""
    width = max(len(t["what"]) for t in rows) + 2
    log(f"  {'':<{width}} no correction  {head}")
    for t in rows:
        log(f"  {t['what']:<{width}} {t['raw']:.4f}" + (f"         {t['accuracy']:.4f}" if head else ""))


def ensemble(specs: list[str] | None = None, method: str = "auto", mode: str = "uniform", name: str | None = None, *,
             ws: Workspace | None = None, settings: blending.BlendSettings = blending.DEFAULTS, oof_rows: str = "auto",
             log=print) -> dict:
    """Gather, blend, correct priors, write the submission and the report; return what was written."""
    ws = ws or Workspace()
    if mode not in priors.MODES:
        raise BlendError(f"unknown PRIORS={mode!r}; choose one of {', '.join(priors.MODES)}")
    if method != "auto":
        blending.get_method(method)
    if name is not None:
        submission.check_name(name)
    if oof_rows not in OOF_ROWS:
        raise BlendError(f"unknown OOF={oof_rows!r}; choose one of {', '.join(OOF_ROWS)}")
    started = time.perf_counter()
    current = _current_manifest(ws)
    rs = gather(specs, ws, fingerprint=current and current.get("fingerprint"), log=log)
    for note in rs.notes:
        log(note)
    manifest = _matching_manifest(rs, current, ws, log)
    all_clips = _all_test_clips(rs, manifest)

    w, target = test_distribution(rs, mode)
    br = blend_rows(rs, oof_rows, w, log)
    result = blending.blend(br.P, br.y, br.fold, rs.test, method, s=settings, w=br.w)
    chosen = result.chosen
    train = priors.train_priors(rs.y, len(LABELS))
    # calibrated on the blend's honest OOF predictions: held out like the test clips, labels known
    # (unweighted: the bias learns the rows' own label priors, which priors.correct then moves)
    calibration = fit_calibration(result.oof, br.y) if mode != "none" else IDENTITY
    test_probs, shift = priors.correct(result.test, train, mode, calibration)
    runs, methods = _run_rows(rs, result.blender.weights, w), _method_rows(result, br, settings)
    _print_tables(rs, runs, methods, chosen.method, method == "auto", target, br.what, log)
    log(_prior_line(shift))
    calibrated = calibrate(result.oof, calibration)
    honest = {}
    for part, rows in br.parts:  # the chosen blend's honest CV on each kind of row
        p, y = result.oof[rows], br.y[rows]
        key = "" if part == br.parts[0][0] else f"{part}_"
        honest |= {f"{key}accuracy": metrics.accuracy(p, y), f"{key}log_loss": metrics.log_loss(p, y),
                   f"{key}test_distribution_accuracy": metrics.accuracy(p, y, w),
                   f"{key}test_distribution_log_loss": metrics.log_loss(p, y, w)}
        log(f"honest CV on the {part} OOF rows: {honest[key + 'accuracy']:.4f} raw, "
            f"{honest[key + 'test_distribution_accuracy']:.4f} for the test distribution")
    expected = metrics.expected_accuracy(calibrated, br.y, br.w, test_probs)
    log(f"expected test accuracy: {expected['expected_test_accuracy']:.4f} (OOF accuracy "
        f"{expected['oof_accuracy']:.4f} + test confidence {expected['test_confidence']:.4f} - OOF confidence "
        f"{expected['oof_confidence']:.4f}, calibrated; no test label read)")

    name = name or _default_name(chosen.method, mode, rs, settings, br.what)
    fnames, rows = _with_fills(rs.test_fnames, test_probs, all_clips)
    filled = fnames[len(rs.test_fnames):]
    if filled:
        log(f"note: {len(filled)} test clip(s) have no prediction (left out by the feature reader, see "
            f"{rs.features_path / 'bad_files.csv'}); labelled '{FILL_LABEL}'")
    info = {
        "name": name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "method": chosen.method,
        "chosen_by": "auto: best honest CV accuracy for the test distribution" if method == "auto" else "METHOD",
        # accuracy, log_loss, test_distribution_*: on the first kind of rows the blend used (clean
        # unless OOF=noisy); noisy_*: on the noisy copies when it used both
        "honest_cv": {**honest, "fold_accuracy": chosen.fold_accuracy, "test_distribution": target,
                      "rows": br.what, **expected},
        "weights": result.blender.weight_list(),
        "temperatures": result.blender.temperature_list(),
        "runs": [{k: r[k] for k in ("name", "path", "round", "pseudo", "accuracy", "log_loss", "weight")} for r in runs],
        "methods": [{k: m[k] for k in ("method", "accuracy", "log_loss", "test_accuracy", "test_log_loss", "weights")}
                    for m in methods],
        "priors": shift.to_json(LABELS),
        "folds": str(rs.folds_path), "features": str(rs.features_path),
        "data": {"fingerprint": rs.fingerprint, "source": rs.runs[0].record.inputs.data_source},
        "filled_clips": filled, "settings": asdict(settings), "rows": len(fnames),
    }
    paths = submission.write(name, fnames, rows, info, all_clips, out_dir=ws.submissions,
                             oof=calibrated[br.parts[0][1]])  # one row per clip, in folds order (make pseudo)

    test_rows, test_cm, solution_path = None, None, (manifest or {}).get("solution")
    if solution_path and Path(solution_path).is_file():
        solution = submission.read_solution(Path(solution_path))
        test_rows, test_cm = _answer_key_rows(rs, result, solution, all_clips, train, mode, calibration)

    past = [{k: (None if pd.isna(v) else v) for k, v in row.items()}
            for row in leaderboard.past(ws)[["name", "honest_cv", "public", "private"]].to_dict("records")]
    d = _report_data(name, rs, result, runs, methods, shift, info, paths["csv"], filled, test_rows, test_cm,
                     solution_path, past)
    html_path = report.write_report(d, ws.reports)

    log(f"submission: {paths['csv']} ({len(fnames)} clips; probabilities in {paths['npy'].name}, "
        f"settings in {paths['json'].name})")
    log(f"report: {html_path}")
    if test_rows:
        _print_answer_key(test_rows, solution_path, mode, log)
    log(f"done in {time.perf_counter() - started:.1f} s")
    return {"name": name, "paths": paths, "report": html_path, "result": result, "shift": shift,
            "test": test_rows, "info": info}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m submissions.ensemble", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="*", default=None,
                        help="run folders or model names (space or comma separated); default: all finished runs")
    parser.add_argument("--method", default="auto", choices=["auto", *blending.METHODS],
                        help="how to blend (default: auto, the best honest CV accuracy)")
    parser.add_argument("--priors", default="uniform", choices=priors.MODES,
                        help="the test distribution: what OOF choices are weighted to and test probabilities moved to "
                             "(default: uniform, equal over the 12 labels)")
    parser.add_argument("--name", default=None, help="submission name (default: derived from the runs and settings)")
    parser.add_argument("--oof", default="auto", choices=OOF_ROWS,
                        help="OOF rows the blend is fitted on: clean, noisy (background noise mixed in), both, "
                             "or auto (both when every run has noisy rows, else clean)")
    parser.add_argument("--caruana-metric", default=blending.BlendSettings.caruana_metric,
                        choices=["log_loss", "accuracy"])
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    args = parser.parse_args(argv)

    def body() -> None:
        ensemble(args.runs, args.method, args.priors, args.name or None, ws=Workspace(args.workspace),
                 settings=blending.BlendSettings(caruana_metric=args.caruana_metric), oof_rows=args.oof)

    return run_stage("ensemble", body, "nothing half-written was kept")


if __name__ == "__main__":
    sys.exit(main())
