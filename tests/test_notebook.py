"""Kaggle Notebooks: the notebook's own Python (VENV=none), the competition on a read-only
input mount (extracted folders or Kaggle's archives), artifacts where told (ARTIFACTS=), and
the kernel folder `make kernel` writes for `kaggle kernels push`."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import quiet
from helpers import make_archives, make_kaggle_tree

from competition import data, kernel
from competition.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under `root` with its kind, size and modification time."""
    return {p.relative_to(root).as_posix(): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@contextlib.contextmanager
def read_only(root: Path):
    """`root` made read-only as Kaggle mounts /kaggle/input (and, since the tests may run as root,
    whom permissions do not stop, compared before and after: nothing may change)."""
    before = snapshot(root)
    modes = {p: p.stat().st_mode for p in [root, *root.rglob("*")]}
    for p in modes:
        p.chmod(modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert snapshot(root) == before, "something was written into the read-only input"


def test_an_extracted_competition_on_a_read_only_mount_is_used_in_place(tmp_path, kaggle_env):
    comp = make_kaggle_tree(tmp_path / "input" / "tensorflow-speech-recognition-challenge")
    with read_only(comp):
        manifest = data.prepare(str(comp), Workspace(tmp_path / "working"), log=quiet)
    assert manifest["root"] == str(comp.resolve()) and manifest["test_clips"] == 3
    assert (tmp_path / "working" / "data" / "raw").resolve() == comp.resolve()


def test_kaggles_archives_on_a_read_only_mount_are_extracted_into_data(tmp_path, kaggle_env):
    mount = tmp_path / "input" / "tensorflow-speech-recognition-challenge"
    make_archives(make_kaggle_tree(tmp_path / "tree"), mount)
    (mount / "sample_submission.7z").write_bytes(b"not needed")
    logs: list[str] = []
    with read_only(mount):
        manifest = data.prepare(str(mount), Workspace(tmp_path / "working"), log=logs.append)
        again = data.prepare(str(mount), Workspace(tmp_path / "working"), log=logs.append)
    assert manifest["source"] == "kaggle" and manifest["test_clips"] == 3
    assert Path(manifest["root"]) == (tmp_path / "working" / "data" / "kaggle").resolve()
    assert again["fingerprint"] == manifest["fingerprint"] and "already holds" in logs[-2]


def test_artifacts_setting_moves_every_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_ARTIFACTS", str(tmp_path / "elsewhere"))
    ws = Workspace(tmp_path / "project")
    assert ws.artifacts == tmp_path / "elsewhere"
    for path in (ws.features, ws.folds, ws.runs, ws.tune, ws.submissions, ws.reports, ws.bench, ws.current_path):
        assert path.is_relative_to(tmp_path / "elsewhere")
    assert ws.data == tmp_path / "project" / "data"  # data/ stays with the project: it is a link and a manifest
    monkeypatch.delenv("KWS_ARTIFACTS")
    assert Workspace(tmp_path / "project").artifacts == tmp_path / "project" / "artifacts"


def test_the_kernel_folder_is_what_kaggle_kernels_push_reads(tmp_path, kaggle_env, monkeypatch):
    out = kernel.build(tmp_path / "kernel", "someone/kws-harness", log=quiet)
    meta = json.loads((out / "kernel-metadata.json").read_text())
    assert meta["code_file"] == "run.py" and (out / meta["code_file"]).is_file()
    assert meta["competition_sources"] == ["tensorflow-speech-recognition-challenge"]
    assert meta["kernel_type"] == "script" and meta["language"] == "python" and meta["enable_gpu"]
    with pytest.raises(kernel.UserError, match="KERNEL_ID"):
        kernel.build(tmp_path / "k2", None, log=quiet)
    monkeypatch.setenv("KAGGLE_USERNAME", "me")
    assert json.loads((kernel.build(tmp_path / "k3", log=quiet) / "kernel-metadata.json").read_text())["id"] == \
        "me/kws-harness"


@pytest.mark.slow
@pytest.mark.needs_program("make")
def test_the_kernel_runs_the_pipeline_with_the_notebooks_python_on_a_read_only_input(tmp_path, kaggle_env):
    """What `kaggle kernels push` starts, run here: the script unpacks the harness, then
    `make VENV=none DATA=<the input mount> ARTIFACTS=<working>/artifacts data features` with this
    Python (no venv is made); the input is read-only and nothing is written into it."""
    comp = make_kaggle_tree(tmp_path / "input" / "tensorflow-speech-recognition-challenge")
    out = kernel.build(tmp_path / "kernel", "someone/kws-harness", targets="data features", log=quiet)
    work = tmp_path / "working"
    env = {**os.environ, "KWS_KERNEL_WORK": str(work), "KWS_KERNEL_INPUT": str(comp)}
    env.pop("KWS_ARTIFACTS", None)
    with read_only(comp):
        proc = subprocess.run([sys.executable, str(out / "run.py")], env=env, capture_output=True, text=True,
                              timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    project = work / "kws-harness"
    assert f"VENV=none PY={sys.executable}" in proc.stdout
    assert not (project / ".venv").exists() and not (project / "artifacts").exists()
    assert (project / "data" / "raw").resolve() == comp.resolve()
    current = json.loads((work / "artifacts" / "current.json").read_text())
    assert current["data"] and list((work / "artifacts" / "features").iterdir())
    assert list((work / "artifacts" / "folds").glob("*.csv"))
