"""`make train`: K-fold training of registry models on the current features and folds.

    make train MODELS="crnn_resnet bc_resnet" FOLDS="0 1" EPOCHS=30 SET="lr=0.001 aug.noise_prob=0.8"
    python -m models.train --models crnn_resnet --folds 0 1 --epochs 30 --set lr=0.001

WORKERS=n trains folds in n processes at once, one GPU each on a machine with several
(default: one per GPU; on a CPU, CPU_WORKERS, see README "Training on several GPUs or
machines"). Each fold is trained under a lock, so the same command on several machines that
share the project folder (or several FOLDS= subsets) splits the folds between them.

Settings are resolved in one order, defaults < policy < tuned < typed (models/plan.py), and
printed before training; each run records them and where each came from (params.json).
Finished folds are skipped on a rerun; other settings or other code make another run folder
(models/run.py). Without MODELS: every model but the baselines, or on the demo data on a
CPU the models marked DEMO.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

if __name__ == "__main__":  # TensorFlow reads its kernel switch once, on import: decide first
    from models import kernels

    kernels.apply(*kernels.pre_parse(sys.argv[1:]))

from competition.cli import run_stage  # noqa: E402
from competition.inputs import resolve  # noqa: E402
from competition.settings import SettingsError, check_number  # noqa: E402
from competition.workspace import Workspace  # noqa: E402
from models import registry  # noqa: E402
from models.device import accelerator  # noqa: E402
from models.plan import Typed, add_setting_args, plan_run, typed_inputs  # noqa: E402
from models.run import run_dir, summary, train_run  # noqa: E402
from models.workers import gpu_count, run_workers, strip_options  # noqa: E402

# Fold processes at once on a machine without a GPU (WORKERS= overrides). On 2 CPU cores, 2
# workers were 7-10% faster than 1, within the noise of repeated runs, at twice the memory
# (README, "Training on several GPUs or machines"): 1.
CPU_WORKERS = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=None, help="registry names (default: all but baselines)")
    parser.add_argument("--folds", nargs="*", type=int, default=None, help="train only these folds (0-based)")
    parser.add_argument("--params", default="auto", choices=["auto", "default"],
                        help="auto: tuned values from make tune where they apply; default: never")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"fold processes at once (default: one per GPU; {CPU_WORKERS} on a CPU)")
    parser.add_argument("--tensorboard", action="store_true",
                        help="TENSORBOARD=1: TensorBoard logs in <run>/tensorboard/fold_<k>/")
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--pseudo", default=None,
                        help="PSEUDO: a pseudo-label set of make pseudo, added to the training rows of every fold")
    add_setting_args(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    return run_stage("train", lambda: train_models(args, argv), "finished folds are kept, rerun to resume")


def rotations(folds: list[int], workers: int) -> list[list[int]]:
    """Each worker's fold order: every fold, starting at evenly spaced places, so the workers
    begin on different folds and a worker that finishes early takes the next free one (a fold
    another worker holds is skipped; see models/run.py)."""
    n = len(folds)
    workers = min(workers, n)
    return [folds[i * n // workers:] + folds[: i * n // workers] for i in range(workers)]


def default_workers() -> int:
    gpus = gpu_count()
    return gpus if gpus else CPU_WORKERS


def check_tensorboard() -> None:
    """TENSORBOARD=1 needs the tensorboard package, and TensorFlow on every Keras backend (Keras's
    TensorBoard callback writes with tf.summary): a one-line error before any work, not after a fold."""
    if importlib.util.find_spec("tensorboard") is None:
        raise SettingsError("TENSORBOARD=1 needs the tensorboard package: `make train TENSORBOARD=1` installs it "
                            "(or pip install 'kws-harness[tensorboard]')")
    try:
        found = importlib.util.find_spec("tensorflow") is not None
    except ImportError:  # hidden or broken
        found = False
    if not found:
        raise SettingsError("TENSORBOARD=1 needs TensorFlow installed, also on another Keras backend (Keras's "
                            "TensorBoard callback writes with tf.summary): leave TENSORBOARD out, or install tensorflow")


def train_models(args: argparse.Namespace, argv: list[str] | None = None, log=print) -> int:
    ws = Workspace(args.workspace)
    if args.tensorboard:
        check_tensorboard()
    workers = default_workers() if args.workers is None else args.workers
    check_number("WORKERS", workers, 1, 64, integer=True)
    for name in args.models or []:
        registry.get(name)
    typed = Typed.from_cli(args.set, args.epochs, args.profile, args.params)
    inputs = resolve(ws, *typed_inputs(args), log=log, pseudo=args.pseudo)
    n_folds = inputs.folds.n_folds
    if args.folds is not None:
        if not args.folds:
            raise SettingsError("FOLDS is empty; leave it out to train every fold")
        for k in args.folds:
            check_number(f"FOLDS {k}", k, 0, n_folds - 1, integer=True)
    device = accelerator()
    demo_cpu = inputs.manifest["source"] == "demo" and device == "cpu"
    names = args.models or (registry.demo_models() if demo_cpu else registry.default_models())
    plans = [plan_run(name, inputs, device, typed, ws) for name in names]  # every setting checked before work
    log(f"training {', '.join(names)} on {device.upper()}, folds "
        f"{args.folds if args.folds is not None else 'all'} of {n_folds}"
        + ("" if args.models else " (MODELS chooses)") + f"\ninputs: {inputs.describe()}"
        "\nsettings, by where they came from (defaults < policy < tuned < typed; all of them in params.json):")
    for plan in plans:
        for line in plan.describe():
            log(f"  {line}")
    folds = list(range(n_folds)) if args.folds is None else list(args.folds)
    if workers > 1 and len(folds) > 1:
        base = strip_options(argv or [], ("--folds", "--workers"))
        shares = [[*base, "--workers", "1", "--folds", *map(str, order)] for order in rotations(folds, workers)]
        outs = [run_dir(plan, inputs, device) for plan in plans]  # before the workers: the code they run
        log(f"{len(shares)} worker processes share the folds")
        code = run_workers("models.train", shares, log)
        for plan, out in zip(plans, outs):
            log(summary(plan.model, out))
        return code
    for plan in plans:
        train_run(plan, inputs, only_folds=args.folds, device=device, log=log, verbose=args.verbose,
                  tensorboard=args.tensorboard)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
