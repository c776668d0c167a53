"""Baseline: the CNN of TensorFlow's "Simple audio recognition" tutorial (resize the
spectrogram to 32x32, two convs, max pool, dense). It is the bar the harness starts from,
not a model to submit (`BASELINE = True` keeps it out of the default `make train`)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from models.blocks import as_image, head

BASELINE = True


@dataclass(frozen=True)
class Params:
    size: int = 32
    filters: tuple[int, int] = (32, 64)
    dense: int = 128


TOY = Params(size=8, filters=(4, 4), dense=8)
CPU = Params()


def build(p: Params, input_shape: tuple[int, int], n_classes: int) -> keras.Model:
    """`(batch, frames, mels)` normalised log-mel -> `(batch, n_classes)` probabilities."""
    inp = keras.Input(input_shape)
    x = layers.Resizing(p.size, p.size)(as_image(inp))
    x = layers.Conv2D(p.filters[0], 3, activation="relu")(x)
    x = layers.Conv2D(p.filters[1], 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(p.dense, activation="relu")(x)
    return keras.Model(inp, head(x, n_classes, 0.5), name="tutorial_cnn")


def search_space(trial) -> Params:
    return Params(size=trial.suggest_categorical("size", [32, 48, 64]),
                  dense=trial.suggest_categorical("dense", [64, 128, 256]))
