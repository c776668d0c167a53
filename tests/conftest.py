from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture
def kaggle_env(tmp_path: Path, monkeypatch) -> SimpleNamespace:
    """An environment without Kaggle credentials: HOME, KAGGLE_CONFIG_DIR and XDG_CONFIG_HOME
    point at empty temporary folders, so the real ~/.kaggle is never read."""
    home = tmp_path / "home"
    config = tmp_path / "kaggle-config"
    home.mkdir()
    config.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_V1_TOKEN_PATH", "DATA"):
        monkeypatch.delenv(name, raising=False)
    return SimpleNamespace(home=home, config=config)


@pytest.fixture(scope="session")
def tone_data(tmp_path_factory):
    """A learnable Kaggle-layout folder (tests.helpers.make_tone_tree), built once per session."""
    from helpers import make_tone_tree

    return make_tone_tree(tmp_path_factory.mktemp("tones") / "raw")


@pytest.fixture
def tone_project(tone_data, tmp_path, monkeypatch):
    """A project folder (the cwd) whose data/raw is the tone data and whose features and
    3 folds are built: returns (features.Cache, folds DataFrame, folds path)."""
    from competition import features
    from competition.data import prepare
    from folds.make_folds import FoldSettings, load_folds, make_folds

    monkeypatch.chdir(tmp_path)
    prepare(str(tone_data), Path("data"), log=lambda *a: None)
    path = features.build(features.FeatureSettings(), workers=1, progress=False, log=lambda *a: None)
    cache = features.load(path)
    s = FoldSettings(n_folds=3)
    folds_file = make_folds(cache.train_index, s, log=lambda *a: None)
    return cache, load_folds(cache.train_index, s), folds_file


SHARED_DEV = Path(__file__).resolve().parents[2] / "shared" / "speech_commands_dev"


@pytest.fixture(scope="session")
def shared_dev() -> Path:
    """../shared/speech_commands_dev (real clips), or a skip saying where it was looked for."""
    if not (SHARED_DEV / "train" / "audio").is_dir():
        pytest.skip(f"the dev data is not at {SHARED_DEV}")
    return SHARED_DEV
