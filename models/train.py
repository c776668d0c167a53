"""`make train`: K-fold training of registry models on the current features and folds.

    make train MODELS="crnn_resnet bc_resnet" FOLDS="0 1" EPOCHS=30 SET="lr=0.001 aug.noise_prob=0.8"

Settings are resolved in one order, defaults < policy < tuned < typed (models/plan.py), and
printed before training; each run records them and where each came from (params.json).
Finished folds are skipped on a rerun; other settings or other code make another run folder
(models/run.py). Without MODELS: every model but the baselines, or on the demo data on a
CPU the models marked DEMO.
"""

from __future__ import annotations

import argparse
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
from models.run import train_run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=None, help="registry names (default: all but baselines)")
    parser.add_argument("--folds", nargs="*", type=int, default=None, help="train only these folds (0-based)")
    parser.add_argument("--params", default="auto", choices=["auto", "default"],
                        help="auto: tuned values from make tune where they apply; default: never")
    parser.add_argument("--verbose", type=int, default=2)
    add_setting_args(parser)
    args = parser.parse_args(argv)
    return run_stage("train", lambda: train_models(args), "finished folds are kept, rerun to resume")


def train_models(args: argparse.Namespace, log=print) -> None:
    ws = Workspace(args.workspace)
    for name in args.models or []:
        registry.get(name)
    typed = Typed.from_cli(args.set, args.epochs, args.profile, args.params)
    inputs = resolve(ws, *typed_inputs(args), log=log)
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
    for plan in plans:
        train_run(plan, inputs, only_folds=args.folds, device=device, log=log, verbose=args.verbose)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
