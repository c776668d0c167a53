"""How a training process uses the CPU: glibc's allocator, and TensorFlow's kernels (oneDNN
on or off) chosen per machine by measurement.

Allocator: TensorFlow's own kernels (oneDNN off) allocate and free activation buffers of tens
of MB on every step. glibc serves those with mmap and hands them back with munmap (anything
over 32 MB is always mmapped, whatever MALLOC_MMAP_THRESHOLD_ says), so each step faults every
page in again: 140,000 minor page faults a second and a third of the CPU in the kernel, on a
2-core machine. `tune_allocator` tells glibc (mallopt, before TensorFlow starts) never to mmap
and never to trim the heap, so freed buffers are reused: `make bench-speed COMPARE=allocator`
measured 1.7x to 2.6x the clips/s of every default model with oneDNN off, the kernel's share of
the CPU 37% -> 7% (README, "Training on a CPU"). A process whose environment
sets any MALLOC_* variable, or KWS_ALLOCATOR=system, is left as it is (what the user typed wins).

TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once, when it is imported, and turns oneDNN on by
default only on some CPUs. Which is faster depends on the model and the CPU (on a 2-core AVX2
machine oneDNN doubled crnn_vgg's rate and left cnn_resnet unchanged), so the harness
measures instead of guessing: `make bench-speed COMPARE=onednn` times every model both ways
and writes artifacts/bench/cpu-kernels.json for this CPU and TensorFlow version. Before
`make train` / `make tune` import TensorFlow, `apply` sets the faster setting for the models
about to train (the lower summed time per clip), unless the environment already sets it
(what the user typed wins); without a measurement, oneDNN on (`DEFAULT`, see there). The
choice and its source go into each run's params.json (`runtime`).

Free of Keras and TensorFlow: it must run before either is imported.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

ENV = "TF_ENABLE_ONEDNN_OPTS"
_SOURCE = "KWS_ONEDNN_SOURCE"  # why the parent process chose ENV, for its worker processes
_CHOICE: dict[str, str] = {}
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's malloc.h


def tune_allocator() -> str:
    """Keep freed memory in the process (glibc: no mmap, no trim); says what was done."""
    if os.environ.get("KWS_ALLOCATOR") == "system":
        return "the system's default (KWS_ALLOCATOR=system)"
    if any(k.startswith("MALLOC_") for k in os.environ):
        return "glibc, as the environment's MALLOC_* variables say"
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1  # an int: 2 GiB
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
        return "the system's allocator"
    return "glibc, no mmap and no trim (harness)" if ok else "glibc, mallopt refused (default)"


def machine() -> dict:
    """What a measurement holds for: the CPU, its vector extensions and TensorFlow's version."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    tf = None
    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            tf = metadata.version(dist)
            break
        except metadata.PackageNotFoundError:
            continue
    isa = sorted(f for f in flags if f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"))
    return {"cpu": name, "cores": os.cpu_count(), "isa": isa, "tensorflow": tf}


def path(ws) -> Path:
    return ws.bench / "cpu-kernels.json"


def save(ws, rates: dict[str, dict[str, float]], profile: str) -> Path:
    """`rates`: model -> {"0": clips/s with oneDNN off, "1": on}."""
    from competition.files import write_json

    write_json(path(ws), {"machine": machine(), "profile": profile, "rates": rates})
    return path(ws)


# Without a measurement of this machine: oneDNN on. It trained every default model faster on the
# 2-core AMD EPYC with AVX-512 and with oneDNN limited to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, as on a
# CPU without AVX-512, where TensorFlow's own default is off): README, "Training on a CPU".
DEFAULT = "1"
MEASURE = "`make bench-speed COMPARE=onednn` measures this machine"


def choose(ws, models: list[str] | None) -> tuple[str, str]:
    """The faster `TF_ENABLE_ONEDNN_OPTS` value for `models` (all measured ones if None) on this
    machine, and why; `DEFAULT` where this machine has no measurement of them."""
    fallback = f"oneDNN on (faster for every model on the CPUs measured; {MEASURE})"
    try:
        record = json.loads(path(ws).read_text())
    except (OSError, ValueError):
        return DEFAULT, f"no measurement on this machine: {fallback}"
    if record.get("machine") != machine():
        return DEFAULT, f"{path(ws)} was measured on another CPU or TensorFlow version: {fallback}"
    rates = record.get("rates", {})
    names = [m for m in (models or list(rates)) if m in rates and {"0", "1"} <= set(rates[m])]
    if not names:
        return DEFAULT, f"{path(ws)} holds none of {', '.join(models or [])}: {fallback}"
    cost = {v: sum(1.0 / rates[m][v] for m in names) for v in ("0", "1")}
    best = min(cost, key=cost.get)
    return best, (f"measured: oneDNN {'on' if best == '1' else 'off'} trains {', '.join(names)} "
                  f"{cost['1' if best == '0' else '0'] / cost[best]:.2f}x as fast ({path(ws)})")


def apply(ws, models: list[str] | None) -> dict[str, str]:
    """Set `TF_ENABLE_ONEDNN_OPTS` for this process before TensorFlow is imported (only on the
    TensorFlow backend, and only when the environment does not set it), and tune the allocator;
    returns the choice."""
    _CHOICE["allocator"] = tune_allocator()
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        _CHOICE.update({ENV: "", "source": "not TensorFlow"})
    elif ENV in os.environ:  # typed, or set by the parent of this worker process (its reason passed on)
        _CHOICE.update({ENV: os.environ[ENV], "source": os.environ.get(_SOURCE, "typed (environment)")})
    else:
        value, why = choose(ws, models)
        os.environ[ENV], os.environ[_SOURCE] = value, why
        _CHOICE.update({ENV: value, "source": why})
    return dict(_CHOICE)


def current() -> dict[str, str]:
    """The choice `apply` made in this process (what the environment says if it was not called)."""
    return dict(_CHOICE) or {ENV: os.environ.get(ENV, "TensorFlow's default for this CPU"),
                             "source": "environment" if ENV in os.environ else "default"}


def pre_parse(argv: list[str]):
    """The workspace and `--models`/`--model` of a command line, read before the full parser
    (which imports the registry, hence TensorFlow) exists: `(workspace, models or None)`."""
    import argparse

    from competition.workspace import Workspace

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workspace", type=Path, default=Path("."))
    parser.add_argument("--models", "--model", nargs="*", default=None)
    known, _ = parser.parse_known_args(argv)
    return Workspace(known.workspace), known.models or None
