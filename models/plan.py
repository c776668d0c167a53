"""The settings of one training run, resolved in one stated order of precedence:

    defaults  <  policy  <  tuned  <  typed

- defaults: `TrainSettings()` and the model's full-size `Params()`;
- policy: what the data and the device call for (the `cpu` model sizes and batch 64 without a
  GPU, batch 512 with one; on the embedded demo data on a CPU 12 epochs of batch 32);
- tuned: `artifacts/tune/<model>/best.json` from `make tune`, only when it was tuned on the same
  data, profile and batch size as this run (otherwise one line says why it is not used);
  `PARAMS=default` leaves it out;
- typed: what the user typed on this command line (`SET`, `EPOCHS`, `PROFILE`), which always wins.

`plan_run` returns the settings and, for every one of them, which layer set it; `make train`
prints that and the run records it (params.json `sources`).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from competition import features
from competition.inputs import Inputs
from competition.provenance import RecordError, TunedRecord
from competition.settings import (
    DEFAULT,
    SettingsError,
    check_choice,
    check_number,
    flatten,
    parse_items,
    resolve,
)
from competition.workspace import Workspace
from models import registry
from models.settings import TrainSettings

DEMO_EPOCHS = 12  # ~70 clips per command word: a balanced epoch is only ~25 batches of 32
DEMO_BATCH = 32
GPU_BATCH = 512
PROFILE_CHOICES = ("auto", *registry.PROFILES)


@dataclass(frozen=True)
class Typed:
    """What the user typed for one `make train` or `make tune`.

    `values`: flat `name=value` settings (`SET`): TrainSettings fields, `aug.<field>`, or
    parameters of the model (`Params` fields); `epochs` (`EPOCHS`), `profile` (`PROFILE`; None
    is auto), `use_tuned` (False with `PARAMS=default`)."""

    values: dict[str, Any] = field(default_factory=dict)
    label: str = "SET"
    epochs: int | None = None
    profile: str | None = None
    use_tuned: bool = True

    def __post_init__(self):
        if self.epochs is not None:
            check_number("EPOCHS", self.epochs, 1, 10_000, integer=True)
            if "epochs" in self.values and self.values["epochs"] != self.epochs:
                raise SettingsError(f"EPOCHS={self.epochs} and SET epochs={self.values['epochs']} disagree; give one")
        if self.profile is not None:
            check_choice("PROFILE", self.profile, registry.PROFILES)

    @classmethod
    def from_cli(cls, items: list[str], epochs: int | None, profile: str | None, params: str = "auto") -> Typed:
        check_choice("PARAMS", params, ("auto", "default"))
        check_choice("PROFILE", profile or "auto", PROFILE_CHOICES)
        return cls(parse_items(items), "SET", epochs, None if profile in (None, "auto") else profile, params == "auto")

    def split(self, model: str) -> tuple[dict, dict]:
        """(training overrides, model-parameter overrides) of `values` for `model`."""
        train_names = set(flatten(TrainSettings()))
        param_names = {f.name for f in dataclasses.fields(registry.get(model).Params)}
        train, params = {}, {}
        for key, value in self.values.items():
            if key in train_names:
                train[key] = value
            elif key in param_names:
                params[key] = value
            else:
                raise SettingsError(f"{self.label} {key}: not a training setting nor a parameter of {model} "
                                    f"(training settings: {', '.join(sorted(train_names))}; "
                                    f"{model} parameters: {', '.join(sorted(param_names))})")
        return train, params


@dataclass(frozen=True)
class Plan:
    """The resolved settings of one run: `sources` maps `train.<name>` and `params.<name>` to
    the layer that set the value; `notes` say what was left out and why."""

    model: str
    profile: str
    params: Any
    train: TrainSettings
    sources: dict[str, str]
    tuned: dict | None = None  # {"path", "trial", "value", "folds"} of the best.json used
    notes: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        """Lines for the log: every value not at its default, grouped by where it came from."""
        values = {**{f"train.{k}": v for k, v in flatten(self.train).items()},
                  **{f"params.{k}": v for k, v in flatten(self.params).items()}}
        by_source: dict[str, list[str]] = {}
        for key, source in self.sources.items():
            if source != DEFAULT:
                by_source.setdefault(source, []).append(f"{key.split('.', 1)[1]}={_fmt(values[key])}")
        lines = [f"{self.model}: profile {self.profile}"]
        lines += [f"  {source}: {' '.join(items)}" for source, items in by_source.items()]
        return lines + [f"  note: {n}" for n in self.notes]


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(list(v) if isinstance(v, tuple) else v)


def policy(manifest: dict, device: str) -> tuple[str, str, dict]:
    """(profile, source label, training overrides) the data and the device call for."""
    if device == "gpu":
        return "full", "policy (GPU)", {"batch_size": GPU_BATCH}
    if manifest.get("source") == "demo":
        return "cpu", "policy (demo data on a CPU)", {"epochs": DEMO_EPOCHS, "batch_size": DEMO_BATCH}
    return "cpu", "policy (no GPU)", {}


def tuned_layer(model: str, ws: Workspace, fingerprint: str, profile: str, batch_size: int
                ) -> tuple[TunedRecord | None, Path, str | None]:
    """(record, path, why not) for the model's best.json: the record when it applies to a run
    with this data, profile and batch size, else None with the reason (None when there is no file)."""
    path = ws.tune_dir(model) / "best.json"
    if not path.is_file():
        return None, path, None
    try:
        tuned = TunedRecord.read(path)
    except RecordError as e:
        return None, path, f"tuned values in {path} not used: {e}"
    why = tuned.mismatch(fingerprint, profile, batch_size)
    if why:
        return None, path, f"tuned values in {path} not used ({why}); PARAMS=default silences this"
    return tuned, path, None


def plan_run(model: str, inputs: Inputs, device: str, typed: Typed = Typed(), ws: Workspace | None = None) -> Plan:
    """The settings of a run of `model` on `inputs` (see the module doc for the order)."""
    ws = ws or inputs.ws
    module = registry.get(model)
    typed_train, typed_params = typed.split(model)
    profile_policy, policy_label, policy_train = policy(inputs.manifest, device)
    profile = typed.profile or profile_policy
    profile_label = "typed (PROFILE)" if typed.profile else policy_label

    # which layers apply depends on the final profile and batch size: resolve those first
    batch = resolve(TrainSettings(), [(policy_label, policy_train), ("typed", typed_train)])[0].batch_size
    tuned, tuned_path, why_not = (None, None, None)
    if typed.use_tuned:
        tuned, tuned_path, why_not = tuned_layer(model, ws, inputs.manifest["fingerprint"], profile, batch)
    tuned_label = f"tuned ({tuned_path}, trial {tuned.trial})" if tuned else ""
    typed_label = f"typed ({typed.label})"

    train, train_sources = resolve(TrainSettings(), [
        (policy_label, policy_train), *([(tuned_label, tuned.train)] if tuned else []),
        (typed_label, typed_train),
        *([("typed (EPOCHS)", {"epochs": typed.epochs})] if typed.epochs is not None else [])])
    base = registry.params_for(model, profile)
    params, param_sources = resolve(base, [*([(tuned_label, tuned.params)] if tuned else []),
                                           (typed_label, typed_params)])
    full = flatten(module.Params())
    for name, source in param_sources.items():
        if source == DEFAULT and flatten(base)[name] != full[name]:
            param_sources[name] = f"{profile_label}: profile {profile}"
    sources = {**{f"train.{k}": v for k, v in train_sources.items()},
               **{f"params.{k}": v for k, v in param_sources.items()}}
    return Plan(model, profile, params, train, sources,
                {"path": str(tuned_path), "trial": tuned.trial, "value": tuned.value, "folds": list(tuned.tune_folds)}
                if tuned else None,
                (why_not,) if why_not else ())


def add_setting_args(parser: argparse.ArgumentParser) -> None:
    """The options `make train` and `make tune` share: what the user may type about settings and inputs."""
    parser.add_argument("--epochs", type=int, default=None, help="EPOCHS: epochs per fold")
    parser.add_argument("--profile", default="auto", choices=PROFILE_CHOICES,
                        help="model size: full (GPU default), cpu (no GPU default), toy (tests)")
    parser.add_argument("--set", nargs="*", action="extend", default=[], metavar="NAME=VALUE",
                        help="training settings (lr=0.001 balance=weights aug.noise_prob=0.5) or model "
                             "parameters (dropout=0.2); they win over defaults, policy and tuned values")
    parser.add_argument("--n-folds", type=int, default=None, help="N_FOLDS: which folds file (default: the current)")
    parser.add_argument("--fold-seed", type=int, default=None, help="FOLD_SEED (default: the current)")
    parser.add_argument("--workspace", type=Path, default=Path("."), help="project folder (holds data/, artifacts/)")
    features.add_setting_args(parser)


def typed_inputs(args: argparse.Namespace) -> tuple[dict, dict]:
    """(typed feature settings, typed fold settings) of the command line."""
    folds = {k: v for k, v in (("n_folds", args.n_folds), ("seed", args.fold_seed)) if v is not None}
    return features.typed_settings(args), folds
