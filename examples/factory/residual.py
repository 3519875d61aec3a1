"""A residual MLP for the wine data (13 features, 3 cultivars): the model factory of study.toml.

vanishing calls ``build`` once per cell of the matrix, with keyword arguments; ``depth`` is the
number of residual blocks, ``width`` the units of each. Every kernel takes its own initializer,
``initializer(layer)``, numbered from the input side: a fresh instance seeded from the cell's
seed and that number (one instance shared by layers would give them all the same weights).
"""

import keras

CLASSES = 3  # one logit per cultivar: vanishing trains with sparse categorical cross-entropy


def build(activation, initializer, depth, width, input_shape, seed):
    inputs = keras.Input(input_shape)
    h = keras.layers.Dense(width, kernel_initializer=initializer(1), name="stem")(inputs)
    for block in range(1, depth + 1):
        # h + f(W h + b): the identity path carries the gradient past every activation's slope
        z = keras.layers.Dense(width, activation=activation, kernel_initializer=initializer(block + 1),
                               name=f"block_{block}")(h)
        h = keras.layers.Add(name=f"skip_{block}")([h, z])
    logits = keras.layers.Dense(CLASSES, kernel_initializer=initializer(depth + 2), name="logits")(h)
    return keras.Model(inputs, logits, name=f"residual_mlp_{depth}")
