"""BC-ResNet: broadcasted residual learning (Kim, Chang, Lee and Sung, Interspeech 2021,
arXiv:2106.04140), the state-of-the-art small-footprint keyword spotter this harness's
CRNNs are measured against.

A BC-ResBlock computes, on a `(batch, time, freq, channels)` map x:

    y   = f2(x)                       frequency-depthwise 3x1 conv + SubSpectralNorm (2D)
    z   = f1(mean over freq of y)     temporal depthwise conv (dilated) + BN + swish + 1x1 + dropout (1D)
    out = relu(x + y + broadcast(z))  (a transition block, which changes channels, drops the `x +`)

Network (width c): conv 5x5 stride 2 in freq, 16c -> stages of (2, 2, 4, 4) blocks with
(8c, 12c, 16c, 20c) channels, freq stride 2 at the start of stages 2 and 3, temporal
dilation (1, 2, 4, 8) -> depthwise 5x5 conv without freq padding -> 1x1 conv 32c ->
mean over time -> 1x1 conv to the classes. BC-ResNet-8 (c = 8) reaches 98.0% on Speech
Commands v2-12 in the paper; c = 1 has 9.2k parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from models.blocks import as_image, batch_norm, head


@dataclass(frozen=True)
class Params:
    width: float = 8.0  # c in BC-ResNet-c
    sub_bands: int = 5  # SubSpectralNorm groups
    dropout: float = 0.1


TOY = Params(width=0.5)
CPU = Params(width=2.0)

STAGES = ((8, 2, 1, 1), (12, 2, 2, 2), (16, 4, 2, 4), (20, 4, 1, 8))  # (channels/c, blocks, freq stride, dilation)


@keras.saving.register_keras_serializable(package="kws")
class SubSpectralNorm(layers.Layer):
    """Batch norm with separate statistics for each of `sub_bands` frequency bands
    (Chang et al., 2021): `(batch, time, freq, channels)`, freq divisible by sub_bands
    (falls back to fewer bands otherwise)."""

    def __init__(self, sub_bands: int = 5, **kw):
        super().__init__(**kw)
        self.sub_bands = sub_bands
        self.bn = batch_norm()

    def build(self, input_shape):
        freq, channels = input_shape[2], input_shape[3]
        s = self.sub_bands
        while freq % s:
            s -= 1
        self.s = s
        self.bn.build((None, input_shape[1], freq // s, s * channels))

    def call(self, x, training=False):
        _, t, f, c = x.shape
        s = self.s
        # (b, t, f, c) -> (b, t, s, f/s, c) -> (b, t, f/s, s, c) -> (b, t, f/s, s*c): BN per (band, channel)
        y = ops.reshape(x, (-1, t, s, f // s, c))
        y = ops.transpose(y, (0, 1, 3, 2, 4))
        y = self.bn(ops.reshape(y, (-1, t, f // s, s * c)), training=training)
        y = ops.transpose(ops.reshape(y, (-1, t, f // s, s, c)), (0, 1, 3, 2, 4))
        return ops.reshape(y, (-1, t, f, c))

    def get_config(self):
        return {**super().get_config(), "sub_bands": self.sub_bands}


def freq_depthwise(x, stride: int):
    """`DepthwiseConv2D((1, 3), strides=(1, stride), padding="same")` over the frequency axis of
    `(batch, time, freq, channels)`, computed as a stride-1 depthwise conv followed by keeping
    every `stride`-th band, starting where the strided conv's first window is centred. Same
    values, but portable: TensorFlow's own depthwise kernel (used on CPUs without oneDNN, and
    everywhere with TF_ENABLE_ONEDNN_OPTS=0) refuses unequal strides in time and frequency."""
    y = layers.DepthwiseConv2D((1, 3), padding="same", use_bias=False)(x)
    if stride == 1:
        return y
    freq = x.shape[2]
    pad_total = max((-(-freq // stride) - 1) * stride + 3 - freq, 0)  # "same" padding of the strided conv
    first = 1 - pad_total // 2  # the band at the centre of its first window
    return y[:, :, first::stride, :]


def bc_block(x, out_channels: int, freq_stride: int, dilation: int, p: Params):
    transition = x.shape[-1] != out_channels
    identity = x
    if transition:
        x = layers.Conv2D(out_channels, 1, use_bias=False)(x)
        x = batch_norm()(x)
        x = layers.Activation("relu")(x)
    # f2: frequency-depthwise conv + SubSpectralNorm
    y = freq_depthwise(x, freq_stride)
    y = SubSpectralNorm(p.sub_bands)(y)
    # f1 on the frequency average: temporal depthwise conv, BN, swish, pointwise conv
    z = layers.AveragePooling2D(pool_size=(1, y.shape[2]))(y)  # mean over frequency: (b, t, 1, c)
    z = layers.DepthwiseConv2D((3, 1), padding="same", dilation_rate=(dilation, 1), use_bias=False)(z)
    z = batch_norm()(z)
    z = layers.Activation("swish")(z)
    z = layers.Conv2D(out_channels, 1, use_bias=False)(z)
    z = layers.SpatialDropout2D(p.dropout)(z)
    out = layers.Add()([y, z]) if transition else layers.Add()([identity, y, z])  # z broadcasts over freq
    return layers.Activation("relu")(out)


def build(p: Params, input_shape: tuple[int, int], n_classes: int) -> keras.Model:
    """`(batch, frames, mels)` normalised log-mel -> `(batch, n_classes)` probabilities."""
    ch = lambda m: max(2, int(round(m * p.width)))  # noqa: E731
    inp = keras.Input(input_shape)
    x = layers.Conv2D(ch(16), 5, strides=(1, 2), padding="same", use_bias=False)(as_image(inp))
    x = batch_norm()(x)
    x = layers.Activation("relu")(x)
    for channels, blocks, freq_stride, dilation in STAGES:
        for i in range(blocks):
            x = bc_block(x, ch(channels), freq_stride if i == 0 else 1, dilation, p)
    # depthwise 5x5 with no padding in freq collapses the remaining 5 bands
    x = layers.ZeroPadding2D(((2, 2), (0, 0)))(x)
    x = layers.DepthwiseConv2D((5, x.shape[2]), padding="valid", use_bias=False)(x)
    x = batch_norm()(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(ch(32), 1, use_bias=False)(x)
    x = batch_norm()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, head(x, n_classes), name="bc_resnet")


def search_space(trial) -> Params:
    return Params(
        width=trial.suggest_categorical("width", [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0]),
        sub_bands=trial.suggest_categorical("sub_bands", [1, 5]),
        dropout=trial.suggest_float("dropout", 0.0, 0.3),
    )
