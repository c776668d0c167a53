"""An offline demo dataset in the Kaggle layout, spoken by the eSpeak NG synthesizer.

A newcomer without a Kaggle account runs the whole pipeline on it: the same folders,
file names, formats and label shares as the competition, only smaller and synthetic.

    <dest>/train/audio/<word>/<speaker>_nohash_<n>.wav    30 words, 16 kHz mono PCM_16, 1 s
    <dest>/train/audio/_background_noise_/*.wav          60 s noise recordings
    <dest>/test/audio/clip_<9 hex>.wav                   unseen speakers, 12 balanced labels
    <dest>/test_solution.csv                             fname,label (the answer key)
    <dest>/demo_speakers.json                            split -> speakers, and their voices
    <dest>/README.md

A "speaker" is an English eSpeak voice (accent) x a voice variant (timbre) x pitch x
intonation range x speaking rate. Every clip is seeded from (seed, speaker, word, n), and
every speaker is synthesized by a freshly loaded copy of eSpeak (see `_load_library`), so
the bytes written depend on the seed alone, not on the number of workers or their order.

    build_demo(Path("data/demo"))                 # ~3,000 train + ~530 test clips, ~10 s
    build_demo(Path("/tmp/tiny"), speakers=4)     # ~100 + 36 clips, ~1 s: for tests
"""

from __future__ import annotations

import _ctypes
import ctypes
import hashlib
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from scipy import signal

from competition import files, layout
from competition.audio import CLIP_SAMPLES, SAMPLE_RATE, write_wav
from competition.errors import UserError
from competition.labels import (
    BACKGROUND_DIR,
    COMMANDS,
    LABELS,
    OTHER_WORDS,
    SILENCE,
    UNKNOWN,
    WORDS,
)

# ~27 clips a speaker: 110 speakers give ~3,000 train clips and ~530 test clips, which the
# later stages train on in minutes on 2 CPU cores; the build takes ~10 s there.
DEFAULT_SPEAKERS = 110
TEST_SPEAKER_SHARE = 0.25  # test speakers per train speaker
TEST_CLIPS_PER_LABEL = 0.4  # test clips of each of the 12 labels, per train speaker

# How likely a speaker says a word at all. Kaggle's v0.01 has ~2,370 clips of each command
# and digit but ~1,710 of bed, bird, cat, ...: `unknown` ends up ~1.7x the commands.
P_FREQUENT = 0.9
P_AUXILIARY = 0.65
AUXILIARY_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
P_REPEAT = 0.1  # a word a speaker says, it says twice this often (`_nohash_1`)

MAX_WORD_SECONDS = 0.95  # a word longer than this after trimming is spoken faster
BACKGROUND_SECONDS = 60

# Variants (espeak-ng-data/voices/!v) that sound like people; the robots, echo-heavy
# novelty voices and comment-only templates are left out.
HUMAN_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "croak", "whisper", "whisperf", "klatt", "klatt2", "klatt3", "grandma", "grandpa",
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Gene", "Gene2", "Jacky", "Lee",
    "Mario", "Michael", "Mike", "Storm", "adam", "anika", "antonio", "aunty", "belinda",
    "benjamin", "boris", "david", "edward", "gustave", "iven3", "linda", "marcelo", "max",
    "michel", "miguel", "mike2", "paul", "pedro", "quincy", "rob", "robert", "shelby",
    "steph", "steph3", "travis", "victor", "zac",
)  # fmt: skip
# Shavian-script English reads Latin text poorly.
EXCLUDED_VOICES = ("en-shaw",)

# Babble is talk without any of the 30 words, so noise never holds a keyword.
FILLER_WORDS = (
    "the", "a", "weather", "today", "coffee", "morning", "we", "could", "maybe", "later",
    "because", "people", "walk", "table", "window", "really", "think", "about", "music",
    "little", "number", "water", "listen", "what", "where", "when", "train", "market",
    "paper", "garden", "always", "never", "very", "yesterday", "friend", "kitchen", "they",
    "said", "that", "is", "was", "with", "for", "and", "but", "just", "like", "chair",
    "station", "afternoon", "dinner", "forgot", "believe", "quite", "problem", "minute",
)  # fmt: skip

# Entropy tags that keep the random streams of different purposes apart.
_TAG_SPEAKERS, _TAG_PLAN, _TAG_TEST, _TAG_SILENCE, _TAG_NOISE, _TAG_BABBLE = range(1, 7)

