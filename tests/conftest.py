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
