"""Worker processes for `make train WORKERS=n` and `make tune WORKERS=n`: one command per
worker, each on its own GPU where the machine has several (CUDA_VISIBLE_DEVICES), and Ctrl-C
reaching them all. Free of TensorFlow: the parent only starts and waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def gpu_count() -> int:
    """The GPUs `nvidia-smi -L` lists (0 without a driver)."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        return sum(line.startswith("GPU ") for line in out.stdout.splitlines()) if out.returncode == 0 else 0
    except (OSError, subprocess.SubprocessError):
        return 0


def strip_options(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`argv` without the given options and their values (`--opt v`, `--opt=v`, `--opt v1 v2 ...`
    for an option that takes several values: everything up to the next `--option`)."""
    out, skipping = [], False
    for a in argv:
        if a.startswith("--"):
            skipping = a in options
            if skipping or any(a.startswith(o + "=") for o in options):
                continue
        elif skipping:
            continue
        out.append(a)
    return out


def run_workers(module: str, shares: list[list[str]], log=print) -> int:
    """Run `python -m <module> <share>` for each share at once; the highest exit code (130 after
    Ctrl-C, which every worker receives and ends cleanly on)."""
    gpus = gpu_count()
    procs = []
    for i, args in enumerate(shares):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
        procs.append(subprocess.Popen([sys.executable, "-m", module, *args], env=env))
        log(f"worker {i + 1}/{len(shares)}: pid {procs[-1].pid}" + (f", GPU {i % gpus}" if gpus else ""))
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        return 130
    return max(codes, default=0)
