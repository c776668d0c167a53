"""A model module that is not in the registry: the tests add it (one module, one registry
entry) to show that nothing else has to change for a new model to train, tune and blend."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from models.blocks import head


@dataclass(frozen=True)
class Params:
    units: int = 32
    dropout: float = 0.1


TOY = Params(units=8)
CPU = Params(units=16)


def build(p: Params, input_shape: tuple[int, int], n_classes: int) -> keras.Model:
    """`(batch, frames, mels)` -> `(batch, n_classes)` probabilities: mean over time, one hidden layer."""
    inp = keras.Input(input_shape)
    x = layers.GlobalAveragePooling1D()(inp)
    x = layers.Dense(p.units, activation="relu")(x)
    return keras.Model(inp, head(x, n_classes, p.dropout), name="toy_dense")


def search_space(trial) -> Params:
    return Params(units=trial.suggest_categorical("units", [8, 16]), dropout=trial.suggest_float("dropout", 0.0, 0.3))
