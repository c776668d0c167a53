from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

# TensorFlow's oneDNN kernels accept forms its own kernels refuse (a depthwise convolution with
# unequal strides) and are on by default only on some CPUs: run the suite with the strictest
# kernels a user may have. Set before anything imports TensorFlow; `TF_ENABLE_ONEDNN_OPTS=1
# make test` checks the other kernels.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# The allocator setting every training process gets (models/kernels.py): without it the strictest
# kernels above spend a third of the CPU re-faulting freed pages.
from models.kernels import tune_allocator  # noqa: E402 - no Keras or TensorFlow in it

tune_allocator()
IN_CI = os.environ.get("CI") == "true"  # set by .ci/run, which installs the outside programs
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


class _NoTensorFlow:
    """On another Keras backend (`make test-backend BACKEND=jax`) TensorFlow is hidden, as on
    the GPU machines that have JAX and PyTorch but no TensorFlow: an import of it by the
    harness fails the test that made it, while Keras's own optional probes see it missing."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"TensorFlow is hidden under KERAS_BACKEND={BACKEND}: import {name}")
        return None


if BACKEND != "tensorflow":
    import sys

    sys.meta_path.insert(0, _NoTensorFlow())


def unavailable(reason: str) -> None:
    """A test whose outside program or data is missing: skipped here with the reason, but a
    failure in CI, where .ci/run installs it (a broken install must not turn into green skips)."""
    if IN_CI:
        pytest.fail(f"{reason}; CI installs it (see .ci/run)", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item) -> None:
    """`@pytest.mark.needs_program("7z", "7zz", install="...")`: one of the programs must be on PATH."""
    for mark in item.iter_markers("needs_program"):
        if not any(shutil.which(name) for name in mark.args):
            unavailable(f"no {'/'.join(mark.args)} program on PATH ({mark.kwargs.get('install', 'install it')})")


@pytest.fixture(autouse=True)
def _no_developer_storage(monkeypatch) -> None:
    """In-process tuning must not write trials into a study the developer's OPTUNA_STORAGE names."""
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)


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
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_V1_TOKEN", "KAGGLE_KERNEL_RUN_TYPE",
                 "KAGGLE_DATA_PROXY_URL", "KAGGLE_ENABLE_OAUTH", "KWS_ARTIFACTS", "DATA"):
        monkeypatch.delenv(name, raising=False)
    return SimpleNamespace(home=home, config=config)


@pytest.fixture(scope="session")
def tone_data(tmp_path_factory):
    """A learnable Kaggle-layout folder (tests.helpers.make_tone_tree), built once per session."""
    from helpers import make_tone_tree

    return make_tone_tree(tmp_path_factory.mktemp("tones") / "raw")


def quiet(*_a) -> None:
    pass


@pytest.fixture
def tone_project(tone_data, tmp_path, monkeypatch):
    """A project folder (the cwd) whose data/raw is the tone data, with its features and 3
    folds built and recorded as current, as `make data features N_FOLDS=3` leaves it: returns
    the current `competition.inputs.Inputs`."""
    from competition import features
    from competition.data import prepare
    from competition.inputs import resolve
    from competition.workspace import Workspace
    from folds.make_folds import make_current_folds

    monkeypatch.chdir(tmp_path)
    ws = Workspace()
    prepare(str(tone_data), ws, log=quiet)
    features.build(features.FeatureSettings(), ws, workers=1, progress=False, log=quiet)
    make_current_folds({"n_folds": 3}, ws, log=quiet)
    return resolve(ws, log=quiet)


# Training settings of the tests' runs: a toy model, 2 epochs, no augmentation, no TTA.
FAST = {"epochs": 2, "batch_size": 32, "tta": 1, "aug.shift_frames": 0, "aug.gain_db": 0.0, "aug.noise_prob": 0.0,
        "aug.time_masks": 0, "aug.freq_masks": 0}


@pytest.fixture(scope="session")
def finished_base(tone_data, tmp_path_factory):
    """A project folder with the tone data, its features, 3 folds and one finished toy run of
    crnn_resnet (FAST settings), built once per session; use `finished` for a copy of your own."""
    from competition import features
    from competition.data import prepare
    from competition.inputs import resolve
    from competition.workspace import Workspace
    from folds.make_folds import make_current_folds
    from models.plan import Typed, plan_run
    from models.run import train_run

    root = tmp_path_factory.mktemp("finished") / "project"
    ws = Workspace(root)
    prepare(str(tone_data), ws, log=quiet)
    features.build(features.FeatureSettings(), ws, workers=1, progress=False, log=quiet)
    make_current_folds({"n_folds": 3}, ws, log=quiet)
    inputs = resolve(ws, log=quiet)
    train_run(plan_run("crnn_resnet", inputs, "cpu", Typed(FAST, profile="toy")), inputs, log=quiet, verbose=0)
    return root


@pytest.fixture
def finished(finished_base, tmp_path, monkeypatch) -> SimpleNamespace:
    """A copy of `finished_base` as the working directory: `inputs` (current) and `run` (its run folder)."""
    from competition.inputs import resolve
    from competition.workspace import Workspace

    dest = tmp_path / "project"
    shutil.copytree(finished_base, dest, symlinks=True)
    monkeypatch.chdir(dest)
    (run,) = Path("artifacts/runs/crnn_resnet").iterdir()
    return SimpleNamespace(inputs=resolve(Workspace(), log=quiet), run=run)


SHARED_DEV = Path(__file__).resolve().parents[2] / "shared" / "speech_commands_dev"


@pytest.fixture(scope="session")
def shared_dev() -> Path:
    """../shared/speech_commands_dev (real clips), or a skip saying where it was looked for."""
    if not (SHARED_DEV / "train" / "audio").is_dir():
        unavailable(f"the dev data is not at {SHARED_DEV}")
    return SHARED_DEV


def _pg_bin() -> Path | None:
    import glob

    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on loopback (started here, stopped after the session),
    as a SQLAlchemy URL; a skip with the reason where no server can be run. CI installs
    Debian's `postgresql` package (see .ci/run)."""
    import socket
    import subprocess
    import tempfile

    import psycopg  # noqa: F401 - a dependency of the project: its absence is a failure, not a skip

    bindir = _pg_bin()
    if bindir is None:
        unavailable("no PostgreSQL server installed (Debian: apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="kws-pg-", dir="/tmp"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: use the postgres system user
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no `postgres` user to run the server as")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = base / "data"

    def run(*cmd):
        return subprocess.run([*run_as, *map(str, cmd)], capture_output=True, text=True, timeout=120)

    init = run(bindir / "initdb", "-D", data, "-U", "kws", "--auth=trust", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        unavailable(f"initdb failed: {init.stderr.strip()[:200]}")
    start = run(bindir / "pg_ctl", "-D", data, "-l", base / "log", "-w", "-o",
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    if start.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        unavailable(f"PostgreSQL did not start: {start.stderr.strip()[:200]}")
    created = run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "kws", "optuna")
    try:
        if created.returncode != 0:
            pytest.fail(f"createdb failed: {created.stderr}")
        yield f"postgresql://kws:not-a-secret@127.0.0.1:{port}/optuna"
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
