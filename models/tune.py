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
import os
import socket
import sys
import time
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":  # TensorFlow reads its kernel switch once, on import: decide first
    from models import kernels

    kernels.apply(*kernels.pre_parse(sys.argv[1:]))


import numpy as np  # noqa: E402
import optuna  # noqa: E402

from competition import metrics  # noqa: E402
from competition.cli import run_stage  # noqa: E402
from competition.errors import UserError  # noqa: E402
from competition.files import write_text  # noqa: E402
from competition.inputs import Inputs, resolve  # noqa: E402
from competition.provenance import TunedRecord, code_version, differences, identity  # noqa: E402
from competition.settings import check_number, parse_items  # noqa: E402
from competition.workspace import Workspace  # noqa: E402
from models import registry  # noqa: E402
from models.device import accelerator  # noqa: E402
from models.fold import load_fold_data, train_fold  # noqa: E402
from models.plan import Typed, add_setting_args, plan_run, typed_inputs  # noqa: E402
from models.settings import TrainSettings  # noqa: E402
from models.workers import run_workers, strip_options  # noqa: E402

PRUNERS = ("hyperband", "median", "none")
# Named, not left to Optuna's default, which Optuna 5 changed: fANOVA (a random forest over the
# trials' parameters) as in Optuna 4.
IMPORTANCE_EVALUATOR = optuna.importance.FanovaImportanceEvaluator


def importance():
    return IMPORTANCE_EVALUATOR(seed=0)
SEARCHED_TRAINING = ("lr", "label_smoothing")  # training settings every study searches
SECRET_QUERY = ("password", "passwd", "pwd", "secret", "token", "key", "sslpassword")


class TuneError(UserError):
    """A user-fixable tuning problem; the message says what to do."""


def url_secrets(url: str) -> set[str]:
    """The secrets in a storage URL: the password (also when it holds '@' or is empty-user, and
    percent-decoded) and the values of query parameters such as `password=`."""
    out = set()
    _, sep, rest = url.partition("://")
    if sep:
        userinfo = rest.split("?", 1)[0].rpartition("@")[0]
        if ":" in userinfo:
            out.add(userinfo.split(":", 1)[1])
        query = rest.split("?", 1)[1] if "?" in rest else ""
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if name.lower() in SECRET_QUERY or "pass" in name.lower():
                out.add(value)
    out |= {urllib.parse.unquote(s) for s in out}
    return {s for s in out if s}


def redact(text: str, url: str | None) -> str:
    """`text` with every secret of `url` replaced by `***` (a URL itself, or an error message quoting it)."""
    for secret in sorted(url_secrets(url or ""), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def redact_url(url: str) -> str:
    """A storage URL without its password or secret query values (postgresql://user:***@host/db)."""
    return redact(url, url)


def storage_for(model: str, url: str | None, ws: Workspace):
    """The study's storage: a database URL (RDBStorage with heartbeats, so a worker that dies
    has its trial marked failed), or by default a journal file, which Optuna makes safe for
    several processes on one machine with file locks (SQLite is not, under concurrent writes)."""
    if url:
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=120,
                                              engine_kwargs={"pool_pre_ping": True})
        except Exception as e:  # noqa: BLE001 - SQLAlchemy raises many kinds
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise TuneError(f"cannot open the Optuna storage {redact_url(url)}: {redact(msg, url)[:200]}. "
                            "Check OPTUNA_STORAGE (e.g. postgresql+psycopg://user:password@host:5432/db)") from None
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = ws.tune_dir(model) / "journal.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def study_identity(model: str, inputs: Inputs, train: TrainSettings, profile: str, tune_folds: list[int],
                   fixed: dict, typed_params: dict) -> dict:
    """What a trial's score depends on besides its own suggestions (kept on the study and checked):
    the run identity's parts, with the searched training settings left out."""
    searched = {k: v for k, v in dataclasses.asdict(train).items() if k not in SEARCHED_TRAINING}
    return identity(model=model, inputs=inputs.record(), train=searched, profile=profile, tune_folds=tune_folds,
                    fixed=fixed, params=typed_params)


