"""Downloading and extracting the competition through a stand-in Kaggle client, credential
discovery, error translation, and that no secret ever leaves `competition.kaggle_api`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
import requests
from helpers import (
    StandinClient,
    entries,
    make_archives,
    make_kaggle_tree,
    make_unsafe_archive,
    tree_files,
)

import competition
from competition import data, kaggle_api, layout
from competition.download import (
    CorruptArchiveError,
    UnsafeArchiveError,
    check_member_name,
    download_competition,
    extract_7z,
)
from competition.kaggle_api import Credentials, KaggleError, find_credentials, require_credentials
from competition.labels import WORDS
from competition.workspace import Workspace

pytestmark = pytest.mark.usefixtures("kaggle_env")

REPO = Path(__file__).resolve().parents[1]
TOKEN = "KGAT_s3cr3t0ken5ecret9f8e7d6c5b4a"  # distinctive: any leak shows up in a substring test
SEVEN_ZIP = shutil.which("7z") or shutil.which("7za") or shutil.which("7zz")
needs_7z = pytest.mark.needs_program("7z", "7za", "7zz", install="Debian: apt-get install 7zip; py7zr covers extraction")
EXTRACTORS = [pytest.param(False, id="py7zr"), pytest.param(True, id="7z", marks=needs_7z)]


@pytest.fixture(scope="module")
def kaggle_tree(tmp_path_factory) -> Path:
    """What Kaggle's archives hold once extracted: all 30 words, noise, 3 test clips."""
    return make_kaggle_tree(tmp_path_factory.mktemp("kaggle-tree"))


@pytest.fixture(scope="module")
def archives(kaggle_tree, tmp_path_factory) -> dict[str, Path]:
    return make_archives(kaggle_tree, tmp_path_factory.mktemp("kaggle-archives"))


