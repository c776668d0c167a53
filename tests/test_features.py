"""The feature cache: the clip index, silence clips, the spectrograms, the cache key, bad files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import entries

from competition import features
from competition.audio import write_wav
from competition.data import prepare
from competition.labels import LABELS
from competition.workspace import Workspace

QUIET = {"log": lambda *a: None}


def test_spectrogram_equals_librosa():
    import librosa

    s = features.FeatureSettings()
    rng = np.random.default_rng(0)
    y = (rng.normal(size=(3, 16000)) * np.array([[1e-3], [0.1], [0.5]])).astype(np.float32)
    ours = features.log_mel(y, s)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=features.n_fft(s), hop_length=features.hop_length(s),
        win_length=features.win_length(s), n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax),
        ref=1.0, amin=s.amin, top_db=None).transpose(0, 2, 1)
    assert ours.shape == (3, 101, 64) == (3, *features.input_shape(s))
    np.testing.assert_allclose(ours, ref, atol=0.01)


def test_derived_sizes_follow_the_settings():
    s = features.FeatureSettings(win_ms=25, hop_ms=20, n_mels=64)
    assert features.win_length(s) == 400 and features.hop_length(s) == 320 and features.n_fft(s) == 512
    assert features.input_shape(s) == (51, 64)


def test_index_labels_speakers_and_silence(tone_project):
    cache, _ = tone_project.load()
    idx = cache.train_index
    assert list(idx.columns) == ["fname", "word", "label", "speaker", "source"]
    assert set(idx["label"]) == set(LABELS)
    words = idx[idx["source"] == "train"]
    assert (words.loc[words["word"] == "bed", "label"] == "unknown").all()
    assert (words.loc[words["word"] == "yes", "label"] == "yes").all()
    assert words["speaker"].str.fullmatch(r"[0-9a-f]{8}").all()
    assert (words["fname"].str.split("/").str[0] == words["word"]).all()
    silence = idx[idx["label"] == "silence"]
    # about as many as an average command word has (12 speakers say each word once)
    assert len(silence) == 12
    assert silence["speaker"].str.startswith("noise-").all()
    assert set(silence["source"]) <= {"noise:noise_0", "noise:noise_1", "digital_silence"}
    assert len(cache.train) == len(idx) and cache.train.dtype == np.float16
    assert cache.train.shape[1:] == (101, 64)
    assert len(cache.test) == len(cache.test_index) == len(pd.read_csv(Path("data/raw/test_solution.csv")))


def test_silence_clips_are_cut_inside_one_segment_and_named_by_it():
    s = features.FeatureSettings(silence_segment_s=10.0, digital_silence=0.0)
    rec = np.concatenate([np.full(10 * 16_000, 0.1), np.full(10 * 16_000, -0.1), np.full(12 * 16_000, 0.2)])
    idx, audio = features.make_silence(["rec"], [rec.astype(np.float32)], 60, s)
    spans = {sp: features.silence_segment(sp)[1:] for sp in idx["speaker"]}
    assert set(spans.values()) == {(0.0, 10.0), (10.0, 20.0), (20.0, 32.0)}  # the last piece joins its neighbour
    for sp, clip in zip(idx["speaker"], audio, strict=True):
        sign = {(0.0, 10.0): 1, (10.0, 20.0): -1, (20.0, 32.0): 1}[spans[sp]]
        assert (np.sign(clip) == sign).all(), sp  # no window straddles two segments
    whole, _ = features.make_silence(["rec"], [rec.astype(np.float32)], 10,
                                     dataclasses.replace(s, silence_segment_s=0.0))
    assert set(whole["speaker"]) == {"noise-rec@0-32"}


def test_silence_clips_are_deterministic_quiet_and_tagged():
    s = features.FeatureSettings(silence_seed=3)
    rng = np.random.default_rng(0)
    recs = [rng.normal(0, 0.1, 48000).astype(np.float32), rng.normal(0, 0.1, 32000).astype(np.float32)]
    idx, audio = features.make_silence(["a", "b"], recs, 40, s)
    idx2, audio2 = features.make_silence(["a", "b"], recs, 40, s)
    np.testing.assert_array_equal(audio, audio2)
    assert len(idx) == len(audio) == 40
    zeros = idx["source"] == "digital_silence"
    assert zeros.sum() == 4 and not audio[zeros.to_numpy()].any()
    rms = np.sqrt((audio[~zeros.to_numpy()] ** 2).mean(axis=1))
    assert rms.min() >= 1e-4 * 0.99 and rms.max() <= 0.4 * 1.01  # levels from near silence to loud
    assert rms.min() < 1e-3 and rms.max() > 0.1
    assert {features.silence_segment(sp)[0] for sp in idx.loc[~zeros, "speaker"]} == {"a", "b"}
    other, _ = features.make_silence(["a", "b"], recs, 40, dataclasses.replace(s, silence_seed=4))
    _, audio3 = features.make_silence(["a", "b"], recs, 40, dataclasses.replace(s, silence_seed=4))
    assert not np.array_equal(audio, audio3)


def test_noise_bank_is_power_in_one_second_windows(tone_project):
    cache, _ = tone_project.load()
    # two 3 s recordings, windows every 0.5 s: 5 each
    assert cache.noise.shape == (10, 101, 64) and cache.noise.dtype == np.float32
    assert (np.asarray(cache.noise) >= 0).all()
    assert list(cache.noise_index["source"].unique()) == ["noise_0", "noise_1"]


def test_unchanged_rerun_does_nothing_and_a_setting_makes_a_new_cache(tone_project):
    cache, _ = tone_project.load()
    mtime = (cache.path / "train.npy").stat().st_mtime_ns
    again = features.build(features.FeatureSettings(), workers=1, progress=False, **QUIET)
    assert again == cache.path and (cache.path / "train.npy").stat().st_mtime_ns == mtime
    other = features.build(features.FeatureSettings(n_mels=32), workers=1, progress=False, **QUIET)
    assert other != cache.path and np.load(other / "train.npy", mmap_mode="r").shape[2] == 32


def test_cache_key_depends_on_settings_and_data():
    m1, m2 = {"fingerprint": "aaa"}, {"fingerprint": "bbb"}
    s = features.FeatureSettings()
    assert features.cache_key(s, m1) == features.cache_key(features.FeatureSettings(), m1)
    assert features.cache_key(s, m1) != features.cache_key(s, m2)
    assert features.cache_key(s, m1) != features.cache_key(dataclasses.replace(s, hop_ms=20), m1)


def test_bad_files_are_reported_left_out_and_the_build_goes_on(tone_data, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "raw"
    shutil.copytree(tone_data, root)
    (root / "train/audio/yes/deadbeef_nohash_0.wav").write_bytes(b"")
    (root / "train/audio/no/deadbeef_nohash_0.wav").write_text("not audio at all")
    write_wav(root / "train/audio/up/deadbeef_nohash_0.wav", np.zeros(8000, np.float32))  # short: fine
    monkeypatch.chdir(tmp_path)
    prepare(str(root), Workspace(), **QUIET)
    logged = []
    path = features.build(features.FeatureSettings(), workers=2, progress=False, log=logged.append)
    cache = features.load(path)
    bad = pd.read_csv(path / "bad_files.csv")
    assert sorted(Path(p).parent.name for p in bad["path"]) == ["no", "yes"]
    assert any("deadbeef_nohash_0.wav" in line and "left out" in line for line in logged)
    assert "up/deadbeef_nohash_0.wav" in set(cache.train_index["fname"])
    assert "yes/deadbeef_nohash_0.wav" not in set(cache.train_index["fname"])
    assert len(cache.train) == len(cache.train_index)
    # rows still line up: the short clip's row is its own spectrogram (centred, floor at the edges)
    row = cache.train_index.index[cache.train_index["fname"] == "up/deadbeef_nohash_0.wav"][0]
    assert (cache.train[row, :20] == -100).all()


def test_parallel_and_serial_builds_agree(tone_data):
    s = features.FeatureSettings()
    from competition import layout

    paths = [str(p) for p in sorted(layout.train_dir(tone_data).glob("*/*.wav"))][:300]
    one, good1, _ = features.compute_files(paths, s, workers=1, progress=False)
    two, good2, _ = features.compute_files(paths, s, workers=2, progress=False)
    assert good1 == good2 == list(range(len(paths)))
    np.testing.assert_array_equal(one, two)


def test_interrupted_build_leaves_no_cache(tone_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepare(str(tone_data), Workspace(), **QUIET)

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(features, "make_silence", boom)
    with pytest.raises(KeyboardInterrupt):
        features.build(features.FeatureSettings(), workers=1, progress=False, **QUIET)
    root = Path("artifacts/features")
    assert not [p for p in root.iterdir() if not p.name.startswith(".")]
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    path = features.build(features.FeatureSettings(), workers=1, progress=False, **QUIET)
    assert (path / "settings.json").is_file()
    assert entries(root) == [path.name]  # and no temporary folder left by the interrupted build


def test_missing_data_says_to_run_make_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert features.main([]) == 2
    err = capsys.readouterr().err
    assert "make data" in err and "Traceback" not in err


def test_bad_files_in_a_later_batch_leave_every_row_with_its_own_clip(tone_data, tmp_path, monkeypatch):
    """More clips than one worker batch (CHUNK), bad files only in the last batch: every row of
    the cache must still be the spectrogram of the file its index row names."""
    import shutil

    from competition.audio import read_clip

    root = tmp_path / "raw"
    shutil.copytree(tone_data, root)
    rng = np.random.default_rng(3)
    for i, src in enumerate(sorted((root / "train/audio").glob("[a-x]*/*.wav"))):  # one more clip per file
        y = read_clip(str(src)) * rng.uniform(0.2, 1.5)
        write_wav(src.parent / f"{0xa0000000 + i:08x}_nohash_0.wav", y.astype(np.float32))
    yes = sorted((root / "train/audio/yes").glob("*.wav"))  # "yes" sorts last: these rows come after CHUNK
    yes[3].write_bytes(b"")
    yes[-2].write_text("not audio")
    monkeypatch.chdir(tmp_path)
    prepare(str(root), Workspace(), **QUIET)
    cache = features.load(features.build(features.FeatureSettings(), workers=2, progress=False, **QUIET))
    words = cache.train_index[cache.train_index["source"] == "train"]
    assert len(words) > features.CHUNK + 20
    bad = pd.read_csv(cache.path / "bad_files.csv")
    assert sorted(bad["path"]) == sorted(map(str, (yes[3], yes[-2])))
    s = features.FeatureSettings()
    for row, fname in zip(words.index, words["fname"], strict=True):
        want = features.log_mel(read_clip(str(root / "train/audio" / fname))[None], s)[0]
        np.testing.assert_allclose(cache.train[row].astype(np.float32), want, atol=0.1, err_msg=fname)


def test_workers_are_not_forked_once_tensorflow_is_imported(monkeypatch):
    import sys
    import types

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert features.pool_context().get_start_method() == "fork"
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    assert features.pool_context().get_start_method() == "forkserver"