def search_names(model: str) -> list[str]:
    """Every name a trial of `model` suggests: its search space and the searched training settings."""
    return [*registry.search_space_names(registry.get(model)), *SEARCHED_TRAINING]


def check_fixed(model: str, fixed: dict) -> None:
    """Every fixed name must be a parameter of the search space (the sampler would ignore a typo)."""
    names = search_names(model)
    if unknown := sorted(set(fixed) - set(names)):
        raise TuneError(f"FIX {', '.join(unknown)}: not in the search space of {model} "
                        f"(its parameters: {', '.join(sorted(names))})")


def make_sampler(seed: int | None, parallel: bool, fixed: dict | None = None):
    """TPE with every option that changed default between Optuna 4 and 5 set here, so a study
    samples the same way on both: multivariate (the parameters of one model interact), and a
    constant liar when trials run at once (WORKERS>1 or a shared OPTUNA_STORAGE), so parallel
    workers do not all sample around the same point. `fixed` parameters are pinned with
    PartialFixedSampler (e.g. the model size on a CPU)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True,
                                             constant_liar=parallel)
        if fixed:
            sampler = optuna.samplers.PartialFixedSampler(fixed, sampler)
    return sampler


def open_study(model: str, storage, ident: dict, pruner: str, seed: int | None = None, fixed: dict | None = None,
               ws: Workspace | None = None, parallel: bool = False):
    """Create or continue the study `model` and check it was made on the same data and settings."""
    ws = ws or Workspace()
    sampler = make_sampler(seed, parallel, fixed)
    study = optuna.create_study(study_name=model, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=sampler, pruner=make_pruner(pruner))
    old = study.user_attrs.get("identity")
    if old is None:
        study.set_user_attr("identity", ident)
    elif old != ident:
        diff = "; ".join(differences(old, ident)[:6])
        raise TuneError(f"the study {model!r} in this storage was made with other data or settings ({diff}); "
                        f"delete {ws.tune_dir(model)} (or use another OPTUNA_STORAGE) to start a new study")
    return study


def make_pruner(name: str):
    """Hyperband by default: with TPE it pruned best in Optuna's own benchmarks, and it keeps
    some trials of every length. Median stops a trial below the median at the same epoch."""
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

    class Pruning(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            step = fold_position * epochs + epoch
            trial.report(float(logs["val_accuracy"]), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch + 1} (val accuracy {logs['val_accuracy']:.4f})")

    return Pruning()


def suggest_training(trial, s: TrainSettings) -> TrainSettings:
    """Training settings searched together with the model's own space (`SEARCHED_TRAINING`)."""
    return dataclasses.replace(s, lr=trial.suggest_float("lr", 5e-4, 5e-3, log=True),
                               label_smoothing=trial.suggest_float("label_smoothing", 0.0, 0.2))


def make_objective(model: str, data, s: TrainSettings, typed_params: dict, fold_subset: list[int], device: str,
                   log=print):
    """The objective: mean held-out accuracy (with TTA) of the model trained on `fold_subset`,
    for the test distribution (every label weighing the same: `metrics.test_distribution_accuracy`).
    What the user typed about the model's parameters is applied over the trial's suggestions."""
    module = registry.get(model)

    def objective(trial) -> float:
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("code", code_version().sources)
        params = dataclasses.replace(module.search_space(trial), **registry.params_from_json(module, typed_params))
        settings = suggest_training(trial, s)
        scores = []
        for pos, k in enumerate(fold_subset):
            result = train_fold(model, params, settings, data, k, device=device, verbose=0, predict_test=False,
                                callbacks=(pruning_callback(trial, pos, settings.epochs),))
            scores.append(metrics.test_distribution_accuracy(result["oof"], data.labels[result["val_rows"]]))
        value = float(np.mean(scores))
        log(f"trial {trial.number}: test-distribution accuracy {value:.4f} with {trial.params}")
        return value

    return objective


def _not_an_interrupt(record) -> bool:
    return not (record.exc_info and record.exc_info[0] is not None and issubclass(record.exc_info[0], KeyboardInterrupt))


