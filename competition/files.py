"""Atomic writes and content hashes: the plumbing that lets stages trust each other's files.

A stage writes to a temporary name beside the target and renames it into place, so an
interrupted run never leaves a half-written file that a later stage would trust.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


def digest(parts: Iterable[bytes | str], n: int = 16) -> str:
    """The first `n` hex digits of the SHA-256 of `parts`, each part ended by a NUL byte (so
    `["ab", "c"]` and `["a", "bc"]` differ). Every content hash of the harness is one of these."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:n]


def short_hash(obj: Any, n: int = 10) -> str:
    """A short, stable hash of JSON-able settings (dict key order does not matter)."""
    return digest([json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)], n)


def _lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.parent / f".{path.name}.lock"


def _claim(f) -> None:
    """Write who holds the lock into the lock file, for the message another process prints."""
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}")
    f.flush()


def _holder(f) -> str:
    f.seek(0)
    return f.read().strip() or "another process"


@contextlib.contextmanager
def lock_or_holder(path: str | os.PathLike, wait: bool = False, log=None, what: str = "") -> Iterator[str | None]:
    """Lock `path` exclusively (a hidden `.<name>.lock` beside it; fcntl, so it is released when
    the process ends, however it ends). Yields None while holding it. When another process holds
    it: without `wait`, yields a description of that process (and holds nothing); with `wait`,
    says so through `log` and waits for it."""
    lock = _lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield _holder(f)
                return
            if log is not None:
                log(f"waiting for {_holder(f)}, which is {what or 'writing'} {path} ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            _claim(f)
            yield None
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def locked(path: str | os.PathLike, log=None, what: str = "") -> Iterator[None]:
    """Hold the lock of `path`, waiting (and saying so) while another process holds it. Every
    writer of a shared artifact (a feature cache, a run's fold, current.json) takes one, so two
    processes never destroy each other's work."""
    with lock_or_holder(path, wait=True, log=log, what=what):
        yield


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def named_errors(path: str | os.PathLike) -> Iterator[None]:
    """An OSError raised by a write without a file name (a full disk, a size limit) gets `path`,
    so the one-line error can say which file could not be written."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a result file is as readable as any other
    try:
        with named_errors(path):
            yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; it becomes `path` only if the block succeeds.

    An existing `path` is replaced. A failed or interrupted block leaves `path` as it was
    (stale `.<name>.*.tmp` folders from a killed process are removed by `clean_stale`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a result folder is as readable as any other
    try:
        yield tmp
        if path.exists() or path.is_symlink():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clean_stale(path: str | os.PathLike) -> None:
    """Remove temporary siblings (`.<name>.*.tmp`) that a killed run left beside `path`."""
    path = Path(path)
    if path.parent.is_dir():
        for p in path.parent.glob(f".{path.name}.*.tmp"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


@contextlib.contextmanager
def npy_rows(path: str | os.PathLike, dtype, row_shape: tuple[int, ...]) -> Iterator:
    """Write an .npy file of rows `(n, *row_shape)` block by block: yields `append(block)`.

    Through ordinary file writes, never a memory map: a full disk is then an OSError (ENOSPC)
    that a stage reports in one line, not a SIGBUS ("Bus error") from a mapped page. The rows go
    to a hidden file first; the .npy (header with the final count, then the rows) is assembled at
    the end, so `n` need not be known in advance (files the reader left out)."""
    path = Path(path)
    dtype = np.dtype(dtype)
    raw_path = path.with_name(f".{path.name}.rows")
    count = 0

    def append(block: np.ndarray) -> None:
        nonlocal count
        block = np.ascontiguousarray(block, dtype=dtype)
        if block.shape[1:] != tuple(row_shape):
            raise ValueError(f"rows of shape {block.shape[1:]}, expected {tuple(row_shape)}")
        raw.write(block.tobytes())
        count += len(block)

    try:
        with named_errors(path), open(raw_path, "wb") as raw:
            yield append
        with named_errors(path), open(path, "wb") as out, open(raw_path, "rb") as rows:
            np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                       "fortran_order": False, "shape": (count, *row_shape)})
            shutil.copyfileobj(rows, out, 16 << 20)
    finally:
        raw_path.unlink(missing_ok=True)


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as CSV without its index, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def symlink_atomic(target: str | os.PathLike, link: str | os.PathLike) -> None:
    """Point `link` at `target`, replacing an existing link in one rename."""
    link = Path(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
