"""The names users write -> Keras / scikit-learn objects.

Name tables and argument lists are plain data here so that ``config.py`` can
validate a config without importing TensorFlow (a bad config fails in a
fraction of a second); the ``make_*`` functions import Keras lazily.
tests/test_zoo.py checks that these tables agree with the installed Keras.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any

import numpy as np

from vanishing import timing

# Element-wise Keras activations (keras.activations.get(name) computes each).
# Row-wise ones (softmax, log_softmax, sparsemax) and shape-changing glu are
# left out: a unit's gradient would then depend on its neighbours.
ACTIVATIONS: tuple[str, ...] = (
    "linear", "sigmoid", "tanh", "softsign", "relu", "leaky_relu", "elu", "selu", "gelu",
    "swish", "silu", "softplus", "mish", "celu", "relu6", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "log_sigmoid", "exponential", "squareplus", "tanh_shrink",
    "sparse_plus", "soft_shrink", "hard_shrink",
)

# The kind of value each argument takes: a boolean only where Keras takes a bool, a number
# only where it takes a number (Keras computes in float32, so a number must be finite there),
# one of a few strings where it takes a choice (ARG_CHOICES). config.py checks each argument
# against its kind; tests/test_zoo.py checks the kinds against the installed Keras' defaults.
NUMBER = "number"  # any finite number
POSITIVE = "number > 0"
NON_NEGATIVE = "number >= 0"
UNIT = "number in [0, 1]"  # keras.optimizers.SGD raises ValueError for a momentum outside [0, 1]
BOOL = "boolean"
CHOICE = "choice"

# Keras initializer name -> its arguments and their kinds (seed excluded: we derive it).
INITIALIZERS: dict[str, dict[str, str]] = {
    "random_normal": {"mean": NUMBER, "stddev": POSITIVE},
    "random_uniform": {"minval": NUMBER, "maxval": NUMBER},
    "truncated_normal": {"mean": NUMBER, "stddev": POSITIVE},
    "lecun_uniform": {},
    "lecun_normal": {},
    "glorot_uniform": {},
    "glorot_normal": {},
    "he_uniform": {},
    "he_normal": {},
    "orthogonal": {"gain": POSITIVE},
    "variance_scaling": {"scale": POSITIVE, "mode": CHOICE, "distribution": CHOICE},
    "identity": {"gain": POSITIVE},
    "constant": {"value": NUMBER},
    "zeros": {},
    "ones": {},
}

# String arguments and the values Keras accepts for them: checked with the config,
# so a typo is a message naming the key, not a traceback after training started.
ARG_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("variance_scaling", "mode"): ("fan_in", "fan_out", "fan_avg"),
    ("variance_scaling", "distribution"): ("truncated_normal", "untruncated_normal", "uniform", "normal"),
}

# Optimizers whose update is element-wise, so a slice of a stacked variable
# trains exactly as that cell would alone (DESIGN.md section 4); their arguments' kinds.
OPTIMIZERS: dict[str, dict[str, str]] = {
    "sgd": {"momentum": UNIT, "nesterov": BOOL},
    "momentum": {"momentum": UNIT, "nesterov": BOOL},  # SGD with momentum 0.9 unless given
    "rmsprop": {"rho": NON_NEGATIVE, "momentum": NON_NEGATIVE, "epsilon": POSITIVE, "centered": BOOL},
    "adam": {"beta_1": NON_NEGATIVE, "beta_2": NON_NEGATIVE, "epsilon": POSITIVE, "amsgrad": BOOL},
    "adamw": {"weight_decay": NON_NEGATIVE, "beta_1": NON_NEGATIVE, "beta_2": NON_NEGATIVE,
              "epsilon": POSITIVE, "amsgrad": BOOL},
    "adagrad": {"initial_accumulator_value": NON_NEGATIVE, "epsilon": POSITIVE},
    "adamax": {"beta_1": NON_NEGATIVE, "beta_2": NON_NEGATIVE, "epsilon": POSITIVE},
    "nadam": {"beta_1": NON_NEGATIVE, "beta_2": NON_NEGATIVE, "epsilon": POSITIVE},
}

# The Keras class of each optimizer name ("momentum" is SGD with a default momentum of 0.9).
OPTIMIZER_CLASSES: dict[str, str] = {
    "sgd": "SGD", "momentum": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW",
    "adagrad": "Adagrad", "adamax": "Adamax", "nadam": "Nadam",
}

# Dataset name -> the arguments it takes, in the order its dataset_id spells them.
# The real datasets ship with scikit-learn (no download) and take none: all their
# samples are used, and the scaling is fitted on exactly the data trained on.
DATASETS: dict[str, tuple[str, ...]] = {
    "circles": ("n_samples", "noise", "factor", "seed"),
    "moons": ("n_samples", "noise", "seed"),
    "breast_cancer": (),  # 569 x 30, standardised; y = 1 benign (357), 0 malignant (212)
    "digits": (),  # 1797 x 64, pixels / 16; y = 1 for digits 5-9 (896), 0 for 0-4 (901)
    "file": ("path", "label"),  # a user's .npz or .csv (datafile.py); its sha256 joins the args
}


@functools.cache
def import_keras():
    """(keras, tensorflow), imported with TensorFlow's start-up chatter silenced.

    TensorFlow's C++ side prints oneDNN/CUDA notices straight to file descriptor 2
    while it loads, whatever TF_CPP_MIN_LOG_LEVEL says; our progress bar and
    error messages share that stream, so it is muted for the import only.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with timing.span("import tensorflow and keras"):
        return _import_muted()