def quiet_interrupts() -> None:
    """Optuna logs a trial stopped by Ctrl-C as failed, with the whole traceback; the stage's own
    line says it was interrupted, so that record is dropped (real failures keep theirs). On the
    library's handlers: a logger's own filters do not see its children's records."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for handler in optuna.logging.get_logger("optuna").handlers:
        if _not_an_interrupt not in handler.filters:
            handler.addFilter(_not_an_interrupt)


def fail_dead_local_trials(study, log=print) -> None:
    """Mark RUNNING trials of this host whose process is gone as FAILED (a killed worker on the
    journal file storage; database storages do this themselves through heartbeats)."""
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


def export_best(study, setup: Setup, storage_url: str | None) -> TunedRecord | None:
    """Write best.json from the best finished trial (None when no trial finished)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return None
    best = max(done, key=lambda t: t.value)
    module = registry.get(setup.model)
    params = dataclasses.replace(module.search_space(optuna.trial.FixedTrial(best.params)),
                                 **registry.params_from_json(module, setup.typed_params))
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    record = TunedRecord(
        model=setup.model, trial=best.number, value=best.value, params=dataclasses.asdict(params),
        train={k: best.params[k] for k in SEARCHED_TRAINING if k in best.params}, search=best.params,
        profile=setup.profile, batch_size=setup.train.batch_size, epochs=setup.train.epochs,
        tune_folds=setup.tune_folds, fixed=setup.fixed, inputs=setup.inputs.record(), code=code_version(),
        study=study.study_name,
        storage=redact_url(storage_url) if storage_url else str(setup.ws.tune_dir(setup.model) / "journal.log"),
        trials={s: states.count(s) for s in sorted(set(states))})
    record.write(setup.ws.tune_dir(setup.model) / "best.json")
    return record


def write_report(study, out: Path) -> Path | None:
    """index.html with the best trials and PNG plots: optimisation history, parameter
    importances, intermediate values (the pruned curves)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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
        plots.append(("importances.png", f"Parameter importances ({IMPORTANCE_EVALUATOR.__name__}, "
                      "optuna.importance)", lambda st: ovm.plot_param_importances(st, evaluator=importance())))
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
{counts['RUNNING']} running. Objective: held-out accuracy for the test distribution, every label weighing the same (higher is better).</p>
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


def tune_workers(argv: list[str], trials: int, workers: int, log=print) -> int:
    """Start `workers` processes of this command, each with its share of the trials (and, on a
    machine with GPUs, one GPU each)."""
    base = strip_options(argv, ("--trials", "--workers", "--constant-liar"))
    counts = [n for n in split_trials(trials, workers) if n > 0]
    for i, n in enumerate(counts):
        log(f"worker {i + 1}: {n} trials")
    shares = [[*base, "--trials", str(n), "--workers", "1", "--no-report", "--constant-liar"] for n in counts]
    return run_workers("models.tune", shares, log)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m models.tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--trials", type=int, default=20, help="trials to add (over all workers)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    parser.add_argument("--tune-folds", nargs="*", type=int, default=[0], help="folds a trial trains (default 0)")
    parser.add_argument("--pruner", default="hyperband", choices=PRUNERS)
    parser.add_argument("--storage", default=os.environ.get("OPTUNA_STORAGE") or None,
                        help="database URL shared by workers on several machines (default: a journal file)")
    parser.add_argument("--timeout", type=float, default=None, help="stop adding trials after this many seconds")
    parser.add_argument("--seed", type=int, default=None, help="sampler seed (default: random per worker)")
    parser.add_argument("--fix", nargs="*", action="extend", default=[], metavar="NAME=VALUE",
                        help="search-space parameters to hold fixed, e.g. width=16 blocks_per_stage=1 on a CPU")
    parser.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--constant-liar", action="store_true", help=argparse.SUPPRESS)  # a worker of several
    add_setting_args(parser)
    args = parser.parse_args(argv)
    return run_stage("tune", lambda: tune(args, argv), "finished trials are kept in the study, rerun to continue")


@dataclass(frozen=True)
class Setup:
    """One study's fixed context: the model, inputs, base training settings (policy and typed
    values applied, never tuned ones), profile, folds and held parameters."""

    model: str
    inputs: Inputs
    train: TrainSettings
    profile: str
    tune_folds: list[int]
    fixed: dict
    typed_params: dict
    device: str
    ws: Workspace

    def identity(self) -> dict:
        return study_identity(self.model, self.inputs, self.train, self.profile, self.tune_folds, self.fixed,
                              self.typed_params)


def setup_study(args, log=print) -> Setup:
    """Check every argument and resolve the study's context, before any trial runs."""
    ws = Workspace(args.workspace)
    registry.get(args.model)
    check_number("TRIALS", args.trials, 1, integer=True)
    check_number("WORKERS", args.workers, 1, 64, integer=True)
    typed = Typed.from_cli(args.set, args.epochs, args.profile, "default")
    typed_train, typed_params = typed.split(args.model)
    fixed = parse_items(args.fix, "FIX")
    check_fixed(args.model, fixed)
    # what the user typed about a searched name is held fixed: typed values win over tuned ones
    searched = set(search_names(args.model))
    fixed = {**fixed, **{k: v for k, v in {**typed_train, **typed_params}.items() if k in searched}}
    inputs = resolve(ws, *typed_inputs(args), log=log)
    for k in args.tune_folds:
        check_number(f"TUNE_FOLDS {k}", k, 0, inputs.folds.n_folds - 1, integer=True)
    device = accelerator()
    plan = plan_run(args.model, inputs, device, typed, ws)
    train = plan.train
    if device == "cpu" and plan.sources["train.tta"] == "default":
        train = dataclasses.replace(train, tta=1)  # a trial's score needs no TTA; on a CPU it triples the cost
    return Setup(args.model, inputs, train, plan.profile, list(args.tune_folds), fixed,
                 {k: v for k, v in typed_params.items() if k not in searched}, device, ws)


