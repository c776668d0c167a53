"""The benchmarks still run (on tiny data; their figures come from `make bench-*`)."""

from __future__ import annotations

import pytest

from benchmarks import bench_features, bench_tune


@pytest.mark.slow
def test_bench_features_runs_and_agrees_with_librosa(tone_project, capsys):
    assert bench_features.main(["--clips", "60", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "clips/s" in out and "speed-up" in out and "largest difference" in out


def test_pruning_savings_counts_the_epochs_not_run():
    import datetime

    import optuna

    study = optuna.create_study(direction="maximize")
    start = datetime.datetime(2026, 1, 1)
    for state, epochs_run in ((optuna.trial.TrialState.COMPLETE, 10), (optuna.trial.TrialState.PRUNED, 2)):
        study.add_trial(optuna.trial.FrozenTrial(
            number=0, trial_id=0, state=state, value=0.5 if state == optuna.trial.TrialState.COMPLETE else None,
            intermediate_values={e: 0.5 for e in range(epochs_run)}, params={}, distributions={},
            user_attrs={}, system_attrs={}, datetime_start=start,
            datetime_complete=start + datetime.timedelta(seconds=10 * epochs_run)))
    stats = bench_tune.pruning_savings(study, epochs=10)
    assert stats["pruned"] == 1 and stats["complete"] == 1
    assert stats["seconds_saved_by_pruning"] == 80  # 8 epochs not run, 10 s each
    assert stats["seconds_spent"] == 120


def test_replaying_a_study_through_the_median_pruner_stops_the_hopeless_trial():
    import optuna

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    for level in (0.5, 0.6, 0.7, 0.8, 0.1):  # four good learning curves, then a hopeless one
        trial = study.ask()
        for epoch in range(6):
            trial.report(level + 0.01 * epoch, epoch)
        study.tell(trial, level + 0.05)
    replay = bench_tune.replay_pruner(study, "median", epochs=6)
    assert replay["would_prune"] == 1
    assert replay["epochs_saved"] == 3  # stopped after epoch 3 (2 warm-up steps), 3 of 6 epochs not run
    assert replay["epochs_total"] == 30
    assert bench_tune.replay_pruner(study, "none", epochs=6)["would_prune"] == 0


@pytest.mark.slow
def test_bench_speed_prints_a_rate_per_model(capsys):
    from benchmarks import bench_speed

    assert bench_speed.main(["--models", "cnn_resnet", "--profile", "toy", "--clips", "256", "--seconds", "2"]) == 0
    out = capsys.readouterr().out
    assert "cnn_resnet" in out and "clips/s" in out and "one epoch of 256 clips" in out
    assert "feed only" in out and "feed + augment" in out  # the feed's own rate beside the model's


@pytest.mark.slow
def test_bench_scale_runs_every_stage_in_its_own_project_and_reports_time_and_memory(tmp_path, capsys):
    """A small `make bench-scale`: generated data, then data, features, folds, one toy fold and
    an ensemble of five full-size runs, each in its own process, timed with its peak RSS; the
    user's own workspace (here tmp_path) gets nothing but artifacts/bench/scale."""
    import json

    from benchmarks import bench_scale

    assert bench_scale.main(["--train-clips", "300", "--test-clips", "400", "--workspace", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "artifacts" / "bench" / "scale" / "scale.json").read_text())
    assert result["test_clips"] == 400
    assert [r["stage"] for r in result["stages"]] == ["data", "features", "folds", "train (1 fold, toy)",
                                                      "ensemble (5 runs)"]
    assert all(r["seconds"] > 0 and r["peak_rss_gb"] > 0 for r in result["stages"])
    assert "peak RSS" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts"]
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == ["bench"]
