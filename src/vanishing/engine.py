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
from vanishing.config import Cell

# Independent random streams derived from a cell's seed (numpy SeedSequence):
# the same seed never drives two things, and no stream depends on the group.
INIT_STREAM, BATCH_STREAM = 0, 1
BOUNDARY_GRID = 81  # points per axis of the decision-region grid


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
    initial: Sequence[Sequence[np.ndarray]] | None = None,
) -> list[CellRecord]:
    """Train cells that share a group_key; return one record per cell, in order.

    ``initial`` (per cell, per layer kernels) replaces the initializers; tests
    use it to start plain Keras models and the stack from the same weights.
    """
    keras, tf = zoo.import_keras()

    first = cells[0]
    if any(c.group_key != first.group_key for c in cells):
        raise ValueError("train_group: cells must share activation, depth, width, data and training")
    n, n_features = X.shape
    epochs, batch = first.train.epochs, first.train.batch_size
    steps = -(-n // batch)
    C, sizes = len(cells), layer_sizes(first, n_features)
    activation = zoo.make_activation(first.activation)

    kernels0 = initial if initial is not None else [initial_kernels(c, n_features) for c in cells]
    kernels = [keras.Variable(np.stack([k[i] for k in kernels0]).astype(np.float32), name=f"kernel_{i + 1}")
               for i in range(len(sizes))]
    biases = [keras.Variable(np.zeros((C, fan_out), np.float32), name=f"bias_{i + 1}")
              for i, (_, fan_out) in enumerate(sizes)]
    variables = kernels + biases
    optimizer = zoo.make_optimizer(first.train.optimizer.name, first.train.optimizer.kwargs,
                                   first.train.learning_rate)
    optimizer.build(variables)

    X_t, y_t = tf.constant(X, tf.float32), tf.constant(y, tf.float32)

    def logits(h):  # h: [C, batch, features] -> [C, batch]
        for i, (k, b) in enumerate(zip(kernels, biases)):
            # A broadcast multiply-and-sum, not tf.matmul: for 5x5 kernels XLA
            # fuses it into one loop, where a batched matmul costs a call per cell.
            h = tf.reduce_sum(h[..., :, None] * k[:, None, :, :], axis=-2) + b[:, None, :]
            if i < len(kernels) - 1:
                h = activation(h)
        return h[..., 0]

    def bce(labels, z):
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z)

    def evaluate():
        """Whole-dataset loss, accuracy and kernel gradients, per cell."""
        xs, ys = tf.broadcast_to(X_t, [C, n, n_features]), tf.broadcast_to(y_t, [C, n])
        with tf.GradientTape() as tape:
            z = logits(xs)
            loss = tf.reduce_mean(bce(ys, z), axis=1)
            total = tf.reduce_sum(loss)
        grads = tape.gradient(total, kernels)
        accuracy = tf.reduce_mean(tf.cast((z > 0) == (ys > 0.5), tf.float32), axis=1)
        return loss, accuracy, [tf.identity(k) for k in kernels], [tf.identity(b) for b in biases], grads

    @tf.function(jit_compile=True)
    def epoch_fn(index, mask):
        """One pass: `steps` mini-batch updates (index [steps, C, batch]), then evaluate()."""
        count = tf.reduce_sum(mask, axis=1)  # real samples per step; the last batch is short
        step_abs = [tf.zeros([C]) for _ in kernels]
        for s in tf.range(steps):
            xb, yb = tf.gather(X_t, index[s]), tf.gather(y_t, index[s])
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(bce(yb, logits(xb)) * mask[s], axis=1) / count[s]
                total = tf.reduce_sum(loss)
            grads = tape.gradient(total, variables)
            optimizer.apply_gradients(zip(grads, variables))
            step_abs = [a + tf.reduce_mean(tf.abs(g), axis=[1, 2])
                        for a, g in zip(step_abs, grads[: len(kernels)])]
        return (*evaluate(), [a / steps for a in step_abs])


    record = {key: np.full((epochs + 1, C, *shape), np.nan, np.float32) for key, shape in (
        *((f"kernel_{i + 1}", s) for i, s in enumerate(sizes)),
        *((f"bias_{i + 1}", (s[1],)) for i, s in enumerate(sizes)),
        *((f"grad_kernel_{i + 1}", s) for i, s in enumerate(sizes)),
        ("loss", ()), ("accuracy", ()), ("step_grad_abs_mean", (len(sizes),)),
    )}

    def store(epoch, loss, accuracy, ks, bs, gs, step_abs=None):
        record["loss"][epoch] = loss.numpy()
        record["accuracy"][epoch] = accuracy.numpy()
        for i in range(len(sizes)):
            record[f"kernel_{i + 1}"][epoch] = ks[i].numpy()
            record[f"bias_{i + 1}"][epoch] = bs[i].numpy()
            record[f"grad_kernel_{i + 1}"][epoch] = gs[i].numpy()
            if step_abs is not None:
                record["step_grad_abs_mean"][epoch, :, i] = step_abs[i].numpy()

    # Epoch 0 and the boundary grid run once: graph mode without XLA compiles faster.
    store(0, *tf.function(evaluate)())
    orders = np.stack([batch_order(c.seed, n, epochs) for c in cells], axis=1)  # [epochs, C, n]
    pad = steps * batch - n
    mask = tf.constant(np.concatenate([np.ones(n), np.zeros(pad)]).reshape(steps, batch), tf.float32)
    for epoch in range(1, epochs + 1):
        order = np.concatenate([orders[epoch - 1], np.zeros((C, pad), np.int64)], axis=1)
        index = tf.constant(order.reshape(C, steps, batch).transpose(1, 0, 2), tf.int32)
        store(epoch, *epoch_fn(index, mask))
        if on_epoch is not None:
            on_epoch(epoch)

    extra: dict[str, np.ndarray] = {}
    if n_features == 2:
        gx, gy = boundary_grid(X)
        points = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
        grid = tf.function(logits)(tf.broadcast_to(tf.constant(points), [C, *points.shape]))
        grid = grid.numpy().reshape(C, len(gy), len(gx))
        extra = {"boundary_x": gx, "boundary_y": gy}

    records = []
    for c, cell in enumerate(cells):
        arrays = {key: value[:, c] for key, value in record.items()}
        if extra:
            arrays.update(extra, boundary_logit=grid[c])
        bad = np.flatnonzero(~np.isfinite(arrays["loss"]))
        records.append(CellRecord(cell, arrays, int(bad[0]) if bad.size else None))
    return records