_ESPEAK_RATE, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 3, 4  # espeak_PARAMETER
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_INITIALIZE_DONT_EXIT = 0x8000  # otherwise a bad data path makes espeak call exit(1)


class DemoError(UserError):
    """The demo data cannot be built (no usable eSpeak NG); the message says what to do."""


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an eSpeak English voice with a variant and prosody.

    `pitch` and `range` are espeak's 0..100 settings (50 = the variant's own); `rate` is in
    words per minute. `id` is the 8-hex-digit name Kaggle files carry.
    """

    id: str
    voice: str
    variant: str
    pitch: int
    range: int
    rate: int

    @property
    def voice_name(self) -> str:
        return f"{self.voice}+{self.variant}"


@dataclass(frozen=True)
class Clip:
    """One spoken clip to write: `path` relative to the demo root."""

    path: str
    word: str
    n: int


@dataclass(frozen=True)
class EspeakPaths:
    """Where the library and its voice data are; resolved once in the parent process."""

    library: str
    data: str


# ----------------------------------------------------------------------------- eSpeak NG


def espeak_paths() -> EspeakPaths:
    """The library and data folder of the installed `espeakng-loader` wheel."""
    try:
        import espeakng_loader
    except ImportError as e:
        raise DemoError(
            f"the espeakng-loader package is missing ({e}); install it with `pip install espeakng-loader`"
        ) from None
    try:
        return EspeakPaths(espeakng_loader.get_library_path(), espeakng_loader.get_data_path())
    except RuntimeError as e:
        raise DemoError(
            f"espeakng-loader has no voice data ({e}); reinstall it with `pip install --force-reinstall espeakng-loader`"
        ) from None


def _load_library(path: str) -> ctypes.CDLL:
    """A private copy of the eSpeak NG library, with the signatures of speak_lib.h we call.

    eSpeak keeps state between utterances in static variables (the pitch flutter phase,
    echo buffers), so the same call sounds slightly different later in a library's life.
    The dynamic loader maps a file it has not seen as a new library with fresh statics, so
    each copy starts from the same state (~1 ms and 0.7 MB a copy).
    """
    from ctypes import c_char_p, c_int, c_long, c_size_t, c_uint, c_void_p

    folder = tempfile.mkdtemp(prefix="espeak-")
    try:
        copy = shutil.copy(path, folder)
        lib = ctypes.CDLL(copy)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the mapping outlives the file
    # fmt: off
    lib.espeak_Initialize.argtypes = [c_int, c_int, c_char_p, c_int]  # output, buflength, path, options
    lib.espeak_Initialize.restype = c_int  # the sample rate, or an error code <= 0
    lib.espeak_SetVoiceByName.argtypes = [c_char_p]
    lib.espeak_SetParameter.argtypes = [c_int, c_int, c_int]  # parameter, value, relative
    lib.espeak_ng_SetRandSeed.argtypes = [c_long]
    # text, size, position, position_type, end_position, flags, unique_identifier, user_data
    lib.espeak_Synth.argtypes = [c_void_p, c_size_t, c_uint, c_int, c_uint, c_uint, c_void_p, c_void_p]
    # fmt: on
    return lib


class Synth:
    """eSpeak NG, freshly loaded, synthesizing into memory; use as a context manager.

    One per speaker: its clips then depend on its own earlier clips only, never on which
    worker made them or what that worker said before.
    """

    # int callback(short *wav, int numsamples, espeak_EVENT *events); 0 = go on
    _CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)  # fmt: skip

    def __init__(self, paths: EspeakPaths):
        fix = "reinstall it with `pip install --force-reinstall espeakng-loader`, or use the Kaggle data"
        try:
            lib = _load_library(paths.library)
        except (OSError, AttributeError) as e:
            raise DemoError(
                f"cannot load the eSpeak NG library {paths.library} ({e}); {fix}"
            ) from None
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, paths.data.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise DemoError(
                f"eSpeak NG did not start with the voice data in {paths.data} (error {rate}); {fix}"
            )
        self.lib = lib
        self.sample_rate = rate  # 22,050 Hz
        self._chunks: list[np.ndarray] = []
        self._callback = self._CALLBACK(self._collect)  # must live as long as espeak may call it
        lib.espeak_SetSynthCallback(self._callback)
        # breath noise draws on espeak's own generator and, in some builds, on libc rand()
        self._libc = ctypes.CDLL(None) if os.name == "posix" else None

    def __enter__(self) -> Synth:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Free espeak's buffers and unmap this copy; the object is unusable after."""
        if self.lib is not None:
            self.lib.espeak_Terminate()
            dlclose = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
            if dlclose is not None:
                dlclose(self.lib._handle)
            self.lib = None

    def _collect(self, wav, n, events) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def set_voice(self, name: str) -> None:
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise DemoError(f"eSpeak NG has no voice {name!r}; reinstall espeakng-loader")

    def say(
        self, text: str, speaker: Speaker, *, pitch: int, rate: int, rand_seed: int
    ) -> np.ndarray:
        """`text` in `speaker`'s voice: `(samples,)` float32 in [-1, 1] at `self.sample_rate` Hz.

        `pitch` 0..100 and `rate` in words per minute override the speaker's for this utterance.
        """
        self.set_voice(speaker.voice_name)
        self.lib.espeak_SetParameter(_ESPEAK_RATE, int(np.clip(rate, 80, 450)), 0)
        self.lib.espeak_SetParameter(_ESPEAK_PITCH, int(np.clip(pitch, 0, 100)), 0)
        self.lib.espeak_SetParameter(_ESPEAK_RANGE, speaker.range, 0)
        self.lib.espeak_ng_SetRandSeed(rand_seed)
        if self._libc is not None:
            self._libc.srand(rand_seed)
        self._chunks = []
        blob = text.encode() + b"\0"
        err = self.lib.espeak_Synth(blob, len(blob), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0 or not self._chunks:
            raise DemoError(
                f"eSpeak NG failed to say {text!r} as {speaker.voice_name} (error {err})"
            )
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0


def english_voices(data: str | os.PathLike) -> tuple[str, ...]:
    """The English accents in the voice data (`en`, `en-us`, `en-gb-x-rp`, ...), lower case."""
    names = {p.name.lower() for p in Path(data, "lang").rglob("en*") if p.is_file()}
    names = {n for n in names if (n == "en" or n.startswith("en-")) and n not in EXCLUDED_VOICES}
    return tuple(sorted(names))


def human_variants(data: str | os.PathLike) -> tuple[str, ...]:
    """The variants of HUMAN_VARIANTS that the voice data has (espeak ignores unknown ones silently)."""
    folder = Path(data, "voices", "!v")
    return tuple(v for v in HUMAN_VARIANTS if (folder / v).is_file())


# ----------------------------------------------------------------------------- the plan


def _hex_id(*parts: object, digits: int) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:digits]


