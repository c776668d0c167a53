"""Baseline: a plain CRNN as a competitor writes it first (three conv blocks, a
bidirectional GRU). Trained without augmentation and untuned, it is the bar every CRNN
variant of the harness must beat (`BASELINE = True` keeps it out of the default `make train`)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from models.blocks import as_image, head

BASELINE = True


@dataclass(frozen=True)
class Params:
    filters: tuple[int, ...] = (32, 64, 128)
    gru_units: int = 64


TOY = Params(filters=(4, 8), gru_units=8)
CPU = Params()


def build(p: Params, input_shape: tuple[int, int], n_classes: int) -> keras.Model:
    """`(batch, frames, mels)` normalised log-mel -> `(batch, n_classes)` probabilities."""
    inp = keras.Input(input_shape)
    x = as_image(inp)
    for f in p.filters:
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    frames, mels, channels = x.shape[1:]
    x = layers.Reshape((frames, mels * channels))(x)
    x = layers.Bidirectional(layers.GRU(p.gru_units))(x)
    return keras.Model(inp, head(x, n_classes, 0.3), name="crnn_plain")


def search_space(trial) -> Params:
    return Params(gru_units=trial.suggest_categorical("gru_units", [32, 64, 128]))