@pytest.fixture
def token(monkeypatch) -> str:
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    return TOKEN


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders (`.<name>.*.tmp`, `.links.tmp`) anywhere under `folder`."""
    return sorted(p.name for p in folder.rglob(".*") if p.name.endswith(".tmp"))


def outside_files(tmp_path: Path, name: str = "evil.wav") -> list[Path]:
    return list(tmp_path.rglob(name))


# --- a download that works -------------------------------------------------


@pytest.mark.parametrize("use_7z", EXTRACTORS)
def test_download_competition_extracts_a_verified_layout(tmp_path, archives, kaggle_tree, token, use_7z):
    client = StandinClient(archives)
    dest = tmp_path / "data" / "kaggle"
    found = download_competition(dest, tmp_path / "data" / "downloads", client=client,
                                 use_7z=use_7z, log=lambda _: None)
    assert client.calls == ["train.7z", "test.7z"]
    assert sorted(found.words) == sorted(WORDS)
    assert found.train_clips == len(list((kaggle_tree / "train" / "audio").glob("[!_]*/*.wav")))
    assert found.background == ["noise_0.wav"]
    assert found.test_clips == 3
    assert tree_files(dest) == tree_files(kaggle_tree)
    assert leftovers(tmp_path / "data") == []


def test_prepare_kaggle_links_raw_writes_manifest_and_a_rerun_does_nothing(tmp_path, archives, token):
    data_dir = tmp_path / "data"
    logs: list[str] = []
    client = StandinClient(archives)
    manifest = data.prepare("kaggle", Workspace(data_dir.parent), client=client, log=logs.append)

    assert entries(data_dir) == ["downloads", "kaggle", "manifest.json", "raw"]
    assert sorted(os.listdir(data_dir / "downloads")) == ["test.7z", "train.7z"]
    raw = data_dir / "raw"
    assert raw.is_symlink() and os.readlink(raw) == "kaggle"  # relative: the data dir can move
    assert raw.resolve() == (data_dir / "kaggle").resolve()
    assert json.loads((data_dir / "manifest.json").read_text()) == manifest
    assert manifest["source"] == "kaggle"
    assert manifest["root"] == str((data_dir / "kaggle").resolve())
    assert len(manifest["words"]) == 30 and manifest["test_clips"] == 3
    assert manifest["train_clips"] == sum(manifest["words"].values()) > 30
    assert manifest["background"] == ["noise_0.wav"]
    assert manifest["fingerprint"] == layout.fingerprint(data_dir / "kaggle")[0]
    assert Workspace(data_dir.parent).read_manifest() == manifest

    before = (data_dir / "manifest.json").read_bytes()
    logs.clear()
    again = StandinClient(archives)
    assert data.prepare("kaggle", Workspace(data_dir.parent), client=again, log=logs.append) == manifest
    assert again.calls == []
    assert (data_dir / "manifest.json").read_bytes() == before
    assert any("nothing to do" in line for line in logs)
    assert entries(data_dir) == ["downloads", "kaggle", "manifest.json", "raw"]


def test_temporary_folders_of_a_killed_run_are_removed(tmp_path, archives, token):
    stale = tmp_path / "data" / ".kaggle.k1ll3d.tmp"
    (stale / "train" / "audio").mkdir(parents=True)
    download_competition(tmp_path / "data" / "kaggle", tmp_path / "data" / "downloads",
                         client=StandinClient(archives), log=lambda _: None)
    assert not stale.exists() and leftovers(tmp_path / "data") == []


def test_rerun_of_a_finished_download_needs_no_credentials(tmp_path, archives, token, monkeypatch):
    data_dir = tmp_path / "data"
    data.prepare("kaggle", Workspace(data_dir.parent), client=StandinClient(archives), log=lambda _: None)
    monkeypatch.delenv("KAGGLE_API_TOKEN")
    again = StandinClient(archives)
    assert data.prepare("kaggle", Workspace(data_dir.parent), client=again, log=lambda _: None)["source"] == "kaggle"
    assert again.calls == []


def test_a_zip_wrapped_archive_is_unwrapped(tmp_path, archives, token):
    """Kaggle sometimes serves train.7z as train.7z.zip."""
    wrapped = tmp_path / "served" / "train.7z"
    wrapped.parent.mkdir()
    with zipfile.ZipFile(wrapped, "w") as z:
        z.write(archives["train.7z"], "train.7z")
    downloads = tmp_path / "data" / "downloads"
    found = download_competition(tmp_path / "data" / "kaggle", downloads,
                                 client=StandinClient({**archives, "train.7z": wrapped}), log=lambda _: None)
    assert found.test_clips == 3 and len(found.words) == 30
    assert (downloads / "train.7z").read_bytes() == archives["train.7z"].read_bytes()


# --- hostile and damaged archives ------------------------------------------


@pytest.mark.parametrize("name", ["C:\\evil.wav", "\\evil.wav", "..\\evil.wav", "train/../../evil.wav",
                                  "/etc/passwd", "../evil.wav"])
def test_check_member_name_refuses_escaping_names(name):
    with pytest.raises(UnsafeArchiveError):
        check_member_name(Path("train.7z"), name)


@pytest.mark.parametrize("name", ["train/audio/yes/a_nohash_0.wav", "train/audio/..hidden.wav", "./train"])
def test_check_member_name_accepts_names_inside(name):
    check_member_name(Path("train.7z"), name)


@pytest.mark.parametrize("kind", ["dotdot", "nested-dotdot", "absolute"])
def test_member_escaping_the_target_is_refused_and_nothing_is_written(tmp_path, archives, token, monkeypatch, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    evil_name = {
        "dotdot": "../evil.wav",
        "nested-dotdot": "train/audio/yes/../../../../evil.wav",
        "absolute": str(outside / "evil.wav"),
    }[kind]
    evil = make_unsafe_archive(tmp_path / "served" / "train.7z",
                               {"train/audio/yes/fine_nohash_0.wav": b"RIFF", evil_name: b"EVIL"}, monkeypatch)
    data_dir = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="refusing member"):
        download_competition(data_dir / "kaggle", data_dir / "downloads",
                             client=StandinClient({**archives, "train.7z": evil}), log=lambda _: None)
    assert outside_files(tmp_path) == []
    assert entries(data_dir) == ["downloads"]
    assert leftovers(tmp_path) == []


def _archive_with_link(tmp_path: Path, tree: Path, link: str, target: str) -> Path:
    """A copy of `tree`'s train/ with a symbolic link member `link` -> `target` added."""
    import py7zr

    src = tmp_path / "src"
    shutil.copytree(tree / "train", src / "train", symlinks=True)
    (tmp_path / "x").write_text("outside")  # py7zr only stores links whose target exists
    link_path = src / link
    link_path.symlink_to(target)
    out = tmp_path / "served" / "train.7z"
    out.parent.mkdir(exist_ok=True)
    with py7zr.SevenZipFile(out, "w") as z:
        z.writeall(src / "train", arcname="train")
    with py7zr.SevenZipFile(out) as z:
        assert [e.is_symlink for e in z.list() if e.filename == link] == [True]
    return out


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../x"])
def test_link_pointing_outside_is_refused(tmp_path, archives, kaggle_tree, token, target):
    evil = _archive_with_link(tmp_path, kaggle_tree, "train/audio/yes/evil.wav", target)
    data_dir = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError, match="points outside"):
        download_competition(data_dir / "kaggle", data_dir / "downloads",
                             client=StandinClient({**archives, "train.7z": evil}), log=lambda _: None)
    assert not (data_dir / "kaggle").exists()
    assert entries(data_dir) == ["downloads"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("use_7z", EXTRACTORS)
def test_chained_links_cannot_escape(tmp_path, use_7z):
    """`esc` -> `lnk/../../../x` looks inside when read as text, but `lnk` -> `../..` makes it
    point outside. The listing check reads link targets as text; the extractor refuses."""
    import py7zr

    src = tmp_path / "a" / "src"
    (src / "train" / "audio" / "w" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x").write_text("outside")
    (src / "train" / "audio" / "w" / "b" / "lnk").symlink_to("../..")
    (src / "train" / "audio" / "w" / "b" / "esc").symlink_to("lnk/../../../x")
    archive = tmp_path / "chain.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        for name in ("lnk", "esc"):
            z.write(src / "train" / "audio" / "w" / "b" / name, f"train/audio/w/b/{name}")
    dest = tmp_path / "out" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(KaggleError):
        extract_7z(archive, dest, use_7z=use_7z)
    escaped = dest / "train" / "audio" / "w" / "b" / "esc"
    assert not escaped.is_symlink() or not escaped.resolve().is_relative_to(tmp_path / "a")


@pytest.mark.parametrize("use_7z", EXTRACTORS)
def test_link_pointing_inside_is_accepted(tmp_path, archives, kaggle_tree, token, use_7z):
    clip = sorted((kaggle_tree / "train" / "audio" / "yes").glob("*.wav"))[0].name
    good = _archive_with_link(tmp_path, kaggle_tree, "train/audio/yes/link.wav", clip)
    dest = tmp_path / "data" / "kaggle"
    download_competition(dest, tmp_path / "data" / "downloads",
                         client=StandinClient({**archives, "train.7z": good}), use_7z=use_7z, log=lambda _: None)
    link = dest / "train" / "audio" / "yes" / "link.wav"
    assert link.is_symlink() and os.readlink(link) == clip
    assert link.read_bytes() == (kaggle_tree / "train" / "audio" / "yes" / clip).read_bytes()


def _truncate(src: Path, dst: Path) -> Path:
    blob = src.read_bytes()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(blob[: len(blob) // 2])
    return dst


def _flip_bytes(src: Path, dst: Path) -> Path:
    """Damage the packed data but keep the header at the end readable: the listing works,
    extraction fails its checksums."""
    blob = bytearray(src.read_bytes())
    for i in range(64, 64 + 4096, 7):
        blob[i] ^= 0xA5
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(blob))
    return dst


@pytest.mark.parametrize("use_7z", EXTRACTORS)
@pytest.mark.parametrize("damage", [_truncate, _flip_bytes], ids=["truncated", "flipped-bytes"])
def test_corrupt_archive_is_deleted_and_a_rerun_restarts_cleanly(tmp_path, archives, token, damage, use_7z):
    bad = damage(archives["train.7z"], tmp_path / "served" / "train.7z")
    data_dir = tmp_path / "data"
    with pytest.raises(CorruptArchiveError) as err:
        download_competition(data_dir / "kaggle", data_dir / "downloads",
                             client=StandinClient({**archives, "train.7z": bad}), use_7z=use_7z,
                             log=lambda _: None)
    assert "rerun" in str(err.value) and "train.7z" in str(err.value)
    assert not (data_dir / "downloads" / "train.7z").exists()
    assert not (data_dir / "kaggle").exists()
    assert leftovers(tmp_path) == []

    client = StandinClient(archives)
    found = download_competition(data_dir / "kaggle", data_dir / "downloads", client=client,
                                 use_7z=use_7z, log=lambda _: None)
    assert client.calls == ["train.7z", "test.7z"]
    assert len(found.words) == 30 and found.test_clips == 3


def test_archive_missing_word_folders_is_refused_naming_them(tmp_path, archives, token):
    words = [w for w in WORDS if w not in ("bed", "yes")]
    partial = make_archives(make_kaggle_tree(tmp_path / "tree", words=words), tmp_path / "served")
    data_dir = tmp_path / "data"
    with pytest.raises(layout.LayoutError) as err:
        download_competition(data_dir / "kaggle", data_dir / "downloads",
                             client=StandinClient({**archives, "train.7z": partial["train.7z"]}),
                             log=lambda _: None)
    assert "yes" in str(err.value) and "bed" in str(err.value) and "2 word folder" in str(err.value)
    assert not (data_dir / "kaggle").exists()
    assert leftovers(tmp_path) == []


@needs_7z
def test_extract_with_the_7z_program(tmp_path, archives, kaggle_tree):
    dest = tmp_path / "out"
    extract_7z(archives["test.7z"], dest, use_7z=True)
    assert tree_files(dest) == {p for p in tree_files(kaggle_tree) if p.startswith("test")}


# --- credentials -----------------------------------------------------------


def test_missing_credentials_say_how_to_get_a_token(tmp_path):
    assert find_credentials() is None
    with pytest.raises(KaggleError) as err:
        require_credentials()
    for words in ("https://www.kaggle.com/settings", "KAGGLE_API_TOKEN", "DATA=demo"):
        assert words in str(err.value)
    data_dir = tmp_path / "data"
    with pytest.raises(KaggleError, match="DATA=demo"):
        data.prepare("kaggle", Workspace(data_dir.parent), log=lambda _: None)
    assert not data_dir.exists()


def _fake_demo(monkeypatch) -> list[Path]:
    """Replace competition.demo (being written elsewhere) with one that builds a small tree."""
    built: list[Path] = []

    def build_demo(dest, *, seed=0, speakers=2, workers=None, progress=True):
        built.append(Path(dest))
        make_kaggle_tree(Path(dest), seed=seed)

    fake = types.SimpleNamespace(build_demo=build_demo, DEFAULT_SPEAKERS=2)
    monkeypatch.setitem(sys.modules, "competition.demo", fake)
    monkeypatch.setattr(competition, "demo", fake, raising=False)
    return built


def test_auto_without_credentials_builds_the_demo_and_says_so(tmp_path, monkeypatch):
    built = _fake_demo(monkeypatch)
    logs: list[str] = []
    manifest = data.prepare("auto", Workspace(tmp_path), log=logs.append)
    assert manifest["source"] == "demo"
    assert built == [tmp_path / "data" / "demo" / "seed0-2spk"]
    assert (tmp_path / "data" / "raw").resolve() == built[0].resolve()
    assert "no Kaggle credentials" in logs[0] and "demo" in logs[0]


def test_auto_with_broken_credentials_uses_the_demo(tmp_path, kaggle_env, monkeypatch):
    _fake_demo(monkeypatch)
    (kaggle_env.config / "kaggle.json").write_text("{not json")
    logs: list[str] = []
    assert data.prepare("auto", Workspace(tmp_path), log=logs.append)["source"] == "demo"
    assert "broken" in logs[0] and "kaggle.json" in logs[0]


def test_auto_with_credentials_downloads(tmp_path, archives, token):
    logs: list[str] = []
    client = StandinClient(archives)
    assert data.prepare("auto", Workspace(tmp_path), client=client, log=logs.append)["source"] == "kaggle"
    assert client.calls == ["train.7z", "test.7z"]
    assert "found the Kaggle API token from KAGGLE_API_TOKEN" in logs[0]


def test_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    creds = find_credentials()
    assert (creds.kind, creds.source, creds.secrets) == ("token", "KAGGLE_API_TOKEN", (TOKEN,))


def test_token_variable_naming_a_file(tmp_path, monkeypatch):
    path = tmp_path / "my-token"
    path.write_text(TOKEN + "\n")
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(path))
    creds = find_credentials()
    assert (creds.kind, creds.source, creds.secrets) == ("token", "KAGGLE_API_TOKEN", (TOKEN,))


def test_token_variable_naming_an_empty_file_is_not_a_token_and_the_error_says_so(kaggle_env, tmp_path, monkeypatch):
    """kagglesdk stops at a KAGGLE_API_TOKEN that names a file, even an empty one: it then skips
    ~/.kaggle/access_token and the kaggle package goes on to a username and key. So do we."""
    empty = tmp_path / "empty-token"
    empty.write_text("")
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(empty))
    (kaggle_env.home / ".kaggle").mkdir()
    (kaggle_env.home / ".kaggle" / "access_token").write_text("file-token")
    assert find_credentials() is None
    with pytest.raises(KaggleError) as err:
        require_credentials()
    assert f"KAGGLE_API_TOKEN names the file {empty}, which is empty" in str(err.value)
    monkeypatch.setenv("KAGGLE_USERNAME", "me")
    monkeypatch.setenv("KAGGLE_KEY", "env-key")
    assert find_credentials().secrets == ("env-key",)


@pytest.mark.parametrize("name", ["access_token", "access_token.txt"])
def test_token_file_in_home_kaggle(kaggle_env, name):
    (kaggle_env.home / ".kaggle").mkdir()
    (kaggle_env.home / ".kaggle" / name).write_text(f"  {TOKEN}\n")
    creds = find_credentials()
    assert (creds.kind, creds.source, creds.secrets) == ("token", "~/.kaggle/access_token", (TOKEN,))


def test_kaggle_notebook_token(tmp_path, monkeypatch):
    """In a Kaggle Notebook, kagglesdk reads the file KAGGLE_API_V1_TOKEN names (when the
    notebook's own variables are set), before KAGGLE_API_TOKEN."""
    path = tmp_path / "v1-token"
    path.write_text(TOKEN)
    monkeypatch.setenv("KAGGLE_API_V1_TOKEN", str(path))
    monkeypatch.setenv("KAGGLE_API_TOKEN", "other-token")
    assert find_credentials().secrets == ("other-token",)  # outside a notebook the variable is not read
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.setenv("KAGGLE_DATA_PROXY_URL", "http://localhost:1")
    creds = find_credentials()
    assert (creds.kind, creds.secrets) == ("token", (TOKEN,)) and "KAGGLE_API_V1_TOKEN" in creds.source


def _login(kaggle_env, **fields) -> Path:
    """~/.kaggle/credentials.json as `kaggle auth login` writes it."""
    path = kaggle_env.home / ".kaggle" / "credentials.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"refresh_token": "refresh-" + TOKEN, "access_token": "access-s3cr3t-value",
                                "access_token_expiration": "", "username": "me", "scopes": [], **fields}))
    return path


