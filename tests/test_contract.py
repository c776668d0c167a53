"""The contract between stages: what the user typed wins, later stages read what earlier ones
made current, a changed data folder or changed training code is noticed, every setting is
checked before work starts, each thing has one implementation, and a new model is one module
and one registry line."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import toy_model
from conftest import quiet

from competition import calibration, features
from competition.data import prepare
from competition.inputs import resolve
from competition.provenance import (
    TRAINING_CODE,
    CodeVersion,
    RunRecord,
    TunedRecord,
    code_version,
    key,
    source_hash,
)
from competition.workspace import Workspace
from folds import make_folds
from models import registry, run, train, tune
from models.plan import Typed, plan_run
from submissions import blend, ensemble

REPO = Path(__file__).resolve().parents[1]
TOY_TRAIN = ["--profile", "toy", "--epochs", "1", "--folds", "0", "--verbose", "0", "--set", "batch_size=32", "tta=1"]


def only_run(model: str) -> RunRecord:
    (params,) = Path(f"artifacts/runs/{model}").glob("*/params.json")
    return RunRecord.read(params)


def write_best(project, profile="toy", batch_size=32, **change) -> Path:
    """A best.json for cnn_resnet as `make tune` writes it (dropout 0.05, lr 0.004, label smoothing 0.02)."""
    record = TunedRecord(model="cnn_resnet", trial=7, value=0.9,
                         params=dataclasses.asdict(registry.params_for("cnn_resnet", profile, {"dropout": 0.05})),
                         train={"lr": 0.004, "label_smoothing": 0.02}, search={}, profile=profile,
                         batch_size=batch_size, epochs=1, tune_folds=[0], fixed={}, inputs=project.record(),
                         code=code_version())
    record = dataclasses.replace(record, **change)
    path = Path("artifacts/tune/cnn_resnet/best.json")
    record.write(path)
    return path


# --- 1. what the user typed wins ---------------------------------------------------------------


@pytest.mark.slow
def test_typed_settings_win_over_tuned_values(tone_project, capsys):
    write_best(tone_project)
    assert train.main(["--models", "cnn_resnet", *TOY_TRAIN, "lr=0.001", "label_smoothing=0.3"]) == 0
    record = only_run("cnn_resnet")
    assert record.train["lr"] == 0.001 and record.train["label_smoothing"] == 0.3
    assert record.sources["train.lr"] == record.sources["train.label_smoothing"] == "typed (SET)"
    assert record.params["dropout"] == 0.05 and record.sources["params.dropout"].startswith("tuned (")
    assert record.tuned["trial"] == 7
    out = capsys.readouterr().out
    assert "typed (SET): batch_size=32 lr=0.001 label_smoothing=0.3 tta=1" in out


@pytest.mark.parametrize("change, why", [
    ({"profile": "cpu"}, "profile toy here, cpu when tuned"),
    ({"batch_size": 64}, "batch size 32 here, 64 when tuned"),
    ({"data": "elsewhere"}, "data 51f"),
])
def test_tuned_values_apply_only_to_the_data_profile_and_batch_they_were_tuned_for(tone_project, change, why):
    inputs = tone_project
    typed = Typed({"batch_size": 32}, profile="toy")
    if "data" in change:
        write_best(inputs, inputs=dataclasses.replace(inputs.record(), data_fingerprint=change["data"]))
    else:
        write_best(inputs, **change)
    plan = plan_run("cnn_resnet", inputs, "cpu", typed)
    assert plan.tuned is None and plan.params == registry.params_for("cnn_resnet", "toy")
    assert len(plan.notes) == 1 and why in plan.notes[0] and "not used" in plan.notes[0]
    write_best(inputs)  # made for this data, profile and batch size: used
    assert plan_run("cnn_resnet", inputs, "cpu", typed).params.dropout == 0.05


def test_the_profile_typed_decides_the_sizes_and_the_run(tone_project):
    inputs = tone_project
    toy = plan_run("cnn_resnet", inputs, "cpu", Typed(profile="toy"))
    cpu = plan_run("cnn_resnet", inputs, "cpu", Typed())
    assert toy.params == registry.get("cnn_resnet").TOY and cpu.params == registry.get("cnn_resnet").CPU
    assert toy.sources["params.stem"] == "typed (PROFILE): profile toy"
    assert cpu.sources["params.stem"] == "policy (no GPU): profile cpu"
    assert run.run_record(toy, inputs, "cpu").run_id != run.run_record(cpu, inputs, "cpu").run_id


@pytest.mark.slow
def test_a_study_continues_only_with_the_same_training_settings(tone_project, capsys):
    args = ["--model", "cnn_resnet", "--profile", "toy", "--epochs", "1", "--trials", "1", "--set", "tta=1"]
    assert tune.main([*args, "batch_size=32"]) == 0
    capsys.readouterr()
    assert tune.main([*args, "batch_size=16"]) == 2
    err = capsys.readouterr().err
    assert "other data or settings" in err and "train.batch_size: 32 -> 16" in err


@pytest.mark.slow
def test_typed_values_of_searched_names_are_held_fixed_in_a_study(tone_project):
    assert tune.main(["--model", "cnn_resnet", "--profile", "toy", "--epochs", "1", "--trials", "1",
                      "--set", "batch_size=32", "tta=1", "lr=0.001", "dropout=0.2"]) == 0
    best = TunedRecord.read(Path("artifacts/tune/cnn_resnet/best.json"))
    assert best.fixed == {"lr": 0.001, "dropout": 0.2}
    assert best.train["lr"] == 0.001 and best.params["dropout"] == 0.2


# --- 2. stages read what is current ------------------------------------------------------------


@pytest.mark.slow
def test_later_stages_and_benchmarks_use_the_features_make_features_made_current(tone_project, capsys):
    ws = Workspace()
    assert features.main(["--n-mels", "32"]) == 0 and make_folds.main([]) == 0
    assert train.main(["--models", "cnn_resnet", *TOY_TRAIN]) == 0
    record = only_run("cnn_resnet")
    cache32 = resolve(ws, log=quiet).cache_path
    assert record.inputs.features_key == cache32.name != tone_project.cache_path.name
    model = keras.saving.load_model(Path("artifacts/runs/cnn_resnet") / record.run_id / "fold_0" / "model.keras")
    assert model.input_shape == (None, 101, 32)
    from benchmarks.bench_train import load_bench_data

    assert load_bench_data(ws).inputs.features.n_mels == 32
    # a flag typed on a later stage wins, and says it differs from what is current
    lines = []
    assert resolve(ws, {"n_mels": 64}, log=lines.append).cache_path == tone_project.cache_path
    assert len(lines) == 1 and "N_MELS=64 differs from the current cache (n_mels 32" in lines[0]
    with pytest.raises(Exception, match=r"run `make features N_MELS=24`"):
        resolve(ws, {"n_mels": 24}, log=quiet)


# --- 3. a data folder changed after `make data` ------------------------------------------------------


def test_a_data_folder_changed_after_make_data_says_to_run_it(tone_data, tmp_path, monkeypatch, capsys):
    data = tmp_path / "copy"
    shutil.copytree(tone_data, data)
    monkeypatch.chdir(tmp_path)
    ws = Workspace()
    prepare(str(data), ws, log=quiet)
    first = features.build(features.FeatureSettings(), ws, workers=1, progress=False, log=quiet)
    shutil.copy(next((data / "train/audio/yes").iterdir()), data / "train/audio/yes/0badc0de_nohash_0.wav")
    assert features.main(["--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "changed since `make data` (train/audio/yes: 1 added)" in err and "run `make data`" in err
    assert train.main(["--models", "cnn_resnet"]) == 2 and "run `make data`" in capsys.readouterr().err
    prepare(str(data), ws, log=quiet)
    assert features.build(features.FeatureSettings(), ws, workers=1, progress=False, log=quiet) != first
    # touched, not changed: noticed too; `make data` records it and the features are kept
    os.utime(data / "train/audio/yes/0badc0de_nohash_0.wav", (1, 1))
    assert features.main(["--workers", "1"]) == 2
    assert "replaced, resized or touched" in capsys.readouterr().err
    lines = []
    prepare(str(data), ws, log=lines.append)
    assert any("same clips" in line for line in lines) and features.main(["--workers", "1"]) == 0


# --- 4. the code that made a run ---------------------------------------------------------------


def test_other_training_code_makes_another_run(tone_project, monkeypatch):
    plan = plan_run("cnn_resnet", tone_project, "cpu", Typed(profile="toy"))
    record = run.run_record(plan, tone_project, "cpu")
    assert record.code.sources == source_hash(TRAINING_CODE) and record.code.commit
    monkeypatch.setattr(run, "code_version", lambda: CodeVersion("0ther"))
    assert run.run_record(plan, tone_project, "cpu").run_id != record.run_id


def test_editing_the_training_code_changes_its_hash(tmp_path):
    shutil.copytree(REPO / "models", tmp_path / "models")
    before = source_hash(("models",), tmp_path)
    (tmp_path / "models" / "blocks.py").write_text((tmp_path / "models" / "blocks.py").read_text() + "\nBN_MOMENTUM = 0.99\n")
    assert source_hash(("models",), tmp_path) != before


# --- 5. one record, one identity -----------------------------------------------------------------


def test_a_run_folder_is_named_by_its_record_identity_and_reads_back(finished):
    record = RunRecord.read(finished.run / "params.json")
    assert finished.run.name == record.run_id == key(record.identity())
    assert record.identity()["inputs"] == finished.inputs.record().identity()
    study = tune.study_identity("crnn_resnet", finished.inputs, plan_run("crnn_resnet", finished.inputs, "cpu").train,
                                "cpu", [0], {}, {})
    assert study["inputs"] == record.identity()["inputs"]
    # the ensemble's compatibility check reads the same identity: a run whose folds differ is refused
    other = finished.run.parent / "other"
    shutil.copytree(finished.run, other)
    data = json.loads((other / "params.json").read_text())
    data["inputs"]["folds_path"] = "artifacts/folds/else.csv"
    (other / "params.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="different folds files"):
        ensemble.ensemble([str(finished.run), str(other)], name="mixed", log=quiet)


def test_every_artifact_path_comes_from_the_workspace():
    literal = re.compile(r"""Path\(\s*["']artifacts""")
    offenders = [str(p.relative_to(REPO)) for pkg in ("competition", "folds", "models", "submissions", "benchmarks")
                 for p in (REPO / pkg).rglob("*.py") if literal.search(p.read_text())]
    assert offenders == []


# --- 6. settings are checked before any work --------------------------------------------------------


@pytest.mark.parametrize("argv, says", [
    (["--epochs", "0"], "EPOCHS must be an integer >= 1"),
    (["--epochs", "-1"], "EPOCHS must be an integer >= 1"),
    (["--set", "lr=-1"], "lr must be a number > 0"),
    (["--set", "balance=foo"], "balance must be one of balanced, subsample, weights, none, not 'foo'"),
    (["--set", "epochs=1.5"], "epochs must be an integer, not 1.5"),
    (["--folds", "9"], "FOLDS 9 must be an integer >= 0 and <= 2"),
    (["--n-folds", "1"], "n_folds must be an integer >= 2"),
    (["--set", "gru_units=8"], "gru_units: not a training setting nor a parameter of cnn_resnet"),
])
def test_bad_training_settings_are_one_line_before_any_work(tone_project, capsys, argv, says):
    assert train.main(["--models", "cnn_resnet", "--profile", "toy", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("make train: error: ") and says in err and err.count("\n") == 1
    assert not Path("artifacts/runs").exists()


def test_bad_feature_fold_and_tuning_numbers_are_one_line(tone_project, capsys):
    before = sorted(p.name for p in Path("artifacts/features").iterdir())
    assert features.main(["--n-mels", "0"]) == 2
    assert "n_mels must be an integer >= 1" in capsys.readouterr().err
    assert sorted(p.name for p in Path("artifacts/features").iterdir()) == before
    assert make_folds.main(["--n-folds", "1"]) == 2
    assert "n_folds must be an integer >= 2" in capsys.readouterr().err
    for argv, says in ((["--trials", "0"], "TRIALS must be an integer >= 1"),
                       (["--trials", "-3"], "TRIALS must be an integer >= 1"),
                       (["--workers", "0"], "WORKERS must be an integer >= 1")):
        assert tune.main(["--model", "cnn_resnet", *argv]) == 2
        assert says in capsys.readouterr().err
    assert not Path("artifacts/tune").exists()



def test_feat_sets_any_feature_setting_by_name_and_its_option_wins(tone_project, capsys):
    from argparse import ArgumentParser

    parser = ArgumentParser()
    features.add_setting_args(parser)
    typed = features.typed_settings(parser.parse_args(["--feat", "n_mels=24", "hop_ms=20", "pad=zeros",
                                                       "--n-mels", "32"]))
    assert features.settings_with(typed) == features.FeatureSettings(n_mels=32, hop_ms=20.0, pad="zeros")
    before = sorted(p.name for p in Path("artifacts/features").iterdir())
    for feat, says in ((["nmels=24"], "unknown setting 'nmels'"), (["hop_ms=fast"], "hop_ms must be a number"),
                       (["n_mels"], "FEAT needs NAME=VALUE pairs")):
        assert features.main(["--feat", *feat]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err
        assert train.main(["--models", "cnn_resnet", "--feat", *feat]) == 2
        assert says in capsys.readouterr().err
    assert sorted(p.name for p in Path("artifacts/features").iterdir()) == before  # nothing built
    assert features.main(["--feat", "n_mels=24", "--workers", "1"]) == 0
    assert json.loads(Path("artifacts/current.json").read_text())["data"][tone_project.manifest["fingerprint"]][
        "features"]["settings"]["n_mels"] == 24

# --- 7. one implementation of each thing -------------------------------------------------------


@pytest.mark.slow
def test_cv_json_and_the_ensemble_agree_on_the_same_oof(finished):
    cv = json.loads((finished.run / "cv.json").read_text())["overall"]
    result = ensemble.ensemble(method="mean", mode="none", name="one", log=quiet)
    (row,) = result["info"]["runs"]
    assert row["log_loss"] == pytest.approx(cv["log_loss"], abs=1e-9)
    assert row["accuracy"] == pytest.approx(cv["accuracy"], abs=1e-12)


def test_blend_temperatures_come_from_the_one_calibrator():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 12, 500)
    P = np.stack([calibration.temper(np.eye(12)[y] * 0.5 + rng.dirichlet(np.ones(12), 500) * 0.5, t) for t in (0.5, 2.0)])
    assert list(blend.fit_temperatures(P, y)) == [calibration.fit_calibration(p, y, bias=False).temperature for p in P]


@pytest.mark.slow
def test_a_new_blending_method_is_one_registry_record(finished, monkeypatch):
    first = blend.Method("first", lambda P, y, s, w: blend.Blender("first", "linear", np.eye(len(P))[0]),
                         False, True, "the first run only")
    monkeypatch.setitem(blend.REGISTRY, "first", first)
    lines = []
    result = ensemble.ensemble(name="with-first", log=lines.append)
    assert "first" in [s.method for s in result["result"].scores]
    assert any(line.startswith(("  first", "* first")) for line in lines)
    html = Path(result["report"]).read_text()
    assert "the first run only" in html


# --- a new model: one module, one registry line ------------------------------------------------------


@pytest.mark.slow
def test_a_new_model_trains_tunes_and_blends_with_no_other_edit(tone_project, monkeypatch, capsys):
    monkeypatch.setitem(registry.MODELS, "toy_dense", toy_model)
    assert registry.contract_problems("toy_dense", toy_model) == []
    assert train.main(["--models", "toy_dense", "--profile", "toy", "--epochs", "1", "--set", "batch_size=32",
                       "tta=1", "--verbose", "0"]) == 0
    assert tune.main(["--model", "toy_dense", "--profile", "toy", "--epochs", "1", "--trials", "2",
                      "--set", "batch_size=32", "tta=1"]) == 0
    assert TunedRecord.read(Path("artifacts/tune/toy_dense/best.json")).params["units"] in (8, 16)
    result = ensemble.ensemble(name="toy", log=quiet)
    assert [r["name"].split("/")[0] for r in result["info"]["runs"]] == ["toy_dense"]
    assert Path(result["paths"]["csv"]).is_file()
