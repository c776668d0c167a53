"""`make bench-tune`: what tuning buys, and what pruning saves, on the data in data/raw.

1. `make tune` for one model (TRIALS trials on fold 0, EPOCHS epochs each, Hyperband pruning);
2. the time pruning saved: for each pruned trial, the epochs it did not run times the mean
   seconds per epoch of the finished trials;
3. 5-fold CV of the model with its default parameters and with the tuned ones (both through
   `make train`'s code with its default epochs; finished folds are reused), OOF accuracy and,
   where there is an answer key, test accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from benchmarks.bench_features import cpu_name  # noqa: E402
from benchmarks.bench_train import load_bench_data  # noqa: E402
from competition.files import write_json  # noqa: E402
from competition.workspace import Workspace  # noqa: E402
from models import tune  # noqa: E402


def pruning_savings(study, epochs: int) -> dict:
    import optuna

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.duration]
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED and t.duration]
    per_epoch = np.mean([t.duration.total_seconds() / epochs for t in done]) if done else float("nan")
    saved = sum((epochs - (max(t.intermediate_values) + 1 if t.intermediate_values else 0)) * per_epoch
                for t in pruned)
    spent = sum(t.duration.total_seconds() for t in trials if t.duration)
    return {"trials": len(trials), "complete": len(done), "pruned": len(pruned),
            "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in trials),
            "seconds_spent": round(spent), "seconds_saved_by_pruning": round(saved),
            "share_saved": round(saved / (spent + saved), 3) if spent + saved else 0.0}


def replay_pruner(study, pruner_name: str, epochs: int) -> dict:
    """What another pruner would have stopped in this study: its trials' recorded per-epoch
    curves, in order, replayed through that Optuna pruner (only full curves can be replayed, so
    the trials the study's own pruner stopped are replayed as far as they ran)."""
    import optuna

    # the same name: Hyperband assigns trials to brackets by a hash of the study name and trial number
    replay = optuna.create_study(study_name=study.study_name, direction="maximize",
                                 pruner=tune.make_pruner(pruner_name))
    stopped_at = []
    for t in study.get_trials(deepcopy=False):
        if not t.intermediate_values:
            continue
        r = replay.ask()
        steps = sorted(t.intermediate_values)
        for step in steps:
            r.report(t.intermediate_values[step], step)
            if r.should_prune():
                replay.tell(r, state=optuna.trial.TrialState.PRUNED)
                stopped_at.append(step + 1)
                break
        else:
            replay.tell(r, t.intermediate_values[steps[-1]])
    return {"pruner": pruner_name, "would_prune": len(stopped_at),
            "epochs_saved": int(sum(epochs - e for e in stopped_at)), "epochs_total": epochs * len(study.trials)}


def finished_trials(model: str, ws: Workspace) -> int:
    """Trials of `model`'s local study that ended (complete, pruned or failed); 0 without a study."""
    import optuna

    if not (ws.tune_dir(model) / "journal.log").exists():
        return 0
    try:
        study = optuna.load_study(study_name=model, storage=tune.storage_for(model, None, ws))
    except KeyError:
        return 0
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cnn_resnet")
    parser.add_argument("--trials", type=int, default=12,
                        help="trials the study should hold (a rerun adds only the missing ones)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs per tuning trial")
    parser.add_argument("--train-epochs", type=int, default=None,
                        help="epochs of the 5-fold comparison runs (default: make train's; the README used 12, "
                             "as its make bench-train, so that default run is reused)")
    parser.add_argument("--fix", nargs="*", default=[], metavar="NAME=VALUE",
                        help="search-space parameters held fixed (make tune FIX=...), e.g. the CPU model size")
    parser.add_argument("--workspace", type=Path, default=Path("."))
    args = parser.parse_args(argv)

    import optuna

    ws = Workspace(args.workspace)
    t0 = time.time()
    todo = args.trials - finished_trials(args.model, ws)  # resumable: --trials is the study's total
    if todo > 0:
        code = tune.main(["--model", args.model, "--trials", str(todo), "--epochs", str(args.epochs), "--seed", "0",
                          "--workspace", str(ws.root), *(["--fix", *args.fix] if args.fix else [])])
        if code:
            return code
    tune_seconds = time.time() - t0
    study = optuna.load_study(study_name=args.model, storage=tune.storage_for(args.model, None, ws))
    stats = pruning_savings(study, args.epochs)

    replays = [replay_pruner(study, name, args.epochs) for name in ("hyperband", "median")]
    for r in replays:
        print(f"replayed through the {r['pruner']} pruner: {r['would_prune']} of {len(study.trials)} trials stopped, "
              f"{r['epochs_saved']} of {r['epochs_total']} trial-epochs saved")
    d = load_bench_data(ws)
    result = {"machine": f"{cpu_name()}, {os.cpu_count()} cores, {d.device.upper()}", "model": args.model,
              "tuning": {**stats, "epochs_per_trial": args.epochs, "fixed": args.fix, "wall_seconds": round(tune_seconds),
                         "best_trial": study.best_trial.number, "best_fold0_accuracy": study.best_value,
                         "replayed_pruners": replays}}
    for source in ("default", "auto"):
        plan = d.plan(args.model, epochs=args.train_epochs, use_tuned=source == "auto")
        if source == "auto" and plan.tuned is None:
            print(f"note: {'; '.join(plan.notes) or 'no best.json'}: the 'tuned' run below uses default values")
        out = d.train_run(plan, verbose=0)
        cv = json.loads((out / "cv.json").read_text())
        row = {"run": str(out), "oof_accuracy": cv["overall"]["accuracy"],
               "params": json.loads((out / "params.json").read_text())["params"]}
        if d.solution:
            row["test_accuracy_5folds"] = d.test_accuracy(np.load(out / "test.npy"))
        result["default" if source == "default" else "tuned"] = row
    write_json(ws.bench / f"tune_{args.model}.json", result)
    print(json.dumps(result, indent=2))
    base, tuned = result["default"], result["tuned"]
    print(f"{args.model}: 5-fold OOF accuracy default {base['oof_accuracy']:.4f} -> tuned {tuned['oof_accuracy']:.4f}"
          + (f"; test {base['test_accuracy_5folds']:.4f} -> {tuned['test_accuracy_5folds']:.4f}" if d.solution else ""))
    print(f"tuning: {stats['trials']} trials, {stats['pruned']} pruned, {stats['seconds_spent']} s spent, "
          f"about {stats['seconds_saved_by_pruning']} s saved by pruning ({stats['share_saved']:.0%} of the unpruned cost)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
