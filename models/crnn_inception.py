"""CRNN with an Inception-style front (Szegedy et al., 2015): each block runs 1x1, 3x3,
5x5 (as two 3x3) and pool branches side by side and concatenates them, so one block sees
phoneme-sized and syllable-sized patterns at once; a bidirectional GRU reads the result."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from models.blocks import as_image, conv_bn, gru_tail, head


@dataclass(frozen=True)
class Params:
    stem: int = 32
    filters: tuple[int, ...] = (64, 128, 192)  # output channels of each Inception block
    gru_units: int = 128
    gru_layers: int = 1
    dropout: float = 0.3


TOY = Params(stem=4, filters=(8, 8), gru_units=8)
CPU = Params(stem=24, filters=(48, 96), gru_units=64)


def inception(x, filters: int):
    """Four branches of `filters // 4` channels: 1x1 | 1x1-3x3 | 1x1-3x3-3x3 | pool-1x1."""
    b = max(1, filters // 4)
    b1 = conv_bn(x, b, 1)
    b3 = conv_bn(conv_bn(x, b, 1), b, 3)
    b5 = conv_bn(conv_bn(conv_bn(x, b, 1), b, 3), b, 3)
    bp = conv_bn(layers.MaxPooling2D(3, strides=1, padding="same")(x), b, 1)
    return layers.Concatenate()([b1, b3, b5, bp])


def build(p: Params, input_shape: tuple[int, int], n_classes: int) -> keras.Model:
    """`(batch, frames, mels)` normalised log-mel -> `(batch, n_classes)` probabilities."""
    inp = keras.Input(input_shape)
    x = conv_bn(as_image(inp), p.stem, 3)
    x = layers.MaxPooling2D(2)(x)  # the blocks are 4-branch: at full resolution they would cost 4x
    for f in p.filters:
        x = inception(x, f)
        x = layers.MaxPooling2D(2)(x)
    x = gru_tail(x, p.gru_units, p.gru_layers, p.dropout / 2)
    return keras.Model(inp, head(x, n_classes, p.dropout), name="crnn_inception")


def search_space(trial) -> Params:
    width = trial.suggest_categorical("width", [16, 32, 48])
    return Params(
        stem=width,
        filters=tuple(width * m for m in (2, 4, 6)),
        gru_units=trial.suggest_categorical("gru_units", [32, 64, 128]),
        gru_layers=trial.suggest_int("gru_layers", 1, 2),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
    )