def draw_speakers(
    seed: int,
    n: int,
    voices: tuple[str, ...],
    variants: tuple[str, ...],
    *,
    tag: int = _TAG_SPEAKERS,
) -> list[Speaker]:
    """`n` distinct speakers; the id hashes the seed with the voice settings."""
    rng = np.random.default_rng([seed, tag])
    out: dict[str, Speaker] = {}
    while len(out) < n:
        voice = str(rng.choice(voices))
        variant = str(rng.choice(variants))
        pitch = int(rng.integers(25, 76))
        range_ = int(rng.integers(20, 91))
        rate = int(rng.integers(120, 211))
        sid = _hex_id(seed, voice, variant, pitch, range_, rate, digits=8)
        out.setdefault(sid, Speaker(sid, voice, variant, pitch, range_, rate))
    return list(out.values())


def _word_probability(word: str) -> float:
    return P_AUXILIARY if word in AUXILIARY_WORDS else P_FREQUENT


def plan_train_clips(seed: int, speakers: list[Speaker]) -> dict[str, list[Clip]]:
    """Which words each train speaker says, and how often: speaker id -> clips.

    Each speaker's choices come from its own random stream, so adding speakers keeps the
    others' clips. Every word gets at least one clip, whatever the speaker count.
    """
    said: dict[str, dict[str, int]] = {}
    for s in speakers:
        rng = np.random.default_rng([seed, _TAG_PLAN, int(s.id, 16)])
        said[s.id] = {
            w: 1 + int(rng.random() < P_REPEAT)
            for w in WORDS
            if rng.random() < _word_probability(w)
        }
    rng = np.random.default_rng([seed, _TAG_PLAN])
    for w in WORDS:
        if not any(w in words for words in said.values()):
            said[speakers[int(rng.integers(len(speakers)))].id][w] = 1
    return {
        sid: [
            Clip(f"train/audio/{w}/{sid}_nohash_{n}.wav", w, n)
            for w in WORDS
            if w in words
            for n in range(words[w])
        ]
        for sid, words in said.items()
    }


