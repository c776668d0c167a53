"""The benchmarks still run (on tiny data; their figures come from `make bench-*`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import bench_features, bench_tune
from competition.labels import LABELS


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


def _kaggle_like(tmp_path, with_key=True):
    from helpers import make_tone_tree

    from benchmarks import kaggle_like

    src = make_tone_tree(tmp_path / "src", speakers=30, background=3)
    if not with_key:
        (src / "test_solution.csv").unlink()
    dest = kaggle_like.build(src, tmp_path / "kl", held_words=("cat",), held_noise=("noise_2.wav",), log=lambda *a: None)
    return src, dest, pd.read_csv(dest / "benchmark_sets.csv", keep_default_na=False)


def test_kaggle_like_data_holds_words_and_noise_out_of_training_and_mixes_the_test_at_0_to_20_db(tmp_path):
    from competition.audio import read_audio

    src, dest, sets = _kaggle_like(tmp_path)
    train = dest / "train" / "audio"
    assert not (train / "cat").exists() and (train / "dog").is_dir()
    assert sorted(p.name for p in (train / "_background_noise_").iterdir()) == ["noise_0.wav", "noise_1.wav"]
    assert len(list((train / "yes").iterdir())) == len(list((src / "train" / "audio" / "yes").iterdir()))
    solution = pd.read_csv(dest / "test_solution.csv")
    assert sorted(solution["fname"]) == sorted(p.name for p in (dest / "test" / "audio").iterdir()) == sorted(sets["fname"])
    plain, kl = sets[sets["set"] == "plain"], sets[sets["set"] == "kaggle_like"]
    assert len(plain) == len(pd.read_csv(src / "test_solution.csv"))
    for r in plain.itertuples():  # the plain test is the source's test, unchanged
        assert (dest / "test" / "audio" / r.fname).read_bytes() == (src / r.source).read_bytes()
    counts = kl["label"].value_counts()
    assert counts.max() - counts.min() <= 1 and set(counts.index) == set(LABELS)  # balanced over the 12 labels
    assert set(kl.loc[kl["label"] == "unknown", "word"]) >= {"cat"}  # words no training clip has
    assert kl["snr_db"].astype(float).between(0, 20).all()
    for r in kl.itertuples():  # each clip is its source plus noise at the recorded SNR
        y, mix = read_audio(src / r.source), read_audio(dest / "test" / "audio" / r.fname)
        if np.mean(y**2) > 1e-5:
            snr = 10 * np.log10(np.mean(y**2) / np.mean((mix - y) ** 2))
            assert abs(snr - float(r.snr_db)) < 0.5, (r.fname, snr, r.snr_db)


def test_kaggle_like_data_without_an_answer_key_carves_its_plain_test_from_train_speakers(tmp_path):
    from competition import layout

    src, dest, sets = _kaggle_like(tmp_path, with_key=False)
    plain = sets[sets["set"] == "plain"]
    assert len(plain) > 0 and (plain["label"] == "silence").any()
    carved = {layout.speaker_of(Path(s).name) for s in plain["source"]}
    in_train = {layout.speaker_of(p.name) for p in (dest / "train" / "audio").glob("*/*.wav")}
    assert carved and not carved & in_train


def test_kaggle_like_scores_each_set_and_the_unknown_unknowns():
    from benchmarks.kaggle_like import scores

    sets = pd.DataFrame({"fname": ["a", "b", "c", "d"], "label": ["yes", "no", "unknown", "unknown"],
                         "set": ["plain", "plain", "kaggle_like", "kaggle_like"], "word": ["", "", "cat", ""]})
    probs = np.eye(len(LABELS))[[LABELS.index(x) for x in ("yes", "yes", "unknown", "no")]]
    assert scores(probs, ["a", "b", "c", "d"], sets) == {"plain": 0.5, "kaggle_like": 0.5, "unknown_unknowns": 1.0}
    assert scores(probs[::-1], ["d", "c", "b", "a"], sets)["plain"] == 0.5  # rows matched by name, not position


def test_the_kaggle_like_bench_takes_its_own_runs_not_another_processes_and_names_their_front_ends(tmp_path):
    """Two benchmarks training the same model in one project (one with SET=frontend=pcen): each
    blends the run made with its own settings, though the other's finished later."""
    import os
    from dataclasses import asdict, replace

    from benchmarks.bench_kaggle_like import frontend_name, newest_runs
    from competition.features import FeatureSettings

    def fake_run(run_id, typed, train, features, pseudo=None, mtime=0.0):
        run = tmp_path / "artifacts" / "runs" / "crnn_vgg" / run_id
        run.mkdir(parents=True)
        cache = tmp_path / "artifacts" / "features" / features["key"]
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "settings.json").write_text(json.dumps({"settings": features["settings"]}))
        sources = {"train.epochs": "typed (EPOCHS)", **{f"train.{k}": "typed (SET)" for k in typed}}
        (run / "params.json").write_text(json.dumps({
            "train": train, "params": {}, "sources": sources,
            "inputs": {"features_path": f"artifacts/features/{features['key']}", "pseudo": pseudo}}))
        (run / "cv.json").write_text("{}")
        os.utime(run / "cv.json", (1000.0 + mtime, 1000.0 + mtime))
        return run

    default = {"key": "f64", "settings": asdict(FeatureSettings())}
    forty = {"key": "f40", "settings": asdict(replace(FeatureSettings(), n_mels=40))}
    plain = fake_run("plain", [], {"frontend": "logmel"}, default)
    pcen = fake_run("pcen", ["frontend"], {"frontend": "pcen"}, default, mtime=10)
    old = fake_run("old", [], {"frontend": "logmel"}, default, mtime=-100)
    bands = fake_run("forty", [], {"frontend": "logmel"}, forty, mtime=20)
    pseudo = fake_run("round2", [], {"frontend": "logmel"}, default, {"name": "p1"}, mtime=30)
    assert newest_runs(tmp_path, ["crnn_vgg"], 1000.0) == [plain]
    assert newest_runs(tmp_path, ["crnn_vgg"], 1000.0, ["frontend=pcen"]) == [pcen]
    assert newest_runs(tmp_path, ["crnn_vgg"], 1000.0, [], ["n_mels=40"]) == [bands]
    assert newest_runs(tmp_path, ["crnn_vgg"], 1000.0, [], [], "p1") == [pseudo]
    assert old not in newest_runs(tmp_path, ["crnn_vgg"], 800.0)
    with pytest.raises(SystemExit, match="no finished run of crnn_vgg"):
        newest_runs(tmp_path, ["crnn_vgg"], 1000.0, ["frontend=pcen_learned"])
    # and results.csv names each run's front-end where it is not the default (PCEN, 64 bands)
    assert [frontend_name(r) for r in (plain, pcen, bands)] == ["frontend=logmel", "", "frontend=logmel,n_mels=40"]


