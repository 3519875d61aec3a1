"""Train a group of same-shape cells as ONE stacked model in one compiled loop.

Every variable carries a leading cell axis: kernel_l is [cells, fan_in, fan_out].
The loss is the SUM of the cells' mean losses, so each slice's gradient is
exactly that cell's own gradient, and the Keras optimizers we allow act
element-wise, so each slice trains as its cell would alone (DESIGN.md section 4).
Each cell also sees its own mini-batches: the batch indices are [steps, cells, batch].

At every epoch boundary (epoch 0 = before any update) the compiled function
hands back, per cell: each layer's kernel and bias, the gradient of the
whole-dataset loss with respect to each kernel, loss, accuracy, and the mean over
the epoch's steps of each step's mean |gradient|. Only these small arrays cross
back to Python.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vanishing import zoo
from vanishing.experiment import Cell

# Independent random streams derived from a cell's seed (numpy SeedSequence):
# the same seed never drives two things, and no stream depends on the group.
INIT_STREAM, BATCH_STREAM = 0, 1
BOUNDARY_GRID = 81  # points per axis of the decision-region grid
# Kernels up to this many weights multiply by broadcasting (fast for 5x5, and
# memory [C, n, fan_in, fan_out]); larger ones by a batched matmul.
SMALL_KERNEL = 64
ACTIVATION_SAMPLE = 256  # samples whose activations are kept at init, mid-training and the end


@dataclass(frozen=True)
class CellRecord:
    """What one cell produced: its arrays (DESIGN.md section 3 keys) and its status."""

    cell: Cell
    arrays: dict[str, np.ndarray]
    diverged_epoch: int | None

    @property
    def status(self) -> str:
        return "ok" if self.diverged_epoch is None else "diverged"


def layer_sizes(cell: Cell, n_features: int) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of layers 1..depth+1; the last is the output logit."""
    sizes = [n_features] + [cell.width] * cell.depth + [1]
    return list(itertools.pairwise(sizes))


def init_seed(seed: int, layer: int) -> int:
    """The Keras initializer seed of one layer of one cell: no two layers share one."""
    return int(np.random.SeedSequence([seed, INIT_STREAM, layer]).generate_state(1)[0] % 2**31)


def initial_kernels(cell: Cell, n_features: int) -> list[np.ndarray]:
    """Each kernel drawn by a fresh Keras initializer for its own 2-D shape (fan_in, fan_out).

    A 3-D stacked shape would change what Keras takes as fan-in and fan-out.
    """
    return [
        np.asarray(zoo.make_initializer(cell.initializer.name, cell.initializer.kwargs,
                                        init_seed(cell.seed, layer))(shape=shape, dtype="float32"))
        for layer, shape in enumerate(layer_sizes(cell, n_features), start=1)
    ]


def batch_order(seed: int, n_samples: int, epochs: int) -> np.ndarray:
    """[epochs, n_samples]: the sample order of each epoch, reshuffled each epoch, from the seed alone."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, BATCH_STREAM]))
    return np.stack([rng.permutation(n_samples) for _ in range(epochs)])


def activation_sample(n_samples: int) -> np.ndarray:
    """The samples whose hidden activations are kept at the snapshot epochs (for histograms)."""
    rng = np.random.default_rng(0)
    return np.sort(rng.choice(n_samples, size=min(n_samples, ACTIVATION_SAMPLE), replace=False))


def max_abs_derivative(activation: str) -> float:
    """The largest |f'(z)| of an activation, on a dense grid over [-20, 20].

    The grid is refined towards 0, where the kinks are: selu's largest slope is a
    supremum approached from the left of 0, not attained on a coarse grid.
    """
    _, derivative = zoo.numpy_activation(activation)
    near_zero = np.logspace(-9, -1, 81)
    z = np.concatenate([np.linspace(-20.0, 20.0, 40_001), near_zero, -near_zero])
    return float(np.max(np.abs(derivative(z))))


def boundary_grid(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axes of a grid covering the data with a margin, for decision regions."""
    lo, hi = X.min(0), X.max(0)
    pad = 0.1 * (hi - lo)
    return (np.linspace(lo[0] - pad[0], hi[0] + pad[0], BOUNDARY_GRID, dtype=np.float32),
            np.linspace(lo[1] - pad[1], hi[1] + pad[1], BOUNDARY_GRID, dtype=np.float32))


