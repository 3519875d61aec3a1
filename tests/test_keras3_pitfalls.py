"""The four ways the tutorial's code fails on Keras 3, as the README tells them: checked, not assumed."""

from __future__ import annotations

import numpy as np
import pytest

from vanishing import zoo


def mlp(keras, initializer):
    return keras.Sequential([keras.Input((2,))]
                            + [keras.layers.Dense(5, activation="tanh", kernel_initializer=initializer)
                               for _ in range(4)]
                            + [keras.layers.Dense(1, kernel_initializer=initializer)])


def test_one_optimizer_shared_by_two_models_fails():
    keras, tf = zoo.import_keras()
    optimizer = keras.optimizers.RMSprop()
    for seed in (0, 1):
        model = mlp(keras, keras.initializers.GlorotUniform(seed=seed))
        grads = [tf.ones_like(v) for v in model.trainable_variables]
        if seed == 0:
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
        else:
            # Keras 3.15: "ValueError: Unknown variable"; earlier 3.x: "KeyError: The optimizer
            # cannot recognize variable"
            with pytest.raises((KeyError, ValueError), match=r"Unknown variable|cannot recognize variable"):
                optimizer.apply_gradients(zip(grads, model.trainable_variables))


def test_the_kernel_name_filter_matches_nothing():
    keras, _ = zoo.import_keras()
    model = mlp(keras, "glorot_uniform")
    assert not [v for v in model.trainable_variables if "/kernel:" in v.name]
    # Keras 3: .name is the bare "kernel"; the layer is in .path ("sequential/dense/kernel")
    kernels = [v for v in model.trainable_variables if v.name == "kernel"]
    assert len(kernels) == 5
    assert all(v.path.endswith(f"{layer.name}/kernel") for v, layer in zip(kernels, model.layers))


def test_a_callback_may_not_assign_self_model():
    keras, _ = zoo.import_keras()

    class Recorder(keras.callbacks.Callback):
        def __init__(self, model):
            super().__init__()
            self.model = model  # what the tutorial did

    with pytest.raises(AttributeError):
        Recorder(mlp(keras, "glorot_uniform"))


def test_one_unseeded_initializer_instance_gives_every_hidden_layer_the_same_weights():
    keras, _ = zoo.import_keras()
    model = mlp(keras, keras.initializers.RandomNormal(stddev=1.0))
    hidden = [layer.kernel.numpy() for layer in model.layers[1:4]]  # the 5x5 ones
    assert all(np.array_equal(hidden[0], w) for w in hidden[1:])
