"""CRNN with a ResNet-style front (He et al., 2016): stages of residual blocks, the first
of each stage halving time and frequency; a bidirectional GRU reads the result.
`resnet_front` is shared with `cnn_resnet`."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from models.blocks import as_image, conv_bn, gru_tail, head


@dataclass(frozen=True)
class Params:
    stem: int = 32
    filters: tuple[int, ...] = (48, 96, 192)
    blocks_per_stage: int = 2
    gru_units: int = 128
    gru_layers: int = 1
    dropout: float = 0.3


TOY = Params(stem=4, filters=(4, 8), blocks_per_stage=1, gru_units=8)
CPU = Params(stem=16, filters=(24, 48, 96), blocks_per_stage=1, gru_units=64)


def residual(x, filters: int, strides=1):
    """conv-BN-ReLU-conv-BN plus a shortcut (1x1 conv where the shape changes), then ReLU."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, strides=strides, act=None)
    y = conv_bn(x, filters, 3, strides=strides)
    y = conv_bn(y, filters, 3, act=None)
    return layers.Activation("relu")(layers.Add()([shortcut, y]))


def resnet_front(x, stem: int, filters: tuple[int, ...], blocks_per_stage: int):
    """`(batch, frames, mels)` -> `(batch, frames / 2^n, mels / 2^n, filters[-1])`."""
    x = conv_bn(as_image(x), stem, 3)
    for f in filters:
        x = residual(x, f, strides=2)
        for _ in range(blocks_per_stage - 1):
            x = residual(x, f)
    return x


def build(p: Params, input_shape: tuple[int, int], n_classes: int) -> keras.Model:
    """`(batch, frames, mels)` normalised log-mel -> `(batch, n_classes)` probabilities."""
    inp = keras.Input(input_shape)
    x = resnet_front(inp, p.stem, p.filters, p.blocks_per_stage)
    x = gru_tail(x, p.gru_units, p.gru_layers, p.dropout / 2)
    return keras.Model(inp, head(x, n_classes, p.dropout), name="crnn_resnet")


def search_space(trial) -> Params:
    width = trial.suggest_categorical("width", [16, 24, 32, 48])
    return Params(
        stem=width,
        filters=tuple(width * m for m in (1, 2, 4)),
        blocks_per_stage=trial.suggest_int("blocks_per_stage", 1, 3),
        gru_units=trial.suggest_categorical("gru_units", [32, 64, 128]),
        gru_layers=trial.suggest_int("gru_layers", 1, 2),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
    )
