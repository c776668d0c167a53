"""Blending finished runs: each method on synthetic runs with a known answer, honest (nested)
scoring, the refusal to mix runs of different folds or data, prior-shift correction, and
`make ensemble` end to end on synthetic run folders (no training)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synthetic_runs as synthetic

from competition import calibration, metrics
from competition.labels import LABEL_INDEX, LABELS, SILENCE, UNKNOWN
from competition.workspace import Workspace
from submissions import blend, ensemble, priors, runs
from submissions.blend import BlendSettings, MethodScore
from submissions.runs import BlendError

C = len(LABELS)


def _folds(n: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Speaker-grouped folds: 6 clips per speaker on average, speakers dealt to folds."""
    speakers = rng.integers(0, n // 6, size=n)
    return rng.permutation(n // 6)[speakers] % n_folds


@pytest.fixture(scope="module")
def three() -> dict:
    """Two calibrated runs of equal strength with independent errors, and one pure-noise run."""
    rng = np.random.default_rng(7)
    n = 1500
    p_train = synthetic.skewed_priors(0.6)
    y = rng.choice(C, size=n, p=p_train)
    P = np.stack([synthetic.calibrated(y, 1.6, p_train, np.random.default_rng(1)),
                  synthetic.calibrated(y, 1.6, p_train, np.random.default_rng(2)),
                  synthetic.noise(n, np.random.default_rng(3))])
    return {"P": P, "y": y, "fold": _folds(n, 5, rng)}


# --- the methods ------------------------------------------------------------------------


def test_mean_and_logmean_on_a_known_example():
    P = np.array([[[0.8, 0.2]], [[0.2, 0.8]], [[0.5, 0.5]]])[:2]  # two runs, one clip, two classes
    assert np.allclose(blend.apply(blend.fit("mean", P, np.array([0])), P), [[0.5, 0.5]])
    P = np.array([[[0.9, 0.1]], [[0.1, 0.9]]])
    geo = np.sqrt([0.9 * 0.1, 0.1 * 0.9])
    assert np.allclose(blend.apply(blend.fit("logmean", P, np.array([0])), P), [geo / geo.sum()])
    P = np.array([[[0.6, 0.4]], [[0.9, 0.1]]])
    geo = np.sqrt([0.6 * 0.9, 0.4 * 0.1])
    out = blend.apply(blend.fit("logmean", P, np.array([0])), P)
    assert np.allclose(out, [geo / geo.sum()]) and np.allclose(out.sum(axis=1), 1)


def test_logmean_survives_zero_probabilities():
    P = np.array([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]])
    out = blend.apply(blend.fit("logmean", P, np.array([0])), P)
    assert np.isfinite(out).all() and np.allclose(out.sum(), 1)


def test_weights_give_the_noise_run_no_weight(three):
    w = blend.fit("weights", three["P"], three["y"]).weights
    assert w.shape == (3,) and np.isclose(w.sum(), 1) and (w >= 0).all()
    assert w[2] < 0.02, w
    assert 0.3 < w[0] < 0.7 and 0.3 < w[1] < 0.7, w  # two equally good runs share the weight


@pytest.mark.parametrize("metric", ["log_loss", "accuracy"])
def test_caruana_gives_the_noise_run_no_weight(three, metric):
    w = blend.fit("caruana", three["P"], three["y"], BlendSettings(caruana_metric=metric)).weights
    assert np.isclose(w.sum(), 1) and w[2] < 0.05, w
    assert w[0] > 0.2 and w[1] > 0.2, w


@pytest.mark.parametrize("metric", ["log_loss", "accuracy"])
@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_caruana_never_picks_the_noise_run_first(three, metric, order):
    P = three["P"][list(order)]
    noise_at = order.index(2)
    for subset in ([0, 1, 2], [noise_at, (noise_at + 1) % 3], [noise_at, (noise_at + 2) % 3]):
        first = blend._greedy(P[subset], three["y"], 1, metric)
        assert subset[int(np.argmax(first))] != noise_at


def test_caruana_is_reproducible(three):
    a = blend.fit("caruana", three["P"], three["y"]).weights
    b = blend.fit("caruana", three["P"], three["y"]).weights
    assert np.array_equal(a, b)


def test_blends_beat_each_single_run_when_errors_are_independent(three):
    P, y, fold = three["P"], three["y"], three["fold"]
    best_single = max(metrics.accuracy(p, y) for p in P)
    scores = {s.method: s for s in blend.evaluate(P, y, fold)}
    for m in ("weights", "caruana", "stack"):
        assert scores[m].accuracy > best_single + 0.02, (m, scores[m].accuracy, best_single)
    # without the noise run even the fixed means win
    good = blend.evaluate(P[:2], y, fold, methods=("mean", "logmean"))
    assert all(s.accuracy > best_single + 0.02 for s in good)


def test_stack_is_scored_honestly_where_it_overfits():
    """One weak run among 12 noise runs on 300 clips: 156 features, room to memorise."""
    rng = np.random.default_rng(11)
    n = 300
    y = rng.choice(C, size=n, p=synthetic.skewed_priors(0.6))
    P = np.stack([synthetic.calibrated(y, 1.2, synthetic.skewed_priors(0.6), rng),
                  *[synthetic.noise(n, rng) for _ in range(12)]])
    fold = _folds(n, 5, rng)
    in_sample = metrics.accuracy(blend.apply(blend.fit("stack", P, y), P), y)
    scores = {s.method: s for s in blend.evaluate(P, y, fold, methods=("stack", "weights"))}
    single = metrics.accuracy(P[0], y)
    # scored on its own rows the stack looks perfect and would beat the one real run ...
    assert in_sample > single + 0.2 and in_sample > scores["stack"].accuracy + 0.2
    # ... honestly it is worse than that run, and selection prefers the weights (which drop the noise)
    assert scores["stack"].accuracy < single
    assert blend.choose(list(scores.values())).method == "weights"
    assert np.isclose(scores["stack"].accuracy, metrics.accuracy(blend.honest_predictions("stack", P, y, fold), y))


def test_honest_predictions_never_fit_on_the_rows_they_predict(three, monkeypatch):
    P, y, fold = three["P"].astype(np.float64).copy(), three["y"], three["fold"]
    P[0, :, 0] = np.arange(len(y)) + 10.0  # row ids, readable from whatever rows a fitter receives
    fitted_on = []

    def spy(P_fit, y_fit, s, w):
        fitted_on.append(set(P_fit[0, :, 0].astype(int) - 10))
        return blend.Blender("spy", "linear", np.full(len(P_fit), 1 / len(P_fit)))

    monkeypatch.setitem(blend.REGISTRY, "weights", blend.Method("weights", spy, True, True, "spy"))
    blend.honest_predictions("weights", P, y, fold)
    assert len(fitted_on) == len(np.unique(fold))
    for k, rows in zip(np.unique(fold), fitted_on, strict=True):
        held = set(np.flatnonzero(fold == k))
        assert rows and not rows & held and rows | held == set(range(len(y)))


def _majority_and_minority_runs(n: int = 2400, seed: int = 0):
    """OOF rows that are 70% `unknown` (as Kaggle's train set is) and two runs: `majority` right
    on every unknown row and on a third of the rest, `minority` right on 70% of every class."""
    rng = np.random.default_rng(seed)
    unknown = C - 1
    y = np.where(rng.random(n) < 0.7, unknown, rng.integers(0, C - 1, n))

    def run(right):
        guess = np.where(right, y, (y + 1 + rng.integers(0, C - 1, n)) % C)
        return np.eye(C)[guess] * 0.8 + 0.2 / C

    majority = run(np.where(y == unknown, True, rng.random(n) < 1 / 3))
    minority = run(rng.random(n) < 0.7)
    return np.stack([majority, minority]), y, _folds(n, 5, rng)


def test_test_weights_give_the_rows_the_test_priors():
    y = np.array([0, 0, 0, 1])
    w = metrics.test_weights(y, n_classes=2)
    assert np.allclose(w.mean(), 1) and np.isclose(w[y == 0].sum(), w[y == 1].sum())  # balanced
    w = metrics.test_weights(y, np.array([0.2, 0.8]), n_classes=2)
    assert np.isclose(w[y == 1].sum() / w.sum(), 0.8)
    w = metrics.test_weights(np.array([0, 0, 2]), n_classes=3)  # class 1 has no rows: the others share its weight
    assert np.isclose(w[:2].sum(), w[2])
    probs = np.eye(2)[[0, 0, 0, 0]]  # right on every class-0 row, wrong on the class-1 row
    assert metrics.accuracy(probs, y) == 0.75 and metrics.test_distribution_accuracy(probs, y) == 0.5


def test_blend_choices_are_made_for_the_test_distribution_not_the_oof_rows():
    P, y, fold = _majority_and_minority_runs()
    w = metrics.test_weights(y)
    assert metrics.accuracy(P[0], y) > metrics.accuracy(P[1], y)  # raw OOF accuracy prefers the majority run
    assert metrics.accuracy(P[0], y, w) < metrics.accuracy(P[1], y, w)  # the test distribution the other
    for method in ("weights", "caruana"):
        raw, balanced = blend.fit(method, P, y).weights, blend.fit(method, P, y, w=w).weights
        assert balanced[1] > raw[1] and balanced[1] > 0.5, (method, raw, balanced)
    stack_raw, stack_bal = blend.fit("stack", P, y), blend.fit("stack", P, y, w=w)
    assert metrics.accuracy(blend.apply(stack_bal, P), y, w) > metrics.accuracy(blend.apply(stack_raw, P), y, w)
    result = blend.blend(P, y, fold, P, w=w)
    assert result.chosen.test_accuracy == max(sc.test_accuracy for sc in result.scores)
    assert np.isclose(result.chosen.test_accuracy, metrics.accuracy(result.chosen.oof, y, w))


def test_auto_picks_best_test_distribution_accuracy_then_log_loss_then_the_simpler_method():
    def sc(m, acc, ll, raw=0.5):  # raw accuracy and log loss over the OOF rows as they are: not chosen by
        return MethodScore(m, raw, 1.0, {}, np.zeros((1, C)), acc, ll)

    assert blend.choose([sc("mean", 0.90, 0.3), sc("stack", 0.91, 0.5)]).method == "stack"
    assert blend.choose([sc("mean", 0.90, 0.3, raw=0.99), sc("stack", 0.91, 0.5, raw=0.80)]).method == "stack"
    assert blend.choose([sc("mean", 0.91, 0.3), sc("weights", 0.91, 0.2)]).method == "weights"
    assert blend.choose([sc("mean", 0.91, 0.3), sc("weights", 0.91, 0.3)]).method == "mean"
    assert blend.choose([sc("mean", 0.91, 0.3), sc("stack", 0.95, 0.1)], "mean").method == "mean"


def test_blend_refits_the_chosen_method_on_all_rows(three):
    P, y, fold = three["P"], three["y"], three["fold"]
    result = blend.blend(P, y, fold, P[:, :50], method="weights")
    assert result.chosen.method == "weights" and result.blender.method == "weights"
    assert np.allclose(result.blender.weights, blend.fit("weights", P, y).weights)
    assert result.test.shape == (50, C) and np.allclose(result.test.sum(axis=1), 1)
    assert [s.method for s in result.scores] == list(blend.METHODS)


def test_unknown_method_is_a_blend_error(three):
    with pytest.raises(BlendError, match="unknown blending method 'median'"):
        blend.blend(three["P"], three["y"], three["fold"], three["P"], method="median")


# --- prior shift --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shifted() -> dict:
    """Calibrated probabilities under training priors (unknown 60%) for a uniform test mixture."""
    rng = np.random.default_rng(5)
    p_train = synthetic.skewed_priors(0.6)
    y_test = rng.choice(C, size=6000)
    return {"probs": synthetic.calibrated(y_test, 1.5, p_train, rng), "y": y_test, "train": p_train}


def test_em_recovers_uniform_test_priors_and_raises_accuracy(shifted):
    probs, y, train = shifted["probs"], shifted["y"], shifted["train"]
    fixed, shift = priors.correct(probs, train, "em")
    truth = np.bincount(y, minlength=C) / len(y)
    assert shift.converged and shift.iterations < 1000
    assert np.max(np.abs(shift.test - truth)) < 0.03, shift.test.round(3)
    assert abs(shift.test[LABEL_INDEX[UNKNOWN]] - 1 / C) < 0.03
    assert metrics.accuracy(fixed, y) > metrics.accuracy(probs, y) + 0.05
    assert np.allclose(fixed.sum(axis=1), 1) and (shift.test > 0).all() and np.isclose(shift.test.sum(), 1)


def test_uniform_priors_also_help_and_none_changes_nothing(shifted):
    probs, y, train = shifted["probs"], shifted["y"], shifted["train"]
    uniform, shift = priors.correct(probs, train, "uniform")
    assert np.allclose(shift.test, 1 / C)
    assert metrics.accuracy(uniform, y) > metrics.accuracy(probs, y) + 0.05
    same, shift = priors.correct(probs, train, "none")
    assert np.array_equal(same, probs) and shift.mode == "none"


def test_em_on_underconfident_probabilities_needs_calibration(shifted):
    """A flattened (T=2) model misleads EM; a temperature fitted on held-out train rows undoes it."""
    probs, y, train = shifted["probs"], shifted["y"], shifted["train"]
    rng = np.random.default_rng(8)
    y_oof = rng.choice(C, size=20000, p=train)  # ~700 clips per command word: biases fitted to +-0.1
    flat_oof = calibration.temper(synthetic.calibrated(y_oof, 1.5, train, rng), 2.0)
    flat_test = calibration.temper(probs, 2.0)
    cal = calibration.fit_calibration(flat_oof, y_oof)
    assert 0.4 < cal.temperature < 0.6 and np.max(np.abs(cal.bias)) < 0.15  # only sampling noise to fit
    _, naive = priors.correct(flat_test, train, "em")
    fixed, calibrated = priors.correct(flat_test, train, "em", cal)
    truth = np.bincount(y, minlength=C) / len(y)
    assert np.max(np.abs(naive.test - truth)) > 0.06  # over-shoots: some prior driven towards 0
    assert np.max(np.abs(calibrated.test - truth)) < 0.03
    assert metrics.accuracy(fixed, y) > metrics.accuracy(flat_test, y) + 0.05
    plain = calibration.fit_calibration(flat_oof, y_oof, bias=False)
    assert plain.bias is None and abs(plain.temperature - cal.temperature) < 0.05
    assert (np.argmax(calibration.temper(flat_test, plain.temperature), 1) == np.argmax(flat_test, 1)).all()


def test_em_for_a_model_trained_with_unknown_subsampled_needs_the_bias():
    """`make train` subsamples `unknown` (balance=subsample): its outputs are calibrated under
    about uniform priors, not under the OOF label shares (unknown 60%) that the reweighting
    assumes. The per-class bias fitted on OOF rows reconciles the two."""
    rng = np.random.default_rng(9)
    shares, uniform = synthetic.skewed_priors(0.6), np.full(C, 1 / C)
    y_oof = rng.choice(C, size=8000, p=shares)
    y_test = rng.choice(C, size=6000)
    oof = synthetic.calibrated(y_oof, 1.5, uniform, rng)  # the model's priors are not the label shares
    test = synthetic.calibrated(y_test, 1.5, uniform, rng)
    cal = calibration.fit_calibration(oof, y_oof)
    unknown = LABEL_INDEX[UNKNOWN]
    assert abs(cal.bias[unknown] - cal.bias[:unknown].mean() - np.log(shares[unknown] / shares[0])) < 0.3
    _, naive = priors.correct(test, shares, "em")
    fixed, calibrated = priors.correct(test, shares, "em", cal)
    assert np.max(np.abs(naive.test - uniform)) > 0.06
    assert np.max(np.abs(calibrated.test - uniform)) < 0.035
    assert metrics.accuracy(fixed, y_test) > metrics.accuracy(priors.correct(test, shares, "uniform")[0], y_test)
    # the raw outputs already suit a uniform test set: calibrated EM must not cost much
    assert metrics.accuracy(fixed, y_test) > metrics.accuracy(test, y_test) - 0.02


def test_em_without_a_shift_keeps_the_training_priors():
    rng = np.random.default_rng(6)
    p_train = synthetic.skewed_priors(0.6)
    y = rng.choice(C, size=6000, p=p_train)
    _, shift = priors.correct(synthetic.calibrated(y, 1.5, p_train, rng), p_train, "em")
    assert np.max(np.abs(shift.test - p_train)) < 0.03


def test_em_stays_positive_for_an_absent_class_and_stops_at_max_iter(shifted):
    probs, y, train = shifted["probs"], shifted["y"], shifted["train"]
    no_yes = probs[y != LABEL_INDEX["yes"]]
    est, _, _ = priors.em_priors(no_yes, train)
    assert (est > 0).all() and est[LABEL_INDEX["yes"]] < 0.03
    est, iterations, converged = priors.em_priors(probs, train, max_iter=2, tol=0.0)
    assert iterations == 2 and not converged


def test_train_priors_are_smoothed_label_shares():
    p = priors.train_priors(np.array([0, 0, 1]), 3)
    assert np.allclose(p, [2.5 / 4.5, 1.5 / 4.5, 0.5 / 4.5]) and (p > 0).all()


def test_unknown_prior_mode():
    with pytest.raises(ValueError, match="em, uniform, none"):
        priors.correct(np.full((2, C), 1 / C), np.full(C, 1 / C), "bayes")


# --- finding and cross-checking runs --------------------------------------------------------


@pytest.fixture
def world(tmp_path, monkeypatch) -> synthetic.Synthetic:
    """Synthetic runs in a project tree under tmp_path, which is the working directory."""
    monkeypatch.chdir(tmp_path)
    return synthetic.build(tmp_path, {"good_a": 1.6, "good_b": 1.6, "noise": None}, n_train=900, n_test=300)


def _edit_params(run_dir: Path, change) -> None:
    params = json.loads((run_dir / "params.json").read_text())
    change(params)
    (run_dir / "params.json").write_text(json.dumps(params))


def test_gather_loads_all_finished_runs(world):
    rs = runs.gather()
    assert sorted(r.name for r in rs.runs) == ["good_a/run000", "good_b/run001", "noise/run002"]
    assert rs.oof.shape == (3, 900, C) and rs.test.shape == (3, 300, C)
    assert np.array_equal(rs.y, world.y) and np.array_equal(rs.fold, world.fold)
    assert list(rs.test_fnames) == world.test_fnames and not rs.notes


def test_a_model_name_means_its_latest_finished_run(world):
    old = world.run_dirs["good_a"]
    newer = old.parent / "a-newer-run"  # sorts first by name: "latest" must mean finished last
    shutil.copytree(old, newer)
    os.utime(newer / "cv.json", (time.time() + 60, time.time() + 60))
    unfinished = old.parent / "run998"
    shutil.copytree(old, unfinished)
    cv = json.loads((unfinished / "cv.json").read_text())
    (unfinished / "cv.json").write_text(json.dumps({**cv, "complete": False}))
    root = Workspace().runs
    assert [p.resolve() for p in runs.resolve(["good_a"], root)] == [newer.resolve()]
    assert unfinished.resolve() not in [p.resolve() for p in runs.finished_runs(root)]
    with pytest.raises(BlendError, match="not finished"):
        runs.resolve([str(unfinished)], root)
    picked = runs.resolve(["good_a/run000, noise"], root)
    assert [p.resolve() for p in picked] == [old.resolve(), world.run_dirs["noise"].resolve()]


def test_unknown_run_name(world):
    with pytest.raises(BlendError, match="neither a run folder nor a model.*good_a"):
        runs.resolve(["crnn_nothing"], Workspace().runs)


def test_no_runs_says_to_train(tmp_path):
    with pytest.raises(BlendError, match="make train"):
        runs.gather(ws=Workspace(tmp_path))


def test_refuses_runs_of_different_folds_files(world):
    other = world.root / "artifacts" / "folds" / "other.csv"
    shutil.copy(world.root / world.folds_path, other)
    _edit_params(world.run_dirs["noise"], lambda p: p["inputs"].update(folds_path="artifacts/folds/other.csv"))
    with pytest.raises(BlendError, match="different folds files.*would see clips"):
        runs.gather()


def test_refuses_runs_of_different_data(world):
    _edit_params(world.run_dirs["good_b"], lambda p: p["inputs"].update(data_fingerprint="elsewhere"))
    with pytest.raises(BlendError, match="different data"):
        runs.gather()


def test_refuses_runs_with_different_test_clips(world):
    other = world.root / "artifacts" / "features" / "feat000002"
    other.mkdir()
    pd.DataFrame({"fname": list(reversed(world.test_fnames))}).to_csv(other / "test_index.csv", index=False)
    _edit_params(world.run_dirs["good_b"], lambda p: p["inputs"].update(features_path=str(other)))
    with pytest.raises(BlendError, match="different clip lists"):
        runs.gather()


def test_refuses_oof_rows_that_do_not_match_the_folds(world):
    oof = np.load(world.run_dirs["noise"] / "oof.npy")
    np.save(world.run_dirs["noise"] / "oof.npy", oof[:-1])
    with pytest.raises(BlendError, match="899 rows but the folds file"):
        runs.gather()


def test_refuses_other_column_orders_and_non_probabilities(world):
    _edit_params(world.run_dirs["good_a"], lambda p: p.update(labels=sorted(LABELS)))
    with pytest.raises(BlendError, match="column by column"):
        runs.gather()
    _edit_params(world.run_dirs["good_a"], lambda p: p.update(labels=list(LABELS)))
    test = np.load(world.run_dirs["good_a"] / "test.npy")
    test[0, 0] = np.nan
    np.save(world.run_dirs["good_a"] / "test.npy", test)
    with pytest.raises(BlendError, match="NaN"):
        runs.gather()


def test_refuses_params_without_the_contract_sections(world):
    _edit_params(world.run_dirs["good_a"], lambda p: p.pop("inputs"))
    with pytest.raises(BlendError, match="lacks inputs"):
        runs.gather(["good_a", "good_b"])
    _edit_params(world.run_dirs["good_a"], lambda p: p.update(schema=1))
    with pytest.raises(BlendError, match="schema 1.*retrain that run"):
        runs.gather(["good_a", "good_b"])


def test_warns_when_oof_rows_look_shuffled(world):
    oof = np.load(world.run_dirs["good_a"] / "oof.npy")
    np.save(world.run_dirs["good_a"] / "oof.npy", oof[np.random.default_rng(0).permutation(len(oof))])
    rs = runs.gather()
    assert any("rows in folds order" in n and "good_a" in n for n in rs.notes)


# --- make ensemble end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> dict:
    """One `make ensemble` on synthetic runs (with an answer key), shared by the checks below."""
    root = tmp_path_factory.mktemp("ensemble")
    world = synthetic.build(root, {"good_a": 1.6, "good_b": 1.6, "noise": None}, n_train=900, n_test=300)
    extra = Path(json.loads((root / "data" / "manifest.json").read_text())["root"]) / "test" / "audio"
    (extra / "clip_fffffffff.wav").touch()  # a clip the feature reader left out
    solution = pd.read_csv(extra.parents[1] / "test_solution.csv")
    pd.concat([solution, pd.DataFrame({"fname": ["clip_fffffffff.wav"], "label": [SILENCE]})]).to_csv(
        extra.parents[1] / "test_solution.csv", index=False)
    synthetic.restamp(root)
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        out = ensemble.ensemble(name="synth", log=lines.append)
    return {"root": root, "world": world, "out": out, "text": "\n".join(lines)}


def test_ensemble_writes_a_valid_submission(done):
    root = done["root"]
    csv = root / "artifacts" / "submissions" / "synth.csv"
    frame = pd.read_csv(csv, keep_default_na=False)
    assert list(frame.columns) == ["fname", "label"]
    assert sorted(frame["fname"]) == sorted([*done["world"].test_fnames, "clip_fffffffff.wav"])
    assert frame.set_index("fname").loc["clip_fffffffff.wav", "label"] == SILENCE
    probs = np.load(root / "artifacts" / "submissions" / "synth.npy")
    assert probs.shape == (len(frame), C)
    assert (np.asarray(LABELS)[probs.argmax(axis=1)] == frame["label"]).all()
    info = json.loads((root / "artifacts" / "submissions" / "synth.json").read_text())
    assert info["method"] == done["out"]["result"].chosen.method
    assert set(info) >= {"runs", "weights", "priors", "honest_cv", "methods", "filled_clips"}
    assert info["filled_clips"] == ["clip_fffffffff.wav"] and info["priors"]["mode"] == "uniform"
    assert (root / "artifacts" / "reports" / "synth" / "index.html").is_file()
    assert not list((root / "artifacts").rglob(".*.tmp"))


def test_ensemble_prints_the_tables_and_the_answer_key_for_information(done):
    text = done["text"]
    for word in ("good_a/run000", "noise/run002", *blend.METHODS, "raw CV acc", "test-dist CV acc", "priors: uniform",
                 "test distribution: equal over the 12 labels",
                 "nothing above was chosen by it", "no correction", "submission:", "report:", "1 test clip(s)",
                 "honest CV on the clean OOF rows", "expected test accuracy"):
        assert word in text, word
    rows = {t["what"]: t for t in done["out"]["test"]}
    blended = rows[f"blend ({done['out']['result'].chosen.method})"]
    assert blended["accuracy"] > max(rows[r]["accuracy"] for r in ("good_a/run000", "good_b/run001"))
    for run in ("good_a/run000", "good_b/run001"):  # trained on skewed priors: the uniform test rewards the correction
        assert rows[run]["accuracy"] > rows[run]["raw"] + 0.03
    # the blend was fitted for the uniform test distribution already (its raw output is balanced)
    assert blended["raw"] > max(rows[r]["accuracy"] for r in ("good_a/run000", "good_b/run001"))


def test_ensemble_cli_reports_user_errors_in_one_line(world, capsys):
    _edit_params(world.run_dirs["noise"], lambda p: p["inputs"].update(data_fingerprint="elsewhere"))
    # by default a run made on other data is left out, and named
    assert ensemble.main(["--method", "mean"]) == 0
    assert "left out 1 made on other data or folds: noise/" in capsys.readouterr().out
    # named explicitly, it is refused
    assert ensemble.main(["--runs", "good_a", "noise", "--method", "mean"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("make ensemble: error: cannot blend runs made on different data")
    assert "\n" not in err and "Traceback" not in err
    with pytest.raises(SystemExit):  # argparse's choices: usage and the known methods
        ensemble.main(["--runs", "good_a", "good_b", "--method", "median"])
    assert "invalid choice: 'median'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ensemble.main(["--runs", "good_a", "--priors", "bayes"])
    assert "invalid choice: 'bayes'" in capsys.readouterr().err
    assert ensemble.main(["--runs", "good_a", "--name", "../escape"]) == 2
    assert "submission name" in capsys.readouterr().err


def test_ensemble_cli_without_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert ensemble.main([]) == 2
    assert "run `make train` first" in capsys.readouterr().err


def test_ensemble_cli_with_chosen_runs_and_method(world, capsys):
    assert ensemble.main(["--runs", "good_a,good_b", "--method", "logmean", "--priors", "none",
                          "--name", "two"]) == 0
    out = capsys.readouterr().out
    assert "noise/run002" not in out and "* logmean" in out
    info = json.loads((world.root / "artifacts" / "submissions" / "two.json").read_text())
    assert info["method"] == "logmean" and info["chosen_by"] == "METHOD" and len(info["runs"]) == 2


def test_weights_follow_accuracy_not_confidence():
    """A better run made underconfident (label smoothing does that) against a worse,
    overconfident one: after each run's temperature is fitted, the better run gets the weight."""
    rng = np.random.default_rng(5)
    n, p = 4000, synthetic.skewed_priors(1 / 12)
    y = rng.choice(len(LABELS), size=n, p=p)
    good = calibration.temper(synthetic.calibrated(y, 1.7, p, rng), 3.0)  # accurate, flattened
    bad = calibration.temper(synthetic.calibrated(y, 1.0, p, rng), 0.5)  # less accurate, sharpened
    P = np.stack([good, bad])
    assert metrics.accuracy(good, y) > metrics.accuracy(bad, y) + 0.1
    b = blend.fit("weights", P, y)
    assert b.weights[0] > 0.8
    assert b.temperatures[0] < 0.6 and b.temperatures[1] > 1.5  # sharpen the first, flatten the second
    fold = _folds(n, 5, rng)
    honest = metrics.accuracy(blend.honest_predictions("weights", P, y, fold), y)
    assert honest >= metrics.accuracy(good, y) - 0.005


def test_a_run_tuned_on_some_folds_is_named_as_optimistic_there(world):
    _edit_params(world.run_dirs["good_a"], lambda p: p.update(tuned={"path": "best.json", "trial": 4, "value": 0.9,
                                                                     "folds": [0]}))
    rs = runs.gather(None, Workspace())
    (note,) = [n for n in rs.notes if "tuned" in n]
    assert note.startswith("note: good_a/") and "tuned on fold(s) 0 (trial 4)" in note and "optimistic" in note


# --- noisy OOF rows and the expected test accuracy ----------------------------------------------


def _with_noisy_rows(world: synthetic.Synthetic, noisy: dict[str, float], seed: int = 9) -> None:
    """Give each run of `world` noisy OOF rows of strength `noisy[model]`, and make the test set
    as noisy as those rows (each run's test predictions at the same strength)."""
    for i, (model, a) in enumerate(noisy.items()):
        r = np.random.default_rng([seed, i])
        np.save(world.run_dirs[model] / "oof_noisy.npy", synthetic.calibrated(world.y, a, synthetic.skewed_priors(), r))
        np.save(world.run_dirs[model] / "test.npy", synthetic.calibrated(world.y_test, a, synthetic.skewed_priors(), r))


def test_blending_on_noisy_rows_trusts_the_run_that_holds_up_in_noise(tmp_path, monkeypatch):
    """`fragile` is the better run on clean clips, `robust` on noisy ones, and the test is noisy:
    fitted on the clean OOF rows the blend trusts the wrong run; with the noisy rows it does not."""
    monkeypatch.chdir(tmp_path)
    world = synthetic.build(tmp_path, {"fragile": 1.9, "robust": 1.3}, n_train=3000, n_test=3000, seed=3)
    _with_noisy_rows(world, {"fragile": 0.8, "robust": 1.25})
    out = {rows: ensemble.ensemble(method="weights", name=rows, oof_rows=rows, log=lambda _: None)
           for rows in ("clean", "both", "noisy")}
    weight = {rows: dict((r["name"].split("/")[0], r["weight"]) for r in o["info"]["runs"]) for rows, o in out.items()}
    accuracy = {rows: o["test"][0]["accuracy"] for rows, o in out.items()}
    assert weight["clean"]["fragile"] > weight["clean"]["robust"]
    assert weight["both"]["robust"] > weight["clean"]["robust"] and weight["noisy"]["robust"] > weight["noisy"]["fragile"]
    assert accuracy["noisy"] > accuracy["clean"] + 0.01 and accuracy["both"] > accuracy["clean"]
    info = out["both"]["info"]["honest_cv"]
    assert info["rows"] == "both" and {"accuracy", "noisy_accuracy", "noisy_test_distribution_accuracy"} <= set(info)
    assert info["noisy_accuracy"] < info["accuracy"]  # the noisy copies are the harder rows
    oof = np.load(tmp_path / "artifacts" / "submissions" / "both.oof.npy")
    assert oof.shape == (len(world.y), C)  # one row per clip, as make pseudo reads it


def test_oof_auto_blends_clean_rows_with_a_note_when_a_run_has_no_noisy_ones(world, capsys):
    _with_noisy_rows(world, {"good_a": 1.2})  # good_b and noise have none
    lines: list[str] = []
    out = ensemble.ensemble(method="mean", name="auto", log=lines.append)
    assert out["info"]["honest_cv"]["rows"] == "clean"
    assert any(line.startswith("note: 2 run(s) have no noisy OOF predictions") and "make noisy-oof" in line
               for line in lines)
    assert ensemble.main(["--oof", "both", "--method", "mean"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("make ensemble: error: OOF=both: 2 run(s) have no noisy OOF predictions")
    assert "make noisy-oof" in err and "\n" not in err
    _with_noisy_rows(world, {"good_a": 1.2, "good_b": 1.2, "noise": 0.0})
    assert ensemble.ensemble(method="mean", name="auto2", log=lambda _: None)["info"]["honest_cv"]["rows"] == "both"


@pytest.mark.parametrize("test_strength", [0.7, 1.6])
def test_expected_accuracy_follows_a_test_harder_or_easier_than_the_oof_rows(test_strength):
    """Calibrated probabilities on OOF rows of one difficulty and a test of another: the honest
    OOF accuracy misses the test's accuracy by far, the expected accuracy (no test label read) does not."""
    rng = np.random.default_rng(1)
    uniform = np.full(C, 1 / C)
    y, y_test = rng.integers(0, C, 20_000), rng.integers(0, C, 20_000)
    oof = synthetic.calibrated(y, 1.1, uniform, rng)
    test = synthetic.calibrated(y_test, test_strength, uniform, rng)
    actual = metrics.accuracy(test, y_test)
    doc = metrics.expected_accuracy(oof, y, None, test)
    assert abs(doc["oof_accuracy"] - actual) > 0.08
    assert doc["expected_test_accuracy"] == pytest.approx(actual, abs=0.015)
    assert doc["oof_accuracy"] == pytest.approx(metrics.accuracy(oof, y))