def test_bench_oof_measures_selection_optimism_from_the_half_fold_curves(tmp_path):
    from benchmarks.bench_oof import selection

    run = tmp_path / "model" / "run"
    (run / "fold_0").mkdir(parents=True)
    pd.DataFrame({"val_accuracy": [0.5, 0.8, 0.7], "val_accuracy_a": [0.4, 0.9, 0.6],
                  "val_accuracy_b": [0.6, 0.7, 0.8]}).to_csv(run / "fold_0" / "history.csv", index=False)
    row = selection(run).iloc[0]
    assert row["best"] == 0.8 and np.isclose(row["self"], (0.9 + 0.8) / 2)
    assert np.isclose(row["cross"], (0.7 + 0.6) / 2) and np.isclose(row["last"], (0.6 + 0.8) / 2)


@pytest.mark.slow
def test_bench_kaggle_like_trains_every_model_on_each_front_end_and_blends_them_all(tmp_path, capsys, monkeypatch):
    from helpers import make_tone_tree

    from benchmarks import bench_kaggle_like

    src = make_tone_tree(tmp_path / "src", speakers=12, background=3)
    monkeypatch.chdir(tmp_path)
    assert bench_kaggle_like.main([
        "--source", str(src), "--held-words", "cat", "--held-noise", "noise_2.wav", "--models", "tutorial_cnn",
        "--epochs", "1", "--n-folds", "2", "--profile", "toy", "--set", "batch_size=32", "tta=1",
        "--feat", "pad=zeros", "--frontends", "n_mels=24", "--oof", "clean", "--workspace", "."]) == 0
    results = pd.read_csv(tmp_path / "artifacts" / "bench" / "kaggle-like" / "results.csv")
    assert list(results["what"]) == ["tutorial_cnn (pad=zeros)", "tutorial_cnn (n_mels=24,pad=zeros)",
                                     "ensemble (" + results["what"].iloc[-1].split("(", 1)[1]]
    assert (results["label"] == "pad=zeros batch_size=32 tta=1 n_mels=24").all()  # FEAT, SET, FRONTENDS
    runs = [Path(r) for r in results["run"][:2]]
    caches = [json.loads((Path("artifacts/bench/kaggle-like/project") / r / "params.json").read_text())["inputs"]
              ["features_path"] for r in runs]
    assert caches[0] != caches[1]  # two feature caches, one folds file: both runs are in the one ensemble
    info = json.loads(next(Path("artifacts/bench/kaggle-like/project/artifacts/submissions").glob("*.json")).read_text())
    assert len(info["runs"]) == 2
    current = json.loads(Path("artifacts/bench/kaggle-like/project/artifacts/current.json").read_text())
    (entry,) = current["data"].values()
    assert entry["features"]["settings"]["n_mels"] == 64 and entry["features"]["settings"]["pad"] == "zeros"
    # ORACLE: the equal-weight blend of the two runs against its better member, read from the answer key
    capsys.readouterr()
    project = Path("artifacts/bench/kaggle-like/project").resolve()
    assert bench_kaggle_like.main(["--runs", *map(str, runs), "--oracle", "--workspace", "."]) == 0
    assert "answer key: diagnosis only" in capsys.readouterr().out
    sets = pd.read_csv(project / "data" / "raw" / "benchmark_sets.csv", keep_default_na=False)
    gains = bench_kaggle_like.subset_gains([project / r for r in runs], sets, "uniform", sizes=(2,))
    assert len(gains) == 1
    assert gains["best_member"][0] == pytest.approx(results["kaggle_like"][:2].max())
    assert gains["gain"][0] == pytest.approx(gains["accuracy"][0] - gains["best_member"][0])
    assert len(pd.read_csv(tmp_path / "artifacts" / "bench" / "kaggle-like" / "results.csv")) == len(results)
    # a front-end that would change the clips (and so the folds) is refused before any work
    with pytest.raises(SystemExit, match="silence_segment_s"):
        bench_kaggle_like.main(["--source", str(src), "--frontends", "silence_segment_s=0", "--workspace", "other"])
    with pytest.raises(SystemExit, match="the project's own features"):  # the same runs twice in one blend
        bench_kaggle_like.main(["--source", str(src), "--feat", "n_mels=24", "--frontends", "n_mels=24",
                                "--workspace", "other"])
    assert not Path("other").exists()


