"""CRNN with a VGG-style front: blocks of 3x3 conv-BN-ReLU, each block halving time and
frequency, then a bidirectional GRU over time."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from models.blocks import as_image, conv_bn, gru_tail, head

DEMO = True  # one of the models the demo pipeline trains on a CPU


@dataclass(frozen=True)
class Params:
    filters: tuple[int, ...] = (48, 96, 192)
    convs_per_block: int = 2
    gru_units: int = 128
    gru_layers: int = 1
    dropout: float = 0.3


TOY = Params(filters=(4, 8), convs_per_block=1, gru_units=8)
CPU = Params(filters=(16, 32, 64), gru_units=64)  # for machines without a GPU (see models.train)


def build(p: Params, input_shape: tuple[int, int], n_classes: int) -> keras.Model:
    """`(batch, frames, mels)` normalised log-mel -> `(batch, n_classes)` probabilities."""
    inp = keras.Input(input_shape)
    x = as_image(inp)
    for f in p.filters:
        for _ in range(p.convs_per_block):
            x = conv_bn(x, f)
        x = layers.MaxPooling2D(2)(x)
    x = gru_tail(x, p.gru_units, p.gru_layers, p.dropout / 2)
    return keras.Model(inp, head(x, n_classes, p.dropout), name="crnn_vgg")


def search_space(trial) -> Params:
    width = trial.suggest_categorical("width", [16, 24, 32, 48])
    return Params(
        filters=tuple(width * m for m in (1, 2, 4)),
        convs_per_block=trial.suggest_int("convs_per_block", 1, 2),
        gru_units=trial.suggest_categorical("gru_units", [32, 64, 128]),
        gru_layers=trial.suggest_int("gru_layers", 1, 2),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
    )
