"""The tutorial's way, for the benchmark: one Keras model at a time, an eager GradientTape loop.

Like the tutorial ("Visualizing the vanishing gradient problem", 2021), each
cell is a keras.Sequential with 4 hidden Dense(5) layers, trained with RMSprop
on make_circles, batch 32, recording each layer's kernel and the first
mini-batch's gradients at every epoch -- but written for Keras 3: one optimizer
per model, kernels found by `layer.kernel` (not a '/kernel:' name filter), and
one seeded initializer instance per layer.

Prints one JSON line: {"model_epochs": ..., "loop_seconds": ...}.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(cells: int, epochs: int) -> None:
    import keras
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=1000, factor=0.5, noise=0.1, random_state=0)
    X, y = X.astype("float32"), y.astype("float32")
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    activations = ["sigmoid", "tanh", "relu"]
    start = time.perf_counter()
    for c in range(cells):
        def init(layer, c=c):
            return keras.initializers.RandomNormal(stddev=1.0, seed=100 * c + layer)
        model = keras.Sequential(
            [keras.Input((2,))]
            + [keras.layers.Dense(5, activation=activations[c % 3], kernel_initializer=init(i))
               for i in range(4)]
            + [keras.layers.Dense(1, kernel_initializer=init(4))])
        optimizer = keras.optimizers.RMSprop()
        data = tf.data.Dataset.from_tensor_slices((X, y[:, None])).shuffle(1000, seed=c).batch(32)
        history = []
        for _ in range(epochs):
            first = None
            for xb, yb in data:
                with tf.GradientTape() as tape:
                    loss = loss_fn(yb, model(xb))
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
                if first is None:
                    first = [g.numpy() for g in grads[::2]]
            history.append(([layer.kernel.numpy() for layer in model.layers], first))
        assert len(history) == epochs and np.isfinite(history[-1][0][0]).all()
    print(json.dumps({"model_epochs": cells * epochs, "loop_seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
