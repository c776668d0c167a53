"""Faults and bad input, from the command line: for each case the exit code, the one line the
stage prints, and what is on disk before and after (nothing finished is lost). The README's
table "Faults and bad input tried" lists these cases; `make test PYTEST_ARGS=tests/test_faults.py`
reruns them."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, quiet

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# `make train` of the run in `finished_base` (conftest): the same model and settings, so the same run
TRAIN = ["models.train", "--models", "crnn_resnet", "--profile", "toy", "--verbose", "0",
         "--set", *(f"{k}={v}" for k, v in FAST.items())]


@pytest.fixture(scope="module")
def base(finished_base, tmp_path_factory) -> Path:
    """A finished project (conftest's finished_base) with one submission, `first`."""
    from competition.workspace import Workspace
    from submissions.ensemble import ensemble

    root = tmp_path_factory.mktemp("faults") / "project"
    shutil.copytree(finished_base, root, symlinks=True)
    ensemble(name="first", ws=Workspace(root), log=quiet)
    return root


@pytest.fixture
def project(base, tmp_path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(base, dest, symlinks=True)
    return dest


def cli(root: Path, module: str, *args: str, fsize: int | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` in the project `root`, as `make` runs it (optionally with a file
    size limit, to make writes fail as on a full disk)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "OPTUNA_"))}
    env.update(PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", HOME=str(root))

    def limits():
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", module, *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limits)


def error_line(proc: subprocess.CompletedProcess, stage: str) -> str:
    """The stage's one error line (TensorFlow's start-up chatter on stderr aside); no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith(f"make {stage}: ")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under artifacts/ but the lock files."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in (root / "artifacts").rglob("*") if p.is_file() and not p.name.endswith(".lock")}


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*") if p.name.endswith((".tmp", ".rows")))


def run_dir(root: Path) -> Path:
    (out,) = (root / "artifacts/runs/crnn_resnet").iterdir()
    return out


# --- a damaged run -------------------------------------------------------------------------------


def test_a_fold_with_a_missing_file_is_trained_again(project):
    out = run_dir(project)
    (out / "fold_1" / "oof.npy").unlink()
    kept = (out / "fold_0" / "model.keras").stat().st_mtime_ns
    proc = cli(project, *TRAIN)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fold 2/3: oof.npy missing; training it again" in proc.stdout
    assert proc.stdout.count("finished earlier, skipped") == 2
    assert (out / "fold_1" / "oof.npy").is_file() and (out / "fold_0" / "model.keras").stat().st_mtime_ns == kept


def test_a_run_without_its_test_predictions_is_refused_then_rebuilt_by_make_train(project):
    (run_dir(project) / "test.npy").unlink()
    proc = cli(project, "submissions.ensemble", "--name", "second")
    assert proc.returncode == 2 and "test.npy is missing" in error_line(proc, "ensemble")
    assert not (project / "artifacts/submissions/second.csv").exists()
    assert cli(project, *TRAIN).returncode == 0 and (run_dir(project) / "test.npy").is_file()
    assert cli(project, "submissions.ensemble", "--name", "second").returncode == 0


# --- two processes at once -------------------------------------------------------------------------


def test_two_feature_builds_at_once_build_once_and_both_succeed(project):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env.update(PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "competition.features", "--n-mels", "24", "--workers", "1"]
    procs = [subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    text = "".join(o + e for o, e in outs)
    assert text.count("building features") == 1 and "features up to date" in text
    assert leftovers(project) == []


def test_two_trainings_of_one_run_split_its_folds(project):
    shutil.rmtree(project / "artifacts/runs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env.update(PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    procs = [subprocess.Popen([sys.executable, "-m", *TRAIN], cwd=project, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    text = "".join(o for o, _ in outs)
    for k in (1, 2, 3):
        assert text.count(f"fold {k}/3: training on") == 1, text
    import json

    assert json.loads((run_dir(project) / "cv.json").read_text())["complete"]
    assert leftovers(project) == []


# --- secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["postgresql://:s3cr3tpw@127.0.0.1:1/db", "postgresql://u:s3cr@tpw@127.0.0.1:1/db",
                                 "postgresql+psycopg://u@127.0.0.1:1/db?password=s3cr3tpw&sslmode=disable"])
def test_a_storage_password_is_never_printed(project, url):
    proc = cli(project, "models.tune", "--model", "cnn_resnet", "--profile", "toy", "--storage", url)
    line = error_line(proc, "tune")
    assert proc.returncode == 2 and "cannot open the Optuna storage" in line and "***" in line
    assert "s3cr" not in proc.stdout + proc.stderr


# --- full disks and unwritable places ------------------------------------------------------------


def test_a_full_disk_during_make_features_loses_nothing(project):
    before = snapshot(project)
    proc = cli(project, "competition.features", "--n-mels", "24", "--workers", "1", fsize=200_000)
    assert proc.returncode == 2
    line = error_line(proc, "features")
    assert "cannot write artifacts/features/" in line and "File too large" in line
    assert snapshot(project) == before and leftovers(project) == []


def test_a_full_disk_during_make_ensemble_keeps_the_earlier_submission(project):
    before = snapshot(project)
    proc = cli(project, "submissions.ensemble", "--name", "first", fsize=1_000)
    assert proc.returncode == 2 and "cannot write" in error_line(proc, "ensemble")
    after = snapshot(project)
    assert {k: v for k, v in after.items() if "submissions" in k} == {k: v for k, v in before.items() if "submissions" in k}
    assert leftovers(project) == []


def test_a_file_where_artifacts_should_be(project):
    shutil.move(project / "artifacts", project / "artifacts.kept")
    (project / "artifacts").write_text("not a folder")
    proc = cli(project, "competition.features", "--workers", "1")
    assert proc.returncode == 2 and "a file stands where a folder should be" in error_line(proc, "features")
    assert (project / "artifacts").read_text() == "not a folder"


def _make_unwritable(folder: Path) -> str | None:
    """Make `folder` refuse new files: chmod for a normal user; for root (whom permissions do not
    stop) the immutable attribute. Returns the undo command's flag, or None when impossible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return "chmod"
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        return "chattr"
    return None


def test_an_unwritable_submissions_folder(project):
    folder = project / "artifacts/submissions"
    how = _make_unwritable(folder)
    if how is None:
        pytest.skip("running as root without the immutable attribute (chattr): permissions cannot be tested")
    try:
        before = snapshot(project)
        proc = cli(project, "submissions.ensemble", "--name", "again")
    finally:
        subprocess.run(["chattr", "-i", str(folder)]) if how == "chattr" else folder.chmod(0o755)
    line = error_line(proc, "ensemble").lower()
    assert proc.returncode == 2 and ("permission denied" in line or "not permitted" in line), line
    assert {k: v for k, v in snapshot(project).items() if "submissions" in k} == \
        {k: v for k, v in before.items() if "submissions" in k}


# --- bad prediction files --------------------------------------------------------------------------


@pytest.mark.parametrize("content, says", [
    (b"", "is not a readable .npy file (EOFError)"),
    (os.urandom(4096), "is not a readable .npy file"),
    ("zeros", "not probabilities"),
    ("fives", "not probabilities"),
    ("nan", "NaN"),
])
def test_bad_prediction_files_are_refused_in_one_line(project, content, says):
    target = run_dir(project) / "oof.npy"
    shape = np.load(target).shape
    if content == "zeros":
        np.save(target, np.zeros(shape, np.float32))
    elif content == "fives":
        np.save(target, np.full(shape, 5.0, np.float32))
    elif content == "nan":
        np.save(target, np.full(shape, np.nan, np.float32))
    else:
        target.write_bytes(content)
    before = snapshot(project)
    proc = cli(project, "submissions.ensemble", "--name", "bad")
    line = error_line(proc, "ensemble")
    assert proc.returncode == 2 and says in line and "allow_pickle" not in line and "rerun `make train`" in line
    assert snapshot(project) == before


# --- smaller ones ----------------------------------------------------------------------------------


def test_a_dangling_wav_link_in_the_data_folder_is_a_bad_file(project, tone_data):
    data = project / "data" / "copy"
    shutil.copytree(tone_data, data)
    (data / "train/audio/yes/dead0000_nohash_0.wav").symlink_to(data / "nowhere.wav")
    proc = cli(project, "competition.data", "--source", str(data))
    assert proc.returncode == 0, proc.stderr
    proc = cli(project, "competition.features", "--workers", "1", "--n-mels", "24")  # a new cache: a build
    assert proc.returncode == 0, proc.stderr
    assert "left out" in proc.stdout and "dead0000_nohash_0.wav" in proc.stdout


def test_a_folder_given_as_the_submission(project):
    proc = cli(project, "submissions.score", "--submission", "artifacts/submissions")
    assert proc.returncode == 2 and "is a folder" in error_line(proc, "score")


def test_a_file_given_as_the_data_folder(project):
    proc = cli(project, "competition.data", "--source", "data/manifest.json")
    assert proc.returncode == 2 and "is a file, not a data folder" in error_line(proc, "data")


def test_ctrl_c_in_make_tune_is_one_line(project):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "OPTUNA_"))}
    env.update(PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "models.tune", "--model", "cnn_resnet", "--profile", "toy",
                             "--epochs", "3", "--trials", "5", "--set", "batch_size=32", "tta=1"], cwd=project,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell's background job ignores SIGINT, and Python keeps it ignored: restore it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    started = time.time()
    line = ""
    while "tuning cnn_resnet" not in line and time.time() - started < 120 and proc.poll() is None:
        line = proc.stdout.readline()
    assert "tuning cnn_resnet" in line, proc.stderr.read()[-2000:] if proc.poll() is not None else "no start line"
    time.sleep(3)  # inside the first trial
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "make tune: interrupted; finished trials are kept" in err


def test_numbers_out_of_range_from_the_command_line(project):
    for module, args, stage, says in (
            ("models.train", ["--epochs", "0"], "train", "EPOCHS must be an integer >= 1"),
            ("models.tune", ["--model", "cnn_resnet", "--trials", "-3"], "tune", "TRIALS must be an integer >= 1"),
            ("models.tune", ["--model", "cnn_resnet", "--workers", "0"], "tune", "WORKERS must be an integer >= 1"),
            ("competition.features", ["--workers", "0"], "features", "WORKERS must be an integer >= 1")):
        before = snapshot(project)
        proc = cli(project, module, *args)
        assert proc.returncode == 2 and says in error_line(proc, stage)
        assert snapshot(project) == before
