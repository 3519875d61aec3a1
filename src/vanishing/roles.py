"""The named roles a section looks for in a run: the tutorial's networks, Glorot & Bengio's
"standard" and "normalised" initializers, the order optimizers are shown in, and the
thresholds the sentences use. Plain data and small pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# What the tutorial reported after 100 epochs (sigmoid, tanh, relu with
# random_normal(stddev=1.0), 4 hidden layers of 5 units): (loss, accuracy).
TUTORIAL_INITIALIZER = "random_normal(stddev=1.0)"
TUTORIAL_DEPTH = 4
TUTORIAL_EPOCHS = 100
TUTORIAL_REPORTED: dict[str, tuple[float, float]] = {
    "sigmoid": (0.665, 0.588),
    "tanh": (0.0129, 0.993),
    "relu": (0.0169, 0.994),
}
SATURATION_ACTIVATIONS = tuple(TUTORIAL_REPORTED)  # sigmoid, tanh, relu: the tutorial's

# These thresholds only word the sentences. "Near chance": within this margin of always
# answering the larger class (0.5 on balanced data, so below 0.6 there).
LEARNED_ACCURACY = 0.9
CHANCE_MARGIN = 0.1
# One order of magnitude between the first and last hidden layer is where the
# sentences start calling it vanishing (or exploding).
NOTABLE_ATTENUATION = 1.0

# Glorot & Bengio (2010) compare the "standard" uniform initialisation with
# their normalised one; these are the closest Keras initializers, in order of preference.
STANDARD_INITIALIZERS = ("lecun_uniform", "random_uniform", "random_normal", TUTORIAL_INITIALIZER)
NORMALISED_INITIALIZERS = ("glorot_uniform", "glorot_normal")

# Activations whose units can die: exactly 0 on a whole interval of inputs, so a unit can
# output 0 on every sample. (leaky_relu, elu, gelu, swish... never give exactly 0.)
RELU_LIKE = ("relu", "relu6", "hard_sigmoid", "hard_silu", "hard_swish", "soft_shrink", "hard_shrink")
# The order optimizers are shown in: plain steps first, then the adaptive ones.
OPTIMIZER_ORDER = ("sgd", "momentum", "rmsprop", "adagrad", "adam", "adamax", "nadam", "adamw")


def ordered(values: Iterable[str]) -> tuple[str, ...]:
    """Distinct values in the order first seen."""
    return tuple(dict.fromkeys(values))


def training_label(optimizer: str, learning_rate: float) -> str:
    """``sgd (lr 0.1)``: how a training is named on the page."""
    if math.isnan(learning_rate):
        return optimizer or "?"
    return f"{optimizer or '?'} (lr {learning_rate:g})"


def training_order(training: tuple[str, float]) -> tuple[int, str, float]:
    name = training[0].split("(")[0]
    rank = OPTIMIZER_ORDER.index(name) if name in OPTIMIZER_ORDER else len(OPTIMIZER_ORDER)
    return (rank, training[0], training[1])


def standard_initializer(initializers: Iterable[str]) -> str | None:
    """Glorot & Bengio's 'standard' initialisation as run here: the same choice in every section."""
    present = set(initializers)
    return next((i for i in STANDARD_INITIALIZERS if i in present), None)


def normalised_initializer(initializers: Iterable[str]) -> str | None:
    present = set(initializers)
    return next((i for i in NORMALISED_INITIALIZERS if i in present), None)


def compared_initializers(initializers: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(initializer, its role) in display order: the tutorial's random_normal(stddev=1.0),
    the standard one (if another), the normalised one."""
    inits = tuple(initializers)
    out: list[tuple[str, str]] = []
    standard = standard_initializer(inits)
    if TUTORIAL_INITIALIZER in inits:
        role = "the tutorial's" + (", standard" if standard == TUTORIAL_INITIALIZER else "")
        out.append((TUTORIAL_INITIALIZER, role))
    if standard is not None and standard != TUTORIAL_INITIALIZER:
        out.append((standard, "standard"))
    normalised = normalised_initializer(inits)
    if normalised is not None:
        out.append((normalised, "normalised (Glorot)"))
    return tuple(out)


def short(initializer: str) -> str:
    """A label that fits a figure's tick."""
    return initializer.replace("random_normal(stddev=1.0)", "random_normal(σ=1)")


# What a 2-D dataset's networks learn, in words: (the task, its class 1, its class 0).
TASKS: dict[str, tuple[str, str, str]] = {
    "circles": ("two concentric circles", "inner circle", "outer ring"),
    "moons": ("two interleaving half-moons", "lower moon", "upper moon"),
}


def task_words(dataset_name: str) -> str:
    """'two concentric circles', or 'the breast_cancer data'."""
    return TASKS[dataset_name][0] if dataset_name in TASKS else f"the {dataset_name} data"
