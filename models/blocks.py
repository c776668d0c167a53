"""Building blocks shared by the architectures. Tensors are channels-last images of the
spectrogram: `(batch, frames, mels, channels)`; time first, so a GRU reads along axis 1."""

from __future__ import annotations

from keras import layers

# Batch-norm statistics average over ~1/(1 - momentum) steps; Keras's 0.99 lags the weights
# through the first epochs of a short schedule, so per-epoch validation (what the pruner reads)
# meant nothing there (README, "Training").
BN_MOMENTUM = 0.9


def batch_norm(**kw):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, **kw)


def as_image(x):
    """`(batch, frames, mels)` -> `(batch, frames, mels, 1)`."""
    return layers.Reshape((*x.shape[1:], 1))(x)


def conv_bn(x, filters: int, kernel=3, strides=1, act: str | None = "relu", dilation=1, groups: int = 1):
    """Conv2D (no bias) -> BatchNorm -> activation."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                      dilation_rate=dilation, groups=groups)(x)
    x = batch_norm()(x)
    return layers.Activation(act)(x) if act else x


def gru_tail(x, units: int, n_layers: int = 1, dropout: float = 0.0):
    """Read the conv features along time with bidirectional GRUs, then pool over time.

    `(batch, frames, mels, channels)` -> `(batch, 4 * units)`: mean and max over time of
    the last GRU's outputs (a keyword can sit anywhere in the second).
    """
    frames, mels, channels = x.shape[1:]
    x = layers.Reshape((frames, mels * channels))(x)
    for _ in range(n_layers):
        if dropout:
            x = layers.Dropout(dropout)(x)
        x = layers.Bidirectional(layers.GRU(units, return_sequences=True))(x)
    return layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])


def global_pool(x):
    """`(batch, frames, mels, channels)` -> `(batch, 2 * channels)`: mean and max over time and frequency."""
    return layers.Concatenate()([layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)])


def head(x, n_classes: int, dropout: float = 0.0):
    """Dropout -> Dense softmax, in float32 even under mixed precision (stable probabilities)."""
    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="probs")(x)


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
