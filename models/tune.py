"""`make tune`: Optuna search over one model's hyperparameters, with pruning, resume and workers.

    artifacts/tune/<model>/journal.log    the study (Optuna's journal file storage), unless
                                          OPTUNA_STORAGE names a database shared by machines
    artifacts/tune/<model>/best.json      the best trial's parameters; `make train` uses them
    artifacts/tune/<model>/report/        index.html + PNGs: history, importances, curves

A trial trains the model on a few folds (default: fold 0) and reports the validation
accuracy after every epoch; the pruner stops trials that fall behind. A rerun continues
the same study; a trial that raises is recorded as failed and the study goes on; Ctrl-C
stops cleanly. Several workers (WORKERS=n, or the same command on several machines with
one OPTUNA_STORAGE) add their trials to one study through Optuna's storage: each worker
process runs its own share of the trials.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

from competition.cli import run_stage
from competition.files import write_json, write_text
from models.train import TUNE_DIR, TrainError, TrainSettings

PRUNERS = ("hyperband", "median", "none")


class TuneError(Exception):
    """A user-fixable tuning problem; the message says what to do."""


def redact_url(url: str) -> str:
    """A storage URL without its password (postgresql://user:***@host/db)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def storage_for(model: str, url: str | None, tune_dir: Path = TUNE_DIR):
    """The study's storage: a database URL (RDBStorage with heartbeats, so a worker that dies
    has its trial marked failed), or by default a journal file, which Optuna makes safe for
    several processes on one machine with file locks (SQLite is not, under concurrent writes)."""
    import optuna

    if url:
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=120,
                                              engine_kwargs={"pool_pre_ping": True})
        except Exception as e:  # noqa: BLE001 - SQLAlchemy raises many kinds
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise TuneError(f"cannot open the Optuna storage {redact_url(url)}: {redact_url(msg)[:200]}. "
                            "Check OPTUNA_STORAGE (e.g. postgresql://user:password@host:5432/db)") from None
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = tune_dir / model / "journal.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def study_identity(cache, folds_path: Path, profile: str, fold_subset: list[int], epochs: int,
                   fixed: dict | None = None) -> dict:
    """What a trial's score depends on, besides its parameters: kept on the study and checked."""
    identity = {"data": cache.settings["data"]["fingerprint"], "features": cache.path.name,
                "folds": folds_path.name, "profile": profile, "tune_folds": fold_subset, "epochs": epochs}
    return {**identity, "fixed": fixed} if fixed else identity


def parse_fixed(items: list[str]) -> dict:
    """`name=value` strings (values as JSON, else text) -> parameters the sampler must not vary."""
    fixed = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise TuneError(f"--fix needs NAME=VALUE (a search-space parameter), got {item!r}")
        try:
            fixed[name] = json.loads(raw)
        except json.JSONDecodeError:
            fixed[name] = raw
    return fixed


def check_fixed(model: str, fixed: dict, s: TrainSettings) -> None:
    """Every fixed name must be a parameter of the search space (the sampler would ignore a typo)."""
    import optuna

    from models import registry

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study().ask()
    registry.get(model).search_space(trial)
    suggest_training(trial, s)
    if unknown := sorted(set(fixed) - set(trial.params)):
        raise TuneError(f"--fix {', '.join(unknown)}: not in the search space of {model} "
                        f"(its parameters: {', '.join(sorted(trial.params))})")


def open_study(model: str, storage, identity: dict, pruner: str, seed: int | None = None, fixed: dict | None = None):
    """Create or continue the study `model` and check it was made on the same data and settings.
    `fixed` parameters are pinned with Optuna's PartialFixedSampler (e.g. the model size on a CPU)."""
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    if fixed:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.PartialFixedSampler(fixed, sampler)
    study = optuna.create_study(study_name=model, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=sampler, pruner=make_pruner(pruner))
    old = study.user_attrs.get("identity")
    if old is None:
        study.set_user_attr("identity", identity)
    elif old != identity:
        diff = ", ".join(f"{k}: {old.get(k)} -> {identity.get(k)}" for k in identity if old.get(k) != identity.get(k))
        raise TuneError(f"the study {model!r} in this storage was made with other data or settings ({diff}); "
                        f"delete {TUNE_DIR / model} (or use another OPTUNA_STORAGE) to start a new study")
    return study


