"""`make tune`: studies that run, prune, resume, share one storage between workers, and say
clearly what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from competition.provenance import RunRecord, TunedRecord
from competition.workspace import Workspace
from models import train, tune

WS = Workspace()
REPO = Path(__file__).resolve().parents[1]
TOY_ARGS = ["--model", "cnn_resnet", "--profile", "toy", "--epochs", "1", "--n-folds", "3",
            "--tune-folds", "0", "--set", "batch_size=32", "tta=1"]


def states(study):
    return [t.state.name for t in study.get_trials(deepcopy=False)]


@pytest.mark.slow
def test_a_study_runs_exports_best_and_train_uses_it(tone_project, capsys):
    assert tune.main([*TOY_ARGS, "--trials", "2", "--seed", "0"]) == 0
    study = optuna.load_study(study_name="cnn_resnet", storage=tune.storage_for("cnn_resnet", None, WS))
    assert len(study.trials) == 2 and "COMPLETE" in states(study)
    best = TunedRecord.read(Path("artifacts/tune/cnn_resnet/best.json"))
    assert best.trial == study.best_trial.number and best.value == pytest.approx(study.best_value)
    assert set(best.params) == {"stem", "filters", "blocks_per_stage", "dropout"}
    assert "lr" in best.train and best.profile == "toy" and best.batch_size == 32
    assert best.inputs.data_fingerprint == tone_project.manifest["fingerprint"] and best.code.sources
    html = Path("artifacts/tune/cnn_resnet/report/index.html").read_text()
    assert "Best trials" in html and "history.png" in html
    assert Path("artifacts/tune/cnn_resnet/report/history.png").stat().st_size > 1000
    # a rerun continues the same study
    assert tune.main([*TOY_ARGS, "--trials", "1"]) == 0
    assert len(optuna.load_study(study_name="cnn_resnet", storage=tune.storage_for("cnn_resnet", None, WS)).trials) == 3
    # make train picks the tuned values up (the best after the rerun) and records where they came from
    best = TunedRecord.read(Path("artifacts/tune/cnn_resnet/best.json"))
    assert train.main(["--models", "cnn_resnet", "--profile", "toy", "--folds", "0", "--epochs", "1",
                       "--set", "batch_size=32", "tta=1", "--verbose", "0"]) == 0
    assert "tuned (artifacts/tune/cnn_resnet/best.json" in capsys.readouterr().out
    record = RunRecord.read(next(Path("artifacts/runs/cnn_resnet").glob("*/params.json")))
    assert record.params["filters"] == best.params["filters"]
    assert record.train["lr"] == pytest.approx(best.train["lr"])
    assert record.sources["train.lr"].startswith("tuned") and record.sources["params.filters"].startswith("tuned")
    assert record.tuned["trial"] == best.trial


def test_the_pruner_prunes_an_objective_built_to_be_pruned():
    for name in ("hyperband", "median"):
        study = optuna.create_study(direction="maximize", pruner=tune.make_pruner(name),
                                    sampler=optuna.samplers.RandomSampler(seed=0))

        def objective(trial):
            x = trial.suggest_float("x", 0, 1)
            good = trial.number < 5 or x > 0.9  # later trials are mostly hopeless from the start
            for step in range(10):
                trial.report((0.9 if good else 0.1) + 0.001 * step, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            return 0.9 if good else 0.1

        study.optimize(objective, n_trials=25)
        assert "PRUNED" in states(study), name


def test_the_keras_pruning_callback_reports_every_epoch_and_prunes():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    cb = tune.pruning_callback(trial, fold_position=1, epochs=10)
    cb.on_epoch_end(0, {"val_accuracy": 0.8})
    with pytest.raises(optuna.TrialPruned):
        cb.on_epoch_end(1, {"val_accuracy": 0.2})
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {10: 0.8, 11: 0.2}


@pytest.mark.slow
def test_a_crashing_trial_is_recorded_as_failed_and_the_study_goes_on(tone_project, monkeypatch):
    real = tune.train_fold
    calls = []

    def sometimes_crashes(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            raise FloatingPointError("loss became NaN")
        return real(*a, **k)

    monkeypatch.setattr(tune, "train_fold", sometimes_crashes)
    assert tune.main([*TOY_ARGS, "--trials", "2"]) == 0
    study = optuna.load_study(study_name="cnn_resnet", storage=tune.storage_for("cnn_resnet", None, WS))
    assert sorted(states(study)) == ["COMPLETE", "FAIL"]


def test_ctrl_c_stops_cleanly(tone_project, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune, "train_fold", interrupted)
    assert tune.main([*TOY_ARGS, "--trials", "3"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def _worker_env():
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("OPTUNA_STORAGE", None)
    return env


def _two_workers(extra: list[str], env: dict) -> subprocess.CompletedProcess:
    # the cheapest model: what is under test is the shared storage, not the model
    args = [*TOY_ARGS[:1], "tutorial_cnn", *TOY_ARGS[2:]]
    return subprocess.run([sys.executable, "-m", "models.tune", *args, "--trials", "4", "--workers", "2",
                           *extra], env=env, capture_output=True, text=True, timeout=600)


def _check_four_trials_once(study):
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 4
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both workers did trials


@pytest.mark.slow
def test_two_workers_share_one_journal_study(tone_project):
    proc = _two_workers([], _worker_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    _check_four_trials_once(optuna.load_study(study_name="tutorial_cnn",
                                              storage=tune.storage_for("tutorial_cnn", None, WS)))
    assert "worker 2: 2 trials" in proc.stdout


@pytest.mark.slow
def test_two_workers_share_one_postgresql_study(tone_project, postgres_url):
    env = dict(_worker_env(), OPTUNA_STORAGE=postgres_url)
    proc = _two_workers([], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _check_four_trials_once(optuna.load_study(study_name="tutorial_cnn", storage=postgres_url))
    assert "not-a-secret" not in proc.stdout + proc.stderr
    assert "not-a-secret" not in Path("artifacts/tune/tutorial_cnn/best.json").read_text()
    assert TunedRecord.read(Path("artifacts/tune/tutorial_cnn/best.json")).storage.startswith("postgresql://kws:***@")


def test_a_study_from_other_data_is_refused(tone_project, capsys):
    storage = tune.storage_for("cnn_resnet", None, WS)
    tune.open_study("cnn_resnet", storage, {"data": "other", "features": "x"}, "median", ws=WS)
    assert tune.main([*TOY_ARGS, "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert "other data or settings" in err and "delete" in err


@pytest.mark.slow
def test_fixed_parameters_hold_in_every_trial_and_best_json(tone_project, capsys):
    fix = ["--fix", "width=16", "blocks_per_stage=1"]
    assert tune.main([*TOY_ARGS, "--trials", "2", "--seed", "0", *fix]) == 0
    study = optuna.load_study(study_name="cnn_resnet", storage=tune.storage_for("cnn_resnet", None, WS))
    assert [(t.params["width"], t.params["blocks_per_stage"]) for t in study.trials] == [(16, 1), (16, 1)]
    best = TunedRecord.read(Path("artifacts/tune/cnn_resnet/best.json"))
    assert best.params["filters"] == [32, 64, 128] and best.params["blocks_per_stage"] == 1 and best.fixed["width"] == 16
    capsys.readouterr()
    # other fixed values would change what the scores mean: the study refuses them
    assert tune.main([*TOY_ARGS, "--trials", "1", "--fix", "width=24"]) == 2
    assert "fixed" in capsys.readouterr().err
    assert tune.main([*TOY_ARGS, "--trials", "1", "--fix", "width"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert tune.main([*TOY_ARGS, "--trials", "1", "--fix", "widht=16"]) == 2
    assert "widht: not in the search space of cnn_resnet" in capsys.readouterr().err


def test_unknown_model_and_bad_storage_are_clear(tone_project, capsys):
    assert tune.main(["--model", "resnet9000", "--trials", "1"]) == 2
    assert "unknown model 'resnet9000'" in capsys.readouterr().err
    url = "postgresql://me:hunter22@127.0.0.1:1/nothing"
    assert tune.main([*TOY_ARGS, "--trials", "1", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert "cannot open the Optuna storage" in err and "hunter22" not in err and "me:***@" in err
    assert tune.main([*TOY_ARGS, "--trials", "1", "--storage", "notadb://x"]) == 2


def test_a_trial_left_running_by_a_dead_process_is_failed():
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    trial = study.ask()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", dead.pid)
    alive = study.ask()
    alive.set_user_attr("host", socket.gethostname())
    alive.set_user_attr("pid", os.getpid())
    tune.fail_dead_local_trials(study, log=lambda *a: None)
    assert states(study) == ["FAIL", "RUNNING"]


def test_trials_split_over_workers_add_up():
    assert tune.split_trials(7, 3) == [3, 2, 2] and sum(tune.split_trials(200, 8)) == 200


@pytest.mark.parametrize("url, secret", [
    ("postgresql://u:p%40ss@h:5/db", "p%40ss"),
    ("postgresql://:secret@host/db", "secret"),
    ("postgresql://u:p@ss@host/db", "p@ss"),
    ("postgresql://u@host/db?password=secret&sslmode=require", "secret"),
    ("postgresql+psycopg://me:hunter22@127.0.0.1:1/nothing", "hunter22"),
])
def test_storage_passwords_are_masked_in_every_form(url, secret):
    masked = tune.redact_url(url)
    assert secret not in masked and "***" in masked
    assert tune.redact(f"could not connect to {url}: password {secret} rejected", url).count(secret) == 0
    if "sslmode" in url:
        assert "sslmode=require" in masked


def test_the_sampler_options_optuna_5_changed_are_set_here():
    sampler = tune.make_sampler(0, parallel=True)
    assert sampler._multivariate and sampler._constant_liar
    assert not tune.make_sampler(0, parallel=False)._constant_liar
    fixed = tune.make_sampler(0, parallel=True, fixed={"lr": 0.001})
    assert fixed._base_sampler._constant_liar


def test_workers_sample_with_a_constant_liar(monkeypatch):
    started = []
    monkeypatch.setattr(tune, "run_workers", lambda module, shares, log: started.extend(shares) or 0)
    tune.tune_workers(["--model", "cnn_resnet", "--trials", "5", "--workers", "2"], 5, 2)
    assert [s[s.index("--trials") + 1] for s in started] == ["3", "2"]
    assert all("--constant-liar" in s and s[s.index("--workers") + 1] == "1" for s in started)
