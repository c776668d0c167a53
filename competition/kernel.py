"""`make kernel`: a folder that `kaggle kernels push` runs as a Kaggle Notebook.

    artifacts/kernel/run.py               kaggle_kernel/run.py with the harness's code embedded
    artifacts/kernel/kernel-metadata.json the script kernel: this competition as its input,
                                          a GPU, internet (for packages Kaggle's image lacks)

    make kernel KERNEL_ID=<you>/kws-harness TARGETS="data features train ensemble" KERNEL_ARGS="EPOCHS=30"
    kaggle kernels push -p artifacts/kernel

On Kaggle the script runs `make VENV=none DATA=/kaggle/input/<competition> ARTIFACTS=/kaggle/working/artifacts
<TARGETS>`: the notebook's Python, the read-only input mount, outputs where Kaggle keeps them.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import sys
import tarfile
from pathlib import Path

from competition.cli import run_stage
from competition.errors import UserError
from competition.files import write_text
from competition.kaggle_api import COMPETITION, config_dir
from competition.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "kaggle_kernel" / "run.py"
# What the kernel needs of the repository: the packages, the entry point and the dependency list.
SHIPPED = ("competition", "folds", "models", "submissions", "benchmarks", "Makefile", "pyproject.toml",
           "constraints.txt", "README.md")
ID_RE = re.compile(r"^[A-Za-z0-9_-]+/[a-z0-9-]{5,50}$")


def source_archive(root: Path = REPO) -> bytes:
    """The harness's code as a .tar.gz (Python sources, no caches)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in SHIPPED:
            path = root / name
            if path.is_file():
                tar.add(path, arcname=name)
            elif path.is_dir():
                for f in sorted(path.rglob("*.py")):
                    tar.add(f, arcname=f.relative_to(root).as_posix())
    return buf.getvalue()


def default_id() -> str | None:
    """<username>/kws-harness from KAGGLE_USERNAME or kaggle.json (a token does not name its user)."""
    user = os.environ.get("KAGGLE_USERNAME")
    kjson = config_dir() / "kaggle.json"
    if not user and kjson.is_file():
        try:
            user = json.loads(kjson.read_text()).get("username")
        except (OSError, ValueError):
            user = None
    return f"{user}/kws-harness" if user else None


def metadata(kernel_id: str, gpu: bool = True) -> dict:
    """kernel-metadata.json as `kaggle kernels push` reads it (the fields of `kaggle kernels init`)."""
    return {"id": kernel_id, "title": kernel_id.split("/", 1)[1], "code_file": "run.py", "language": "python",
            "kernel_type": "script", "is_private": True, "enable_gpu": gpu, "enable_tpu": False,
            "enable_internet": True, "dataset_sources": [], "competition_sources": [COMPETITION],
            "kernel_sources": [], "model_sources": []}


def build(out: Path, kernel_id: str | None = None, targets: str = "data features train ensemble",
          make_args: str = "", gpu: bool = True, log=print) -> Path:
    """Write run.py and kernel-metadata.json into `out`; return `out`."""
    kernel_id = kernel_id or default_id()
    if not kernel_id:
        raise UserError("which Kaggle account runs the kernel? Set KERNEL_ID=<your Kaggle username>/kws-harness")
    if not ID_RE.match(kernel_id):
        raise UserError(f"KERNEL_ID {kernel_id!r} must be <username>/<slug>, the slug 5-50 lowercase letters, "
                        "digits or '-'")
    script = TEMPLATE.read_text()
    for name, value in (("TARGETS", targets), ("MAKE_ARGS", make_args),
                        ("HARNESS", base64.b64encode(source_archive()).decode())):
        script, n = re.subn(rf'^{name} = ".*?"', lambda _m, n=name, v=value: f"{n} = {v!r}", script, count=1,
                            flags=re.M)
        if n != 1:
            raise RuntimeError(f"{TEMPLATE} has no line `{name} = \"...\"` to fill")
    write_text(out / "run.py", script)
    write_text(out / "kernel-metadata.json", json.dumps(metadata(kernel_id, gpu), indent=2) + "\n")
    log(f"kernel {kernel_id} in {out} ({(out / 'run.py').stat().st_size // 1024} KB): "
        f"push it with `kaggle kernels push -p {out}`; it runs `make {targets}` on Kaggle")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m competition.kernel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--id", default=None, help="<username>/<slug> (default: <KAGGLE_USERNAME>/kws-harness)")
    parser.add_argument("--targets", default="data features train ensemble")
    parser.add_argument("--make-args", default="", help="make variables for the run, e.g. 'EPOCHS=30'")
    parser.add_argument("--no-gpu", action="store_true")
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    args = parser.parse_args(argv)

    def body() -> None:
        build(Workspace(args.workspace).artifacts / "kernel", args.id, args.targets, args.make_args, not args.no_gpu)

    return run_stage("kernel", body, "nothing was written")


if __name__ == "__main__":
    sys.exit(main())