def make_pruner(name: str):
    """Hyperband by default: with TPE it pruned best in Optuna's own benchmarks, and it keeps
    some trials of every length. Median stops a trial below the median at the same epoch."""
    import optuna

    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=2, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise TuneError(f"unknown pruner {name!r}; use one of {', '.join(PRUNERS)}")


def pruning_callback(trial, fold_position: int, epochs: int):
    """Report the validation accuracy after each epoch; raise TrialPruned when the pruner says so.
    With several folds, steps continue across folds so each step number is reported once."""
    import keras
    import optuna

    class Pruning(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            step = fold_position * epochs + epoch
            trial.report(float(logs["val_accuracy"]), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch + 1} (val accuracy {logs['val_accuracy']:.4f})")

    return Pruning()


def suggest_training(trial, s: TrainSettings) -> TrainSettings:
    """Training settings searched together with the model's own space."""
    return dataclasses.replace(s, lr=trial.suggest_float("lr", 5e-4, 5e-3, log=True),
                               label_smoothing=trial.suggest_float("label_smoothing", 0.0, 0.2))


def make_objective(model: str, data, s: TrainSettings, fold_subset: list[int], device: str, log=print):
    """The objective: mean held-out accuracy (with TTA) of the model trained on `fold_subset`."""
    import numpy as np

    from competition.labels import LABEL_INDEX
    from models import registry
    from models.train import metrics, train_fold

    module = registry.get(model)
    labels = data.index["label"].map(LABEL_INDEX).to_numpy()

    def objective(trial) -> float:
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        params = module.search_space(trial)
        settings = suggest_training(trial, s)
        scores = []
        for pos, k in enumerate(fold_subset):
            result = train_fold(model, params, settings, data, k, device=device, verbose=0, predict_test=False,
                                callbacks=(pruning_callback(trial, pos, settings.epochs),))
            scores.append(metrics(result["oof"], labels[result["val_rows"]])["accuracy"])
        value = float(np.mean(scores))
        log(f"trial {trial.number}: accuracy {value:.4f} with {trial.params}")
        return value

    return objective


def fail_dead_local_trials(study, log=print) -> None:
    """Mark RUNNING trials of this host whose process is gone as FAILED (a killed worker on the
    journal file storage; database storages do this themselves through heartbeats)."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid, host = t.user_attrs.get("pid"), t.user_attrs.get("host")
        if host == socket.gethostname() and pid and not _alive(int(pid)):
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            log(f"trial {t.number} was left running by a process that is gone; recorded as failed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def export_best(study, model: str, out: Path, storage_url: str | None, profile: str) -> dict | None:
    """Write best.json from the best finished trial (None when no trial finished)."""
    import optuna

    from models import registry

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return None
    best = max(done, key=lambda t: t.value)
    params = registry.get(model).search_space(optuna.trial.FixedTrial(best.params))
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    info = {
        "model": model, "trial": best.number, "value": best.value, "profile": profile,
        "params": dataclasses.asdict(params),
        "train": {k: best.params[k] for k in ("lr", "label_smoothing") if k in best.params},
        "search": best.params, "study": study.study_name,
        "storage": redact_url(storage_url) if storage_url else str(out / "journal.log"),
        "identity": study.user_attrs.get("identity"),
        "trials": {s: states.count(s) for s in sorted(set(states))},
    }
    write_json(out / "best.json", info)
    return info


def write_report(study, out: Path) -> Path | None:
    """index.html with the best trials and PNG plots: optimisation history, parameter
    importances, intermediate values (the pruned curves)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return None
    out.mkdir(parents=True, exist_ok=True)
    images = []
    plots = [("history.png", "Optimisation history", ovm.plot_optimization_history),
             ("intermediate.png", "Validation accuracy per epoch (pruned trials stop early)", ovm.plot_intermediate_values)]
    if len(done) >= 2 and len({tuple(sorted(t.params)) for t in done}) == 1:
        plots.append(("importances.png", "Parameter importances (fANOVA)", ovm.plot_param_importances))
    import warnings

    for name, title, fn in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = fn(study)
            fig = ax.figure if hasattr(ax, "figure") else ax[0].figure
            fig.set_size_inches(9, 5)
            fig.tight_layout()
            fig.savefig(out / name, dpi=100)
            plt.close(fig)
            images.append((name, title))
        except Exception as e:  # noqa: BLE001 - a plot that cannot be drawn should not stop the report
            images.append((None, f"{title}: not drawn ({type(e).__name__}: {e})"))
    top = sorted(done, key=lambda t: -t.value)[:10]
    counts = {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    rows = "".join(
        f"<tr><td>{t.number}</td><td>{t.value:.4f}</td><td>{_duration(t)}</td>"
        f"<td><code>{', '.join(f'{k}={_fmt(v)}' for k, v in t.params.items())}</code></td></tr>" for t in top)
    figs = "".join(f"<h2>{title}</h2><img src='{name}' alt='{title}'>" if name else f"<p>{title}</p>"
                   for name, title in images)
    html = f"""<!doctype html><meta charset="utf-8"><title>Tuning {study.study_name}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
img{{max-width:100%;border:1px solid #eee}}</style>
<h1>Optuna study <code>{study.study_name}</code></h1>
<p>{len(trials)} trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed,
{counts['RUNNING']} running. Objective: held-out accuracy (higher is better).</p>
<h2>Best trials</h2><table><tr><th>trial</th><th>accuracy</th><th>time</th><th>parameters</th></tr>{rows}</table>
{figs}"""
    write_text(out / "index.html", html)
    return out / "index.html"


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _duration(t) -> str:
    return f"{t.duration.total_seconds():.0f} s" if t.duration else "-"


def split_trials(total: int, workers: int) -> list[int]:
    """`total` trials over `workers` processes, as evenly as possible (the sum is `total`)."""
    base = total // workers
    return [base + (1 if i < total % workers else 0) for i in range(workers)]


def gpu_count() -> int:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        return sum(line.startswith("GPU ") for line in out.stdout.splitlines()) if out.returncode == 0 else 0
    except (OSError, subprocess.SubprocessError):
        return 0


def run_workers(argv: list[str], trials: int, workers: int, log=print) -> int:
    """Start `workers` processes of this command, each with its share of the trials and, on a
    machine with GPUs, one GPU each (CUDA_VISIBLE_DEVICES). Ctrl-C reaches them all."""
    gpus = gpu_count()
    procs = []
    base = [a for a in argv]
    for i, n in enumerate(split_trials(trials, workers)):
        if n == 0:
            continue
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
        cmd = [sys.executable, "-m", "models.tune", *base, "--trials", str(n), "--workers", "1", "--no-report"]
        procs.append(subprocess.Popen(cmd, env=env))
        log(f"worker {i + 1}: {n} trials" + (f" on GPU {i % gpus}" if gpus else ""))
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGINT)
        codes = [p.wait() for p in procs]
        return 130
    return max(codes) if codes else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="make tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--trials", type=int, default=20, help="trials to add (over all workers)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    parser.add_argument("--tune-folds", nargs="*", type=int, default=[0], help="folds a trial trains (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: as make train)")
    parser.add_argument("--profile", default="auto", choices=["auto", "full", "cpu", "toy"])
    parser.add_argument("--pruner", default="hyperband", choices=PRUNERS)
    parser.add_argument("--storage", default=os.environ.get("OPTUNA_STORAGE") or None,
                        help="database URL shared by workers on several machines (default: a journal file)")
    parser.add_argument("--timeout", type=float, default=None, help="stop adding trials after this many seconds")
    parser.add_argument("--seed", type=int, default=None, help="sampler seed (default: random per worker)")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="TrainSettings overrides")
    parser.add_argument("--fix", nargs="*", default=[], metavar="NAME=VALUE",
                        help="search-space parameters to hold fixed, e.g. width=16 blocks_per_stage=1 on a CPU")
    parser.add_argument("--n-folds", type=int, default=None, help="default 5 (3 on the demo data)")
    parser.add_argument("--fold-seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--tune-dir", type=Path, default=TUNE_DIR)
    parser.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)
    from competition import features

    features.add_setting_args(parser)
    args = parser.parse_args(argv)
    return run_stage("tune", lambda: tune(args, argv), (TuneError,),
                     "finished trials are kept in the study, rerun to continue")


