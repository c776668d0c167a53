"""The current inputs of a stage: the data, the feature cache and the folds file, resolved once.

`make data` records the data (data/manifest.json), `make features` the current feature cache
and `make folds` the current folds (artifacts/current.json, per data fingerprint). A later
stage calls `resolve()`: it checks the data folder has not changed since `make data`, takes
what is current, and applies only what the user typed on this command line (`N_MELS=64`,
`N_FOLDS=3`), saying in one line when that differs from what is current. Nothing is rebuilt
here: a cache or folds file that does not exist says which `make` command makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from competition import features
from competition.layout import LayoutError
from competition.provenance import InputsRecord
from competition.pseudo import PseudoSet
from competition.pseudo import check_for as check_pseudo
from competition.pseudo import read as read_pseudo
from competition.settings import flatten
from competition.settings import resolve as apply_typed
from competition.workspace import Workspace, relative
from folds.contract import FoldSettings, default_n_folds, read_folds

MAKE_VARS = {"n_mels": "N_MELS", "n_folds": "N_FOLDS", "seed": "FOLD_SEED"}


def _typed_words(typed: dict) -> str:
    return " ".join(f"{MAKE_VARS.get(k, '--' + k.replace('_', '-'))}={v}" for k, v in typed.items())


def _differences(a, b) -> str:
    fa, fb = flatten(a), flatten(b)
    return ", ".join(f"{k} {fa[k]}" for k in fa if fa[k] != fb[k])


def current_features(ws: Workspace, typed: dict, log=print) -> tuple[dict, features.FeatureSettings, Path]:
    """(manifest, settings, cache folder): the current feature cache of the data in data/raw, or
    the one the `typed` feature settings name (one line when it is not the current one)."""
    manifest = ws.read_manifest()
    record = ws.current(manifest["fingerprint"]).get("features")
    if record is None:
        raise LayoutError("no feature cache is recorded for the data in data/raw: run `make features`")
    current = features.from_json(record["settings"])
    wanted = features.settings_with(typed, current) if typed else current
    path = ws.feature_cache(features.cache_key(wanted, manifest))
    if wanted != current:
        if not (path / "settings.json").is_file():
            raise LayoutError(f"no feature cache with {_differences(wanted, current)} for the data in data/raw: "
                              f"run `make features {_typed_words(typed)}`")
        log(f"features: {_typed_words(typed)} differs from the current cache ({_differences(current, wanted)}, "
            f"recorded by the last `make features`); using {path}")
    elif path.name != record["key"] or not (path / "settings.json").is_file():
        raise LayoutError(f"the current feature cache {ws.feature_cache(record['key'])} is gone or was made by "
                          "other feature code: run `make features`")
    return manifest, wanted, path


@dataclass(frozen=True)
class Inputs:
    """What a training run or study reads: the data's manifest, a feature cache and a folds file."""

    manifest: dict
    features: features.FeatureSettings
    cache_path: Path
    folds: FoldSettings
    folds_path: Path
    ws: Workspace = Workspace()
    pseudo: PseudoSet | None = None  # test clips labelled by an ensemble, added to the training rows (PSEUDO)

    def load(self) -> tuple[features.Cache, pd.DataFrame]:
        """The cache (memory-mapped) and the folds, checked to list the cache's clips row for row."""
        cache = features.load(self.cache_path)
        return cache, read_folds(self.folds_path, cache.train_index)

    def record(self) -> InputsRecord:
        return InputsRecord(data_fingerprint=self.manifest["fingerprint"], data_source=self.manifest["source"],
                            features_key=self.cache_path.name, features_path=relative(self.cache_path, self.ws),
                            folds_path=relative(self.folds_path, self.ws), n_folds=self.folds.n_folds,
                            fold_seed=self.folds.seed,
                            pseudo=None if self.pseudo is None else {
                                "name": self.pseudo.name, "key": self.pseudo.key(), "round": self.pseudo.record["round"],
                                "submission": self.pseudo.record["submission"], "clips": len(self.pseudo.frame),
                                "soft": self.pseudo.record["soft"]})

    def describe(self) -> str:
        return (f"{self.manifest['source']} data {self.manifest['fingerprint']}, features {self.cache_path} "
                f"({self.features.n_mels} mels), {self.folds.n_folds} folds {self.folds_path}"
                + ("" if self.pseudo is None else f", {len(self.pseudo.frame)} pseudo-labelled test clips "
                   f"({self.pseudo.name}, round {self.pseudo.record['round']} ensemble)"))


def resolve(ws: Workspace | None = None, typed_features: dict | None = None, typed_folds: dict | None = None,
            log=print, pseudo: str | None = None) -> Inputs:
    """The inputs of a stage: what is current, with only what the user typed applied (see module doc)."""
    ws = ws or Workspace()
    typed_features, typed_folds = typed_features or {}, typed_folds or {}
    manifest, settings, cache_path = current_features(ws, typed_features, log)
    record = ws.current(manifest["fingerprint"]).get("folds")
    if record is None and not typed_folds:
        raise LayoutError("no folds are recorded for the data in data/raw: run `make features` (it makes the folds too)")
    current = FoldSettings(**record) if record else FoldSettings(default_n_folds(manifest))
    wanted = apply_typed(current, [("typed", typed_folds)])[0]
    clips = features.clips_hash(pd.read_csv(cache_path / "train_index.csv", keep_default_na=False))
    path = ws.folds_file(clips, wanted.n_folds, wanted.seed)
    if not path.is_file():
        if wanted != current:
            raise LayoutError(f"no folds with {_differences(wanted, current)} for the current features: "
                              f"run `make folds {_typed_words(typed_folds)}`")
        raise LayoutError(f"no folds file for the current features ({path}): run `make features`")
    if wanted != current:
        log(f"folds: {_typed_words(typed_folds)} differs from the current folds "
            f"({_differences(current, wanted)}); using {path}")
    chosen = None
    if pseudo:
        chosen = read_pseudo(pseudo, ws)
        check_pseudo(chosen, manifest["fingerprint"], cache_path.name)
    return Inputs(manifest, settings, cache_path, wanted, path, ws, chosen)