def tune(args, argv: list[str]) -> int:
    setup = setup_study(args)
    storage_url = args.storage
    storage = storage_for(args.model, storage_url, setup.ws)  # fails here, once, on a bad URL
    if args.workers > 1:
        code = tune_workers(argv, args.trials, args.workers)
        finish(setup, storage_url, args.no_report)
        return code
    study = open_study(args.model, storage, setup.identity(), args.pruner, args.seed, setup.fixed, setup.ws,
                       parallel=args.constant_liar or bool(storage_url))
    fail_dead_local_trials(study)
    quiet_interrupts()
    cache, folds = setup.inputs.load()
    data = load_fold_data(cache, folds)
    print(f"tuning {args.model}: {args.trials} trials, folds {setup.tune_folds}, {setup.train.epochs} epochs each, "
          + (f"fixed {setup.fixed}, " if setup.fixed else "")
          + f"{args.pruner} pruner, study in {redact_url(storage_url) if storage_url else setup.ws.tune_dir(args.model)}")
    t0 = time.time()
    study.optimize(make_objective(args.model, data, setup.train, setup.typed_params, setup.tune_folds, setup.device),
                   n_trials=args.trials, timeout=args.timeout, catch=(Exception,), gc_after_trial=True)
    print(f"{args.trials} trials added in {time.time() - t0:.0f} s")
    if not args.no_report:
        finish(setup, storage_url, False, study)
    return 0


def finish(setup: Setup, storage_url: str | None, no_report: bool, study=None) -> None:
    """Export best.json and the report of the study; print a summary."""
    if no_report:
        return
    if study is None:
        try:
            study = optuna.load_study(study_name=setup.model, storage=storage_for(setup.model, storage_url, setup.ws))
        except KeyError:
            print(f"no study {setup.model!r} was made (every worker stopped before its first trial)")
            return
    out = setup.ws.tune_dir(setup.model)
    best = export_best(study, setup, storage_url)
    report = write_report(study, out / "report")
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    print(f"study {setup.model}: {len(states)} trials ({states.count('COMPLETE')} complete, "
          f"{states.count('PRUNED')} pruned, {states.count('FAIL')} failed)")
    if best:
        print(f"best: trial {best.trial}, accuracy {best.value:.4f} -> {out / 'best.json'} (make train uses it for "
              f"runs on this data, profile {best.profile} and batch size {best.batch_size}; PARAMS=default ignores it)")
    if report:
        print(f"report: {report}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