def plan_test_clips(
    seed: int, speakers: list[Speaker], per_label: int
) -> tuple[dict[str, list[Clip]], list[tuple[str, str]]]:
    """Test clips: `per_label` of each of the 12 labels, spoken by `speakers` (none of them in train).

    Returns (speaker id -> clips, [(clip path, label)] for the silence clips). Names are
    random `clip_<9 hex>.wav`, as on Kaggle, so a name says nothing about its clip.
    """
    rng = np.random.default_rng([seed, _TAG_TEST])
    names: set[str] = set()

    def fresh_name() -> str:
        name = f"test/audio/clip_{int(rng.integers(16**9)):09x}.wav"
        while name in names:  # 1 in 10^8 for the default build
            name = f"test/audio/clip_{int(rng.integers(16**9)):09x}.wav"
        names.add(name)
        return name

    by_speaker: dict[str, list[Clip]] = {s.id: [] for s in speakers}
    times: dict[tuple[str, str], int] = {}
    for label in LABELS:
        if label == SILENCE:
            continue
        order = rng.permutation(len(speakers))
        for i in range(per_label):
            sid = speakers[order[i % len(speakers)]].id
            word = label if label != UNKNOWN else str(rng.choice(OTHER_WORDS))
            n = times.get((sid, word), 0)
            times[(sid, word)] = n + 1
            by_speaker[sid].append(Clip(fresh_name(), word, n))
    silence = [(fresh_name(), SILENCE) for _ in range(per_label)]
    return by_speaker, silence


# ----------------------------------------------------------------------------- audio


