"""The synthesized demo data: Kaggle's layout and formats, honest splits, reproducible bytes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from helpers import entries

from competition import demo, layout
from competition.labels import BACKGROUND_DIR, COMMANDS, LABELS, OTHER_WORDS, WORDS

SPEAKERS = 4  # the smallest build that still has a test split of its own: ~1 s


def _build(dest: Path, **kw) -> Path:
    demo.build_demo(dest, speakers=SPEAKERS, progress=False, **kw)
    return dest


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _word_files(root: Path) -> list[Path]:
    return sorted(p for w in WORDS for p in (layout.train_dir(root) / w).glob("*.wav"))


def _test_files(root: Path) -> list[Path]:
    return sorted(layout.test_dir(root).glob("*.wav"))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("demo") / "raw", seed=0, workers=2)


def test_layout_verifies_with_all_30_words(root):
    found = layout.verify(root, all_words=True)
    assert set(found.words) == set(WORDS)
    assert all(n > 0 for n in found.words.values())
    assert found.test_clips > 0 and found.solution is not None
    assert "eSpeak NG" in (root / "README.md").read_text()


def test_train_files_are_named_like_kaggle(root):
    names = [p.name for p in _word_files(root)]
    assert all(layout.SPEAKER_RE.match(n) for n in names)
    speakers = {layout.speaker_of(n) for n in names}
    assert len(speakers) >= SPEAKERS
    assert all(re.fullmatch(r"[0-9a-f]{8}", s) for s in speakers)


def test_every_clip_is_one_second_of_16k_mono_pcm16(root):
    for p in _word_files(root) + _test_files(root):
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (
            16000,
            1,
            "PCM_16",
            16000,
        ), p


def test_background_noise_is_minutes_of_16k_audio(root):
    files = sorted((layout.train_dir(root) / BACKGROUND_DIR).glob("*.wav"))
    assert len(files) >= 4
    for p in files:
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.duration >= 60
        assert np.sqrt(np.mean(sf.read(p)[0] ** 2)) > 0.01, f"{p.name} is silent"


def test_words_are_audible_and_placed_at_varying_offsets(root):
    onsets = []
    for p in _word_files(root):
        y, _ = sf.read(p)
        assert np.sqrt(np.mean(y**2)) > 1e-3, f"{p} is silent"
        onsets.append(np.argmax(np.abs(y) > 0.2 * np.abs(y).max()) / 16000)
    assert np.std(onsets) > 0.1  # seconds: not all at one place
    assert len({round(t, 1) for t in onsets}) >= 5


def test_test_speakers_are_not_train_speakers(root):
    split = json.loads((root / "demo_speakers.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    assert {layout.speaker_of(p.name) for p in _word_files(root)} == set(split["train"])
    # the test file names carry no speaker (nor label)
    names = [p.name for p in _test_files(root)]
    assert all(re.fullmatch(r"clip_[0-9a-f]{9}\.wav", n) for n in names)
    assert not any(s in n for s in split["test"] for n in names)


def test_solution_covers_each_test_clip_once_with_balanced_labels(root):
    solution = pd.read_csv(root / "test_solution.csv")
    assert list(solution.columns) == ["fname", "label"]
    assert solution.fname.is_unique
    assert set(solution.fname) == {p.name for p in _test_files(root)}
    counts = solution.label.value_counts()
    assert set(counts.index) == set(LABELS)
    assert counts.max() <= 1.5 * counts.min()


def test_silence_test_clips_are_quiet(root):
    solution = pd.read_csv(root / "test_solution.csv")
    for fname in solution.fname[solution.label == "silence"]:
        y, _ = sf.read(layout.test_dir(root) / fname)
        assert np.sqrt(np.mean(y**2)) < 0.06


def test_same_seed_same_bytes_any_workers_other_seed_other_data(root, tmp_path):
    again = _build(tmp_path / "again", seed=0, workers=1)
    assert _digest(again) == _digest(root)
    other = _digest(_build(tmp_path / "other", seed=1, workers=2))
    same = _digest(root)
    assert {layout.speaker_of(p) for p in other} != {layout.speaker_of(p) for p in same}
    shared = set(other) & set(same)  # the background files keep their names
    assert shared and all(other[k] != same[k] for k in shared)


def test_speakers_sound_different_and_a_fresh_engine_repeats_itself():
    paths = demo.espeak_paths()
    a, b = demo.draw_speakers(0, 2, ("en-us",), ("m3", "f2"))
    kw = {"pitch": 50, "rate": 160, "rand_seed": 1}
    with demo.Synth(paths) as synth:
        first = synth.say("yes", a, **kw)
        assert not np.array_equal(first, synth.say("yes", b, **kw))
    with demo.Synth(
        paths
    ) as synth:  # eSpeak carries state between utterances; a fresh copy does not
        assert np.array_equal(first, synth.say("yes", a, **kw))


def test_a_slow_long_word_is_spoken_faster_to_fit_in_one_second():
    slow = demo.Speaker("00000000", "en-us", "m1", pitch=50, range=50, rate=80)
    with demo.Synth(demo.espeak_paths()) as synth:
        word = demo.speak_word(synth, slow, "marvin", np.random.default_rng(0))
    assert 0.2 * 16000 < len(word) <= demo.MAX_WORD_SECONDS * 16000


def test_default_size_matches_the_brief():
    paths = demo.espeak_paths()
    voices, variants = demo.english_voices(paths.data), demo.human_variants(paths.data)
    assert "en-us" in voices and len(variants) > 20
    plan = demo.plan_demo(0, demo.DEFAULT_SPEAKERS, voices, variants)
    assert len(plan.train) >= 100 and 0 < len(plan.test) < len(plan.train)
    assert 2000 <= plan.train_clips <= 3500 and 400 <= plan.test_clips <= 600
    # like Kaggle, `unknown` (20 other words) outnumbers the 10 commands in train
    words = [c.word for c in plan.spoken("train")]
    commands, others = sum(w in COMMANDS for w in words), sum(w in OTHER_WORDS for w in words)
    assert 1.4 < others / commands < 2.0


def test_unloadable_library_is_a_demo_error_and_leaves_no_folder(tmp_path, monkeypatch):
    import espeakng_loader

    fake = tmp_path / "libespeak-ng.so"
    fake.write_text("not a library")
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(fake))
    with pytest.raises(demo.DemoError, match="espeakng-loader"):
        _build(tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_interrupted_build_leaves_no_folder(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_run_all", crash)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "raw")
    assert entries(tmp_path) == []
