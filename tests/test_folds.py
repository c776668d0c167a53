"""CV folds: speaker-grouped, label-stratified, complete, deterministic, and checked against the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from competition.features import clips_hash
from competition.workspace import Workspace
from folds.contract import FoldsError, FoldSettings, check_folds
from folds.make_folds import assign_folds, make_folds


def synthetic_index(n_speakers=200, seed=0):
    """Kaggle-like clips: speakers say a random subset of words; unknown is the biggest label."""
    rng = np.random.default_rng(seed)
    labels = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
    rows = []
    for s in range(n_speakers):
        spk = f"{s:08x}"
        for lab in labels:
            if rng.random() < 0.6:
                rows.append((f"{lab}/{spk}_nohash_0.wav", spk, lab))
        for k in range(int(rng.integers(3, 9))):
            rows.append((f"w{k}/{spk}_nohash_0.wav", spk, "unknown"))
    for src in range(6):
        for j in range(40):
            rows.append((f"_silence_/n{src}_{j:04d}.wav", f"noise-n{src}", "silence"))
    return pd.DataFrame(rows, columns=["fname", "speaker", "label"])


@pytest.fixture(scope="module")
def index():
    return synthetic_index()


@pytest.fixture(scope="module")
def fold(index):
    return assign_folds(index, FoldSettings(n_folds=5, seed=0))


def test_every_clip_in_exactly_one_fold(index, fold):
    assert fold.shape == (len(index),)
    assert set(fold) == set(range(5))


def test_no_speaker_in_two_folds(index, fold):
    per_speaker = pd.Series(fold).groupby(index["speaker"].to_numpy()).nunique()
    assert (per_speaker == 1).all()


def test_silence_from_one_recording_stays_in_one_fold(index, fold):
    silence = index["label"] == "silence"
    assert pd.Series(fold[silence]).groupby(index.loc[silence, "speaker"].to_numpy()).nunique().max() == 1


def test_label_shares_per_fold_are_close_to_the_overall_shares(index, fold):
    # word labels come from 200 speakers: close (shares among the word clips, since the
    # silence clips come from only 6 recordings over 5 folds and move every share a little)
    words = (index["label"] != "silence").to_numpy()
    shares = pd.crosstab(fold[words], index["label"][words], normalize="index")
    gap = (shares - index["label"][words].value_counts(normalize=True)).abs()
    assert gap.max().max() < 0.02
    silence_gap = pd.crosstab(fold, index["label"], normalize="index")["silence"] - (~words).mean()
    assert silence_gap.abs().max() < 0.08


def test_same_inputs_same_folds_and_the_seed_matters(index, fold):
    np.testing.assert_array_equal(assign_folds(index, FoldSettings(5, 0)), fold)
    assert not np.array_equal(assign_folds(index, FoldSettings(5, 1)), fold)


def test_file_is_named_by_clips_and_settings(index, tmp_path):
    ws = Workspace(tmp_path)
    path = make_folds(index, FoldSettings(5, 0), ws, log=lambda *a: None)
    assert path == ws.folds_file(clips_hash(index), 5, 0)
    assert ws.folds_file(clips_hash(index), 4, 0) != path
    assert ws.folds_file(clips_hash(index.iloc[:-1]), 5, 0) != path
    written = pd.read_csv(path)
    assert list(written.columns) == ["fname", "speaker", "label", "fold"]
    assert make_folds(index, FoldSettings(5, 0), ws, log=lambda *a: None) == path  # rerun: same file


def test_folds_from_other_data_are_refused(index, fold):
    folds = index.assign(fold=fold)
    with pytest.raises(FoldsError, match="other data"):
        check_folds(folds.iloc[1:], index)
    with pytest.raises(FoldsError, match="other data"):
        check_folds(folds.assign(fname=folds["fname"][::-1].to_numpy()), index)


def test_too_few_speakers_is_a_clear_error():
    tiny = synthetic_index(n_speakers=2).query("label != 'silence'")
    with pytest.raises(FoldsError, match="fewer folds"):
        assign_folds(tiny, FoldSettings(5, 0))


def test_folds_of_the_dev_data(shared_dev, tmp_path):
    """On the real dev clips: grouped by speaker, every fold has every label."""
    from competition import features

    index = features.train_index(shared_dev)
    fold = assign_folds(index, FoldSettings(5, 0))
    assert (pd.Series(fold).groupby(index["speaker"].to_numpy()).nunique() == 1).all()
    assert (pd.crosstab(fold, index["label"]) > 0).all().all()
