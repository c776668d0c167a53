from __future__ import annotations

import os
from pathlib import Path

# TensorFlow's oneDNN kernels accept forms its own kernels refuse (a depthwise convolution with
# unequal strides) and are on by default only on some CPUs: run the suite with the strictest
# kernels a user may have. Set before anything imports TensorFlow; `TF_ENABLE_ONEDNN_OPTS=1
# make test` checks the other kernels.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
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


def _pg_bin() -> Path | None:
    import glob
    import shutil

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
    import os
    import shutil
    import socket
    import subprocess
    import tempfile

    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server installed (Debian: apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="kws-pg-", dir="/tmp"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: use the postgres system user
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server as")
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
        pytest.skip(f"initdb failed: {init.stderr.strip()[:200]}")
    start = run(bindir / "pg_ctl", "-D", data, "-l", base / "log", "-w", "-o",
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    if start.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {start.stderr.strip()[:200]}")
    created = run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "kws", "optuna")
    try:
        if created.returncode != 0:
            pytest.fail(f"createdb failed: {created.stderr}")
        yield f"postgresql://kws:not-a-secret@127.0.0.1:{port}/optuna"
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
