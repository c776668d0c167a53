"""K-fold training: the run layout, OOF/test predictions, resume, settings, and errors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import FAST, quiet

from competition import features
from competition.labels import LABEL_INDEX, LABELS
from competition.provenance import RunRecord
from competition.settings import SettingsError, flatten
from models import fold, run, train
from models.plan import Typed, plan_run
from models.settings import TrainSettings


def plan(inputs, name="crnn_resnet", values=None, **typed):
    return plan_run(name, inputs, "cpu", Typed({**FAST, **(values or {})}, profile=typed.pop("profile", "toy"), **typed))


def train_it(inputs, name="crnn_resnet", values=None, only_folds=None, log=quiet, **typed) -> Path:
    return run.train_run(plan(inputs, name, values, **typed), inputs, only_folds=only_folds, log=log, verbose=0)


@pytest.mark.slow
def test_run_layout_and_predictions(finished):
    cache, folds = finished.inputs.load()
    out = finished.run
    assert out.parent == Path("artifacts/runs/crnn_resnet")
    for k in range(3):
        for f in run.FOLD_FILES:
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
    record = RunRecord.read(out / "params.json")
    assert record.model == "crnn_resnet" and record.labels == list(LABELS) and record.run_id == out.name
    assert record.inputs.features_key == cache.path.name and record.train["epochs"] == 2
    assert record.inputs.data_fingerprint == finished.inputs.manifest["fingerprint"]
    assert record.sources["train.epochs"] == "typed (SET)" and record.sources["train.weight_decay"] == "default"
    assert record.code.sources and record.versions["keras"] == keras.__version__


@pytest.mark.slow
def test_oof_rows_come_from_the_model_that_did_not_see_them(finished):
    cache, folds = finished.inputs.load()
    oof = np.load(finished.run / "oof.npy")
    x = np.asarray(cache.train, dtype=np.float32)
    for k in range(3):
        model = keras.saving.load_model(finished.run / f"fold_{k}" / "model.keras")
        rows = np.flatnonzero(folds["fold"].to_numpy() == k)
        np.testing.assert_allclose(model.predict(x[rows], verbose=0), oof[rows], atol=1e-5)


@pytest.mark.slow
def test_noisy_oof_is_written_with_the_run_and_make_noisy_oof_reproduces_it(finished):
    """Every fold writes its held-out clips predicted again with noise mixed in; the run combines
    them; `make noisy-oof` on a run without them (trained before they existed) writes the same."""
    from competition.workspace import Workspace
    from models import noisy_oof

    cache, folds = finished.inputs.load()
    out = finished.run
    written = np.load(out / run.NOISY)
    clean = np.load(out / "oof.npy")
    labels = folds["label"].map(LABEL_INDEX).to_numpy()
    assert written.shape == clean.shape and np.allclose(written.sum(1), 1, atol=1e-4)
    assert not np.allclose(written, clean, atol=1e-3)  # the noise changed the predictions
    cv = json.loads((out / "cv.json").read_text())
    assert cv["noisy_overall"]["accuracy"] == pytest.approx(np.mean(written.argmax(1) == labels))
    for k in range(3):
        (out / f"fold_{k}" / run.NOISY).unlink()
    (out / run.NOISY).unlink()
    lines = []
    assert noisy_oof.add(out, Workspace(), log=lines.append) == 3
    np.testing.assert_allclose(np.load(out / run.NOISY), written, atol=1e-5)
    assert "noisy OOF accuracy" in lines[-1]
    assert noisy_oof.add(out, Workspace(), log=lines.append) == 0  # nothing left to do
    np.testing.assert_array_equal(np.load(out / "oof.npy"), clean)  # the run's own predictions untouched


@pytest.mark.slow
def test_make_noisy_oof_refuses_an_unknown_run_in_one_line_and_needs_finished_runs(finished, capsys, tmp_path,
                                                                                    monkeypatch):
    from competition.workspace import Workspace
    from models import noisy_oof

    assert noisy_oof.main(["--runs", "no_such_model"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("make noisy-oof: error: RUNS='no_such_model' is neither a run folder") and "\n" not in err
    assert noisy_oof.pick(["crnn_resnet"], Workspace()) == [
        Path("artifacts/runs/crnn_resnet") / finished.run.name]
    monkeypatch.chdir(tmp_path)
    assert noisy_oof.main([]) == 2
    assert "run `make train` first" in capsys.readouterr().err


@pytest.mark.slow
def test_a_fold_retrained_without_noisy_predictions_drops_the_stale_run_level_ones(finished):
    cache, folds = finished.inputs.load()
    (finished.run / "fold_1" / run.NOISY).unlink()
    cv = run.combine(finished.run, len(cache.train_index), len(cache.test_index), folds, 3)
    assert "noisy_overall" not in cv and not (finished.run / run.NOISY).exists()


def test_noisy_copy_mixes_every_clip_within_the_snr_range_and_repeats_with_its_seed():
    rng = np.random.default_rng(0)
    x = rng.uniform(-60, 0, (300, 20, 8)).astype(np.float32)  # dB
    bank = rng.uniform(0.0, 1e-3, (7, 20, 8)).astype(np.float32)  # mel power
    a, b = fold.noisy_copy(x, bank, seed=5), fold.noisy_copy(x, bank, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, fold.noisy_copy(x, bank, seed=6))
    signal = (10 ** (x / 10)).sum(axis=(1, 2))
    added = (10 ** (a / 10)).sum(axis=(1, 2)) - signal
    snr = 10 * np.log10(signal / added)
    assert snr.min() > -0.05 and snr.max() < 20.05 and np.ptp(snr) > 10  # every clip, over the whole range
    chunked = fold.noisy_copy(x, bank, seed=5, chunk=64)
    assert chunked.shape == x.shape
    assert fold.noisy_copy(x, bank[:0], seed=5) is None


def test_noisy_oof_mixes_only_noise_the_fold_model_never_heard(monkeypatch):
    """The noise added to fold k's held-out clips comes from the windows of its own validation
    silence segments, which its augmentation bank excludes."""
    segs = features.recording_segments(40 * 16_000, 10.0)
    speakers = [f"noise-{name}@{a / 16_000:g}-{b / 16_000:g}" for name in ("tap", "bike") for a, b in segs]
    index = pd.DataFrame({"speaker": speakers + ["spk1", "spk2"], "label": ["silence"] * 8 + ["yes", "no"]})
    fold_of = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    starts = np.arange(0, 39.5, 0.5)
    noise_index = pd.DataFrame({"source": np.repeat(["tap", "bike"], len(starts)), "start_s": np.tile(starts, 2)})
    noise = np.arange(1, len(noise_index) + 1, dtype=np.float32)[:, None, None]  # each window carries its row + 1
    data = fold.FoldData(np.zeros((10, 1, 1), np.float16), index, fold_of, np.zeros((0, 1, 1)), noise, noise_index)
    seen = {}
    monkeypatch.setattr(fold, "noisy_copy", lambda x, bank, seed: seen.setdefault("bank", np.asarray(bank)) is None)
    monkeypatch.setattr(fold, "predict", lambda model, x, s, t: np.zeros((1, 12)))
    for k in range(3):
        seen.clear()
        fold.noisy_oof(None, data, k, TrainSettings(), None)
        mixed = set(seen["bank"][:, 0, 0].astype(int))
        heard = set(fold.fold_noise(data, np.flatnonzero(fold_of == k))[:, 0, 0].astype(int))
        assert mixed and not mixed & heard, k


@pytest.mark.slow
def test_rerun_skips_finished_folds(finished):
    out = finished.run
    stamp = {k: (out / f"fold_{k}" / "model.keras").stat().st_mtime_ns for k in range(3)}
    logged = []
    assert train_it(finished.inputs, log=logged.append) == out
    assert sum("skipped" in line for line in logged) == 3
    assert stamp == {k: (out / f"fold_{k}" / "model.keras").stat().st_mtime_ns for k in range(3)}


@pytest.mark.slow
def test_a_damaged_fold_is_trained_again_with_a_line_saying_why(finished):
    out = finished.run
    n_val = int(np.sum(finished.inputs.load()[1]["fold"] == 1))
    n_test = len(finished.inputs.load()[0].test_index)
    damages = {"test.npy unreadable": lambda f: (f / "test.npy").write_bytes(b""),
               "oof.npy has shape (3, 12)": lambda f: np.save(f / "oof.npy", np.zeros((3, 12), np.float32))}
    for why, damage in damages.items():
        damage(out / "fold_1")
        assert why in run.unfinished(out / "fold_1", n_val, n_test)
        logged = []
        train_it(finished.inputs, log=logged.append)
        assert sum("skipped" in line for line in logged) == 2
        assert any("fold 2/3" in line and why in line and "training it again" in line for line in logged), logged
        assert run.unfinished(out / "fold_1", n_val, n_test) is None
    assert json.loads((out / "cv.json").read_text())["complete"]


@pytest.mark.slow
def test_interrupted_fold_restarts_cleanly(tone_project, monkeypatch):
    real = run.train_fold
    calls = []

    def flaky(name, params, s, data, k, **kw):
        calls.append(k)
        if k == 1 and calls.count(1) == 1:
            raise KeyboardInterrupt
        return real(name, params, s, data, k, **kw)

    monkeypatch.setattr(run, "train_fold", flaky)
    with pytest.raises(KeyboardInterrupt):
        train_it(tone_project)
    out = next(Path("artifacts/runs/crnn_resnet").iterdir())
    assert (out / "fold_0").is_dir() and not (out / "fold_1").exists()
    assert not list(out.glob(".*tmp"))
    train_it(tone_project)
    assert calls == [0, 1, 1, 2]
    assert json.loads((out / "cv.json").read_text())["complete"]


@pytest.mark.slow
def test_other_settings_get_another_run_folder(tone_project):
    a = train_it(tone_project, only_folds=[0])
    b = train_it(tone_project, values={"lr": 1e-3}, only_folds=[0])
    assert a != b and a.parent == b.parent
    cv = json.loads((b / "cv.json").read_text())
    assert not cv["complete"] and cv["folds_trained"] == [0]
    rows = np.flatnonzero(tone_project.load()[1]["fold"].to_numpy() == 1)
    assert np.isnan(np.load(b / "oof.npy")[rows]).all()


@pytest.mark.slow
def test_a_model_learns_the_tones(tone_project):
    """Augmentation on, TTA on, words as targets: the whole training path, and it learns."""
    values = {"epochs": 10, "batch_size": 16, "lr": 3e-3, "tta": 3, "targets": "words",
              **{f"aug.{k}": v for k, v in flatten(TrainSettings().aug).items()}}
    out = train_it(tone_project, "cnn_resnet", values, only_folds=[0], profile="cpu")
    acc = json.loads((out / "cv.json").read_text())["overall"]["accuracy"]
    assert acc > 0.6  # chance is 1/12
    loss = pd.read_csv(out / "fold_0" / "history.csv")["loss"]
    assert loss.iloc[-1] < 0.7 * loss.iloc[0], loss.tolist()


def test_unknown_is_subsampled_each_epoch():
    labels = np.array([LABEL_INDEX["yes"]] * 10 + [LABEL_INDEX["unknown"]] * 100)
    rows = np.arange(len(labels))
    s = TrainSettings(balance="subsample", unknown_per_epoch=2.0)
    rng = np.random.default_rng(0)
    a, b = fold.epoch_rows(labels, rows, s, rng), fold.epoch_rows(labels, rows, s, rng)
    # the mean command count is 10/10 commands... only `yes` has clips: mean over commands = 1
    assert np.sum(labels[a] == LABEL_INDEX["unknown"]) == 2 and np.sum(labels[a] == LABEL_INDEX["yes"]) == 10
    assert set(a) != set(b)
    none = fold.epoch_rows(labels, rows, TrainSettings(balance="none"), rng)
    assert sorted(none) == list(rows)


def test_class_weights_balance_the_labels():
    labels = np.array([0] * 90 + [1] * 10)
    w = fold.class_weights(labels, 12)
    assert w[labels].mean() == pytest.approx(1.0)
    assert w[0] * 90 == pytest.approx(w[1] * 10)


def test_word_targets_map_back_to_twelve_labels():
    index = pd.DataFrame({"word": ["yes", "bed", "cat", "_silence_"], "label": ["yes", "unknown", "unknown", "silence"]})
    t = fold.make_targets(index, "words")
    assert t.names == ("_silence_", "bed", "cat", "yes")
    assert t.to_labels.sum(1).tolist() == [1, 1, 1, 1]
    assert t.to_labels[:, LABEL_INDEX["unknown"]].sum() == 2
    np.testing.assert_array_equal(fold.target_ids(index, t), [3, 1, 2, 0])


def test_settings_from_set_are_typed_and_checked(tone_project):
    p = plan(tone_project, values={"lr": 0.01, "balance": "weights", "aug.snr_db": [0, 5], "dropout": 0.1})
    assert p.train.lr == 0.01 and p.train.balance == "weights" and p.train.aug.snr_db == (0.0, 5.0)
    assert p.params.dropout == 0.1 and p.sources["params.dropout"] == "typed (SET)"
    with pytest.raises(SettingsError, match="not a training setting nor a parameter of crnn_resnet"):
        plan(tone_project, values={"lrr": 1})


def test_cli_errors_are_one_clear_line(tone_project, capsys):
    assert train.main(["--models", "crnn_resnett", "--profile", "toy"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'crnn_resnett'" in err and "Traceback" not in err
    assert train.main(["--models", "crnn_resnet", "--n-mels", "13"]) == 2
    assert "make features N_MELS=13" in capsys.readouterr().err


def test_folds_from_other_data_are_refused(tone_project, capsys):
    _, folds = tone_project.load()
    tone_project.folds_path.write_text(folds.iloc[1:].to_csv(index=False))
    assert train.main(["--models", "crnn_resnet", "--profile", "toy"]) == 2
    assert "other data" in capsys.readouterr().err


def test_balanced_epochs_give_every_label_the_median_count():
    labels = np.array([LABEL_INDEX["yes"]] * 10 + [LABEL_INDEX["no"]] * 4 + [LABEL_INDEX["unknown"]] * 100)
    rows = np.arange(len(labels))
    rng = np.random.default_rng(0)
    a = fold.epoch_rows(labels, rows, TrainSettings(balance="balanced"), rng)
    counts = np.bincount(labels[a], minlength=12)
    assert counts[LABEL_INDEX["yes"]] == counts[LABEL_INDEX["no"]] == counts[LABEL_INDEX["unknown"]] == 10
    assert set(np.flatnonzero(labels == LABEL_INDEX["no"])) <= set(a)  # every small-label clip is in
    assert len(set(a[labels[a] == LABEL_INDEX["unknown"]])) == 10  # big labels without repeats


@pytest.mark.slow
def test_the_cli_trains_and_prints_where_each_setting_came_from(tone_project, capsys):
    assert train.main(["--models", "cnn_resnet", "--profile", "toy", "--folds", "0", "--epochs", "1",
                       "--set", "batch_size=32", "tta=1", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "defaults < policy < tuned < typed" in out
    assert "typed (EPOCHS): epochs=1" in out and "typed (SET): batch_size=32 tta=1" in out
    assert "cnn_resnet: profile toy" in out
    run_dir = next(Path("artifacts/runs/cnn_resnet").iterdir())
    assert json.loads((run_dir / "cv.json").read_text())["folds_trained"] == [0]


# --- nothing of a validation fold reaches its fold model ------------------------------------------


class Seen(Exception):
    """Raised by a spy once it has what the test needs: the fold need not train any further."""


def spy_fold(data, k, monkeypatch, s=None, stop: str | None = None) -> dict:
    """Train fold `k` of `data` (toy size) and record what the model was given: the rows of every
    training epoch, the normalisation statistics, the noise bank (`stop` at "norm" or "bank" ends
    the fold as soon as that is known)."""
    seen = {"epochs": []}
    real_rows, real_norm, real_aug = fold.epoch_rows, fold.inference_model, fold.training_model

    def rows(labels, rows, s, rng):
        out = real_rows(labels, rows, s, rng)
        seen["epochs"].append(out)
        return out

    def norm(body, mean, std, *front):
        seen["mean"], seen["std"] = mean, std
        if stop == "norm":
            raise Seen
        return real_norm(body, mean, std, *front)

    def aug(model, a, bank, seed):
        seen["bank"] = np.asarray(bank)
        if stop == "bank":
            raise Seen
        return real_aug(model, a, bank, seed)

    with monkeypatch.context() as m:
        m.setattr(fold, "epoch_rows", rows)
        m.setattr(fold, "inference_model", norm)
        m.setattr(fold, "training_model", aug)
        from models import registry

        with contextlib.suppress(Seen):
            fold.train_fold("cnn_resnet", registry.get("cnn_resnet").TOY, s or TrainSettings(epochs=2, batch_size=32, tta=1),
                            data, k, verbose=0, predict_test=False)
    return seen


@pytest.mark.slow
def test_a_fold_model_never_trains_on_its_validation_rows(tone_project, monkeypatch):
    cache, folds = tone_project.load()
    data = fold.load_fold_data(cache, folds)
    for k in range(3):
        val = set(np.flatnonzero(data.fold == k))
        seen = spy_fold(data, k, monkeypatch, TrainSettings(epochs=2, batch_size=64, tta=1, balance="balanced"))
        assert len(seen["epochs"]) >= 2
        for epoch in seen["epochs"]:
            assert len(epoch) and not set(epoch) & val


def test_normalisation_statistics_ignore_the_validation_rows(tone_project, monkeypatch):
    cache, folds = tone_project.load()
    data = fold.load_fold_data(cache, folds)
    val = data.fold == 1
    poisoned = fold.FoldData(**{**vars(data), "x": np.where(val[:, None, None], data.x + 500.0, data.x)})
    logmel = TrainSettings(epochs=2, batch_size=32, tta=1, frontend="logmel")  # the statistics of the dB values
    clean = spy_fold(data, 1, monkeypatch, logmel, stop="norm")
    dirty = spy_fold(poisoned, 1, monkeypatch, logmel, stop="norm")
    assert dirty["mean"] == pytest.approx(clean["mean"]) and dirty["std"] == pytest.approx(clean["std"])
    leaked = spy_fold(poisoned, 0, monkeypatch, logmel, stop="norm")  # fold 1 is training data here: it must move the mean
    assert leaked["mean"] > clean["mean"] + 50


def test_the_noise_bank_holds_no_recording_of_the_validation_silence(tone_project, monkeypatch):
    cache, folds = tone_project.load()
    data = fold.load_fold_data(cache, folds)
    sources = data.noise_index["source"].to_numpy()
    marked = np.zeros_like(data.noise)
    for i, src in enumerate(sorted(set(sources))):
        marked[sources == src] = i + 1  # each recording's windows carry its number
    data = fold.FoldData(**{**vars(data), "noise": marked})
    names = sorted(set(sources))
    held_somewhere = False
    for k in range(3):
        speakers = set(data.index["speaker"][data.fold == k])
        held = {seg[0] for sp in speakers if (seg := features.silence_segment(sp))}  # 3 s recordings: one segment each
        held_somewhere |= bool(held)
        in_bank = {names[int(v) - 1] for v in np.unique(spy_fold(data, k, monkeypatch, stop="bank")["bank"][:, 0, 0])}
        assert not in_bank & held and in_bank == set(names) - held
    assert held_somewhere  # the check above had something to find


def test_silence_segments_leave_every_noise_type_in_every_fold_bank_but_no_validation_window():
    """Recordings of 40 s cut into 10 s segments, the segments spread over 3 folds: each fold's
    bank holds windows of every recording, none overlapping a segment whose silence it validates on."""
    segs = features.recording_segments(40 * 16_000, 10.0)
    assert len(segs) == 4
    speakers = [f"noise-{name}@{a / 16_000:g}-{b / 16_000:g}" for name in ("tap", "bike") for a, b in segs]
    index = pd.DataFrame({"speaker": speakers + ["spk1", "spk2"], "label": ["silence"] * 8 + ["yes", "no"]})
    fold_of = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    starts = np.arange(0, 39.5, 0.5)
    noise_index = pd.DataFrame({"source": np.repeat(["tap", "bike"], len(starts)), "start_s": np.tile(starts, 2)})
    noise = np.arange(len(noise_index), dtype=np.float32)[:, None, None]  # each window carries its row
    data = fold.FoldData(np.zeros((10, 1, 1), np.float16), index, fold_of, np.zeros((0, 1, 1)), noise, noise_index)
    for k in range(3):
        bank = noise_index.iloc[fold.fold_noise(data, np.flatnonzero(fold_of == k))[:, 0, 0].astype(int)]
        assert set(bank["source"]) == {"tap", "bike"}  # every noise type, in every fold
        for sp in index["speaker"][fold_of == k]:
            if (seg := features.silence_segment(sp)) is not None:
                name, lo, hi = seg
                overlap = (bank["source"] == name) & (bank["start_s"] < hi) & (bank["start_s"] + 1 > lo)
                assert not overlap.any(), (k, sp)


# --- per-epoch curves, TensorBoard and fold workers ----------------------------------------------


@pytest.mark.slow
def test_an_interrupted_fold_keeps_its_per_epoch_curves(tone_project, monkeypatch):
    real = run.train_fold

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    def interrupted_in_fold_1(name, params, s, data, k, callbacks=(), **kw):
        extra = (StopAfterFirstEpoch(),) if k == 1 else ()
        return real(name, params, s, data, k, callbacks=(*callbacks, *extra), **kw)

    monkeypatch.setattr(run, "train_fold", interrupted_in_fold_1)
    with pytest.raises(KeyboardInterrupt):
        train_it(tone_project, values={"epochs": 2})
    out = next(Path("artifacts/runs/crnn_resnet").iterdir())
    live = pd.read_csv(out / "fold_1.history.csv")
    assert len(live) == 1 and {"loss", "val_accuracy", "val_loss"} <= set(live.columns)
    assert not (out / "fold_1").exists()
    assert not (out / "fold_0.history.csv").exists() and len(pd.read_csv(out / "fold_0" / "history.csv")) == 2


@pytest.mark.slow
def test_tensorboard_logs_each_fold(tone_project):
    from conftest import BACKEND

    if BACKEND != "tensorflow":  # TensorFlow is hidden there: TENSORBOARD=1 is refused before any work
        from competition.settings import SettingsError

        with pytest.raises(SettingsError, match="TENSORBOARD=1 needs TensorFlow"):
            train.check_tensorboard()
        return
    out = run.train_run(plan(tone_project, "cnn_resnet", {"epochs": 1}), tone_project, only_folds=[0], log=quiet,
                        verbose=0, tensorboard=True)
    assert list((out / "tensorboard" / "fold_0").rglob("events.out.tfevents.*"))


def test_workers_start_on_evenly_spaced_folds():
    assert train.rotations([0, 1, 2, 3, 4], 2) == [[0, 1, 2, 3, 4], [2, 3, 4, 0, 1]]
    assert train.rotations([3, 4], 4) == [[3, 4], [4, 3]]  # never more workers than folds


def test_worker_commands_drop_the_options_they_replace():
    from models.workers import strip_options

    argv = ["--models", "a", "b", "--folds", "0", "1", "--workers=2", "--epochs", "3", "--workers", "2"]
    assert strip_options(argv, ("--folds", "--workers")) == ["--models", "a", "b", "--epochs", "3"]


@pytest.mark.slow
def test_workers_train_every_fold_once_in_parallel_processes(tone_project, capfd):
    assert train.main(["--models", "cnn_resnet", "--profile", "toy", "--epochs", "1", "--set", "batch_size=32",
                       "tta=1", "--verbose", "0", "--workers", "2"]) == 0
    out = capfd.readouterr().out
    assert "worker 1/2: pid" in out and "worker 2/2: pid" in out
    assert sorted(line.split(":")[0] for line in out.splitlines() if ": training on " in line) == \
        ["cnn_resnet fold 1/3", "cnn_resnet fold 2/3", "cnn_resnet fold 3/3"]
    run_dir = next(Path("artifacts/runs/cnn_resnet").iterdir())
    cv = json.loads((run_dir / "cv.json").read_text())
    assert cv["complete"] and cv["folds_trained"] == [0, 1, 2]
    assert "cnn_resnet: CV accuracy" in out.splitlines()[-1]


def test_prediction_in_chunks_equals_prediction_at_once_on_a_memory_mapped_float16_test_set(tmp_path):
    """Kaggle's test set is predicted a chunk at a time straight from the cache's float16 memory
    map: 23 clips in chunks of 5 (the last one short) give the same TTA-averaged probabilities
    as one float32 array in one piece."""
    import keras

    from competition.labels import LABELS
    from models.settings import TrainSettings

    keras.utils.set_random_seed(0)
    inp = keras.Input((101, 40))
    body = keras.Model(inp, keras.layers.Dense(len(LABELS), activation="softmax")(
        keras.layers.Flatten()(keras.layers.Conv1D(4, 3)(inp))))
    model = fold.inference_model(body, -50.0, 20.0)
    x = np.random.default_rng(0).uniform(-90, 0, (23, 101, 40)).astype(np.float16)
    np.save(tmp_path / "test.npy", x)
    mapped = np.load(tmp_path / "test.npy", mmap_mode="r")
    s = TrainSettings(tta=3)
    t = fold.make_targets(None, "labels")
    whole = fold.predict(model, x.astype(np.float32), s, t, chunk=1000)
    chunked = fold.predict(model, mapped, s, t, chunk=5)
    assert chunked.shape == (23, len(LABELS)) and chunked.dtype == np.float32
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    np.testing.assert_allclose(chunked.sum(axis=1), 1.0, atol=1e-5)


def test_normalisation_computes_in_float32_under_mixed_precision():
    """dB values near -60 lose ~0.1 dB in bfloat16: under a mixed policy the normalising layer
    still subtracts the mean in float32, and the model's first layer gets the exact values."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        inp = keras.Input((101, 40))
        body = keras.Model(inp, keras.layers.Dense(12)(inp))
        model = fold.inference_model(body, -50.0, 20.0)
        normalise = keras.Model(model.input, model.get_layer("normalise").output)
        x = np.full((1, 101, 40), -63.37, np.float32)
        out = np.asarray(normalise.predict(x, verbose=0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (-63.37 + 50.0) / 20.0, rtol=1e-6)