def train_group(
    cells: Sequence[Cell],
    X: np.ndarray,
    y: np.ndarray,
    on_epoch: Callable[[int], None] | None = None,
) -> list[CellRecord]:
    """Train cells that share a group_key; return one record per cell, in order."""
    keras, tf = zoo.import_keras()

    first = cells[0]
    if any(c.group_key != first.group_key for c in cells):
        raise ValueError("train_group: cells must share activation, depth, width, data and training")
    n, n_features = X.shape
    epochs, batch = first.train.epochs, first.train.batch_size
    steps = -(-n // batch)
    C, sizes = len(cells), layer_sizes(first, n_features)
    activation = zoo.make_activation(first.activation)

    kernels0 = [initial_kernels(c, n_features) for c in cells]
    kernels = [keras.Variable(np.stack([k[i] for k in kernels0]).astype(np.float32), name=f"kernel_{i + 1}")
               for i in range(len(sizes))]
    biases = [keras.Variable(np.zeros((C, fan_out), np.float32), name=f"bias_{i + 1}")
              for i, (_, fan_out) in enumerate(sizes)]
    variables = kernels + biases
    optimizer = zoo.make_optimizer(first.train.optimizer.name, first.train.optimizer.kwargs,
                                   first.train.learning_rate)
    optimizer.build(variables)

    X_t, y_t = tf.constant(X, tf.float32), tf.constant(y, tf.float32)
    depth = len(sizes) - 1
    # Saturated: |f'(z)| below 10 % of the activation's largest |f'| (found on a dense grid).
    saturated_below = 0.1 * max_abs_derivative(first.activation)
    snapshot_epochs = sorted({0, epochs // 2, epochs})
    sample = activation_sample(n)

    def forward(h):
        """h [C, batch, features] -> (logits [C, batch], hidden pre-activations [C, batch, width] each)."""
        pre = []
        for i, ((fan_in, fan_out), k, b) in enumerate(zip(sizes, kernels, biases)):
            if fan_in * fan_out <= SMALL_KERNEL:
                # A broadcast multiply-and-sum, not tf.matmul: for 5x5 kernels XLA fuses
                # it into one loop, where a batched matmul costs a call per cell. Its
                # [C, n, fan_in, fan_out] intermediate is why it is kept to small kernels.
                h = tf.reduce_sum(h[..., :, None] * k[:, None, :, :], axis=-2)
            else:
                h = tf.matmul(h, k)
            h = h + b[:, None, :]
            if i < depth:
                pre.append(h)
                h = activation(h)
        return h[..., 0], pre

    def bce(labels, z):
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z)

    def evaluate():
        """Per cell, on the whole dataset: loss, accuracy, kernel gradients, activation statistics."""
        xs, ys = tf.broadcast_to(X_t, [C, n, n_features]), tf.broadcast_to(y_t, [C, n])
        with tf.GradientTape() as tape:
            z, pre = forward(xs)
            loss = tf.reduce_mean(bce(ys, z), axis=1)
            total = tf.reduce_sum(loss)
        grads = tape.gradient(total, [*kernels, *pre, z])
        # d total / d z_l is each sample's error delta_l divided by n (the loss is a mean)
        deltas = [d * n for d in grads[len(kernels):]]
        deltas[-1] = deltas[-1][..., None]  # the logit: [C, n] -> [C, n, 1]
        grads = grads[: len(kernels)]
        out = {"loss": loss,
               "accuracy": tf.reduce_mean(tf.cast((z > 0) == (ys > 0.5), tf.float32), axis=1)}
        stats: dict[str, list] = {"act_mean": [], "act_std": [], "act_saturated_frac": [],
                                  "act_dead_frac": []}
        for i in range(len(sizes)):
            out[f"kernel_{i + 1}"] = tf.identity(kernels[i])
            out[f"bias_{i + 1}"] = tf.identity(biases[i])
            out[f"grad_kernel_{i + 1}"] = grads[i]
        inputs = [xs]  # each layer's input h_(l-1)
        for pre_activation in pre:
            with tf.GradientTape() as inner:
                inner.watch(pre_activation)
                h = activation(pre_activation)
            slope = inner.gradient(h, pre_activation)  # f'(z), element-wise activations only
            stats["act_mean"].append(tf.reduce_mean(h, axis=[1, 2]))
            stats["act_std"].append(tf.math.reduce_std(h, axis=[1, 2]))
            stats["act_saturated_frac"].append(
                tf.reduce_mean(tf.cast(tf.abs(slope) < saturated_below, tf.float32), axis=[1, 2]))
            # dead: a unit whose output is exactly zero on every sample
            stats["act_dead_frac"].append(
                tf.reduce_mean(tf.cast(tf.reduce_all(h == 0, axis=1), tf.float32), axis=1))
            inputs.append(h)
        out.update({key: tf.stack(values, axis=1) for key, values in stats.items()})
        # RMS of the per-example kernel gradients h_(l-1)^T delta_l: what signal-propagation
        # theory predicts, before the whole-dataset mean lets examples cancel each other.
        out["grad_sample_rms"] = tf.stack([
            tf.sqrt(tf.reduce_mean(tf.reduce_sum(h * h, axis=2) * tf.reduce_sum(d * d, axis=2), axis=1)
                    / float(fan_in * fan_out))
            for h, d, (fan_in, fan_out) in zip(inputs, deltas, sizes)], axis=1)
        return out

    def packed(out: dict) -> tf.Tensor:
        """All outputs as ONE [C, values] tensor: one transfer per epoch instead of ~4 per layer.

        ``layout`` is filled with (key, shape) while epoch_fn is traced.
        """
        layout[:] = [(key, tuple(value.shape[1:])) for key, value in out.items()]
        return tf.concat([tf.reshape(value, [C, -1]) for value in out.values()], axis=1)

    layout: list[tuple[str, tuple[int, ...]]] = []

    @tf.function(jit_compile=True)
    def epoch_fn(index, mask, n_steps):
        """`n_steps` mini-batch updates (index [steps, C, batch]), then evaluate().

        Epoch 0 is the same compiled call with n_steps = 0: no update, and the
        per-step mean |g| comes out 0/0 = NaN, as no step was taken. One program
        per group; tracing a second one for epoch 0 cost about a second.
        """
        count = tf.reduce_sum(mask, axis=1)  # real samples per step; the last batch is short
        step_abs = [tf.zeros([C]) for _ in kernels]
        for s in tf.range(n_steps):
            xb, yb = tf.gather(X_t, index[s]), tf.gather(y_t, index[s])
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(bce(yb, forward(xb)[0]) * mask[s], axis=1) / count[s]
                total = tf.reduce_sum(loss)
            grads = tape.gradient(total, variables)
            optimizer.apply_gradients(zip(grads, variables))
            step_abs = [a + tf.reduce_mean(tf.abs(g), axis=[1, 2])
                        for a, g in zip(step_abs, grads[: len(kernels)])]
        step_abs = tf.stack(step_abs, axis=1) / tf.cast(n_steps, tf.float32)
        return packed({**evaluate(), "step_grad_abs_mean": step_abs})

    def hidden_activations():
        """Hidden activations of the sample, at the snapshot epochs only (for histograms).

        Eager: three calls do not repay tracing a function.
        """
        _, pre = forward(tf.broadcast_to(tf.gather(X_t, sample), [C, len(sample), n_features]))
        return [activation(z) for z in pre]

    record: dict[str, np.ndarray] = {}

    def store(epoch: int, values: np.ndarray) -> None:
        """Unpack one epoch's values into the [epochs + 1, C, ...] record arrays."""
        at = 0
        for key, shape in layout:
            size = int(np.prod(shape, dtype=np.int64))
            if key not in record:
                record[key] = np.full((epochs + 1, C, *shape), np.nan, np.float32)
            record[key][epoch] = values[:, at:at + size].reshape(C, *shape)
            at += size
        if epoch in snapshot_epochs:
            for i, h in enumerate(hidden_activations(), start=1):
                snap = record.setdefault(f"act_values_{i}", np.full(
                    (len(snapshot_epochs), C, len(sample), first.width), np.nan, np.float32))
                snap[snapshot_epochs.index(epoch)] = h.numpy()  # [snapshot, cell, ...]: cell second

    orders = np.stack([batch_order(c.seed, n, epochs) for c in cells], axis=1)  # [epochs, C, n]
    pad = steps * batch - n
    mask = tf.constant(np.concatenate([np.ones(n), np.zeros(pad)]).reshape(steps, batch), tf.float32)
    store(0, epoch_fn(tf.zeros([steps, C, batch], tf.int32), mask, tf.constant(0)).numpy())
    for epoch in range(1, epochs + 1):
        order = np.concatenate([orders[epoch - 1], np.zeros((C, pad), np.int64)], axis=1)
        index = tf.constant(order.reshape(C, steps, batch).transpose(1, 0, 2), tf.int32)
        store(epoch, epoch_fn(index, mask, tf.constant(steps)).numpy())
        if on_epoch is not None:
            on_epoch(epoch)

    extra: dict[str, np.ndarray] = {"act_snapshot_epochs": np.array(snapshot_epochs),
                                    "act_sample_index": sample}
    grid = None
    if n_features == 2:
        gx, gy = boundary_grid(X)
        points = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
        # once, after training: eager is cheaper than tracing a function for one call
        grid = forward(tf.broadcast_to(tf.constant(points), [C, *points.shape]))[0]
        grid = grid.numpy().reshape(C, len(gy), len(gx))
        extra.update(boundary_x=gx, boundary_y=gy)

    records = []
    for c, cell in enumerate(cells):
        arrays = {key: value[:, c] for key, value in record.items()}
        if grid is not None:
            arrays["boundary_logit"] = grid[c]
        arrays.update(extra)
        bad = np.flatnonzero(~np.isfinite(arrays["loss"]))
        diverged = int(bad[0]) if bad.size else None
        if diverged is not None:
            # Comparisons with NaN are False: past divergence, accuracy would read 0.5 and
            # the saturated and dead fractions 0. Say "no number" instead.
            for key in ("accuracy", "act_saturated_frac", "act_dead_frac"):
                arrays[key] = arrays[key].copy()
                arrays[key][diverged:] = np.nan
        records.append(CellRecord(cell, arrays, diverged))
    return records
