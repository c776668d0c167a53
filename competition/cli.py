"""The one way a `make` stage ends: a clear one-line error (exit 2) or an interruption note (exit 130)."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable

from competition.errors import UserError

# What the operating system can refuse while a stage writes, and what the user can do about it.
# Every stage writes atomically (a temporary name, then a rename), so finished results survive.
FILE_ERRORS = {
    errno.ENOSPC: "the disk is full; free some space (artifacts/ can be deleted stage by stage) and rerun",
    errno.EDQUOT: "the disk quota is used up; free some space and rerun",
    errno.EFBIG: "the file would exceed the file size limit (ulimit -f) or the disk is full",
    errno.EACCES: "permission denied; make it writable (or run from a project folder you can write) and rerun",
    errno.EPERM: "not permitted; make it writable and rerun",
    errno.EROFS: "the file system is read-only; run from a project folder on a writable disk",
    errno.ENOTDIR: "a file stands where a folder should be; move it away and rerun",
    errno.EEXIST: "a file stands where a folder should be; move it away and rerun",
    errno.EISDIR: "a folder stands where a file should be; move it away and rerun",
}


def file_error_line(e: OSError) -> str | None:
    """One line for an OSError a user can fix (full disk, no permission, a file in the way), else None."""
    hint = FILE_ERRORS.get(e.errno)
    if hint is None:
        return None
    where = e.filename if e.filename is not None else "a file"
    return f"cannot write {where}: {e.strerror or type(e).__name__}: {hint}; finished results were kept"


def run_stage(stage: str, body: Callable[[], object], interrupted: str) -> int:
    """Run `body` (its exit code when it returns an int, else 0). A `UserError`, or an OSError a
    user can fix, prints `make <stage>: error: <message>` and returns 2; Ctrl-C prints
    `make <stage>: interrupted; <interrupted>` and returns 130."""
    try:
        code = body()
        return code if isinstance(code, int) else 0
    except UserError as e:
        print(f"make {stage}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        line = file_error_line(e)
        if line is None:
            raise
        print(f"make {stage}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"make {stage}: interrupted; {interrupted}", file=sys.stderr)
        return 130
