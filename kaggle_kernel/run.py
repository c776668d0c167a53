"""Run the kws-harness pipeline in a Kaggle Notebook (a script kernel).

`make kernel` writes artifacts/kernel/: this file with the harness's code embedded below, and
kernel-metadata.json (the competition attached as an input, a GPU, internet for the few
packages Kaggle's image lacks). `kaggle kernels push -p artifacts/kernel` runs it on Kaggle:
the notebook's own Python (VENV=none), the competition read from its read-only input mount,
everything written under /kaggle/working (kept as the notebook's output).

Outside Kaggle, KWS_KERNEL_WORK and KWS_KERNEL_INPUT stand in for /kaggle/working and the
input mount, and KWS_KERNEL_DRY_RUN=1 prints the make command instead of running it.
"""

import base64
import io
import os
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

COMPETITION = "tensorflow-speech-recognition-challenge"
TARGETS = "data features train ensemble"  # make kernel TARGETS=...
MAKE_ARGS = ""  # make kernel KERNEL_ARGS="EPOCHS=30 MODELS=crnn_resnet"
HARNESS = ""  # make kernel: the harness's code, a base64 .tar.gz


def missing_requirements(project: Path) -> list[str]:
    """The project's requirements with no installed distribution (Kaggle's image has most; the
    ones it has are left as they are, so its TensorFlow and CUDA stay matched)."""
    import tomllib

    from packaging.requirements import Requirement

    reqs = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(text)
    return out


def main() -> int:
    work = Path(os.environ.get("KWS_KERNEL_WORK", "/kaggle/working"))
    data = Path(os.environ.get("KWS_KERNEL_INPUT", f"/kaggle/input/{COMPETITION}"))
    project = work / "kws-harness"
    project.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(HARNESS)), mode="r:gz") as tar:
        tar.extractall(project, filter="data")
    missing = missing_requirements(project)
    if missing:
        print("installing what the image lacks:", " ".join(missing), flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    cmd = ["make", "-C", str(project), "VENV=none", f"PY={sys.executable}", f"DATA={data}",
           f"ARTIFACTS={work / 'artifacts'}", *MAKE_ARGS.split(), *TARGETS.split()]
    print(" ".join(cmd), flush=True)
    if os.environ.get("KWS_KERNEL_DRY_RUN"):
        return 0
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
