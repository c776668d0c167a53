"""K-fold training: the run layout, OOF/test predictions, resume, settings, and errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from competition.labels import LABEL_INDEX, LABELS  # noqa: E402
from models import train  # noqa: E402
from models.augment import NO_AUG  # noqa: E402

FAST = train.TrainSettings(epochs=2, batch_size=32, tta=1, aug=NO_AUG)
QUIET = {"log": lambda *a: None, "verbose": 0}


def run(project, name="crnn_resnet", s=FAST, **kw):
    cache, folds, folds_file = project
    return train.train_run(name, s, cache, folds, folds_file, 3, profile="toy", **{**QUIET, **kw})


def test_run_layout_and_predictions(tone_project):
    cache, folds, _ = tone_project
    out = run(tone_project)
    assert out.parent == Path("artifacts/runs/crnn_resnet")
    for k in range(3):
        for f in ("model.keras", "history.csv", "oof.npy", "test.npy", "metrics.json"):
            assert (out / f"fold_{k}" / f).is_file()
        hist = pd.read_csv(out / f"fold_{k}" / "history.csv")
        assert list(hist["epoch"]) == [1, 2] and {"loss", "val_accuracy", "val_loss"} <= set(hist.columns)
    oof, test = np.load(out / "oof.npy"), np.load(out / "test.npy")
    assert oof.shape == (len(cache.train_index), 12) and test.shape == (len(cache.test_index), 12)
    assert np.isfinite(oof).all() and np.allclose(oof.sum(1), 1, atol=1e-4)
    cv = json.loads((out / "cv.json").read_text())
    assert cv["complete"] and cv["folds_trained"] == [0, 1, 2]
    labels = folds["label"].map(LABEL_INDEX).to_numpy()
    assert cv["overall"]["accuracy"] == pytest.approx(np.mean(oof.argmax(1) == labels))
    params = json.loads((out / "params.json").read_text())
    assert params["model"] == "crnn_resnet" and params["labels"] == list(LABELS)
    assert params["features"]["key"] == cache.path.name and params["train"]["epochs"] == 2
    assert params["data"]["fingerprint"] and params["params_source"] == "defaults"


def test_oof_rows_come_from_the_model_that_did_not_see_them(tone_project):
    cache, folds, _ = tone_project
    out = run(tone_project)
    oof = np.load(out / "oof.npy")
    x = np.asarray(cache.train, dtype=np.float32)
    for k in range(3):
        model = keras.saving.load_model(out / f"fold_{k}" / "model.keras")
        rows = np.flatnonzero(folds["fold"].to_numpy() == k)
        np.testing.assert_allclose(model.predict(x[rows], verbose=0), oof[rows], atol=1e-5)


def test_rerun_skips_finished_folds(tone_project):
    out = run(tone_project)
    stamp = {k: (out / f"fold_{k}" / "model.keras").stat().st_mtime_ns for k in range(3)}
    logged = []
    assert run(tone_project, log=logged.append) == out
    assert sum("skipped" in line for line in logged) == 3
    assert stamp == {k: (out / f"fold_{k}" / "model.keras").stat().st_mtime_ns for k in range(3)}


def test_interrupted_fold_restarts_cleanly(tone_project, monkeypatch):
    real = train.train_fold
    calls = []

    def flaky(name, params, s, data, k, **kw):
        calls.append(k)
        if k == 1 and calls.count(1) == 1:
            raise KeyboardInterrupt
        return real(name, params, s, data, k, **kw)

    monkeypatch.setattr(train, "train_fold", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(tone_project)
    out = next(Path("artifacts/runs/crnn_resnet").iterdir())
    assert (out / "fold_0").is_dir() and not (out / "fold_1").exists()
    assert not list(out.glob(".*tmp"))
    run(tone_project)
    assert calls == [0, 1, 1, 2]
    assert json.loads((out / "cv.json").read_text())["complete"]


def test_other_settings_get_another_run_folder(tone_project):
    a = run(tone_project, only_folds=[0])
    b = run(tone_project, s=dataclasses.replace(FAST, lr=1e-3), only_folds=[0])
    assert a != b and a.parent == b.parent
    cv = json.loads((b / "cv.json").read_text())
    assert not cv["complete"] and cv["folds_trained"] == [0]
    assert np.isnan(np.load(b / "oof.npy")[folds_rows(tone_project, 1)]).all()


def folds_rows(project, k):
    return np.flatnonzero(project[1]["fold"].to_numpy() == k)


def test_a_model_learns_the_tones(tone_project):
    """Augmentation on, TTA on, words as targets: the whole training path, and it learns."""
    s = dataclasses.replace(FAST, epochs=10, batch_size=16, lr=3e-3, tta=3, targets="words",
                            aug=train.AugSettings())
    cache, folds, folds_file = tone_project
    out = train.train_run("cnn_resnet", s, cache, folds, folds_file, 3, profile="cpu", only_folds=[0], **QUIET)
    acc = json.loads((out / "cv.json").read_text())["overall"]["accuracy"]
    assert acc > 0.6  # chance is 1/12


def test_tuned_parameters_are_used_and_recorded(tone_project):
    best = Path("artifacts/tune/crnn_resnet/best.json")
    best.parent.mkdir(parents=True)
    best.write_text(json.dumps({"params": {"gru_units": 5}, "trial": 7, "value": 0.9}))
    logged = []
    out = run(tone_project, only_folds=[0], log=logged.append)
    params = json.loads((out / "params.json").read_text())
    assert params["params"]["gru_units"] == 5 and "trial 7" in params["params_source"]
    assert any("tuned parameters" in line for line in logged)
    default = run(tone_project, only_folds=[0], param_source="default")
    assert json.loads((default / "params.json").read_text())["params"]["gru_units"] != 5


def test_unknown_is_subsampled_each_epoch():
    labels = np.array([LABEL_INDEX["yes"]] * 10 + [LABEL_INDEX["unknown"]] * 100)
    rows = np.arange(len(labels))
    s = train.TrainSettings(balance="subsample", unknown_per_epoch=2.0)
    rng = np.random.default_rng(0)
    a, b = train.epoch_rows(labels, rows, s, rng), train.epoch_rows(labels, rows, s, rng)
    # the mean command count is 10/10 commands... only `yes` has clips: mean over commands = 1
    assert np.sum(labels[a] == LABEL_INDEX["unknown"]) == 2 and np.sum(labels[a] == LABEL_INDEX["yes"]) == 10
    assert set(a) != set(b)
    none = train.epoch_rows(labels, rows, dataclasses.replace(s, balance="none"), rng)
    assert sorted(none) == list(rows)


def test_class_weights_balance_the_labels():
    labels = np.array([0] * 90 + [1] * 10)
    w = train.class_weights(labels, 12)
    assert w[labels].mean() == pytest.approx(1.0)
    assert w[0] * 90 == pytest.approx(w[1] * 10)


def test_word_targets_map_back_to_twelve_labels():
    index = pd.DataFrame({"word": ["yes", "bed", "cat", "_silence_"], "label": ["yes", "unknown", "unknown", "silence"]})
    t = train.make_targets(index, "words")
    assert t.names == ("_silence_", "bed", "cat", "yes")
    assert t.to_labels.sum(1).tolist() == [1, 1, 1, 1]
    assert t.to_labels[:, LABEL_INDEX["unknown"]].sum() == 2
    np.testing.assert_array_equal(train.target_ids(index, t), [3, 1, 2, 0])


def test_settings_overrides():
    s = train.apply_overrides(train.TrainSettings(), ["lr=0.01", "balance=weights", "aug.snr_db=[0, 5]"])
    assert s.lr == 0.01 and s.balance == "weights" and s.aug.snr_db == (0, 5)
    with pytest.raises(train.TrainError, match="unknown setting"):
        train.apply_overrides(train.TrainSettings(), ["lrr=1"])


def test_cli_errors_are_one_clear_line(tone_project, capsys):
    assert train.main(["--models", "crnn_resnett", "--profile", "toy"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'crnn_resnett'" in err and "Traceback" not in err
    assert train.main(["--models", "crnn_resnet", "--n-mels", "13"]) == 2
    assert "make features" in capsys.readouterr().err


def test_folds_from_other_data_are_refused(tone_project, capsys):
    cache, folds, folds_file = tone_project
    folds_file.write_text(folds.iloc[1:].to_csv(index=False))
    assert train.main(["--models", "crnn_resnet", "--n-folds", "3", "--profile", "toy"]) == 2
    assert "other data" in capsys.readouterr().err


def test_balanced_epochs_give_every_label_the_median_count():
    labels = np.array([LABEL_INDEX["yes"]] * 10 + [LABEL_INDEX["no"]] * 4 + [LABEL_INDEX["unknown"]] * 100)
    rows = np.arange(len(labels))
    s = train.TrainSettings(balance="balanced")
    rng = np.random.default_rng(0)
    a = train.epoch_rows(labels, rows, s, rng)
    counts = np.bincount(labels[a], minlength=12)
    assert counts[LABEL_INDEX["yes"]] == counts[LABEL_INDEX["no"]] == counts[LABEL_INDEX["unknown"]] == 10
    assert set(np.flatnonzero(labels == LABEL_INDEX["no"])) <= set(a)  # every small-label clip is in
    assert len(set(a[labels[a] == LABEL_INDEX["unknown"]])) == 10  # big labels without repeats
