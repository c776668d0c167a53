"""`make bench-kaggle-like`: accuracy on the plain dev test and on a Kaggle-like test, side by
side, for each model and their ensemble, as the pipeline makes them.

The Kaggle-like folder (benchmarks/kaggle_like.py) holds out eight words and two noise
recordings from training and adds a balanced test mixed with that unseen noise at 0-20 dB SNR,
where about half of the `unknown` clips are words no model has heard. In a project folder of
its own (artifacts/bench/kaggle-like/project: nothing of the user's data or runs is touched)
each stage runs as `make` runs it, in a process of its own:

    make data DATA=<the Kaggle-like folder>; make features N_FOLDS=<folds>
    make train MODELS=<models> EPOCHS=<epochs> PARAMS=default SET=<set>
    make ensemble RUNS=<those runs> PRIORS=<priors>

then scores every run (calibrated and prior-corrected as the ensemble does it) and the
ensemble's submission on each test, and appends the rows to
artifacts/bench/kaggle-like/results.csv under LABEL, so a change is measured against what
was measured before (the README table comes from this file). Runs are keyed by their
settings: a rerun with the same settings resumes or reuses them.

    make bench-kaggle-like                                   # today's defaults
    make bench-kaggle-like SET="aug.noise_prob=0.8" LABEL=noise-0.8
    make bench-kaggle-like SOURCE=data/raw                   # from another Kaggle-layout folder
    make bench-kaggle-like TABLE=1                           # print results.csv as the README's table
    make bench-kaggle-like ROUND_TWO=1                       # then a pseudo-label round (make pseudo,
                                                             # make train PSEUDO=..., make ensemble)
    make bench-kaggle-like OOF=clean LABEL=clean-oof         # the ensemble's OOF rows (make ensemble OOF)
    make bench-kaggle-like RUNS="artifacts/runs/crnn_vgg/<id> ..." OOF=both
                                                             # blend runs already in the project (their
                                                             # folders, relative to it): no training
    make bench-kaggle-like RUNS="..." ORACLE=1               # how much any equal-weight blend of 2-4 of
                                                             # them could gain (reads the answer key)
    make bench-kaggle-like FEAT="pad=zeros" LABEL=zero-pad   # other feature settings (make features FEAT)
    make bench-kaggle-like FRONTENDS="n_mels=40 win_ms=40,hop_ms=15"
                                                             # every model also on these front-ends (one
                                                             # per word, fields joined by commas), all
                                                             # of them in one ensemble

Besides accuracy, each row has `expected_plain` and `expected_kaggle_like`: the accuracy the
ensemble (or the run, calibrated the same way) expects on each test from its honest CV and its
confidence on that test's clips, which reads no test label (make ensemble; README, "How far CV
is from the test"), and `noisy_oof`: its test-distribution OOF accuracy on the noisy copies of
the OOF clips.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_scale import stage
from benchmarks.kaggle_like import HELD_NOISE, HELD_WORDS, build, scores
from competition.labels import LABELS

REPO = Path(__file__).resolve().parents[1]
DEV_DATA = REPO.parent / "shared" / "speech_commands_dev"
MODELS = ("cnn_resnet", "crnn_vgg", "crnn_resnet")
EPOCHS = 10
FOLDS = 3
# feature settings that change the clips (and so the folds): a front-end may not change them,
# or its runs could not be blended with the others
CLIP_FIELDS = ("sample_rate", "silence_clips", "digital_silence", "silence_rms", "silence_seed", "silence_segment_s")


def frontend_items(spec: str, feat: list[str] = ()) -> list[str]:
    """A FRONTENDS word ("win_ms=40,hop_ms=15") as FEAT items, checked against the project's
    FEAT: one line of error for a bad name or value, a clip setting, or no change at all."""
    from dataclasses import fields

    from competition import features
    from competition.settings import SettingsError, parse_items

    items = [i for i in spec.split(",") if i]
    try:
        typed = parse_items(items, "FRONTENDS")
        base = features.settings_with(parse_items(feat, "FEAT"))
        same = features.settings_with({**parse_items(feat, "FEAT"), **typed}) == base
    except SettingsError as e:
        raise SystemExit(f"bench-kaggle-like: {e}") from None
    clips = sorted(set(typed) & set(CLIP_FIELDS))
    if same or clips:
        allowed = ", ".join(f.name for f in fields(features.FeatureSettings) if f.name not in CLIP_FIELDS)
        why = (f"not {', '.join(clips)}: those change the clips and the folds (measure them with FEAT=)" if clips
               else "these are the project's own features")
        raise SystemExit(f"bench-kaggle-like: FRONTENDS word {spec!r} must change front-end settings ({allowed}); "
                         + why)
    return items


def frontend_name(run: Path) -> str:
    """The run's front-end where it is not the default: its model front-end (SET frontend=logmel)
    and the feature settings that differ from the defaults ("frontend=logmel,n_mels=40"), or ""."""
    from dataclasses import asdict

    from competition import features
    from models.settings import TrainSettings

    try:
        params = json.loads((run / "params.json").read_text())
        path = run.parents[3] / params["inputs"]["features_path"]  # relative to the project, as every recorded path
        used = features.from_json(json.loads((path / "settings.json").read_text())["settings"])
    except (OSError, KeyError, ValueError):
        return ""
    default = asdict(features.FeatureSettings())
    model_front = params.get("train", {}).get("frontend", "logmel")  # runs from before the setting: log-mel
    return ",".join([*([f"frontend={model_front}"] if model_front != TrainSettings().frontend else []),
                     *(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in asdict(used).items() if v != default[k])])


def newest_runs(project: Path, models: list[str], since: float, set_items: list[str] = (),
                feat_items: list[str] = (), pseudo: str | None = None) -> list[Path]:
    """The run of each model that the train stage (started at `since`, with `set_items` as SET,
    `feat_items` as FEAT and the pseudo-label set `pseudo`) finished: its cv.json is rewritten
    when the stage combines its folds, so the newest cv.json written since then among the runs
    made with those settings (another process training in the same project may have finished a
    run of the same model with other settings meanwhile)."""
    out = []
    for m in models:
        done = [(p.stat().st_mtime, p.parent) for p in (project / "artifacts" / "runs" / m).glob("*/cv.json")
                if p.stat().st_mtime >= since and made_with(p.parent, set_items, feat_items, pseudo)]
        if not done:
            raise SystemExit(f"bench-kaggle-like: no finished run of {m} from this train stage")
        out.append(max(done)[1])
    return out


def made_with(run: Path, set_items: list[str], feat_items: list[str], pseudo: str | None) -> bool:
    """Whether `run` was trained with exactly these SET items typed, these FEAT feature settings
    and this pseudo-label set (by its params.json and its feature cache's settings.json)."""
    from competition import features
    from competition.settings import parse_items

    try:
        record = json.loads((run / "params.json").read_text())
        cache = json.loads((run.parents[3] / record["inputs"]["features_path"] / "settings.json").read_text())
    except (OSError, KeyError, ValueError):
        return False
    typed = parse_items(set_items)
    sources = {k.split(".", 1)[1]: k for k, v in record["sources"].items() if v == "typed (SET)"}
    if set(sources) != set(typed) or (record["inputs"].get("pseudo") or {}).get("name") != pseudo:
        return False
    for name, key in sources.items():
        value = record
        for part in key.split("."):
            value = value[part]
        if json.dumps(value) != json.dumps(typed[name]) and value != typed[name]:
            return False
    return features.from_json(cache["settings"]) == features.settings_with(parse_items(feat_items, "FEAT"))


def corrected(run: Path, mode: str) -> dict:
    """A run's test probabilities after the ensemble's correction (its own OOF calibration and
    PRIORS=`mode`), with what made them: {fixed, fnames, oof, y, cal}."""
    from competition.calibration import IDENTITY, fit_calibration
    from competition.labels import LABEL_INDEX
    from competition.provenance import RunRecord
    from submissions import priors

    record = RunRecord.read(run / "params.json")
    project = run.parents[3]
    folds = pd.read_csv(project / record.inputs.folds_path, keep_default_na=False)
    y = folds["label"].map(LABEL_INDEX).to_numpy()
    oof, test = np.load(run / "oof.npy"), np.load(run / "test.npy")
    fnames = pd.read_csv(project / record.inputs.features_path / "test_index.csv", keep_default_na=False)["fname"]
    cal = fit_calibration(oof, y) if mode != "none" else IDENTITY
    fixed, _ = priors.correct(test, priors.train_priors(y, len(LABELS)), mode, cal)
    return {"fixed": fixed, "fnames": fnames, "oof": oof, "y": y, "cal": cal}


def run_scores(run: Path, sets: pd.DataFrame, mode: str) -> dict:
    """A run's accuracy on each test after the ensemble's correction (its own OOF calibration
    and PRIORS=`mode`), and its OOF accuracy raw and weighted to balanced labels."""
    from competition import metrics
    from competition.calibration import calibrate

    c = corrected(run, mode)
    fixed, fnames, oof, y, cal = c["fixed"], c["fnames"], c["oof"], c["y"], c["cal"]
    w = metrics.test_weights(y)
    noisy = np.load(run / "oof_noisy.npy") if (run / "oof_noisy.npy").is_file() else None
    doc = metrics.expected_accuracy(calibrate(oof, cal), y, w, fixed)
    return {**scores(fixed, fnames, sets), "oof": metrics.accuracy(oof, y), "oof_balanced": metrics.accuracy(oof, y, w),
            "noisy_oof": np.nan if noisy is None else metrics.accuracy(noisy, y, w),
            **expected_per_set(doc, fixed, fnames, sets)}


def subset_gains(runs: list[Path], sets: pd.DataFrame, mode: str, test: str = "kaggle_like",
                 sizes: tuple[int, ...] = (2, 3, 4)) -> pd.DataFrame:
    """Every subset of `runs` (of each size in `sizes`) blended with equal weights (the mean of
    the runs' corrected log-probabilities), scored on `test` with the answer key, against the
    subset's best member: (runs, accuracy, best_member, gain), best gain first. A diagnosis of
    how much any blend of these members could gain (ORACLE=1); it reads the test labels, so
    nothing may be chosen by it."""
    from itertools import combinations

    c = {r: corrected(r, mode) for r in runs}
    logp = {r: np.log(np.clip(v["fixed"], 1e-7, 1.0)) for r, v in c.items()}
    fnames = c[runs[0]]["fnames"]
    single = {r: scores(v["fixed"], v["fnames"], sets)[test] for r, v in c.items()}
    rows = []
    for k in sizes:
        for subset in combinations(runs, k):
            acc = scores(np.mean([logp[r] for r in subset], axis=0), fnames, sets)[test]
            best = max(single[r] for r in subset)
            rows.append({"runs": " + ".join(f"{r.parent.name}/{r.name}" for r in subset), "accuracy": acc,
                         "best_member": best, "gain": acc - best})
    return pd.DataFrame(rows, columns=["runs", "accuracy", "best_member", "gain"]).sort_values(
        "gain", ascending=False, kind="stable").reset_index(drop=True)


def expected_per_set(doc: dict, probs: np.ndarray, fnames, sets: pd.DataFrame) -> dict[str, float]:
    """The expected accuracy (`metrics.expected_accuracy`: `doc`) of each benchmark set, from the
    calibrated test probabilities `probs` of its clips alone: `expected_plain`, `expected_kaggle_like`."""
    conf = pd.Series(np.asarray(probs).max(axis=1), index=list(fnames))
    return {f"expected_{name}": float(np.clip(doc["oof_accuracy"] - doc["oof_confidence"]
                                              + conf.reindex(part["fname"]).mean(), 0, 1))
            for name, part in sets.groupby("set")}


def one_round(project: Path, args, sets: pd.DataFrame, round_: int, pseudo: str | None = None) -> tuple[list[dict], str]:
    """Train the models (with the pseudo-label set, in round 2; none with --runs), blend them,
    score both; (rows, submission name)."""
    if args.runs:
        runs = [(project / r).resolve() for r in args.runs]
        missing = [str(r) for r in runs if not (r / "cv.json").is_file()]
        if missing:
            raise SystemExit(f"bench-kaggle-like: RUNS names no finished run in {project}: {', '.join(missing)}")
        from competition.provenance import RunRecord
        from competition.pseudo import run_round

        records = [RunRecord.read(r / "params.json") for r in runs]
        models, round_ = [r.model for r in records], max(run_round(r) for r in records)
    else:
        runs, models = [], []
        for frontend in [[], *args.frontends]:  # the project's features (current), then each front-end
            started = time.time()
            feat = [*args.feat, *frontend]
            stage(f"train (round {round_}{', ' + ','.join(frontend) if frontend else ''})",
                  ["models.train", "--models", *args.models, "--epochs", str(args.epochs),
                   "--params", "default", "--n-folds", str(args.n_folds), "--verbose", "0", "--profile", args.profile,
                   *(["--feat", *feat] if feat else []), *(["--set", *args.set] if args.set else []),
                   *(["--pseudo", pseudo] if pseudo else [])], project, print, "bench-kaggle-like")
            runs += newest_runs(project, args.models, started, args.set, feat, pseudo)
            models += args.models
    name = f"kaggle-like-{int(time.time())}"
    stage(f"ensemble (round {round_})", ["submissions.ensemble", "--runs", *map(str, runs), "--priors", args.priors,
                                         "--oof", args.oof, "--name", name], project, print, "bench-kaggle-like")
    sub = project / "artifacts" / "submissions"
    info = json.loads((sub / f"{name}.json").read_text())
    blend = pd.read_csv(sub / f"{name}.csv")
    onehot = (blend["label"].to_numpy()[:, None] == np.asarray(LABELS)[None, :]).astype(float)
    rows = []
    for m, run in zip(models, runs, strict=True):
        fe = frontend_name(run)
        rows.append({"round": round_, "what": f"{m} ({fe})" if fe else m, "run": str(run.relative_to(project)),
                     **run_scores(run, sets, args.priors)})
    honest = info["honest_cv"]
    rows.append({"round": round_, "what": f"ensemble ({info['method']}, OOF {honest['rows']})", "run": name,
                 **scores(onehot, blend["fname"], sets),
                 "oof": honest["accuracy"], "oof_balanced": honest["test_distribution_accuracy"],
                 "noisy_oof": honest.get("noisy_test_distribution_accuracy", np.nan),
                 **expected_per_set(honest, np.load(sub / f"{name}.npy"), blend["fname"], sets)})
    return rows, name


def markdown(results: Path) -> str:
    """results.csv as the README's table: a row per configuration, round and run or ensemble."""
    if not results.is_file():
        raise SystemExit(f"bench-kaggle-like: no results yet ({results}); run make bench-kaggle-like")
    r = pd.read_csv(results, keep_default_na=False)
    if "round" not in r.columns:
        r["round"] = 1
    for c in ("noisy_oof", "expected_plain", "expected_kaggle_like"):
        if c not in r.columns:
            r[c] = ""
    lines = ["| configuration | round | model | plain test | Kaggle-like test | unknown unknowns | OOF | "
             "OOF, test distribution | noisy OOF, test distribution | expected: plain | expected: Kaggle-like |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def num(v):
        return "" if v in ("", None) or pd.isna(pd.to_numeric(v, errors="coerce")) else f"{float(v):.4f}"

    for row in r.itertuples():
        lines.append(f"| {row.label} | {row.round} | {row.what} | {num(row.plain)} | {num(row.kaggle_like)} | "
                     f"{num(row.unknown_unknowns)} | {num(row.oof)} | {num(row.oof_balanced)} | "
                     f"{num(row.noisy_oof)} | {num(row.expected_plain)} | {num(row.expected_kaggle_like)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.bench_features import cpu_name
    from competition.workspace import Workspace

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=None,
                        help=f"a data folder in the Kaggle layout (default: {DEV_DATA})")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--n-folds", type=int, default=FOLDS)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="training settings, as make train's SET")
    parser.add_argument("--priors", default="uniform", choices=["em", "uniform", "none"])
    parser.add_argument("--label", default=None, help="name of this configuration in results.csv (default: SET)")
    parser.add_argument("--seed", type=int, default=0, help="of the Kaggle-like folder")
    parser.add_argument("--held-words", nargs="*", default=list(HELD_WORDS), help="words no training clip has")
    parser.add_argument("--held-noise", nargs="*", default=list(HELD_NOISE),
                        help="background recordings training never sees (the test's noise)")
    parser.add_argument("--profile", default="auto", help="model sizes, as make train's PROFILE")
    parser.add_argument("--table", action="store_true",
                        help="only print results.csv as a Markdown table (the README's), then stop")
    parser.add_argument("--round-two", action="store_true",
                        help="then make pseudo from the ensemble and train the same models on it (ROUND_TWO=1)")
    parser.add_argument("--oof", default="auto", choices=["auto", "clean", "noisy", "both"],
                        help="the OOF rows the ensemble blends on, as make ensemble's OOF")
    parser.add_argument("--runs", nargs="*", default=None,
                        help="finished run folders of the project (relative to it) to blend instead of training")
    parser.add_argument("--feat", nargs="*", default=[], metavar="NAME=VALUE",
                        help="feature settings of the project, as make features' FEAT")
    parser.add_argument("--frontends", nargs="*", default=[], metavar="NAME=VALUE,...",
                        help="more front-ends every model is trained on too (FRONTENDS; fields joined by commas)")
    parser.add_argument("--oracle", action="store_true",
                        help="with RUNS: how much any equal-weight blend of 2-4 of them gains over its best member "
                             "on the Kaggle-like test (reads the answer key: a diagnosis, nothing is chosen by it)")
    parser.add_argument("--workspace", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    if args.oracle and not args.runs:
        parser.error("ORACLE=1 needs RUNS=<finished runs of the project>")
    if args.runs and (args.round_two or args.feat or args.frontends):
        parser.error("RUNS blends finished runs; ROUND_TWO, FEAT and FRONTENDS train: give one of them")
    try:
        from competition import features
        from competition.settings import SettingsError, parse_items

        features.settings_with(parse_items(args.feat, "FEAT"))
    except SettingsError as e:
        raise SystemExit(f"bench-kaggle-like: {e}") from None
    args.frontends = [frontend_items(f, args.feat) for f in args.frontends]
    if args.table:
        print(markdown(Workspace(args.workspace).bench / "kaggle-like" / "results.csv"))
        return 0
    label = args.label or (" ".join([*args.feat, *args.set, *(",".join(f) for f in args.frontends)]) or "defaults")
    base = Workspace(args.workspace).bench / "kaggle-like"
    project = (base / "project").resolve()  # stages run with the project as their working folder
    if args.runs:  # the test sets of the data the runs were made on: the project's data/raw
        try:
            sets = pd.read_csv(project / "data" / "raw" / "benchmark_sets.csv", keep_default_na=False)
        except FileNotFoundError:
            raise SystemExit(f"bench-kaggle-like: {project} holds no Kaggle-like data; RUNS blends runs an "
                             "earlier make bench-kaggle-like trained there") from None
    else:
        source = args.source or DEV_DATA
        if not (source / "train" / "audio").is_dir():
            raise SystemExit(f"bench-kaggle-like: {source} is not a data folder in the Kaggle layout "
                             "(train/audio/...); give SOURCE=<folder>")
        data = build(source, (base / f"data-{source.resolve().name}-{args.seed}").resolve(), seed=args.seed,
                     held_words=tuple(args.held_words), held_noise=tuple(args.held_noise))
        sets = pd.read_csv(data / "benchmark_sets.csv", keep_default_na=False)
        project.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not args.runs:  # with RUNS the project's data, features and folds are those the runs were made on
        stage("data", ["competition.data", "--source", str(data)], project, print, "bench-kaggle-like")
        for frontend in args.frontends:  # first, so that the project's own features are the current ones
            stage(f"features ({','.join(frontend)})", ["competition.features", "--feat", *args.feat, *frontend],
                  project, print, "bench-kaggle-like")
        stage("features", ["competition.features", *(["--feat", *args.feat] if args.feat else [])], project, print,
              "bench-kaggle-like")
        stage("folds", ["folds.make_folds", "--n-folds", str(args.n_folds)], project, print, "bench-kaggle-like")
    if args.oracle:
        gains = subset_gains([(project / r).resolve() for r in args.runs], sets, args.priors)
        print(f"equal-weight blends of {len(args.runs)} runs, on the Kaggle-like test (answer key: diagnosis only); "
              f"best gains over each subset's best member:")
        with pd.option_context("display.width", 200, "display.max_colwidth", 120):
            print(gains.head(10).to_string(index=False, formatters={
                "accuracy": "{:.4f}".format, "best_member": "{:.4f}".format, "gain": "{:+.4f}".format}))
        return 0
    rows, name = one_round(project, args, sets, 1)
    if args.round_two:
        pseudo_name = f"{name}-pseudo"
        stage("pseudo", ["submissions.pseudo", "--submission", name, "--name", pseudo_name], project, print,
              "bench-kaggle-like")
        rows += one_round(project, args, sets, 2, pseudo_name)[0]
    stamp = time.strftime("%Y-%m-%d %H:%M")
    table = pd.DataFrame(rows)
    table.insert(0, "label", label)
    table.insert(0, "time", stamp)
    for k, v in (("epochs", args.epochs), ("folds", args.n_folds), ("priors", args.priors),
                 ("machine", f"{cpu_name()}, {os.cpu_count()} cores"), ("minutes", round((time.time() - t0) / 60, 1))):
        table[k] = v
    results = base / "results.csv"
    old = pd.read_csv(results, keep_default_na=False) if results.is_file() else None
    pd.concat([old, table]).to_csv(results, index=False) if old is not None else table.to_csv(results, index=False)
    print(f"\n{label}: {args.n_folds} folds, {args.epochs} epochs, PRIORS={args.priors}; "
          f"{cpu_name()}, {os.cpu_count()} cores, {(time.time() - t0) / 60:.1f} min")
    print(f"{'':44s} {'plain test':>10s} {'Kaggle-like':>11s} {'unknown unknowns':>17s} {'OOF':>7s} {'OOF balanced':>12s}"
          f" {'noisy OOF':>9s} {'expected: plain':>15s} {'Kaggle-like':>11s}")
    for r in rows:
        print(f"{'round ' + str(r['round']) + ': ' + r['what']:44s} {r['plain']:10.4f} {r['kaggle_like']:11.4f} "
              f"{r.get('unknown_unknowns', np.nan):17.3f} {r['oof']:7.4f} {r['oof_balanced']:12.4f} "
              f"{r['noisy_oof']:9.4f} {r['expected_plain']:15.4f} {r['expected_kaggle_like']:11.4f}")
    print(f"appended to {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
