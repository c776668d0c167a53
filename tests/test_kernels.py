"""How a training process uses the CPU (models/kernels.py): oneDNN chosen by measurement, what
the user typed winning, and glibc's allocator kept from handing memory back every step."""

from __future__ import annotations

import pytest

from competition.workspace import Workspace
from models import kernels


@pytest.fixture
def clean(monkeypatch, tmp_path):
    """No oneDNN setting in the environment (restored after), no earlier choice, an empty workspace."""
    monkeypatch.delenv(kernels.ENV, raising=False)
    monkeypatch.delenv(kernels._SOURCE, raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(kernels, "_CHOICE", {})
    return Workspace(tmp_path)


RATES = {"fast_with_onednn": {"0": 50.0, "1": 100.0}, "fast_without": {"0": 300.0, "1": 100.0}}


def test_the_setting_with_the_lower_summed_time_per_clip_is_set_before_tensorflow_starts(clean):
    kernels.save(clean, RATES, profile="cpu")
    assert kernels.choose(clean, ["fast_with_onednn"])[0] == "1"
    assert kernels.choose(clean, ["fast_without"])[0] == "0"
    # together: on costs 1/100 + 1/100 = 0.020 s per clip, off 1/50 + 1/300 = 0.023 s
    choice = kernels.apply(clean, None)
    assert choice[kernels.ENV] == "1" and "measured" in choice["source"]
    assert kernels.os.environ[kernels.ENV] == "1"
    assert kernels.current() == choice  # what the run records in params.json


def test_what_the_user_typed_wins_over_the_measurement(clean, monkeypatch):
    kernels.save(clean, RATES, profile="cpu")
    monkeypatch.setenv(kernels.ENV, "0")
    choice = kernels.apply(clean, ["fast_with_onednn"])
    assert choice[kernels.ENV] == "0" and choice["source"] == "typed (environment)"


def test_a_measurement_from_another_cpu_or_tensorflow_is_not_used(clean, monkeypatch):
    kernels.save(clean, RATES, profile="cpu")
    real = kernels.machine()
    monkeypatch.setattr(kernels, "machine", lambda: {**real, "isa": ["avx2"]})
    value, why = kernels.choose(clean, None)
    assert value == kernels.DEFAULT and "another CPU" in why


def test_without_a_measurement_onednn_is_on_and_the_run_says_how_to_measure(clean):
    choice = kernels.apply(clean, None)
    assert kernels.os.environ[kernels.ENV] == choice[kernels.ENV] == kernels.DEFAULT == "1"
    assert "no measurement" in choice["source"] and "make bench-speed COMPARE=onednn" in choice["source"]


def test_the_allocator_is_left_alone_when_the_user_sets_it(monkeypatch):
    monkeypatch.setenv("KWS_ALLOCATOR", "system")
    assert "KWS_ALLOCATOR=system" in kernels.tune_allocator()
    monkeypatch.delenv("KWS_ALLOCATOR")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert "MALLOC_" in kernels.tune_allocator()


def test_glibc_accepts_the_allocator_settings():
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert kernels.tune_allocator() == "glibc, no mmap and no trim (harness)"