def test_login_of_kaggle_auth_login(kaggle_env):
    path = _login(kaggle_env)
    creds = find_credentials()
    assert (creds.kind, creds.source) == ("oauth", str(path))
    assert set(creds.secrets) == {"refresh-" + TOKEN, "access-s3cr3t-value"}
    assert "kaggle auth login" in str(creds)
    _login(kaggle_env, refresh_token="")  # kagglesdk ignores a login without a refresh token
    assert find_credentials() is None


def test_config_dir_defaults_to_home_kaggle_then_xdg(kaggle_env, monkeypatch):
    monkeypatch.delenv("KAGGLE_CONFIG_DIR")
    assert find_credentials() is None
    xdg = kaggle_env.home / ".config" / "kaggle"
    xdg.mkdir(parents=True)
    (xdg / "kaggle.json").write_text(json.dumps({"username": "me", "key": "k3y-in-xdg"}))
    assert find_credentials().source == str(xdg / "kaggle.json")
    legacy = kaggle_env.home / ".kaggle"
    legacy.mkdir()
    (legacy / "kaggle.json").write_text(json.dumps({"username": "me", "key": "k3y-in-home"}))
    # ~/.kaggle exists, so the kaggle package (and we) look only there
    assert find_credentials().source == str(legacy / "kaggle.json")


