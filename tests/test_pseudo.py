"""Pseudo-labelling (`make pseudo`, `make train PSEUDO=...`): which test clips are chosen, that
they only ever train, and the provenance chain submission -> pseudo set -> run -> ensemble."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, quiet

from competition.inputs import resolve
from competition.labels import LABEL_INDEX, LABELS
from competition.provenance import RunRecord
from competition.pseudo import PseudoError
from competition.workspace import Workspace
from models import fold
from models.plan import Typed, plan_run
from models.run import train_run
from submissions import ensemble, pseudo

C = len(LABELS)


def test_auto_threshold_is_the_lowest_that_keeps_the_oof_precision():
    # 10 rows per class of two classes; confidences 0.95..0.5; wrong rows at 0.6 and below
    conf = np.linspace(0.95, 0.5, 20)
    y = np.tile([0, 1], 10)
    pred = np.where(conf > 0.6, y, 1 - y)
    oof = np.zeros((20, C))
    oof[np.arange(20), pred] = conf
    oof[np.arange(20), 2] = 1 - conf
    t = pseudo.auto_threshold(oof, y, precision=1.0)
    assert t > 0.6 and t == conf[conf > 0.6].min()
    assert pseudo.auto_threshold(oof, y, precision=0.5) == conf.min()  # every row, still at 75% precision
    assert pseudo.auto_threshold(np.full((4, C), 1 / C), np.array([1, 2, 3, 4]), 0.9) == 1.0  # never right


def test_per_label_caps_keep_the_estimated_test_priors():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, C, 2000)
    labels[:600] = LABEL_INDEX["silence"]  # the ensemble is sure of many more silence clips
    conf = rng.uniform(0.5, 1.0, len(labels))
    chosen = np.flatnonzero(conf > 0.7)
    priors = np.full(C, 1 / C)
    keep = pseudo.capped(labels, conf, chosen, priors)
    counts = np.bincount(labels[keep], minlength=C)
    assert counts.max() - counts.min() <= 1 and counts.min() == np.bincount(labels[chosen], minlength=C).min()
    sil = keep[labels[keep] == LABEL_INDEX["silence"]]  # of a capped label, the most confident are kept
    dropped = np.setdiff1d(chosen[labels[chosen] == LABEL_INDEX["silence"]], sil)
    assert conf[sil].min() >= conf[dropped].max()
    skewed = priors.copy()
    skewed[LABEL_INDEX["unknown"]] *= 3
    skewed /= skewed.sum()
    counts = np.bincount(labels[pseudo.capped(labels, conf, chosen, skewed)], minlength=C)
    assert abs(counts[LABEL_INDEX["unknown"]] / counts.sum() - skewed[LABEL_INDEX["unknown"]]) < 0.02


@pytest.fixture(scope="module")
def round_two_base(finished_base, tmp_path_factory):
    """A round-one ensemble of the finished toy run, a pseudo-label set made from it, and a
    round-two run trained on it (with a spy on the rows of every training epoch), in a copy of
    `finished_base`; built once for the module (a round-two run is a whole toy training)."""
    root = tmp_path_factory.mktemp("round_two") / "project"
    shutil.copytree(finished_base, root, symlinks=True)
    seen = []
    real = fold.epoch_rows

    def spy(labels, rows, s, rng):
        out = real(labels, rows, s, rng)
        seen.append(out)
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        ws = Workspace()
        (first,) = Path("artifacts/runs/crnn_resnet").iterdir()
        ensemble.ensemble(name="round1", log=quiet)
        path = pseudo.make("round1", threshold=0.0, soft=True, name="p1", ws=ws, log=quiet)
        inputs = resolve(ws, log=quiet, pseudo="p1")
        mp.setattr(fold, "epoch_rows", spy)
        run = train_run(plan_run("crnn_resnet", inputs, "cpu", Typed(FAST, profile="toy")), inputs, log=quiet,
                        verbose=0)
    return {"root": root, "set": path, "inputs": inputs, "run": run, "epochs": seen, "first": first}


@pytest.fixture
def round_two(round_two_base, monkeypatch):
    """`round_two_base` as the working directory (paths in it are relative to the project)."""
    monkeypatch.chdir(round_two_base["root"])
    return {**round_two_base, "ws": Workspace()}


@pytest.mark.slow
def test_pseudo_clips_train_every_fold_and_never_reach_validation_or_oof(round_two):
    inputs, run = round_two["inputs"], round_two["run"]
    cache, folds = inputs.load()
    n_train, n_pseudo = len(cache.train_index), len(inputs.pseudo.frame)
    assert n_pseudo > 0
    pseudo_rows = set(range(n_train, n_train + n_pseudo))
    assert len(round_two["epochs"]) >= inputs.folds.n_folds * FAST["epochs"]
    for rows in round_two["epochs"]:
        assert pseudo_rows & set(rows.tolist())  # every epoch of every fold trains on pseudo clips
    oof = np.load(run / "oof.npy")
    assert oof.shape == (n_train, C) and np.isfinite(oof).all()  # one OOF row per train clip, no more
    for k in range(inputs.folds.n_folds):  # each fold's OOF rows are its validation train clips
        assert np.load(run / f"fold_{k}" / "oof.npy").shape[0] == int((folds["fold"] == k).sum())


@pytest.mark.slow
def test_provenance_runs_from_submission_to_pseudo_set_to_run_to_ensemble(round_two):
    ws, run, first = round_two["ws"], round_two["run"], round_two["first"]
    record = json.loads((round_two["set"] / "pseudo.json").read_text())
    assert record["submission"] == "round1" and record["round"] == 1
    assert [Path(r["path"]).name for r in record["runs"]] == [first.name]
    frame = pd.read_csv(round_two["set"] / "pseudo.csv", keep_default_na=False)
    assert sum(record["counts"].values()) == len(frame) and np.allclose(frame[list(LABELS)].sum(axis=1), 1, atol=1e-4)
    params = RunRecord.read(run / "params.json")
    assert params.inputs.pseudo["name"] == "p1" and params.inputs.pseudo["key"] == record["key"]
    assert run.name != first.name  # another identity: another run folder
    out = ensemble.ensemble(name="round2", log=quiet)
    rounds = {Path(r["path"]).name: r["round"] for r in out["info"]["runs"]}
    assert rounds == {first.name: 1, run.name: 2}
    assert {r["pseudo"] for r in out["info"]["runs"]} == {None, "p1"}
    assert (ws.submissions / "round2.oof.npy").is_file()


@pytest.mark.slow
def test_a_pseudo_set_made_from_other_data_is_refused_in_one_line(finished, capsys):
    from models import train

    ensemble.ensemble(name="round1", log=quiet)
    path = pseudo.make("round1", threshold=0.0, name="elsewhere", ws=Workspace(), log=quiet)
    record = json.loads((path / "pseudo.json").read_text())
    (path / "pseudo.json").write_text(json.dumps({**record, "data": "0123456789abcdef"}))
    with pytest.raises(PseudoError, match="was made from data 0123456789abcdef"):
        resolve(Workspace(), log=quiet, pseudo="elsewhere")
    assert train.main(["--models", "crnn_resnet", "--profile", "toy", "--pseudo", "elsewhere"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("make train: error: pseudo-label set elsewhere was made from data") and "\n" not in err
    assert pseudo.main(["--submission", "round1", "--threshold", "2"]) == 2
    assert "THRESHOLD must be" in capsys.readouterr().err


def test_threshold_auto_needs_the_ensembles_oof_predictions(tmp_path):
    ws = Workspace(tmp_path)
    ws.submissions.mkdir(parents=True)
    (ws.submissions / "old.csv").write_text("fname,label\n")
    (ws.submissions / "old.json").write_text("{}")
    np.save(ws.submissions / "old.npy", np.zeros((0, C)))
    with pytest.raises(PseudoError, match="old.oof.npy is missing"):
        pseudo.make("old", ws=ws, log=quiet)
