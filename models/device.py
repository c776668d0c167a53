"""Which accelerator the Keras backend sees, and how training is set up on it."""

from __future__ import annotations

import keras


def accelerator() -> str:
    """'gpu' when the Keras backend sees a GPU, else 'cpu'."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
        if backend == "torch":
            import torch

            return "gpu" if torch.cuda.is_available() else "cpu"
        if backend == "jax":
            import jax

            return "gpu" if jax.devices()[0].platform == "gpu" else "cpu"
    except Exception:  # noqa: BLE001 - a broken GPU stack means we train on the CPU
        pass
    return "cpu"


def gpu_supports_bf16() -> bool:
    """bfloat16 needs compute capability 8.0 (Ampere) or newer; older cards get float16."""
    try:
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            gpu = tf.config.list_physical_devices("GPU")[0]
            return tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))[0] >= 8
        if keras.backend.backend() == "torch":
            import torch

            return torch.cuda.get_device_capability()[0] >= 8
    except Exception:  # noqa: BLE001 - unknown: take the safe choice
        return False
    return True  # JAX picks what the card supports


def configure_device(device: str) -> dict:
    """On a GPU: compiled steps (XLA) on TensorFlow and JAX, eager PyTorch (torch.compile did
    not finish compiling these models in 60 s on an H200); mixed precision where it was
    measured to pay (PyTorch: 1.2-1.4x on an H200) and on TensorFlow, float32 on JAX (its
    bfloat16 steps were slower: crnn_resnet 1,724 against 2,698 clips/s). README, "GPU".
    On a CPU: float32 and the backend default (XLA-compiled steps measured 2x to 15x slower
    with TensorFlow there)."""
    backend = keras.backend.backend()
    if device == "gpu":
        policy = "float32" if backend == "jax" else "mixed_bfloat16" if gpu_supports_bf16() else "mixed_float16"
        keras.mixed_precision.set_global_policy(policy)
        return {"precision": policy, "jit_compile": backend != "torch"}
    keras.mixed_precision.set_global_policy("float32")
    return {"precision": "float32", "jit_compile": "auto"}
