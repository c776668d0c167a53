"""Every registry model, at its TOY size: shape, finiteness, learning, and save/load."""

from __future__ import annotations

import keras
import numpy as np
import optuna
import pytest

from models import registry

SHAPE = (101, 40)
N_CLASSES = 12


def toy_batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *SHAPE)).astype("float32")
    y = np.eye(N_CLASSES, dtype="float32")[rng.integers(0, N_CLASSES, n)]
    return x, y


@pytest.fixture(params=sorted(registry.MODELS))
def name(request):
    return request.param


def build(name, seed=0):
    keras.utils.set_random_seed(seed)
    return registry.get(name).build(registry.params_for(name, "toy"), SHAPE, N_CLASSES)


def test_output_is_a_probability_per_class(name):
    model = build(name)
    x, _ = toy_batch()
    p = np.asarray(model(x, training=False))
    assert p.shape == (len(x), N_CLASSES)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-4)


def learnable_batch(n=48, seed=0):
    """Noise spectrograms where class c raises mel bands 3c..3c+2: any model can learn it fast."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % N_CLASSES
    x = rng.normal(size=(n, *SHAPE)).astype("float32")
    for i, c in enumerate(labels):
        x[i, :, 3 * c : 3 * c + 3] += 3.0
    return x, np.eye(N_CLASSES, dtype="float32")[labels]


@pytest.mark.slow
def test_training_steps_lower_the_loss(name):
    """Gradient steps, not just batch-norm statistics catching up, lower the loss: the control
    sees the same batches in training mode (its statistics move) but takes no step."""
    x, y = learnable_batch()
    loss = keras.losses.CategoricalCrossentropy()
    control = build(name)
    for _ in range(40):
        control(x, training=True)
    model = build(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    for _ in range(40):
        model.train_on_batch(x, y)
    untrained = float(loss(y, control(x, training=False)))
    trained = float(model.evaluate(x, y, verbose=0))
    assert np.isfinite(trained) and trained < 0.8 * untrained, (trained, untrained)


def test_save_and_load_give_the_same_predictions(name, tmp_path):
    model = build(name)
    x, _ = toy_batch()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)),
                               rtol=1e-5, atol=1e-6)


def test_every_model_keeps_the_contract(name):
    """registry.ModelModule: the interface, frozen Params with defaults, no name clashing with
    a training setting, probabilities for any number of classes (31 with word targets)."""
    module = registry.get(name)
    assert registry.contract_problems(name, module) == []
    params = module.search_space(optuna.trial.FixedTrial(_first_choices(module)))
    assert isinstance(params, module.Params)
    keras.utils.set_random_seed(0)
    words = module.build(module.TOY, SHAPE, 31)
    p = np.asarray(words(toy_batch()[0], training=False))
    assert p.shape == (16, 31) and np.allclose(p.sum(axis=1), 1, rtol=1e-4) and (p >= 0).all()


def test_the_contract_check_finds_a_broken_module():
    import types
    from dataclasses import dataclass

    @dataclass
    class Params:
        lr: float = 0.1
        width: int = 8

    broken = types.SimpleNamespace(Params=Params, TOY=Params(), CPU=None, build=lambda *a: None,
                                   search_space=lambda trial: Params(lr=trial.suggest_float("epochs", 0, 1)))
    assert registry.contract_problems("broken", broken) == ["broken.Params is not a frozen dataclass"]
    Frozen = dataclass(frozen=True)(type("Params", (), {"__annotations__": {"lr": float}, "lr": 0.1}))
    broken = types.SimpleNamespace(Params=Frozen, TOY=Frozen(), CPU=None, build=lambda *a: None,
                                   search_space=lambda trial: Frozen(lr=trial.suggest_float("epochs", 0, 1)))
    problems = registry.contract_problems("broken", broken)
    assert "broken.CPU is not a broken.Params" in problems
    assert "broken.Params fields named like training settings: ['lr']" in problems
    assert "broken.search_space suggests names of training settings: ['epochs']" in problems
    assert registry.contract_problems("empty", types.SimpleNamespace()) == [
        "empty lacks Params, CPU, TOY, build, search_space"]


def test_the_demo_and_benchmark_lists_come_from_the_modules(monkeypatch):
    import toy_model

    monkeypatch.setattr(toy_model, "DEMO", True, raising=False)
    monkeypatch.setitem(registry.MODELS, "toy_dense", toy_model)
    assert registry.demo_models()[-1] == "toy_dense" and "toy_dense" in registry.default_models()
    monkeypatch.setattr(toy_model, "BASELINE", True, raising=False)
    assert "toy_dense" in registry.baselines() and "toy_dense" not in registry.default_models()


def _first_choices(module):
    """A FixedTrial answer for every suggestion of `search_space`, found by asking a study."""
    import optuna

    study = optuna.create_study()
    trial = study.ask()
    module.search_space(trial)
    return trial.params


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(registry.UnknownModelError) as e:
        registry.get("crnn_resnett")
    assert "crnn_resnet" in str(e.value) and "unknown model" in str(e.value)


def test_baselines_are_left_out_of_the_default_models():
    defaults = registry.default_models()
    assert "tutorial_cnn" not in defaults and "crnn_plain" not in defaults
    assert {"crnn_vgg", "crnn_inception", "crnn_resnet", "cnn_resnet", "bc_resnet"} <= set(defaults)


def test_params_overrides_from_json_types():
    p = registry.params_for("crnn_resnet", "toy", {"filters": [8, 16], "gru_units": 4})
    assert p.filters == (8, 16) and p.gru_units == 4
    with pytest.raises(ValueError, match="no parameter"):
        registry.params_for("crnn_resnet", "toy", {"nope": 1})


@pytest.mark.parametrize("freq", [20, 10, 5])
def test_bc_resnet_frequency_stride_equals_a_strided_depthwise_convolution(freq):
    """The portable form (stride-1 conv, then every second band) gives what
    `DepthwiseConv2D((1, 3), strides=(1, 2), padding="same")` gives, checked against NumPy
    (TensorFlow's own kernel refuses that stride without oneDNN, so it cannot be the reference)."""
    from models.bc_resnet import freq_depthwise

    rng = np.random.default_rng(freq)
    x = rng.normal(size=(2, 7, freq, 3)).astype("float32")
    inp = keras.Input(x.shape[1:])
    model = keras.Model(inp, freq_depthwise(inp, 2))
    kernel = model.layers[1].get_weights()[0]  # (1, 3, channels, 1)
    out = -(-freq // 2)
    pad_total = max((out - 1) * 2 + 3 - freq, 0)
    padded = np.pad(x, ((0, 0), (0, 0), (pad_total // 2, pad_total - pad_total // 2), (0, 0)))
    want = np.stack([(padded[:, :, 2 * j : 2 * j + 3, :] * kernel[0, :, :, 0]).sum(axis=2) for j in range(out)], axis=2)
    np.testing.assert_allclose(np.asarray(model(x)), want, rtol=1e-5, atol=1e-5)


def test_the_suite_runs_with_the_strictest_tensorflow_kernels():
    """oneDNN accepts layer forms that TensorFlow's own kernels refuse, and it is on by default
    only on some CPUs; the suite runs with it off, so a model that needs it fails here too."""
    import os

    assert os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0"
