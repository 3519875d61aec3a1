"""One stacked model: a group's networks as ONE set of variables with a leading cell axis.

kernel_l is [cells, fan_in, fan_out] and bias_l [cells, fan_out]. The loss is the
SUM of the cells' mean losses, so each slice's gradient is exactly that cell's own.
This module holds the model, its forward pass, its whole-dataset measurements and
the layout of the packed array they cross back to Python in; engine.py trains it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vanishing import zoo

# Kernels up to this many weights multiply by broadcasting (fast for 5x5, and
# memory [C, n, fan_in, fan_out]); larger ones by a batched matmul.
SMALL_KERNEL = 64
HIDDEN_STATISTICS = ("act_mean", "act_std", "act_saturated_frac", "act_dead_frac")
LAYER_SERIES = ("grad_sample_rms", "delta_rms", "step_grad_abs_mean")  # one value per layer 1..depth+1


@dataclass(frozen=True)
class StackedMLP:
    """depth hidden Dense layers and an output logit, for every cell of a group at once."""

    sizes: tuple[tuple[int, int], ...]  # (fan_in, fan_out) of layers 1..depth+1
    kernels: tuple[Any, ...]  # keras.Variable [C, fan_in, fan_out]
    biases: tuple[Any, ...]  # keras.Variable [C, fan_out]
    activation: Callable  # [C, ...] -> [C, ...], each cell's own (PerCell)

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    @property
    def cells(self) -> int:
        return int(self.kernels[0].shape[0])

    @property
    def variables(self) -> list:
        return [*self.kernels, *self.biases]

    def forward(self, h):
        """h [C, batch, features] -> (logits [C, batch], hidden pre-activations [C, batch, width] each)."""
        _, tf = zoo.import_keras()
        pre = []
        for i, ((fan_in, fan_out), k, b) in enumerate(zip(self.sizes, self.kernels, self.biases)):
            if fan_in * fan_out <= SMALL_KERNEL:
                # A broadcast multiply-and-sum, not tf.matmul: for 5x5 kernels XLA fuses
                # it into one loop, where a batched matmul costs a call per cell. Its
                # [C, n, fan_in, fan_out] intermediate is why it is kept to small kernels.
                h = tf.reduce_sum(h[..., :, None] * k[:, None, :, :], axis=-2)
            else:
                h = tf.matmul(h, k)
            h = h + b[:, None, :]
            if i < self.depth:
                pre.append(h)
                h = self.activation(h)
        return h[..., 0], pre


@dataclass(frozen=True)
class PerCell:
    """Each cell's own activation, for cells whose activations come in runs: (name, cells) in
    cell order. One XLA program serves several activations (compiling it is most of a small
    group's cost); each activation sees only its own cells' slice, so no cell computes another's
    function and no gradient flows through a branch its cell did not take."""

    runs: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_functions", tuple(zoo.make_activation(name) for name, _ in self.runs))

    def __call__(self, pre):
        functions = self._functions  # type: ignore[attr-defined]
        if len(functions) == 1:  # one activation: the same graph as the function alone
            return functions[0](pre)
        _, tf = zoo.import_keras()
        parts = tf.split(pre, [count for _, count in self.runs], axis=0)
        return tf.concat([f(part) for f, part in zip(functions, parts)], axis=0)


def runs(activations: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """(activation, how many cells in a row) of a cell-ordered list of activation names."""
    return tuple((name, len(list(run))) for name, run in itertools.groupby(activations))


def stacked_mlp(kernels: Sequence[Sequence[np.ndarray]], activations: Sequence[str]) -> StackedMLP:
    """The stacked model from each cell's initial kernels (cells x layers) and activation
    (cells); biases start at zero."""
    keras, _ = zoo.import_keras()
    sizes = tuple(k.shape for k in kernels[0])
    stacked = tuple(keras.Variable(np.stack([cell[i] for cell in kernels]).astype(np.float32),
                                   name=f"kernel_{i + 1}") for i in range(len(sizes)))
    biases = tuple(keras.Variable(np.zeros((len(kernels), fan_out), np.float32), name=f"bias_{i + 1}")
                   for i, (_, fan_out) in enumerate(sizes))
    return StackedMLP(sizes, stacked, biases, PerCell(runs(activations)))


def bce(labels, logits):
    """Each example's own binary cross-entropy, from the logit."""
    _, tf = zoo.import_keras()
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


# --- the packed per-epoch output ---------------------------------------------

def output_layout(sizes: Sequence[tuple[int, int]]) -> list[tuple[str, tuple[int, ...]]]:
    """(key, per-cell shape) of every per-epoch output, in the order they are packed."""
    depth = len(sizes) - 1
    layout: list[tuple[str, tuple[int, ...]]] = [("loss", ()), ("accuracy", ())]
    for layer, (fan_in, fan_out) in enumerate(sizes, start=1):
        layout += [(f"kernel_{layer}", (fan_in, fan_out)), (f"bias_{layer}", (fan_out,)),
                   (f"grad_kernel_{layer}", (fan_in, fan_out))]
    layout += [(key, (depth,)) for key in HIDDEN_STATISTICS]
    layout += [(key, (depth + 1,)) for key in LAYER_SERIES]
    return layout


def pack(out: dict, layout: Sequence[tuple[str, tuple[int, ...]]]):
    """All outputs as ONE [C, values] tensor in layout order: one transfer per epoch, not ~4 per layer."""
    _, tf = zoo.import_keras()
    if set(out) != {key for key, _ in layout}:  # checked while tracing: costs nothing per epoch
        raise ValueError(f"pack: outputs {sorted(out)} differ from the layout {[k for k, _ in layout]}")
    for key, shape in layout:
        if tuple(out[key].shape[1:]) != shape:
            raise ValueError(f"pack: {key} has shape {tuple(out[key].shape[1:])}, the layout says {shape}")
    cells = out["loss"].shape[0]
    return tf.concat([tf.reshape(out[key], [cells, -1]) for key, _ in layout], axis=1)


def unpack(values: np.ndarray, layout: Sequence[tuple[str, tuple[int, ...]]]) -> dict[str, np.ndarray]:
    """[C, values] -> {key: [C, *shape]}, the inverse of pack."""
    out, at = {}, 0
    for key, shape in layout:
        size = int(np.prod(shape, dtype=np.int64))
        out[key] = values[:, at:at + size].reshape(len(values), *shape)
        at += size
    return out


# --- measurements on the whole dataset ---------------------------------------

def evaluate(model: StackedMLP, X, y, saturated_below: np.ndarray) -> dict:
    """Per cell, on the whole dataset: loss, accuracy, weights, kernel gradients, activation
    statistics, and the RMS of the per-example kernel gradients and back-propagated deltas.

    ``saturated_below`` [C]: the |f'| under which a unit of each cell counts as saturated; NaN
    (unbounded slopes) gives NaN.
    """
    _, tf = zoo.import_keras()
    C, (n, n_features) = model.cells, X.shape
    xs, ys = tf.broadcast_to(X, [C, n, n_features]), tf.broadcast_to(y, [C, n])
    with tf.GradientTape() as tape:
        z, pre = model.forward(xs)
        loss = tf.reduce_mean(bce(ys, z), axis=1)
        total = tf.reduce_sum(loss)
    grads = tape.gradient(total, [*model.kernels, *pre, z])
    layers = len(model.kernels)
    # d total / d z_l is each example's delta_l = d loss_i / d z_l divided by n (the loss is a mean)
    deltas = [d * n for d in grads[layers:]]
    deltas[-1] = deltas[-1][..., None]  # the logit: [C, n] -> [C, n, 1]
    out = {"loss": loss, "accuracy": tf.reduce_mean(tf.cast((z > 0) == (ys > 0.5), tf.float32), axis=1)}
    for i in range(layers):
        out[f"kernel_{i + 1}"] = tf.identity(model.kernels[i])
        out[f"bias_{i + 1}"] = tf.identity(model.biases[i])
        out[f"grad_kernel_{i + 1}"] = grads[i]
    statistics, hidden = hidden_statistics(model.activation, pre, saturated_below)
    out.update(statistics)
    out.update(per_example_rms([xs, *hidden], deltas, model.sizes))
    return out


def hidden_statistics(activation: Callable, pre: Sequence, saturated_below: np.ndarray):
    """({statistic: [C, depth]}, the hidden layers' outputs) from their pre-activations."""
    _, tf = zoo.import_keras()
    threshold = tf.constant(np.asarray(saturated_below, np.float32)[:, None, None])
    no_largest_slope = tf.constant(np.isnan(saturated_below))
    stats: dict[str, list] = {key: [] for key in HIDDEN_STATISTICS}
    hidden = []
    for pre_activation in pre:
        with tf.GradientTape() as inner:
            inner.watch(pre_activation)
            h = activation(pre_activation)
        slope = inner.gradient(h, pre_activation)  # f'(z), element-wise activations only
        stats["act_mean"].append(tf.reduce_mean(h, axis=[1, 2]))
        stats["act_std"].append(tf.math.reduce_std(h, axis=[1, 2]))
        # a mean of zeros and ones: exact in any order of summation
        saturated = tf.reduce_mean(tf.cast(tf.abs(slope) < threshold, tf.float32), axis=[1, 2])
        stats["act_saturated_frac"].append(tf.where(no_largest_slope, np.float32(np.nan), saturated))
        # dead: a unit whose output is exactly zero on every sample
        stats["act_dead_frac"].append(
            tf.reduce_mean(tf.cast(tf.reduce_all(h == 0, axis=1), tf.float32), axis=1))
        hidden.append(h)
    return {key: tf.stack(values, axis=1) for key, values in stats.items()}, hidden


def per_example_rms(inputs: Sequence, deltas: Sequence, sizes: Sequence[tuple[int, int]]) -> dict:
    """grad_sample_rms and delta_rms [C, depth+1], from each layer's input h_(l-1) and delta_l."""
    _, tf = zoo.import_keras()
    # The per-example kernel gradient is h_(l-1)^T delta_l: what signal-propagation theory
    # predicts, before the whole-dataset mean lets examples cancel each other.
    grad_sample_rms = [
        tf.sqrt(tf.reduce_mean(tf.reduce_sum(h * h, axis=2) * tf.reduce_sum(d * d, axis=2), axis=1)
                / float(fan_in * fan_out))
        for h, d, (fan_in, fan_out) in zip(inputs, deltas, sizes)]
    # Glorot & Bengio's (2010) fig. 7: the back-propagated gradient itself, per layer
    delta_rms = [tf.sqrt(tf.reduce_mean(d * d, axis=[1, 2])) for d in deltas]
    return {"grad_sample_rms": tf.stack(grad_sample_rms, axis=1), "delta_rms": tf.stack(delta_rms, axis=1)}


def sample_snapshot(model: StackedMLP, X, y) -> dict[str, np.ndarray]:
    """For a few samples: act_values_l [C, S, width] (hidden layers) and delta_values_l
    [C, S, fan_out] (layers 1..depth+1), delta_l = d loss_i / d z_l of each example's own loss.

    Eager: the three snapshot epochs do not repay tracing a function.
    """
    _, tf = zoo.import_keras()
    C, (n, n_features) = model.cells, X.shape
    with tf.GradientTape() as tape:
        z, pre = model.forward(tf.broadcast_to(X, [C, n, n_features]))
        # summed over examples: example i's loss depends on its own z_l only
        total = tf.reduce_sum(bce(tf.broadcast_to(y, [C, n]), z))
    hidden = [model.activation(p) for p in pre]
    deltas = tape.gradient(total, [*pre, z])
    deltas[-1] = deltas[-1][..., None]
    out = {f"act_values_{i}": h.numpy() for i, h in enumerate(hidden, start=1)}
    out.update({f"delta_values_{i}": d.numpy() for i, d in enumerate(deltas, start=1)})
    return out