def _import_muted():
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras
            import tensorflow as tf

            # Looking for a GPU prints CUDA errors on machines without one: look now, muted.
            tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    tf.get_logger().setLevel("ERROR")  # retracing notices: one trace per group is by design
    return keras, tf


def make_dataset(name: str, **args: Any) -> tuple[np.ndarray, np.ndarray]:
    """X float32 [n, features], y float32 [n] in {0, 1}."""
    from sklearn import datasets

    if name in ("circles", "moons"):
        maker = {"circles": datasets.make_circles, "moons": datasets.make_moons}[name]
        args = dict(args)
        X, y = maker(n_samples=int(args.pop("n_samples")), random_state=int(args.pop("seed")), **args)
    elif name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
        X = (X - X.mean(0)) / X.std(0)  # standardised on exactly these samples
    elif name == "digits":
        X, y = datasets.load_digits(return_X_y=True)
        X, y = X / 16.0, y >= 5
    else:
        raise ValueError(f"unknown dataset {name!r}")
    return X.astype(np.float32), y.astype(np.float32)


def make_activation(name: str):
    keras, _ = import_keras()
    return keras.activations.get(name)


def initializer_class(name: str) -> str:
    """The Keras class name of an initializer name: random_normal -> RandomNormal."""
    return "".join(part.title() for part in name.split("_"))


def make_initializer(name: str, args: dict[str, Any], seed: int):
    """A fresh Keras initializer instance with its own seed (never share one)."""
    keras, _ = import_keras()
    # By class, not keras.initializers.get(name): get("constant") fails without a value.
    cls = getattr(keras.initializers, initializer_class(name))
    if "seed" in inspect.signature(cls).parameters:
        return cls(**args, seed=seed)
    return cls(**args)  # deterministic ones (constant, zeros, ones, identity) take no seed


def make_optimizer(name: str, args: dict[str, Any], learning_rate: float):
    """A fresh Keras optimizer for one group (an optimizer tracks its variables)."""
    keras, _ = import_keras()
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate=learning_rate, **{"momentum": 0.9, **args})
    return getattr(keras.optimizers, OPTIMIZER_CLASSES[name])(learning_rate=learning_rate, **args)


def numpy_activation(name: str):
    """(f, f') of a Keras activation as numpy functions, f' by TensorFlow's autodiff.

    For theory.py, which evaluates them on quadrature nodes: the same function
    the networks used, not a re-implementation that could drift from Keras.
    """
    _, tf = import_keras()
    f = make_activation(name)

    def value(z: np.ndarray) -> np.ndarray:
        return np.asarray(f(tf.constant(z, tf.float64)), np.float64)

    def derivative(z: np.ndarray) -> np.ndarray:
        z = tf.constant(z, tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = tf.reduce_sum(f(z))
        return np.asarray(tape.gradient(out, z), np.float64)

    return value, derivative


# Where reference_slope looks: every interior extremum of the slopes of ACTIVATIONS
# lies well inside +-SLOPE_RANGE; beyond it only the limits at +-infinity matter.
SLOPE_RANGE = 20.0
# A golden-ratio offset keeps every grid point off the kinks (0, +-0.5, +-1, +-3, 6):
# autodiff's value AT a kink is a convention (celu'(0) = 2), not a slope of the curve.
_OFF_KINKS = (np.sqrt(5.0) - 1.0) / 2.0


def _off_grid(center: float, half_width: float, points: int) -> np.ndarray:
    """~2 * points + 1 points spanning center +- half_width, none on a dyadic kink."""
    z = center + half_width * (np.arange(-points, points + 1) + _OFF_KINKS) / points
    return z[z * 64 != np.round(z * 64)]  # belt and braces: no multiple of 1/64 at all


@functools.cache
def reference_slope(name: str) -> float | None:
    """The supremum of |f'| over the real line, or None when |f'| is unbounded.

    Saturation is a slope far below this one. Kinks are approached from both
    sides, never evaluated at (selu's supremum, 1.0507 * 1.67326, is the limit from
    the left of 0). A supremum reached only at +-infinity (softplus, squareplus)
    is the slope far out. Unbounded: still growing where |z| doubles near 10^6
    (exponential overflows there).
    """
    _, derivative = numpy_activation(name)

    def slope(z: np.ndarray) -> np.ndarray:
        return np.abs(derivative(z))

    far = 2.0 ** np.arange(4, 21)  # 16 .. ~10^6
    tails = np.maximum(slope(far), slope(-far))
    if not np.all(np.isfinite(tails)) or tails[-1] > tails[-2] * (1 + 1e-6):
        return None
    z = _off_grid(0.0, SLOPE_RANGE, 20_000)
    values = slope(z)
    best = float(max(values.max(), tails.max()))
    # Zoom in on the highest local maxima: a smooth peak, or the side of a kink
    # its supremum is approached from; each zoom narrows the window a thousandfold.
    peaks = np.flatnonzero((values >= np.roll(values, 1)) & (values >= np.roll(values, -1)))
    for i in peaks[np.argsort(values[peaks])[-4:]]:
        center, half_width = float(z[i]), float(z[1] - z[0])
        while half_width > 1e-12:
            zoom = _off_grid(center, half_width, 1000)
            zoom_values = slope(zoom)
            center, half_width = float(zoom[np.argmax(zoom_values)]), half_width / 1000
            best = max(best, float(zoom_values.max()))
    return best