def _to_16k(y: np.ndarray, sr: int) -> np.ndarray:
    g = math.gcd(SAMPLE_RATE, sr)
    return signal.resample_poly(y, SAMPLE_RATE // g, sr // g).astype(np.float32)


def trim_silence(y: np.ndarray, floor_db: float = -45.0, pad: int = 160) -> np.ndarray:
    """Cut what is `floor_db` below the peak at both ends, keeping `pad` samples (10 ms at 16 kHz)."""
    a = np.abs(y)
    if len(y) == 0 or a.max() == 0:
        return y[:0]
    loud = np.flatnonzero(a > a.max() * 10 ** (floor_db / 20))
    return y[max(loud[0] - pad, 0) : loud[-1] + pad + 1]


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`(n,)` float32 noise at 16 kHz with unit RMS.

    kinds: white, pink (1/f power), brown (1/f^2), hum (50 or 60 Hz mains with harmonics),
    tap (band-limited noise with a slow, uneven swell, like running water).
    """
    if kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        f0 = rng.choice([50.0, 60.0]) * (1 + rng.uniform(-0.003, 0.003))
        y = sum(
            rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
            for k in range(1, 9)
        )
        y = y + 0.05 * rng.standard_normal(n)
    else:
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        with np.errstate(divide="ignore"):
            if kind == "pink":
                spec *= np.where(f >= 20, 1 / np.sqrt(f), 0)
            elif kind == "brown":
                spec *= np.where(f >= 20, 1 / f, 0)
            elif kind == "tap":
                centre = np.exp(rng.uniform(np.log(700), np.log(3000)))
                spec *= np.exp(-0.5 * (np.log(np.maximum(f, 1) / centre) / 0.6) ** 2)
            elif kind != "white":
                raise ValueError(f"unknown noise kind {kind!r}")
        y = np.fft.irfft(spec, n)
        if kind == "tap":
            # the swell: smooth random gain at ~4 points a second
            knots = rng.standard_normal(int(n / SAMPLE_RATE * 4) + 2)
            y *= 1 + 0.5 * np.tanh(
                np.interp(np.linspace(0, len(knots) - 1, n), np.arange(len(knots)), knots)
            )
    y = np.asarray(y, dtype=np.float64)
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


NOISE_KINDS = ("white", "pink", "brown", "hum", "tap")


def _room(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Now and then a duller microphone (low-pass) or a small room (short reverb tail)."""
    if rng.random() < 0.5:
        sos = signal.butter(
            2, np.exp(rng.uniform(np.log(2500), np.log(7500))), fs=SAMPLE_RATE, output="sos"
        )
        y = signal.sosfilt(sos, y)
    if rng.random() < 0.3:
        rt60 = rng.uniform(0.08, 0.35)
        t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
        tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
        ir = np.concatenate([[1.0], rng.uniform(0.05, 0.3) * tail / np.sqrt(np.sum(tail**2))])
        # the recording stops at 1 s whatever rings on: cut the tail like a real clip
        y = signal.fftconvolve(y, ir)[: len(y)]
    return y


def speak_word(synth: Synth, speaker: Speaker, word: str, rng: np.random.Generator) -> np.ndarray:
    """`word` as `speaker` says it this time: `(samples,)` float32 at 16 kHz, trimmed, <= 0.95 s.

    A person never says a word twice the same: pitch, rate and intonation vary per clip.
    """
    pitch = speaker.pitch + int(rng.integers(-4, 5))
    rate = speaker.rate * rng.uniform(0.92, 1.08)
    text = word + str(rng.choice([".", "!", ",", "?"], p=[0.6, 0.2, 0.15, 0.05]))
    rand_seed = int(rng.integers(1, 2**31 - 1))
    limit = int(MAX_WORD_SECONDS * SAMPLE_RATE)
    for _ in range(4):
        y = synth.say(text, speaker, pitch=pitch, rate=round(rate), rand_seed=rand_seed)
        y = trim_silence(_to_16k(y, synth.sample_rate))
        if len(y) <= limit:
            return y
        rate = rate * len(y) / limit * 1.05  # too slow to fit in a second: say it faster
    fade = np.minimum(1.0, np.arange(limit, 0, -1) / 400)  # 25 ms, so the cut does not click
    return y[:limit] * fade.astype(np.float32)


def place_in_clip(word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One `(16000,)` float32 clip: `word` at a random offset, room colour, gain and mild noise.

    Peak between 0.05 and 0.9 (log-uniform); noise at 20-40 dB below the word's RMS.
    """
    y = np.zeros(CLIP_SAMPLES, dtype=np.float64)
    start = int(rng.integers(0, CLIP_SAMPLES - len(word) + 1))
    y[start : start + len(word)] = word
    y = _room(y, rng)
    y *= np.exp(rng.uniform(np.log(0.05), np.log(0.9))) / (np.abs(y).max() + 1e-12)
    word_rms = np.sqrt(np.mean(y[start : start + len(word)] ** 2))
    snr_db = rng.uniform(20, 40)
    y += (
        noise(str(rng.choice(["white", "pink", "brown"])), CLIP_SAMPLES, rng)
        * word_rms
        * 10 ** (-snr_db / 20)
    )
    return np.clip(y, -1, 1).astype(np.float32)


def silence_clip(rng: np.random.Generator) -> np.ndarray:
    """One `(16000,)` float32 test `silence` clip: fresh noise of a background kind, gain down to
    near zero; one in eight is digital zeros."""
    if rng.random() < 0.125:
        return np.zeros(CLIP_SAMPLES, dtype=np.float32)
    kind = str(rng.choice(NOISE_KINDS))
    return noise(kind, CLIP_SAMPLES, rng) * np.float32(
        np.exp(rng.uniform(np.log(3e-5), np.log(0.05)))
    )


def babble(
    synth: Synth, speakers: list[Speaker], seconds: float, rng: np.random.Generator
) -> np.ndarray:
    """`(seconds * 16000,)` float32: several speakers talking over each other, RMS 0.1."""
    n = int(seconds * SAMPLE_RATE)
    mix = np.zeros(n)
    for s in speakers:
        words = rng.choice(FILLER_WORDS, size=int(seconds * 4))  # ~4 words/s: more than a minute
        text = " ".join(w + ("." if rng.random() < 0.15 else "") for w in words)
        rand_seed = int(rng.integers(1, 2**31 - 1))
        y = _to_16k(
            synth.say(text, s, pitch=s.pitch, rate=s.rate, rand_seed=rand_seed), synth.sample_rate
        )
        y = np.tile(y, -(-n // len(y)) + 1)  # long enough for any window of n
        start = int(rng.integers(0, len(y) - n + 1))
        mix += rng.uniform(0.4, 1.0) * y[start : start + n] / (np.sqrt(np.mean(y**2)) + 1e-12)
    return (0.1 * mix / np.sqrt(np.mean(mix**2))).astype(np.float32)


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class _SpeakerTask:
    """All clips of one speaker (train or test), said by one freshly loaded eSpeak, in order."""

    speaker: Speaker
    clips: tuple[Clip, ...]

    @property
    def size(self) -> int:
        return len(self.clips)

    def run(self, root: Path, seed: int, paths: EspeakPaths) -> None:
        with Synth(paths) as synth:
            for c in self.clips:
                rng = np.random.default_rng(
                    [seed, int(self.speaker.id, 16), WORDS.index(c.word), c.n]
                )
                word = speak_word(synth, self.speaker, c.word, rng)
                write_wav(root / c.path, place_in_clip(word, rng))


@dataclass(frozen=True)
class _NoiseTask:
    """One minute-long background noise file."""

    name: str
    kind: str
    size: int = 1

    def run(self, root: Path, seed: int, paths: EspeakPaths) -> None:
        rng = np.random.default_rng([seed, _TAG_NOISE, NOISE_KINDS.index(self.kind)])
        level = np.exp(rng.uniform(np.log(0.05), np.log(0.2)))  # RMS
        y = noise(self.kind, BACKGROUND_SECONDS * SAMPLE_RATE, rng) * level
        write_wav(root / "train" / "audio" / BACKGROUND_DIR / self.name, y)


@dataclass(frozen=True)
class _BabbleTask:
    """The background file of overlapping talk."""

    name: str
    speakers: tuple[Speaker, ...]
    size: int = 1

    def run(self, root: Path, seed: int, paths: EspeakPaths) -> None:
        rng = np.random.default_rng([seed, _TAG_BABBLE])
        with Synth(paths) as synth:
            y = babble(synth, list(self.speakers), BACKGROUND_SECONDS, rng)
        write_wav(root / "train" / "audio" / BACKGROUND_DIR / self.name, y)


@dataclass(frozen=True)
class _SilenceTask:
    """The test `silence` clips."""

    paths: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.paths)

    def run(self, root: Path, seed: int, paths: EspeakPaths) -> None:
        for i, p in enumerate(self.paths):
            write_wav(root / p, silence_clip(np.random.default_rng([seed, _TAG_SILENCE, i])))


_Task = _SpeakerTask | _NoiseTask | _BabbleTask | _SilenceTask


def _run_task(task: _Task, root: str, seed: int, paths: EspeakPaths) -> int:
    task.run(Path(root), seed, paths)
    return task.size


def _run_all(
    tasks: list[_Task], root: Path, seed: int, paths: EspeakPaths, workers: int, bar
) -> None:
    """Run `tasks` in `workers` processes (in this one when `workers` is 1), updating `bar`.

    eSpeak is not thread-safe, hence processes. On Linux they fork: cheap, and a caller's
    script needs no `if __name__ == "__main__":` guard (spawn would re-run it in every worker).
    """
    job = partial(_run_task, root=str(root), seed=seed, paths=paths)
    if workers <= 1:
        for task in tasks:
            bar.update(job(task))
        return
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ctx.Pool(min(workers, len(tasks))) as pool:
        for done in pool.imap_unordered(job, tasks):
            bar.update(done)


# ----------------------------------------------------------------------------- the build


@dataclass(frozen=True)
class DemoPlan:
    """Everything a build writes, decided before any audio is made."""

    train: tuple[Speaker, ...]
    test: tuple[Speaker, ...]
    tasks: tuple[_Task, ...]
    solution: tuple[tuple[str, str], ...]  # (test file name, 12-way label), sorted
    train_clips: int
    test_clips: int

    def spoken(self, split: str) -> list[Clip]:
        """The spoken clips of the `train` or `test` split (test: without silence)."""
        speakers = set(self.train if split == "train" else self.test)
        return [
            c
            for t in self.tasks
            if isinstance(t, _SpeakerTask) and t.speaker in speakers
            for c in t.clips
        ]


def plan_demo(
    seed: int, speakers: int, voices: tuple[str, ...], variants: tuple[str, ...]
) -> DemoPlan:
    """The speakers, the clips each says, the noise files and the answer key of one build."""
    n_test = max(2, round(speakers * TEST_SPEAKER_SHARE))
    everyone = draw_speakers(seed, speakers + n_test, voices, variants)
    train, test = everyone[:speakers], everyone[speakers:]
    train_clips = plan_train_clips(seed, train)
    per_label = max(3, round(speakers * TEST_CLIPS_PER_LABEL))
    test_clips, silence = plan_test_clips(seed, test, per_label)

    noise_names = {"white": "white_noise.wav", "pink": "pink_noise.wav", "brown": "brown_noise.wav",
                   "hum": "hum.wav", "tap": "running_tap.wav"}  # fmt: skip
    # the longest task first, so it does not run alone at the end
    tasks: list[_Task] = [
        _BabbleTask("babble.wav", tuple(draw_speakers(seed, 6, voices, variants, tag=_TAG_BABBLE)))
    ]
    tasks += [_NoiseTask(noise_names[k], k) for k in NOISE_KINDS]
    tasks.append(_SilenceTask(tuple(p for p, _ in silence)))
    tasks += [_SpeakerTask(s, tuple(train_clips[s.id])) for s in train]
    tasks += [_SpeakerTask(s, tuple(test_clips[s.id])) for s in test if test_clips[s.id]]

    solution = [
        (c.path, c.word if c.word in COMMANDS else UNKNOWN)
        for cs in test_clips.values()
        for c in cs
    ]
    solution += silence
    return DemoPlan(
        train=tuple(train),
        test=tuple(test),
        tasks=tuple(tasks),
        solution=tuple(sorted((Path(p).name, label) for p, label in solution)),
        train_clips=sum(len(c) for c in train_clips.values()),
        test_clips=len(solution),
    )


def _readme(seed: int, plan: DemoPlan) -> str:
    return (
        "# Demo data (synthetic)\n\n"
        "This folder is synthesized demo data in the layout of Kaggle's TensorFlow Speech "
        "Recognition Challenge, made offline by `competition.demo.build_demo` with the eSpeak NG "
        f"speech synthesizer (seed {seed}, {len(plan.train)} train speakers and {len(plan.test)} "
        f"other test speakers; {plan.train_clips} train clips, {plan.test_clips} test clips). It is "
        "not real speech: it lets the pipeline run end to end without a Kaggle account, and its "
        "scores say nothing about the competition. `test_solution.csv` is its answer key.\n"
    )


def _speakers_json(seed: int, plan: DemoPlan) -> dict:
    return {
        "seed": seed,
        "train": [s.id for s in plan.train],
        "test": [s.id for s in plan.test],
        "voices": {
            s.id: {
                "voice": s.voice,
                "variant": s.variant,
                "pitch": s.pitch,
                "range": s.range,
                "rate": s.rate,
            }
            for s in (*plan.train, *plan.test)
        },
    }


def _cpu_count() -> int:
    """CPUs this process may use (a container's limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def build_demo(
    dest: Path,
    *,
    seed: int = 0,
    speakers: int = DEFAULT_SPEAKERS,
    workers: int | None = None,
    progress: bool = True,
) -> None:
    """Write a complete Kaggle-layout folder at `dest`, atomically (build in files.atomic_dir(dest), so an interrupted build leaves no `dest`).

    `speakers` train speakers say the 30 words; a quarter as many other speakers say the test
    clips. The same `seed` writes the same bytes with any `workers` (default: all CPUs).
    Raises DemoError when eSpeak NG cannot be loaded.
    """
    import pandas as pd
    from tqdm import tqdm

    if speakers < 1:
        raise ValueError(f"speakers must be at least 1, not {speakers}")
    dest = Path(dest)
    paths = espeak_paths()
    voices, variants = english_voices(paths.data), human_variants(paths.data)
    if not voices or not variants:
        raise DemoError(f"no English eSpeak voices under {paths.data}; reinstall espeakng-loader")
    with Synth(paths) as probe:  # one clear DemoError here, not a traceback from every worker
        for v in voices:
            probe.set_voice(v)
    plan = plan_demo(seed, speakers, voices, variants)

    with files.locked(dest):  # a second `make data` at once waits, then finds the folder built
        if dest.is_dir():
            return
        files.clean_stale(dest)
        with files.atomic_dir(dest) as tmp:
            total = sum(t.size for t in plan.tasks)
            with tqdm(total=total, desc="demo data", unit="file", disable=not progress) as bar:
                _run_all(list(plan.tasks), tmp, seed, paths, workers or _cpu_count(), bar)
            frame = pd.DataFrame(list(plan.solution), columns=["fname", "label"])
            files.write_csv(tmp / "test_solution.csv", frame)
            files.write_json(tmp / "demo_speakers.json", _speakers_json(seed, plan))
            files.write_text(tmp / "README.md", _readme(seed, plan))
            layout.verify(tmp, all_words=True)
