"""The Makefile is the documented entry point: every stage has a target with a help line."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_every_target_with_one_line():
    out = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"^  (\S+)\s{2,}\S", out, flags=re.M))
    for target in ("data", "features", "folds", "train", "tune", "ensemble", "score", "submit", "test",
                   "bench-features", "bench-train", "bench-tune"):
        assert target in listed, target
    assert "make data features train ensemble" in out and "make test" in out


def test_variables_reach_the_commands():
    out = subprocess.run(["make", "-n", "train", "MODELS=bc_resnet crnn_vgg", "EPOCHS=7", "FOLDS=0 1",
                          "SET=lr=0.001", f"STAMP={REPO / 'Makefile'}"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "--models bc_resnet crnn_vgg" in out and "--epochs 7" in out and "--folds 0 1" in out
    assert "--set lr=0.001" in out


def test_ci_runs_the_readme_test_command():
    """.ci/run runs the README's test command (then the same model tests on JAX), and it runs pytest."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("## The two commands", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.startswith("    make ")]
    assert commands == ["make data features train ensemble", "make test"]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.strip().startswith("#")]
    assert commands[1] in ci and ci[-1] == "make test-backend BACKEND=jax"
    assert ci.index(commands[1]) < ci.index("make test-backend BACKEND=jax")
    dry = subprocess.run(["make", "-n", "test", f"STAMP={REPO / 'Makefile'}"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    assert "-m pytest" in dry and "TF_ENABLE_ONEDNN_OPTS" in dry


def _dry(*args: str) -> str:
    return subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout


def test_system_python_mode_installs_nothing_and_uses_that_python():
    out = _dry("train", "VENV=none", "PY=/opt/notebook/bin/python3", "WORKERS=2")
    assert out.lstrip().startswith("/opt/notebook/bin/python3 -m models.train")
    assert "venv" not in out and "pip" not in out and "--workers 2" in out
    # TENSORBOARD=1 installs tensorboard only where it is missing (tensorflow-cpu does not bring it)
    assert "--tensorboard" in _dry("train", "VENV=none", "PY=/opt/notebook/bin/python3", "TENSORBOARD=1")


def test_artifacts_reaches_the_stages_and_the_clean_targets(tmp_path):
    out = subprocess.run(["make", "-n", "--no-print-directory", "-p", "VENV=none", f"ARTIFACTS={tmp_path}", "help"],
                         cwd=REPO, capture_output=True, text=True).stdout
    assert f"KWS_ARTIFACTS := {tmp_path}" in out
    assert _dry("clean-runs", f"ARTIFACTS={tmp_path}").strip() == f"rm -rf {tmp_path}/runs"
    assert _dry("clean-tune").strip() == "rm -rf artifacts/tune"
    assert "artifacts/runs" not in _dry("clean-features") and "artifacts/features" in _dry("clean-features")


def test_the_stages_never_run_at_once():
    """`make -j4 data features train` must still run the stages in order: the Makefile is .NOTPARALLEL."""
    out = subprocess.run(["make", "-p", "-n", "help"], cwd=REPO, capture_output=True, text=True).stdout
    assert re.search(r"^\.NOTPARALLEL:", out, flags=re.M)


STAGE_MODULES = ["competition.data", "competition.features", "folds.make_folds", "models.train",
                 "submissions.ensemble", "submissions.score", "submissions.submit", "submissions.leaderboard",
                 "competition.kernel", "submissions.pseudo", "models.noisy_oof"]


def test_every_stage_help_shows_a_usage_line_that_runs():
    import sys

    for module in STAGE_MODULES:
        proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"usage: python -m {module} "), (module, proc.stdout[:80])
