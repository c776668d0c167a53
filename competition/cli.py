"""The one way a `make` stage ends: a clear one-line error (exit 2) or an interruption note (exit 130)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from competition.errors import UserError


def run_stage(stage: str, body: Callable[[], object], interrupted: str) -> int:
    """Run `body` (its exit code when it returns an int, else 0). A `UserError` prints
    `make <stage>: error: <message>` and returns 2; Ctrl-C prints `make <stage>: interrupted;
    <interrupted>` and returns 130."""
    try:
        code = body()
        return code if isinstance(code, int) else 0
    except UserError as e:
        print(f"make {stage}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"make {stage}: interrupted; {interrupted}", file=sys.stderr)
        return 130