@pytest.mark.slow
def test_bench_kaggle_like_scores_both_tests_for_each_run_the_ensemble_and_a_pseudo_label_round(tmp_path, capsys,
                                                                                                 monkeypatch):
    from helpers import make_tone_tree

    from benchmarks import bench_kaggle_like

    src = make_tone_tree(tmp_path / "src", speakers=12, background=3)
    monkeypatch.chdir(tmp_path)  # a relative workspace, as make runs it
    assert bench_kaggle_like.main([
        "--source", str(src), "--held-words", "cat", "--held-noise", "noise_2.wav", "--models", "crnn_resnet",
        "tutorial_cnn", "--epochs", "1", "--n-folds", "2", "--profile", "toy", "--round-two",
        "--set", "batch_size=32", "--label", "smoke", "--workspace", "."]) == 0
    out = capsys.readouterr().out
    assert "round 1: ensemble" in out and "round 2: ensemble" in out
    results = pd.read_csv(tmp_path / "artifacts" / "bench" / "kaggle-like" / "results.csv")
    assert set(results["what"].str.split(" ").str[0]) == {"crnn_resnet", "tutorial_cnn", "ensemble"}
    assert sorted(results["round"].unique()) == [1, 2] and (results["label"] == "smoke").all()
    assert results[["plain", "kaggle_like", "oof", "oof_balanced"]].notna().all().all()
    assert results[["plain", "kaggle_like"]].stack().between(0, 1).all()
    round2 = results[results["round"] == 2]
    assert round2["run"].str.contains("crnn_resnet|tutorial_cnn|kaggle-like").all()
    assert set(round2["run"]).isdisjoint(set(results[results["round"] == 1]["run"]))  # new runs, not the old ones
    assert results[["noisy_oof", "expected_plain", "expected_kaggle_like"]].stack().between(0, 1).all()
    assert results["noisy_oof"].notna().all()  # make train wrote noisy OOF rows, so the blend used both kinds
    assert results[results["what"].str.startswith("ensemble")]["what"].str.contains("OOF both").all()
    assert bench_kaggle_like.main(["--table", "--workspace", "."]) == 0  # the README's table, from results.csv
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 + len(results) and table[-1].startswith("| smoke | 2 | ensemble")
    # RUNS: the round-1 runs blended again, on clean rows only, without training anything
    runs = list(results[(results["round"] == 1) & ~results["what"].str.startswith("ensemble")]["run"])
    folders = set(Path("artifacts/bench/kaggle-like/project/artifacts/runs").glob("*/*"))
    assert bench_kaggle_like.main(["--runs", *runs, "--oof", "clean", "--label", "reblend", "--workspace", "."]) == 0
    again = pd.read_csv(tmp_path / "artifacts" / "bench" / "kaggle-like" / "results.csv")
    reblend = again[again["label"] == "reblend"]
    assert list(reblend["run"][:2]) == runs and reblend["what"].iloc[-1].endswith("OOF clean)")
    assert set(Path("artifacts/bench/kaggle-like/project/artifacts/runs").glob("*/*")) == folders
