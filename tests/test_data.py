"""`make data DATA=<folder>`: a Kaggle-layout folder is linked as data/raw, not copied, and
described in data/manifest.json; a folder in another shape is a LayoutError saying what
was expected."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import entries, make_kaggle_tree, write_noise

from competition import data, layout
from competition.labels import BACKGROUND_DIR, COMMANDS
from competition.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
DEV_DATA = Path(__file__).resolve().parents[2] / "shared" / "speech_commands_dev"
EXPECTED = "Expected train/audio/<word>/*.wav"
SUBSET = (*COMMANDS, "bed", "cat")  # the 10 commands and two `unknown` words


@pytest.fixture
def local_tree(tmp_path) -> Path:
    return make_kaggle_tree(tmp_path / "my data", words=SUBSET, seed=1)


def test_prepare_links_a_local_folder_and_describes_it(tmp_path, local_tree):
    data_dir = tmp_path / "data"
    logs: list[str] = []
    manifest = data.prepare(str(local_tree), Workspace(data_dir.parent), log=logs.append)

    raw = data_dir / "raw"
    assert raw.is_symlink() and Path(os.readlink(raw)) == local_tree.resolve()  # linked, not copied
    assert entries(data_dir) == ["manifest.json", "raw"]
    assert json.loads((data_dir / "manifest.json").read_text()) == manifest
    clips = sorted((local_tree / "train" / "audio").glob("[!_]*/*.wav"))
    assert manifest["source"] == "local"
    assert manifest["root"] == str(local_tree.resolve())
    assert sorted(manifest["words"]) == sorted(SUBSET)
    assert manifest["train_clips"] == len(clips)
    assert manifest["words"]["yes"] == len([c for c in clips if c.parent.name == "yes"])
    assert manifest["background"] == ["noise_0.wav"] and manifest["test_clips"] == 3
    assert manifest["solution"] is None
    assert len(manifest["fingerprint"]) == 16 and manifest["fingerprint"] == layout.fingerprint(local_tree)[0]
    assert any("lacks 18 of the 30 Kaggle words" in line for line in logs)


def test_a_rerun_does_nothing_until_the_clips_change(tmp_path, local_tree):
    data_dir = tmp_path / "data"
    first = data.prepare(str(local_tree), Workspace(data_dir.parent), log=lambda _: None)
    before = (data_dir / "manifest.json").read_bytes()

    logs: list[str] = []
    assert data.prepare(str(local_tree), Workspace(data_dir.parent), log=logs.append) == first
    assert "nothing to do" in logs[-1]
    assert (data_dir / "manifest.json").read_bytes() == before

    write_noise(local_tree / "test" / "audio" / "clip_new.wav", 1.0, np.random.default_rng(0))
    changed = data.prepare(str(local_tree), Workspace(data_dir.parent), log=lambda _: None)
    assert changed["test_clips"] == 4 and changed["fingerprint"] != first["fingerprint"]
    assert Workspace(data_dir.parent).read_manifest() == changed


def test_switching_folders_repoints_raw_and_keeps_the_old_one(tmp_path, local_tree):
    data_dir = tmp_path / "data"
    data.prepare(str(local_tree), Workspace(data_dir.parent), log=lambda _: None)
    other = make_kaggle_tree(tmp_path / "other", words=SUBSET, seed=2)
    assert data.prepare(str(other), Workspace(data_dir.parent), log=lambda _: None)["root"] == str(other.resolve())
    assert (data_dir / "raw").resolve() == other.resolve()
    assert (local_tree / "train" / "audio" / "yes").is_dir()
    assert not [p for p in data_dir.glob(".*") if not p.name.endswith(".lock")]  # no temporaries left behind


def _no_test_audio(root: Path) -> None:
    shutil.rmtree(root / "test" / "audio")


def _no_background(root: Path) -> None:
    shutil.rmtree(root / "train" / "audio" / BACKGROUND_DIR)


def _no_yes(root: Path) -> None:
    shutil.rmtree(root / "train" / "audio" / "yes")


def _empty(root: Path) -> None:
    shutil.rmtree(root)
    root.mkdir()


def _nonexistent(root: Path) -> None:
    shutil.rmtree(root)


WRONG = {
    "no-test-audio": (_no_test_audio, "no test clips in"),
    "no-background": (_no_background, f"no .wav files in train/audio/{BACKGROUND_DIR}/"),
    "no-yes-folder": (_no_yes, "missing or empty in train/audio/: yes"),
    "empty-dir": (_empty, "no train/audio/ folder"),
    "nonexistent": (_nonexistent, "does not exist"),
}


@pytest.mark.parametrize("break_it, says", WRONG.values(), ids=WRONG.keys())
def test_a_wrong_folder_says_what_was_expected(tmp_path, local_tree, break_it, says):
    break_it(local_tree)
    data_dir = tmp_path / "data"
    with pytest.raises(layout.LayoutError) as err:
        data.prepare(str(local_tree), Workspace(data_dir.parent), log=lambda _: None)
    msg = str(err.value)
    assert says in msg and str(local_tree) in msg and EXPECTED in msg
    assert not data_dir.exists()


def test_read_manifest_before_make_data_says_to_run_it(tmp_path):
    with pytest.raises(layout.LayoutError, match="run `make data` first"):
        Workspace(tmp_path).read_manifest()


def test_command_line_error_is_one_line_without_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "competition.data", "--source", "/nonexistent", "--workspace", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("make data: error: ") and proc.stderr.count("\n") == 1
    assert "/nonexistent" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


def test_command_line_success_exits_zero_and_prints_one_line(tmp_path, local_tree):
    proc = subprocess.run(
        [sys.executable, "-m", "competition.data", "--source", str(local_tree), "--workspace", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("data/raw -> ")
    assert "{" not in proc.stderr  # the manifest is written to data/manifest.json, not dumped


@pytest.mark.shared
def test_prepare_the_shared_dev_data(tmp_path, shared_dev):
    data_dir = tmp_path / "data"
    manifest = data.prepare(str(DEV_DATA), Workspace(data_dir.parent), log=lambda _: None)
    assert manifest["source"] == "local"
    assert manifest["test_clips"] == 909
    assert manifest["solution"] == str((DEV_DATA / "test_solution.csv").resolve())
    assert len(manifest["background"]) == 6
    assert set(COMMANDS) <= set(manifest["words"]) and manifest["train_clips"] == 4879
    assert (data_dir / "raw").resolve() == DEV_DATA.resolve()