def test_username_and_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "me")
    assert find_credentials() is None
    monkeypatch.setenv("KAGGLE_KEY", TOKEN)
    creds = find_credentials()
    assert (creds.kind, creds.source, creds.secrets) == ("legacy", "KAGGLE_USERNAME/KAGGLE_KEY", (TOKEN,))


def test_legacy_kaggle_json_honours_kaggle_config_dir(kaggle_env):
    (kaggle_env.home / ".kaggle").mkdir()
    (kaggle_env.home / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": "home", "key": "ignored"}))
    assert find_credentials() is None  # KAGGLE_CONFIG_DIR points elsewhere
    (kaggle_env.config / "kaggle.json").write_text(json.dumps({"username": "me", "key": TOKEN}))
    creds = find_credentials()
    assert (creds.kind, creds.source, creds.secrets) == ("legacy", str(kaggle_env.config / "kaggle.json"), (TOKEN,))


def test_a_key_in_the_environment_overrides_kaggle_json_and_both_are_masked(kaggle_env, monkeypatch):
    """kaggle reads kaggle.json, then lets KAGGLE_* variables override its values."""
    (kaggle_env.config / "kaggle.json").write_text(json.dumps({"username": "me", "key": "json-k3y-value"}))
    monkeypatch.setenv("KAGGLE_KEY", "env-k3y-value")
    creds = find_credentials()
    assert creds.source == str(kaggle_env.config / "kaggle.json")
    assert set(creds.secrets) == {"env-k3y-value", "json-k3y-value"}
    assert kaggle_api.redact("env-k3y-value json-k3y-value", creds) == "*** ***"


@pytest.mark.parametrize("text, words", [("{not json", "not valid JSON"),
                                          (json.dumps({"username": "me"}), "lacks 'username' or 'key'")])
def test_broken_kaggle_json_is_a_clear_error(kaggle_env, text, words):
    path = kaggle_env.config / "kaggle.json"
    path.write_text(text)
    with pytest.raises(KaggleError) as err:
        find_credentials()
    assert words in str(err.value) and str(path) in str(err.value) and "kaggle.com/settings" in str(err.value)


def test_order_of_precedence_is_the_kaggle_packages(kaggle_env, monkeypatch):
    """kaggle 2.x: an access token, then a username and key, then the `kaggle auth login` login."""
    _login(kaggle_env)
    assert find_credentials().kind == "oauth"
    (kaggle_env.config / "kaggle.json").write_text(json.dumps({"username": "me", "key": "json-key"}))
    assert find_credentials().secrets == ("json-key",)
    (kaggle_env.home / ".kaggle" / "access_token").write_text("file-token")
    assert find_credentials().secrets == ("file-token",)
    monkeypatch.setenv("KAGGLE_API_TOKEN", "env-token")
    assert find_credentials().secrets == ("env-token",)


FORMS = {
    "token": lambda env, mp: mp.setenv("KAGGLE_API_TOKEN", TOKEN),
    "token-file": lambda env, mp: (env.home.joinpath("tok").write_text(TOKEN), mp.setenv("KAGGLE_API_TOKEN",
                                                                                         str(env.home / "tok"))),
    "access_token": lambda env, mp: (env.home.joinpath(".kaggle").mkdir(),
                                     env.home.joinpath(".kaggle", "access_token").write_text(TOKEN)),
    "notebook": lambda env, mp: (env.home.joinpath("v1").write_text(TOKEN), mp.setenv("KAGGLE_API_V1_TOKEN",
                                 str(env.home / "v1")), mp.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch"),
                                 mp.setenv("KAGGLE_DATA_PROXY_URL", "http://localhost:1")),
    "login": lambda env, mp: _login(env, refresh_token=TOKEN),
    "kaggle.json": lambda env, mp: env.config.joinpath("kaggle.json").write_text(
        json.dumps({"username": "me", "key": TOKEN})),
    "username/key": lambda env, mp: (mp.setenv("KAGGLE_USERNAME", "me"), mp.setenv("KAGGLE_KEY", TOKEN)),
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_form_is_found_masked_and_leaves_the_environment_as_it_was(kaggle_env, monkeypatch, form):
    from helpers import install_fake_kaggle

    form(kaggle_env, monkeypatch)
    creds = find_credentials()
    assert TOKEN in creds.secrets and not leaks(str(creds)) and not leaks(repr(creds))
    assert not leaks(kaggle_api.redact(f"GET /api?key={TOKEN} failed", creds))
    fake = install_fake_kaggle(monkeypatch)
    before = dict(os.environ)
    client = kaggle_api.make_client(creds)
    assert dict(os.environ) == before  # nothing set for the package lingers (KAGGLE_ENABLE_OAUTH, a token)
    assert ("authenticate",) in fake.calls
    assert client.api.enable_oauth == (creds.kind == "oauth")  # kaggle 1.8 reads the login only when told


# --- errors from Kaggle, and secrets ---------------------------------------


def leaks(text: str) -> bool:
    """Whether `text` holds the token or any 6 characters of it in a row."""
    return any(TOKEN[i : i + 6] in text for i in range(len(TOKEN) - 5))


def _http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.url = f"https://www.kaggle.com/api/v1/competitions/data/download/x/train.7z?token={TOKEN}"
    return requests.HTTPError(f"{status} Client Error for url: {response.url}", response=response)


def _download_error(tmp_path: Path, error: BaseException, logs: list[str] | None = None) -> KaggleError:
    data_dir = tmp_path / "data"
    with pytest.raises(KaggleError) as err:
        data.prepare("kaggle", Workspace(data_dir.parent), client=StandinClient(error=error),
                     log=(logs.append if logs is not None else lambda _: None))
    assert not (data_dir / "kaggle").exists() and not (data_dir / "raw").exists()
    return err.value


def test_403_names_the_rules_page(tmp_path, token):
    msg = str(_download_error(tmp_path, _http_error(403)))
    assert kaggle_api.RULES_URL in msg and "403" in msg and "rerun" in msg


def test_401_says_the_token_is_invalid(tmp_path, token):
    msg = str(_download_error(tmp_path, _http_error(401)))
    assert "401" in msg and "invalid or expired" in msg and "kaggle.com/settings" in msg


def test_network_error_says_to_rerun(tmp_path, token):
    msg = str(_download_error(tmp_path, requests.ConnectionError("Max retries exceeded")))
    assert "ConnectionError" in msg and "network" in msg and "rerun" in msg


def test_client_exiting_means_rejected_credentials(tmp_path, token):
    msg = str(_download_error(tmp_path, SystemExit(1)))
    assert "rejected the credentials" in msg and "kaggle.com/settings" in msg


LEAKY_ERRORS = {
    "403": lambda: _http_error(403),
    "401": lambda: _http_error(401),
    "404": lambda: _http_error(404),
    "url-in-message": lambda: requests.ConnectionError(
        f"HTTPSConnectionPool(host='www.kaggle.com', port=443): Max retries exceeded with url: "
        f"/api/v1/competitions/data/download/tensorflow-speech-recognition-challenge/train.7z?key={TOKEN}"),
    # the secret straddles the length at which a long message is cut
    "long-message": lambda: OSError("x" * 180 + f"?key={TOKEN}&more"),
    "exit": lambda: SystemExit(f"bad token {TOKEN}"),
}


@pytest.mark.parametrize("make_error", LEAKY_ERRORS.values(), ids=LEAKY_ERRORS.keys())
def test_error_messages_and_logs_never_hold_the_token(tmp_path, token, make_error):
    logs: list[str] = []
    err = _download_error(tmp_path, make_error(), logs)
    for text in (str(err), *logs):
        assert not leaks(text), text
    assert logs  # something was said (and checked) before the failure


@pytest.mark.parametrize("env", [{"KAGGLE_API_TOKEN": TOKEN}, {"KAGGLE_USERNAME": "me", "KAGGLE_KEY": TOKEN}],
                         ids=["token", "legacy"])
def test_a_successful_download_keeps_the_secret_out_of_logs_and_manifest(tmp_path, archives, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    creds = find_credentials()
    assert creds.secrets == (TOKEN,)
    assert not leaks(repr(creds)) and not leaks(str(creds))
    logs: list[str] = []
    data.prepare("auto", Workspace(tmp_path), client=StandinClient(archives), log=logs.append)
    assert logs and not any(leaks(line) for line in logs)
    assert not leaks((tmp_path / "data" / "manifest.json").read_text())


def test_redact_replaces_every_secret():
    creds = Credentials("legacy", "KAGGLE_USERNAME/KAGGLE_KEY", (TOKEN,))
    assert kaggle_api.redact(f"a {TOKEN} b {TOKEN}", creds) == "a *** b ***"
    assert kaggle_api.redact(f"a {TOKEN}", None) == f"a {TOKEN}"


def test_importing_the_data_modules_does_not_import_kaggle(tmp_path):
    """`import kaggle` authenticates and may exit the process: only RealKaggleClient imports it."""
    code = ("import sys, competition.download, competition.data, competition.kaggle_api; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kaggle', 'kagglesdk')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# --- the adapter itself, against a stand-in for the kaggle package's API object -----------------


def test_the_real_client_downloads_through_the_kaggle_api_object(tmp_path, archives, token, monkeypatch):
    from helpers import install_fake_kaggle

    fake = install_fake_kaggle(monkeypatch)
    fake.archives = archives
    creds = kaggle_api.find_credentials()
    client = kaggle_api.make_client(creds)
    assert isinstance(client, kaggle_api.RealKaggleClient)
    got = client.download("train.7z", tmp_path / "dl")
    assert got == tmp_path / "dl" / "train.7z" and got.read_bytes() == archives["train.7z"].read_bytes()
    assert ("competition_download_file", kaggle_api.COMPETITION, "train.7z") in fake.calls
    # and the whole `make data DATA=kaggle` path through it
    manifest = data.prepare("kaggle", Workspace(tmp_path), log=lambda _: None)
    assert manifest["source"] == "kaggle" and manifest["test_clips"] > 0


def test_the_real_client_submits_and_polls_the_new_submission_by_its_ref(tmp_path, token, monkeypatch):
    from helpers import install_fake_kaggle

    fake = install_fake_kaggle(monkeypatch)
    fake.scores = [None, None, ("0.88123", "0.87000")]
    csv = tmp_path / "sub.csv"
    csv.write_text("fname,label\nclip_0.wav,yes\n")
    client = kaggle_api.make_client(kaggle_api.find_credentials())
    ref = client.submit(csv, "first")
    assert ref == fake.NEW_REF
    got = kaggle_api.wait_for_score(client, ref, 60, sleep=lambda s: None, log=lambda *a: None)
    assert (got.public, got.private) == ("0.88123", "0.87000")
    assert [c[0] for c in fake.calls].count("competition_submissions") == 3
    assert ("competition_submit", kaggle_api.COMPETITION, "sub.csv", "first") in fake.calls


def test_a_failed_submit_says_what_to_do_and_cuts_long_errors_between_words(token):
    long = "the upload stopped: " + "the server said something rather long " * 10
    creds = kaggle_api.find_credentials()
    with pytest.raises(kaggle_api.KaggleError) as e, kaggle_api.kaggle_errors("submitting", creds):
        raise RuntimeError(long)
    msg = str(e.value)
    assert "resume" not in msg and msg.endswith("check the network and rerun")
    detail = msg.split("RuntimeError: ", 1)[1].rsplit("); check", 1)[0]
    assert detail.endswith(" …") and long.startswith(detail[:-2]) and long[len(detail) - 2] == " "
    with pytest.raises(kaggle_api.KaggleError) as e, kaggle_api.kaggle_errors("downloading train.7z", creds):
        raise RuntimeError("connection reset")
    assert str(e.value).endswith("a download resumes where it stopped")
