"""CRNN with a ResNet-style front (He et al., 2016): stages of residual blocks, the first
of each stage halving time and frequency; a bidirectional GRU reads the result."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from models.blocks import gru_tail, head, resnet_front

DEMO = True  # one of the models the demo pipeline trains on a CPU


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
