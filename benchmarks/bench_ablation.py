"""`make bench-ablation`: the measurements behind the training defaults.

Trains one model (default cnn_resnet, cpu sizes) on fold 0 for 20 epochs under each setting
below, all else at the defaults, and prints the held-out (OOF) accuracy of fold 0 and the
test accuracy of that one model against the answer key. Choices were made on the OOF
accuracy; the test column is for information. One fold holds ~1,000 clips and the dev test
set 909, so differences under about 1 point are noise.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from benchmarks.bench_train import load_bench_data  # noqa: E402
from competition.files import write_json  # noqa: E402
from competition.settings import parse_items  # noqa: E402
from competition.workspace import Workspace  # noqa: E402

STRONG_AUG = ["aug.noise_prob=0.8", "aug.snr_db=[3,30]", "aug.time_masks=2", "aug.time_mask_frames=10",
              "aug.freq_masks=2", "aug.freq_mask_mels=5"]
NO_AUG = ["aug.noise_prob=0", "aug.time_masks=0", "aug.freq_masks=0", "aug.shift_frames=0", "aug.gain_db=0"]
CONFIGS = {
    "defaults": [],
    "balance=subsample": ["balance=subsample"],
    "balance=weights": ["balance=weights"],
    "targets=words": ["targets=words"],
    "no TTA": ["tta=1"],
    "no augmentation": NO_AUG,
    "stronger augmentation": STRONG_AUG,
    "no noise mixing": ["aug.noise_prob=0"],
    "mixup 0.2": ["aug.mixup_alpha=0.2"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cnn_resnet")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--workspace", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    d = load_bench_data(Workspace(args.workspace))
    rows = []
    for name in args.configs:
        plan = d.plan(args.model, parse_items(CONFIGS[name]), epochs=args.epochs, label=f"ablation: {name}")
        out = d.train_run(plan, only_folds=[0], verbose=0)
        row = {"setting": name, "oof_accuracy_fold0": json.loads((out / "cv.json").read_text())["overall"]["accuracy"]}
        if d.solution:
            row["test_accuracy"] = d.test_accuracy(np.load(out / "fold_0" / "test.npy"))
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_json(d.ws.bench / "ablation.json", {"model": args.model, "epochs": args.epochs, "rows": rows})
    print(f"\n{args.model}, fold 0, {args.epochs} epochs ({d.plan(args.model).profile} sizes):")
    for r in rows:
        print(f"  {r['setting']:24s} OOF {r['oof_accuracy_fold0']:.4f}" +
              (f"   test {r['test_accuracy']:.4f}" if "test_accuracy" in r else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
