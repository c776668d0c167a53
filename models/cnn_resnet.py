"""A pure CNN: the ResNet front of `crnn_resnet` (models.blocks.resnet_front) with global pooling instead of a GRU.
On one-second keywords a CNN does as well as a CRNN, and it is cheaper."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from models.blocks import global_pool, head, resnet_front

DEMO = True  # one of the models the demo pipeline trains on a CPU


@dataclass(frozen=True)
class Params:
    stem: int = 32
    filters: tuple[int, ...] = (64, 128, 256)
    blocks_per_stage: int = 2
    dropout: float = 0.3


TOY = Params(stem=4, filters=(4, 8), blocks_per_stage=1)
CPU = Params(stem=16, filters=(32, 64, 128), blocks_per_stage=1)


def build(p: Params, input_shape: tuple[int, int], n_classes: int) -> keras.Model:
    """`(batch, frames, mels)` normalised log-mel -> `(batch, n_classes)` probabilities."""
    inp = keras.Input(input_shape)
    x = resnet_front(inp, p.stem, p.filters, p.blocks_per_stage)
    return keras.Model(inp, head(global_pool(x), n_classes, p.dropout), name="cnn_resnet")


def search_space(trial) -> Params:
    width = trial.suggest_categorical("width", [16, 24, 32])  # 16: the CPU size, 32: the full size
    return Params(
        stem=width,
        filters=tuple(width * m for m in (2, 4, 8)),
        blocks_per_stage=trial.suggest_int("blocks_per_stage", 1, 2),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
    )