def tune(args, argv: list[str]) -> int:
    from competition import features
    from competition.data import read_manifest
    from competition.layout import LayoutError
    from folds.make_folds import FoldsError, FoldSettings, default_n_folds, folds_path, load_folds
    from models import registry
    from models.train import (
        DEMO_BATCH,
        DEMO_EPOCHS,
        accelerator,
        apply_overrides,
        choose_profile,
        load_fold_data,
    )

    try:
        registry.get(args.model)
        storage_url = args.storage
        manifest = read_manifest(args.data_dir)
        cache = features.load(features.cache_dir(features.settings_from_args(args), manifest))
        fs = FoldSettings(args.n_folds or default_n_folds(manifest), args.fold_seed)
        folds = load_folds(cache.train_index, fs)
        s = apply_overrides(TrainSettings(), args.set)
        fixed = parse_fixed(args.fix)
        check_fixed(args.model, fixed, s)
    except (registry.UnknownModelError, LayoutError, FileNotFoundError, FoldsError, TrainError, ValueError) as e:
        raise TuneError(str(e)) from None
    if bad := [k for k in args.tune_folds if not 0 <= k < fs.n_folds]:
        raise TuneError(f"folds {bad} do not exist; there are {fs.n_folds} (0..{fs.n_folds - 1})")
    if args.workers > 1:
        storage_for(args.model, storage_url, args.tune_dir)  # fail here, once, on a bad URL
        code = run_workers([a for a in _strip(argv, ("--trials", "--workers"))], args.trials, args.workers)
        finish(args, storage_url, manifest, cache, folds, fs)
        return code
    device = accelerator()
    profile = choose_profile(args.profile, device, manifest["source"])
    demo_cpu = manifest["source"] == "demo" and device == "cpu"
    epochs = args.epochs or (DEMO_EPOCHS if demo_cpu else s.epochs)
    # as make train on the demo: its batch size too, or a trial takes half the steps
    s = dataclasses.replace(s, epochs=epochs, tta=1 if device == "cpu" else s.tta,
                            batch_size=s.batch_size or (DEMO_BATCH if demo_cpu else 0))
    identity = study_identity(cache, folds_path(cache.train_index, fs), profile, args.tune_folds, epochs, fixed)
    storage = storage_for(args.model, storage_url, args.tune_dir)
    study = open_study(args.model, storage, identity, args.pruner, args.seed, fixed)
    fail_dead_local_trials(study)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_fold_data(cache, folds)
    print(f"tuning {args.model}: {args.trials} trials, folds {args.tune_folds}, {epochs} epochs each, "
          + (f"fixed {fixed}, " if fixed else "")
          + f"{args.pruner} pruner, study in {redact_url(storage_url) if storage_url else args.tune_dir / args.model}")
    t0 = time.time()
    study.optimize(make_objective(args.model, data, s, args.tune_folds, device), n_trials=args.trials,
                   timeout=args.timeout, catch=(Exception,), gc_after_trial=True)
    print(f"{args.trials} trials added in {time.time() - t0:.0f} s")
    if not args.no_report:
        finish(args, storage_url, manifest, cache, folds, fs, study=study, profile=profile)
    return 0


def finish(args, storage_url, manifest, cache, folds, fs, study=None, profile: str | None = None) -> None:
    """Export best.json and the report of the study; print a summary."""
    import optuna

    if study is None:
        study = optuna.load_study(study_name=args.model, storage=storage_for(args.model, storage_url, args.tune_dir))
    out = args.tune_dir / args.model
    ident = study.user_attrs.get("identity", {})
    best = export_best(study, args.model, out, storage_url, profile or ident.get("profile", "?"))
    report = write_report(study, out / "report")
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    print(f"study {args.model}: {len(states)} trials ({states.count('COMPLETE')} complete, "
          f"{states.count('PRUNED')} pruned, {states.count('FAIL')} failed)")
    if best:
        print(f"best: trial {best['trial']}, accuracy {best['value']:.4f} -> {out / 'best.json'} "
              "(make train uses it; PARAMS=default ignores it)")
    if report:
        print(f"report: {report}")


def _strip(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """argv without the given options and their values."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in options:
            skip = True
            continue
        if any(a.startswith(o + "=") for o in options):
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

