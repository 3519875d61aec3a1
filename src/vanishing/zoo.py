"""The names users write -> Keras / scikit-learn objects.

Name tables and argument lists are plain data here so that ``config.py`` can
validate a config without importing TensorFlow (a bad config fails in a
fraction of a second); the ``make_*`` functions import Keras lazily.
tests/test_zoo.py checks that these tables agree with the installed Keras.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

# Element-wise Keras activations (keras.activations.get(name) computes each).
# Row-wise ones (softmax, log_softmax, sparsemax) and shape-changing glu are
# left out: a unit's gradient would then depend on its neighbours.
ACTIVATIONS: tuple[str, ...] = (
    "linear", "sigmoid", "tanh", "softsign", "relu", "leaky_relu", "elu", "selu", "gelu",
    "swish", "silu", "softplus", "mish", "celu", "relu6", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "log_sigmoid", "exponential", "squareplus", "tanh_shrink",
    "sparse_plus", "soft_shrink", "hard_shrink",
)

# Keras initializer name -> the arguments it takes (seed excluded: we derive it).
INITIALIZERS: dict[str, tuple[str, ...]] = {
    "random_normal": ("mean", "stddev"),
    "random_uniform": ("minval", "maxval"),
    "truncated_normal": ("mean", "stddev"),
    "lecun_uniform": (),
    "lecun_normal": (),
    "glorot_uniform": (),
    "glorot_normal": (),
    "he_uniform": (),
    "he_normal": (),
    "orthogonal": ("gain",),
    "variance_scaling": ("scale", "mode", "distribution"),
    "identity": ("gain",),
    "constant": ("value",),
    "zeros": (),
    "ones": (),
}

# Optimizers whose update is element-wise, so a slice of a stacked variable
# trains exactly as that cell would alone (DESIGN.md section 4).
OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum", "nesterov"),
    "rmsprop": ("rho", "momentum", "epsilon", "centered"),
    "adam": ("beta_1", "beta_2", "epsilon", "amsgrad"),
    "adamw": ("weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad"),
    "adagrad": ("initial_accumulator_value", "epsilon"),
    "adamax": ("beta_1", "beta_2", "epsilon"),
    "nadam": ("beta_1", "beta_2", "epsilon"),
}

# Dataset name -> the arguments it takes besides n_samples and seed.
DATASETS: dict[str, tuple[str, ...]] = {
    "circles": ("noise", "factor"),
    "moons": ("noise",),
}


@functools.cache
def import_keras():
    """(keras, tensorflow), imported with TensorFlow's start-up chatter silenced.

    TensorFlow's C++ side prints oneDNN/CUDA notices straight to file descriptor 2
    while it loads, whatever TF_CPP_MIN_LOG_LEVEL says; our progress bar and
    error messages share that stream, so it is muted for the import only.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras
            import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    tf.get_logger().setLevel("ERROR")  # retracing notices: one trace per group is by design
    return keras, tf


def make_dataset(name: str, n_samples: int, seed: int, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """X float32 [n, features], y float32 [n] in {0, 1}."""
    from sklearn import datasets

    maker = {"circles": datasets.make_circles, "moons": datasets.make_moons}[name]
    X, y = maker(n_samples=n_samples, random_state=seed, **kwargs)
    return X.astype(np.float32), y.astype(np.float32)


def make_activation(name: str):
    keras, _ = import_keras()
    return keras.activations.get(name)


def make_initializer(name: str, args: dict[str, Any], seed: int):
    """A fresh Keras initializer instance with its own seed (never share one)."""
    keras, _ = import_keras()
    cls = type(keras.initializers.get(name))
    if name in ("constant", "zeros", "ones"):  # deterministic: they take no seed
        return cls(**args)
    return cls(**args, seed=seed)


def make_optimizer(name: str, args: dict[str, Any], learning_rate: float):
    """A fresh Keras optimizer for one group (an optimizer tracks its variables)."""
    keras, _ = import_keras()
    cls = {
        "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
        "adagrad": keras.optimizers.Adagrad, "adamax": keras.optimizers.Adamax,
        "nadam": keras.optimizers.Nadam,
    }[name]
    return cls(learning_rate=learning_rate, **args)
