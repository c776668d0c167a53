"""The only list of models, and the contract a model module keeps.

Adding a model is one module that satisfies `ModelModule` and one line in `MODELS`: the
tests (`tests/test_models.py`, parametrized over `MODELS`), `make train`, `make tune`, the
demo and the benchmarks all take their lists from here and from the modules' attributes.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from competition.errors import UserError
from models import (
    bc_resnet,
    cnn_resnet,
    crnn_inception,
    crnn_plain,
    crnn_resnet,
    crnn_vgg,
    tutorial_cnn,
)
from models.settings import TRAIN_FIELDS

MODELS: dict[str, ModuleType] = {
    "crnn_vgg": crnn_vgg,
    "crnn_inception": crnn_inception,
    "crnn_resnet": crnn_resnet,
    "cnn_resnet": cnn_resnet,
    "bc_resnet": bc_resnet,
    # baselines: measured by `make bench-train`, left out of a default `make train`
    "tutorial_cnn": tutorial_cnn,
    "crnn_plain": crnn_plain,
}

PROFILES = ("full", "cpu", "toy")


@runtime_checkable
class ModelModule(Protocol):
    """What every model module provides, and the rules it follows.

    - `Params`: a frozen dataclass of the architecture's parameters, every field with a default
      (the full size, for a GPU and the real data); `CPU` and `TOY` are smaller instances
      (`PROFILE=cpu` on a machine without a GPU; the tests). No field may be named like a
      training setting (`lr`, `epochs`, `aug`, ...): `SET=name=value` reaches both.
    - `build(params, input_shape, n_classes)`: a `keras.Model` from `(batch, frames, mels)`
      normalised log-mel to `(batch, n_classes)` *probabilities* (softmax: every later stage
      averages, calibrates and blends probabilities). `n_classes` is 12, or every word plus
      silence with `SET="targets=words"` (31 on Kaggle's data): nothing may assume 12.
    - Custom layers are registered (`keras.saving.register_keras_serializable`), so a saved
      `model.keras` loads wherever the package is importable.
    - `search_space(trial)`: Params from Optuna's suggestions; no suggested name may be a
      training setting either (the tuner suggests `lr` and `label_smoothing` in the same trial).
    - Optional: `BASELINE = True` keeps it out of a default `make train`; `DEMO = True` puts it
      among the models the demo pipeline trains on a CPU.
    """

    Params: type
    CPU: Any
    TOY: Any

    def build(self, p: Any, input_shape: tuple[int, int], n_classes: int) -> Any: ...

    def search_space(self, trial: Any) -> Any: ...


class UnknownModelError(UserError, KeyError):
    def __str__(self) -> str:
        return self.args[0]


def get(name: str) -> ModuleType:
    """The model module called `name`, or an error that lists the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def default_models() -> list[str]:
    """What `make train` trains when MODELS is not given: every model that is not a baseline."""
    return [name for name, m in MODELS.items() if not getattr(m, "BASELINE", False)]


def baselines() -> list[str]:
    return [name for name, m in MODELS.items() if getattr(m, "BASELINE", False)]


def demo_models() -> list[str]:
    """What the demo pipeline trains on a CPU: the models marked `DEMO = True`."""
    return [name for name, m in MODELS.items() if getattr(m, "DEMO", False)]


def params_for(name: str, profile: str = "full", overrides: dict | None = None):
    """The `Params` of a model for a profile (`full`: defaults, for a GPU and the real data;
    `cpu`: smaller, for machines without one; `toy`: tests), with `overrides` applied."""
    module = get(name)
    base = {"full": module.Params(), "cpu": module.CPU, "toy": module.TOY}[profile]
    return dataclasses.replace(base, **params_from_json(module, overrides or {}))


def params_from_json(module: ModuleType, values: dict) -> dict:
    """JSON values (lists) back to the types of `Params` fields (tuples); unknown keys are an error."""
    fields = {f.name: f for f in dataclasses.fields(module.Params)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"{module.__name__} has no parameter(s) {sorted(unknown)}; it has {sorted(fields)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def contract_problems(name: str, module: ModuleType) -> list[str]:
    """What `module` breaks of the `ModelModule` contract, without building a model (the tests
    build each one at its TOY size for the rest): one phrase per problem."""
    if not isinstance(module, ModelModule):
        missing = [a for a in ("Params", "CPU", "TOY", "build", "search_space") if not hasattr(module, a)]
        return [f"{name} lacks {', '.join(missing)}"]
    out = []
    P = module.Params
    if not (dataclasses.is_dataclass(P) and P.__dataclass_params__.frozen):
        out.append(f"{name}.Params is not a frozen dataclass")
        return out
    no_default = [f.name for f in dataclasses.fields(P)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if no_default:
        out.append(f"{name}.Params fields without a default: {no_default}")
    for size in ("CPU", "TOY"):
        if not isinstance(getattr(module, size), P):
            out.append(f"{name}.{size} is not a {name}.Params")
    if clash := sorted({f.name for f in dataclasses.fields(P)} & TRAIN_FIELDS):
        out.append(f"{name}.Params fields named like training settings: {clash}")
    if clash := sorted(set(search_space_names(module)) & TRAIN_FIELDS):
        out.append(f"{name}.search_space suggests names of training settings: {clash}")
    return out


def search_space_names(module: ModuleType) -> list[str]:
    """The parameter names `module.search_space` suggests (asked of a throwaway Optuna trial)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study().ask()
    module.search_space(trial)
    return list(trial.params)
