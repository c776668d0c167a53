"""The only list of models. Adding a model is one module with `Params`, `TOY`, `CPU`,
`build(params, input_shape, n_classes)` and `search_space(trial)`, and one line here;
`tests/test_models.py` then covers it automatically."""

from __future__ import annotations

import dataclasses
from types import ModuleType

from models import (
    bc_resnet,
    cnn_resnet,
    crnn_inception,
    crnn_plain,
    crnn_resnet,
    crnn_vgg,
    tutorial_cnn,
)

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


class UnknownModelError(KeyError):
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
