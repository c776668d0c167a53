"""`read_clip` turns any WAV into float32 mono, 16 kHz, exactly one second; a bad file is
an AudioError that names it; `write_wav` is atomic."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from competition import audio
from competition.audio import (
    CLIP_SAMPLES,
    SAMPLE_RATE,
    AudioError,
    read_audio,
    read_clip,
    write_wav,
)


def sine(freq: float, sr: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(y: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(y))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


@pytest.mark.parametrize("subtype, tol", [("PCM_16", 1 / 2**15), ("PCM_U8", 1 / 2**7),
                                           ("PCM_24", 1 / 2**23), ("PCM_32", 1 / 2**31), ("FLOAT", 1e-7)])
def test_read_clip_reads_every_sample_format(tmp_path, subtype, tol):
    y = sine(440, SAMPLE_RATE)
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, y, SAMPLE_RATE, subtype=subtype, format="WAV")
    clip = read_clip(path)
    assert clip.shape == (CLIP_SAMPLES,) and clip.dtype == np.float32
    assert np.abs(clip - y).max() <= tol * 1.01
    assert clip.flags["C_CONTIGUOUS"]


def test_stereo_is_mixed_down_to_the_mean(tmp_path):
    left, right = sine(440, SAMPLE_RATE, amp=0.6), sine(1000, SAMPLE_RATE, amp=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(read_clip(path), (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("sr", [44_100, 8_000, 22_050])
def test_other_rates_are_resampled_and_keep_their_frequency(tmp_path, sr):
    path = tmp_path / f"{sr}.wav"
    sf.write(path, sine(440, sr), sr, subtype="PCM_16")
    y = read_audio(path)
    assert y.shape == (SAMPLE_RATE,) and y.dtype == np.float32
    assert abs(dominant_hz(y) - 440) <= 2
    assert read_clip(path).shape == (CLIP_SAMPLES,)


@pytest.mark.parametrize("n", [8_000, 8_001, 1])
def test_a_short_clip_is_centred_in_zeros(tmp_path, n):
    y = np.full(n, 0.25, np.float32)
    path = tmp_path / "short.wav"
    sf.write(path, y, SAMPLE_RATE, subtype="FLOAT")
    clip = read_clip(path)
    before = (CLIP_SAMPLES - n) // 2
    assert clip.shape == (CLIP_SAMPLES,)
    assert np.all(clip[:before] == 0) and np.all(clip[before + n :] == 0)
    assert np.all(clip[before : before + n] == 0.25)
    assert abs((CLIP_SAMPLES - before - n) - before) <= 1


def test_a_long_clip_keeps_its_middle_second(tmp_path):
    y = np.linspace(-1, 1, 24_000, dtype=np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, y, SAMPLE_RATE, subtype="FLOAT")
    assert read_audio(path).shape == (24_000,)  # read_audio keeps any length
    np.testing.assert_array_equal(read_clip(path), y[4_000:20_000])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _header_only(path: Path) -> None:
    sf.write(path, np.zeros(0, np.float32), SAMPLE_RATE, subtype="PCM_16", format="WAV")


def _truncated_header(path: Path) -> None:
    sf.write(path, sine(440, SAMPLE_RATE), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    path.write_bytes(path.read_bytes()[:20])


def _text(path: Path) -> None:
    path.write_text("this is not audio, it only has the name of a wav file\n" * 20)


def _nan(path: Path) -> None:
    y = sine(440, SAMPLE_RATE)
    y[100] = np.nan
    sf.write(path, y, SAMPLE_RATE, subtype="FLOAT", format="WAV")


def _inf(path: Path) -> None:
    y = sine(440, SAMPLE_RATE)
    y[-1] = np.inf
    sf.write(path, y, SAMPLE_RATE, subtype="FLOAT", format="WAV")


def _missing(path: Path) -> None:
    pass


BAD_FILES = {
    "empty": (_empty, "empty file"),
    "header-only": (_header_only, "no audio samples"),
    "truncated-header": (_truncated_header, "not readable as audio"),
    "text": (_text, "not readable as audio"),
    "nan": (_nan, "NaN"),
    "inf": (_inf, "infinite"),
    "missing": (_missing, "cannot open"),
}


@pytest.mark.parametrize("make, reason", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_an_audio_error_naming_it(tmp_path, make, reason):
    path = tmp_path / "words" / "bad_nohash_0.wav"
    path.parent.mkdir()
    make(path)
    for read in (read_clip, read_audio):
        with pytest.raises(AudioError) as err:
            read(path)
        assert err.value.path == str(path)
        assert str(err.value).startswith(f"{path}: ") and reason in str(err.value)
        assert "\n" not in str(err.value)


def test_write_wav_round_trips_and_clips(tmp_path):
    y = sine(440, SAMPLE_RATE, amp=1.5)
    path = tmp_path / "sub" / "out.wav"
    write_wav(path, y)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (SAMPLE_RATE, 1, "PCM_16", "WAV")
    back = read_clip(path)
    np.testing.assert_allclose(back, np.clip(y, -1, 1), atol=1 / 2**14)
    assert os.listdir(path.parent) == ["out.wav"]


def test_write_wav_files_are_as_readable_as_any_other(tmp_path):
    old = os.umask(0o022)
    try:
        write_wav(tmp_path / "out.wav", sine(440, SAMPLE_RATE))
    finally:
        os.umask(old)
    assert (tmp_path / "out.wav").stat().st_mode & 0o777 == 0o644


def test_write_wav_interrupted_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "out.wav"
    write_wav(path, sine(440, SAMPLE_RATE))
    before = path.read_bytes()

    def interrupted(file, *args, **kwargs):
        Path(file).write_bytes(b"RIFF half")
        raise KeyboardInterrupt

    monkeypatch.setattr(audio.sf, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_wav(path, sine(1000, SAMPLE_RATE))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.wav"]


def test_noise_padding_leaves_the_clip_and_no_digital_silence_frames():
    from competition import features
    from competition.audio import fit_length

    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(0, 0.002, 1600), rng.normal(0, 0.2, 4000), rng.normal(0, 0.002, 2400)]).astype(np.float32)
    padded = fit_length(y, pad="noise")
    start = (16_000 - len(y)) // 2
    np.testing.assert_array_equal(padded[start : start + len(y)], y)  # the clip itself is untouched
    np.testing.assert_array_equal(padded, fit_length(y, pad="noise"))  # the same clip, the same padding
    edge = np.std(padded[:start])
    assert 0.001 < edge < 0.004  # at the level of the clip's quiet background, not of the word
    s = features.FeatureSettings()
    floor = 10 * np.log10(s.amin) + 1e-3
    assert (features.log_mel(fit_length(y, pad="zeros")[None], s) <= floor).any()  # zeros: floor frames
    assert not (features.log_mel(padded[None], s) <= floor).any()  # noise: none
