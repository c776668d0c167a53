"""A pseudo-label set as training reads it (`make pseudo`, submissions/pseudo.py, writes it):
test clips labelled by an ensemble, in artifacts/pseudo/<name>/{pseudo.csv, pseudo.json}.

`pseudo.csv`: fname, label, confidence and the 12 probabilities of every chosen test clip;
`pseudo.json`: where it came from (submission, runs, data, feature cache, threshold, round, key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from competition.errors import UserError
from competition.files import read_json
from competition.labels import LABEL_INDEX, LABELS
from competition.workspace import Workspace


class PseudoError(UserError):
    """A pseudo-label set that cannot be made or used; the message says what to do."""


@dataclass(frozen=True)
class PseudoSet:
    """A set as training reads it: `frame` (fname, label, confidence, the 12 probabilities) and its record."""

    name: str
    path: Path
    frame: pd.DataFrame
    record: dict

    def key(self) -> str:
        return self.record["key"]

    def targets(self, soft: bool | None = None) -> np.ndarray:
        """`(clips, 12)` float32 targets: the probabilities (SOFT) or the one-hot label."""
        soft = self.record["soft"] if soft is None else soft
        if soft:
            return self.frame[list(LABELS)].to_numpy(np.float32)
        return np.eye(len(LABELS), dtype=np.float32)[self.frame["label"].map(LABEL_INDEX).to_numpy()]


def read(name: str, ws: Workspace) -> PseudoSet:
    """The pseudo-label set `name` (a name under artifacts/pseudo/ or a folder)."""
    path = Path(name) if Path(name).is_dir() else ws.pseudo / name
    try:
        record = read_json(path / "pseudo.json")
        frame = pd.read_csv(path / "pseudo.csv", keep_default_na=False)
    except (OSError, ValueError):
        raise PseudoError(f"no pseudo-label set {name!r} in {path.parent} (make pseudo writes one)") from None
    return PseudoSet(path.name, path, frame, record)


def check_for(ps: PseudoSet, data_fingerprint: str, features_key: str) -> None:
    """Refuse a set made from other data or another feature cache (its clips would not be this test's)."""
    r = ps.record
    if r.get("data") != data_fingerprint or r.get("features") != features_key:
        raise PseudoError(f"pseudo-label set {ps.name} was made from data {r.get('data')} (features {r.get('features')}), "
                          f"but this project's are {data_fingerprint} ({features_key}): run make ensemble and "
                          "make pseudo on this data first")


def run_round(record) -> int:
    """1 for a run (a RunRecord) trained on train clips only; one more than its pseudo-label set's round otherwise."""
    pseudo = record.inputs.pseudo
    return 1 if not pseudo else int(pseudo.get("round", 1)) + 1
