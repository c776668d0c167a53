"""The front-ends of models/frontend.py: PCEN as librosa computes it, what it is for (the
level of a clip and a stationary background nearly vanish), and a PCEN run that saves its
front-end inside its models."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import FAST, quiet

from models import fold, frontend
from models.plan import Typed, plan_run
from models.run import run_record, train_run


def pcen(db: np.ndarray, hop_ms: float = 10.0) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(frontend.PCEN(db.shape[1], hop_ms)(db)))


def test_pcen_equals_librosa_pcen_with_its_state_started_at_the_first_frame():
    import librosa
    import scipy.signal

    rng = np.random.default_rng(0)
    power = (10.0 ** rng.uniform(-9, 0, (3, 101, 16))).astype(np.float32)
    b = frontend.smoothing_coefficient(0.4, 10.0)
    expected = np.stack([librosa.pcen(p.T, sr=16_000, hop_length=160, gain=0.98, bias=2.0, power=0.5,
                                      time_constant=0.4, eps=1e-6,
                                      zi=scipy.signal.lfilter_zi([b], [1, b - 1]) * p.T[:, :1]).T for p in power])
    np.testing.assert_allclose(pcen(10 * np.log10(power)), expected, rtol=1e-4, atol=1e-5)


def test_pcen_nearly_ignores_a_clips_level_and_sinks_a_steady_background():
    rng = np.random.default_rng(1)
    db = np.full((1, 101, 16), -40.0, np.float32) + rng.normal(0, 1, (1, 101, 16)).astype(np.float32)
    db[:, 50:60] += 30.0  # a word over a steady background
    quiet_out, loud_out = pcen(db), pcen(db + 20.0)
    # log-mel moves by 20 dB everywhere; PCEN by the 20 dB to the power 1 - gain (~10%)
    assert np.abs(loud_out - quiet_out).max() < 0.12 * np.abs(quiet_out).max()
    background, word = quiet_out[0, 20:50].mean(), quiet_out[0, 50:60].mean()
    assert word > 5 * background  # (in dB the word is -10 against -40)


def test_the_logmel_front_end_is_the_normalised_db_values_and_an_unknown_one_is_refused():
    x = np.random.default_rng(2).uniform(-90, 0, (20, 101, 8)).astype(np.float32)
    assert frontend.statistics("logmel", x, 10.0) == pytest.approx((x.mean(), x.std() + 1e-6), rel=1e-5)
    mean, std = frontend.statistics("pcen", x, 10.0)
    assert mean == pytest.approx(pcen(x).mean(), rel=1e-4) and std == pytest.approx(pcen(x).std(), rel=1e-3)
    with pytest.raises(ValueError, match="known: logmel, pcen"):
        frontend.front("mfcc", 101, 10.0)


def test_a_pcen_inference_model_keeps_its_front_end_through_save_and_load(tmp_path):
    keras.utils.set_random_seed(0)
    inp = keras.Input((101, 8))
    body = keras.Model(inp, keras.layers.Dense(12, activation="softmax")(keras.layers.Flatten()(inp)))
    model = fold.inference_model(body, 0.3, 0.8, "pcen", 10.0)
    x = np.random.default_rng(3).uniform(-90, 0, (4, 101, 8)).astype(np.float32)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert any(isinstance(layer, frontend.PCEN) for layer in loaded.layers)
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_default_run_trains_a_pcen_model_and_set_frontend_logmel_names_another_run(tone_project):
    inputs = tone_project
    default = plan_run("crnn_resnet", inputs, "cpu", Typed(FAST, profile="toy"))
    logmel = plan_run("crnn_resnet", inputs, "cpu", Typed({**FAST, "frontend": "logmel"}, profile="toy"))
    assert logmel.train.frontend == "logmel" and logmel.sources["train.frontend"] == "typed (SET)"
    assert run_record(default, inputs, "cpu").run_id != run_record(logmel, inputs, "cpu").run_id
    run = train_run(default, inputs, only_folds=[0], log=quiet, verbose=0)
    record = json.loads((run / "params.json").read_text())
    assert record["train"]["frontend"] == "pcen" and record["sources"]["train.frontend"] == "default"
    model = keras.saving.load_model(run / "fold_0" / "model.keras")
    assert [layer.name for layer in model.layers if isinstance(layer, frontend.PCEN)] == ["pcen"]
    norm = model.get_layer("normalise")
    assert 0 < float(np.ravel(keras.ops.convert_to_numpy(norm.mean))[0]) < 5  # PCEN values, not dB (~ -50)

def test_learned_pcen_starts_as_fixed_pcen_and_its_band_parameters_train_and_save(tmp_path):
    x = np.random.default_rng(4).uniform(-90, -10, (8, 101, 6)).astype(np.float32)
    learned = frontend.PCEN(101, 10.0, learn=True)
    np.testing.assert_allclose(np.asarray(keras.ops.convert_to_numpy(learned(x))), pcen(x), rtol=1e-5, atol=1e-6)
    assert sorted(w.path.split("/")[-1] for w in learned.trainable_weights) == ["log_bias", "log_gain", "log_power"]
    inp = keras.Input((101, 6))
    model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(learned(inp))))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in learned.trainable_weights]
    model.train_on_batch(x, np.ones((8, 1), np.float32))
    after = [np.array(keras.ops.convert_to_numpy(w)) for w in learned.trainable_weights]
    assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before, strict=True))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
