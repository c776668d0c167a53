"""Download the competition from Kaggle and extract it safely.

    data/downloads/train.7z, test.7z     as Kaggle served them (a rerun resumes a partial one)
    data/kaggle/train/audio/...          extracted, renamed into place only when complete

An archive member with an absolute path, a `..` component, or a link that points outside
the target is refused before anything is written.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from competition import layout
from competition.files import atomic_dir, clean_stale, locked
from competition.kaggle_api import (
    ARCHIVES,
    Credentials,
    KaggleClient,
    KaggleError,
    kaggle_errors,
    make_client,
    require_credentials,
)


class UnsafeArchiveError(KaggleError):
    """An archive member that would land outside the extraction folder."""


class CorruptArchiveError(KaggleError):
    """An archive that is truncated or fails its checksums."""


def check_member_name(archive: Path, name: str) -> None:
    """Refuse a member name that is absolute or climbs out of the target with `..`."""
    win = PureWindowsPath(name)
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or win.drive or win.root:
        raise UnsafeArchiveError(f"{archive.name}: refusing member with an absolute path: {name!r}")
    if ".." in posix.parts:
        raise UnsafeArchiveError(f"{archive.name}: refusing member that climbs out of the target with '..': {name!r}")


def check_link_target(archive: Path, name: str, target: str) -> None:
    """Refuse a symbolic link member whose target resolves outside the extraction folder."""
    target = target.replace("\\", "/")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if target.startswith("/") or PureWindowsPath(target).drive or resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(f"{archive.name}: refusing link {name!r} that points outside the target: {target!r}")


def _py7zr():
    import py7zr  # imported here: only `make data DATA=kaggle` needs it

    return py7zr


def check_7z(archive: Path, scratch_dir: Path | None = None) -> None:
    """Read the archive's listing and link targets; raise before anything is extracted. Link
    targets are read into `scratch_dir` (default: beside the archive; never a read-only input)."""
    py7zr = _py7zr()
    from py7zr.io import BytesIOFactory

    try:
        with py7zr.SevenZipFile(archive) as z:
            entries = z.list()
            for e in entries:
                check_member_name(archive, e.filename)
            links = [e.filename for e in entries if e.is_symlink]
            if links:
                scratch = (scratch_dir or archive.parent) / f".{archive.name}.links.tmp"
                try:
                    factory = BytesIOFactory(1 << 16)
                    z.extract(path=scratch, targets=links, factory=factory)
                    for key, bio in factory.products.items():
                        name = os.path.relpath(key, scratch)
                        check_link_target(archive, name, bio.read().decode("utf-8", "replace"))
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
    except KaggleError:
        raise
    except Exception as e:  # noqa: BLE001 - py7zr raises many kinds for a damaged file
        raise CorruptArchiveError(f"{archive}: not a readable 7z archive ({type(e).__name__}: {e})") from None


def extract_7z(archive: Path, dest: Path, *, use_7z: bool | None = None) -> None:
    """Extract a checked archive into `dest` with the `7z` program when installed (faster),
    else with py7zr. A truncated or corrupt archive raises CorruptArchiveError. Nothing is
    written beside the archive, which may lie on a read-only input."""
    check_7z(archive, dest.parent)
    program = shutil.which("7z") or shutil.which("7za") or shutil.which("7zz")
    if use_7z is None:
        use_7z = program is not None
    try:
        if use_7z and program:
            proc = subprocess.run([program, "x", "-y", "-bd", f"-o{dest}", str(archive)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                lines = [x for x in (proc.stderr + proc.stdout).splitlines() if "ERROR" in x.upper()]
                raise CorruptArchiveError(f"{archive}: 7z failed ({(lines or [f'exit code {proc.returncode}'])[0].strip()})")
        else:
            with _py7zr().SevenZipFile(archive) as z:
                z.extractall(path=dest)
    except KaggleError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CorruptArchiveError(f"{archive}: extraction failed ({type(e).__name__}: {e})") from None


def unwrap_zip(path: Path) -> Path:
    """Kaggle sometimes serves `train.7z` as `train.7z.zip`: unpack the inner file beside it."""
    if not zipfile.is_zipfile(path):
        return path
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            check_member_name(path, info.filename)
        names = [i.filename for i in z.infolist() if not i.is_dir()]
        if len(names) != 1:
            raise CorruptArchiveError(f"{path}: expected one file inside, found {len(names)}")
        inner = path.parent / Path(names[0]).name
        tmp = inner.with_name(f".{inner.name}.unzip.tmp")
        with z.open(names[0]) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, inner)
    if inner != path:  # a zip served under the inner file's own name was just replaced by it
        path.unlink()
    return inner


def download_competition(dest: Path, downloads: Path, *, client: KaggleClient | None = None,
                         creds: Credentials | None = None, use_7z: bool | None = None,
                         log=print) -> layout.Layout:
    """Download train.7z and test.7z into `downloads` and extract them into `dest`.

    A `dest` that exists is complete (it is renamed into place last) and is returned as is.
    A corrupt archive is deleted, so the next run downloads it again.
    """
    if not dest.is_dir():
        creds = creds or require_credentials()  # before anything is written
    with locked(dest, log, "downloading into"):  # a second `make data` waits, then finds it extracted
        clean_stale(dest)
        if dest.is_dir():
            log(f"{dest} already holds the extracted competition; nothing to download")
            return layout.verify(dest, all_words=True)
        log(f"downloading the competition with the {creds}")
        if client is None:
            client = make_client(creds)
        archives = []
        for name in ARCHIVES:
            with kaggle_errors(f"downloading {name}", creds):
                path = client.download(name, downloads)
            archives.append(unwrap_zip(Path(path)))
        return extract_competition(archives, dest, use_7z=use_7z, log=log, downloaded=True)


def extract_competition(archives: list[Path], dest: Path, *, use_7z: bool | None = None, log=print,
                        downloaded: bool = False) -> layout.Layout:
    """Extract Kaggle's archives into `dest` (renamed into place only when complete and in the
    Kaggle layout). A corrupt archive we `downloaded` is deleted so that a rerun fetches it again;
    one of the user's (a read-only input mount, say) is left alone."""
    with atomic_dir(dest) as tmp:
        for archive in archives:
            log(f"extracting {archive} ...")
            try:
                extract_7z(archive, tmp, use_7z=use_7z)
            except CorruptArchiveError as e:
                if not downloaded:
                    raise
                archive.unlink(missing_ok=True)
                raise CorruptArchiveError(f"{e}. The file was deleted; rerun `make data` to download it again") from None
        found = layout.problems(layout.scan(tmp), all_words=True)
        if found:
            what = "downloaded archives" if downloaded else f"archives in {archives[0].parent}"
            raise layout.LayoutError(f"the {what} are incomplete: " + "; ".join(found))
    return layout.verify(dest, all_words=True)


def archives_in(folder: Path) -> list[Path] | None:
    """Kaggle's train.7z and test.7z in `folder` (as the competition's input mount of a Kaggle
    Notebook holds them), or None when either is missing."""
    found = [folder / name for name in ARCHIVES]
    return found if all(p.is_file() for p in found) else None
